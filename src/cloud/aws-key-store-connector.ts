import {
  ConnectCustomKeyStoreCommand,
  DescribeCustomKeyStoresCommand,
  DisconnectCustomKeyStoreCommand,
  KMSClient,
} from "@aws-sdk/client-kms";
import { fromTemporaryCredentials } from "@aws-sdk/credential-providers";
import {
  KEY_STORE_STATES,
  KeyStoreConnectorError,
  type KeyStoreConnectionState,
  type KeyStoreConnector,
  type KeyStoreStatus,
  type KeyStoreTarget,
} from "../onboarding/key-store-connector.js";

/**
 * The key-store port on the AWS SDK v3: KMS called as the bridge account's deploy role, assumed with STS
 * from the process's default credential chain. Endpoints follow the SDK's own configuration, so
 * AWS_ENDPOINT_URL_KMS / AWS_ENDPOINT_URL_STS (or `endpoint_url` in the shared config) reach VPC endpoints
 * (https://docs.aws.amazon.com/sdkref/latest/guide/feature-ss-endpoints.html).
 */
export interface AwsKeyStoreConnectorOptions {
  /** RoleSessionName of the AssumeRole call (STS: 2-64 characters of [\w+=,.@-]); shown in CloudTrail. */
  readonly sessionName?: string;
  /** Bound on one HTTP attempt (connect, send, answer); an attempt over it is KEY_STORE_UNREACHABLE. */
  readonly requestTimeoutMs?: number;
}

const DEFAULT_SESSION_NAME = "saas-bridge-key-store";
const DEFAULT_REQUEST_TIMEOUT_MS = 10_000;
const MAX_ATTEMPTS = 3;
const MAX_MESSAGE_CHARS = 500;
/** Node's codes for a peer that cannot be reached or went away. */
const NETWORK_CODES = new Set(["ECONNREFUSED", "ECONNRESET", "ECONNABORTED", "EPIPE", "ETIMEDOUT", "ENOTFOUND", "EAI_AGAIN", "EHOSTUNREACH", "ENETUNREACH", "EHOSTDOWN"]);

export function createAwsKeyStoreConnector(options: AwsKeyStoreConnectorOptions = {}): KeyStoreConnector {
  const sessionName = options.sessionName ?? DEFAULT_SESSION_NAME;
  if (!/^[\w+=,.@-]{2,64}$/.test(sessionName)) throw new Error(`sessionName must be 2-64 characters of [\\w+=,.@-]: ${JSON.stringify(sessionName)}`);
  const requestTimeoutMs = options.requestTimeoutMs ?? DEFAULT_REQUEST_TIMEOUT_MS;
  if (!Number.isInteger(requestTimeoutMs) || requestTimeoutMs <= 0) throw new Error(`requestTimeoutMs must be a positive integer: ${requestTimeoutMs}`);
  // throwOnRequestTimeout: without it the handler only logs a warning when requestTimeout passes.
  const requestHandler = { requestTimeout: requestTimeoutMs, connectionTimeout: requestTimeoutMs, throwOnRequestTimeout: true };
  const clients = new Map<string, KMSClient>();

  const clientFor = ({ region, roleArn }: KeyStoreTarget): KMSClient => {
    const key = `${region}\n${roleArn}`;
    let client = clients.get(key);
    if (!client) {
      const credentials = fromTemporaryCredentials({
        params: { RoleArn: roleArn, RoleSessionName: sessionName, DurationSeconds: 900 },
        clientConfig: { region, requestHandler, maxAttempts: MAX_ATTEMPTS },
      });
      client = new KMSClient({ region, credentials, requestHandler, maxAttempts: MAX_ATTEMPTS });
      clients.set(key, client);
    }
    return client;
  };

  return {
    name: "aws",
    async status(target, signal) {
      const out = await call(signal, (abortSignal) =>
        clientFor(target).send(new DescribeCustomKeyStoresCommand({ CustomKeyStoreId: target.customKeyStoreId }), { abortSignal }),
      );
      const entry = out.CustomKeyStores?.find((store) => store.CustomKeyStoreId === target.customKeyStoreId);
      if (!entry) throw new KeyStoreConnectorError("KEY_STORE_UNEXPECTED_RESPONSE", `DescribeCustomKeyStores returned no entry for ${target.customKeyStoreId}`);
      const state = entry.ConnectionState;
      if (!isState(state)) throw new KeyStoreConnectorError("KEY_STORE_UNEXPECTED_RESPONSE", `unknown connection state ${clean(String(state))} for ${target.customKeyStoreId}`);
      const status: KeyStoreStatus = entry.ConnectionErrorCode ? { state, errorCode: entry.ConnectionErrorCode } : { state };
      return status;
    },
    async connect(target, signal) {
      await call(signal, (abortSignal) => clientFor(target).send(new ConnectCustomKeyStoreCommand({ CustomKeyStoreId: target.customKeyStoreId }), { abortSignal }));
    },
    async disconnect(target, signal) {
      await call(signal, (abortSignal) =>
        clientFor(target).send(new DisconnectCustomKeyStoreCommand({ CustomKeyStoreId: target.customKeyStoreId }), { abortSignal }),
      );
    },
  };
}

