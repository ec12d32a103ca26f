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
import { assertSessionName, awsFailure, boundedRequestHandler, clean, raceAbort } from "./aws-call.js";

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

export function createAwsKeyStoreConnector(options: AwsKeyStoreConnectorOptions = {}): KeyStoreConnector {
  const sessionName = options.sessionName ?? DEFAULT_SESSION_NAME;
  assertSessionName(sessionName);
  const requestHandler = boundedRequestHandler(options.requestTimeoutMs ?? DEFAULT_REQUEST_TIMEOUT_MS);
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

/** One SDK call under the caller's signal; an SDK failure becomes the port's error. */
async function call<T>(signal: AbortSignal, send: (abortSignal: AbortSignal) => Promise<T>): Promise<T> {
  try {
    return await raceAbort(signal, "the key store call", send);
  } catch (err) {
    throw toConnectorError(err);
  }
}

function toConnectorError(err: unknown): unknown {
  const failure = awsFailure(err);
  switch (failure?.kind) {
    case undefined:
      return err;
    case "service":
      return new KeyStoreConnectorError(failure.name, failure.message);
    case "timeout":
      return new KeyStoreConnectorError("KEY_STORE_UNREACHABLE", "KMS or STS did not answer within the request timeout");
    case "unreachable":
      return new KeyStoreConnectorError("KEY_STORE_UNREACHABLE", `KMS or STS could not be reached: ${failure.message}`);
    case "credentials":
      return new KeyStoreConnectorError("CredentialsProviderError", failure.message);
  }
}

function isState(state: unknown): state is KeyStoreConnectionState {
  return (KEY_STORE_STATES as readonly unknown[]).includes(state);
}