/**
 * One SDK call under the caller's signal. The SDK aborts the HTTP request it is sending, but not the
 * AssumeRole call resolving credentials nor a retry's back-off, so the race makes cancelling prompt.
 */
async function call<T>(signal: AbortSignal, send: (abortSignal: AbortSignal) => Promise<T>): Promise<T> {
  if (signal.aborted) throw abortError(signal);
  let onAbort: (() => void) | undefined;
  const aborted = new Promise<never>((_, reject) => {
    onAbort = () => reject(abortError(signal));
    signal.addEventListener("abort", onAbort, { once: true });
  });
  try {
    return await Promise.race([send(signal), aborted]);
  } catch (err) {
    if (signal.aborted) throw isAbort(err) ? err : abortError(signal);
    throw toConnectorError(err);
  } finally {
    if (onAbort) signal.removeEventListener("abort", onAbort);
  }
}

function toConnectorError(err: unknown): unknown {
  if (!(err instanceof Error)) return err;
  if (isAbort(err)) return err;
  const detail = err as Error & { $fault?: unknown; $metadata?: { httpStatusCode?: unknown }; code?: unknown };
  // A service exception: the service answered, with its error name and message.
  if (detail.$fault !== undefined && typeof detail.$metadata?.httpStatusCode === "number") return new KeyStoreConnectorError(err.name, clean(err.message));
  if (err.name === "TimeoutError") return new KeyStoreConnectorError("KEY_STORE_UNREACHABLE", "KMS or STS did not answer within the request timeout");
  if (typeof detail.code === "string" && NETWORK_CODES.has(detail.code)) {
    return new KeyStoreConnectorError("KEY_STORE_UNREACHABLE", `KMS or STS could not be reached: ${clean(err.message)}`);
  }
  // No base credentials in the process: the default chain's refusal, said as such.
  if (err.name === "CredentialsProviderError") return new KeyStoreConnectorError(err.name, clean(err.message));
  return err;
}

function isAbort(err: unknown): boolean {
  return err instanceof Error && err.name === "AbortError";
}

function abortError(signal: AbortSignal): Error {
  const error = new Error("the key store call was aborted", { cause: signal.reason });
  error.name = "AbortError";
  return error;
}

function isState(state: unknown): state is KeyStoreConnectionState {
  return (KEY_STORE_STATES as readonly unknown[]).includes(state);
}

/**
 * A message fit for an operation's events: one line, bounded, without request ids or anything shaped like
 * an access key id, a secret key or a session token (a service message never should hold one; a proxy's might).
 */
function clean(message: string): string {
  const text = message
    .replace(/[\u0000-\u001f\u007f-\u009f]+/g, " ")
    .replace(/\b(request[ -]?id|x-amzn-requestid|x-amz-id-2)\s*[:=]\s*\S+/gi, "")
    .replace(/\b[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}\b/gi, "[id]")
    .replace(/\b(AKIA|ASIA|AROA|AIDA)[A-Z0-9]{12,}\b/g, "[key id]")
    .replace(/[A-Za-z0-9/+=]{40,}/g, "[redacted]")
    .replace(/\s+/g, " ")
    .trim();
  return text.length > MAX_MESSAGE_CHARS ? `${text.slice(0, MAX_MESSAGE_CHARS - 1)}…` : text;
}
