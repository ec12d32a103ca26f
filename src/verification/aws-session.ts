import { fromTemporaryCredentials } from "@aws-sdk/credential-providers";
import { abortError, assertSessionName, awsFailure, boundedRequestHandler, clean, isAbort, raceAbort } from "../cloud/aws-call.js";
import type { AccountRef, Reading } from "./types.js";

/**
 * The SDK plumbing of the AWS reader: one client per service, region and role (credentials assumed once per
 * region and role and shared by its clients), and `read`, which turns a sequence of SDK calls into a
 * `Reading` that counts them.
 */
export interface AwsSessionOptions {
  /** RoleSessionName of the AssumeRole calls; shown in the accounts' CloudTrail. */
  readonly sessionName?: string;
  /** Bound on one HTTP attempt (connect, send, answer). */
  readonly requestTimeoutMs?: number;
  /** Attempts per call (the SDK's retry of throttling and 5xx answers). */
  readonly maxAttempts?: number;
  /**
   * One endpoint for every service and STS (an emulator on loopback, in tests and the bench). Unset in
   * production: endpoints then follow the SDK's own configuration (AWS_ENDPOINT_URL, AWS_ENDPOINT_URL_<SERVICE>,
   * `endpoint_url` in the shared config).
   */
  readonly endpoint?: string;
}

type AssumedCredentials = Awaited<ReturnType<ReturnType<typeof fromTemporaryCredentials>>>;
type CredentialsProvider = () => Promise<AssumedCredentials>;

const DEFAULT_SESSION_NAME = "saas-bridge-verify";
const DEFAULT_REQUEST_TIMEOUT_MS = 10_000;
const DEFAULT_MAX_ATTEMPTS = 3;
/** Assumed credentials are renewed this long before they expire, so no call is signed with expiring ones. */
const RENEW_BEFORE_MS = 60_000;

export interface ClientConfig {
  readonly region: string;
  readonly credentials?: CredentialsProvider;
  readonly requestHandler: ReturnType<typeof boundedRequestHandler>;
  readonly maxAttempts: number;
  readonly endpoint?: string;
}

export interface AwsSession {
  /** The client of `service` for `at`, made once with `make` from the shared configuration. */
  client<C>(service: string, at: AccountRef, make: (config: ClientConfig) => C): C;
}

export function createAwsSession(options: AwsSessionOptions): AwsSession {
  const sessionName = options.sessionName ?? DEFAULT_SESSION_NAME;
  assertSessionName(sessionName);
  const requestHandler = boundedRequestHandler(options.requestTimeoutMs ?? DEFAULT_REQUEST_TIMEOUT_MS);
  const maxAttempts = options.maxAttempts ?? DEFAULT_MAX_ATTEMPTS;
  if (!Number.isInteger(maxAttempts) || maxAttempts < 1) throw new Error(`maxAttempts must be a positive integer: ${maxAttempts}`);
  const endpoint = options.endpoint;
  const credentials = new Map<string, CredentialsProvider>();
  const clients = new Map<string, unknown>();

  const credentialsFor = ({ region, roleArn }: AccountRef): CredentialsProvider | undefined => {
    if (roleArn === undefined) return undefined;
    const key = `${region}\n${roleArn}`;
    let provider = credentials.get(key);
    if (!provider) {
      const assume = fromTemporaryCredentials({
        params: { RoleArn: roleArn, RoleSessionName: sessionName, DurationSeconds: 900 },
        clientConfig: { region, requestHandler, maxAttempts, ...(endpoint ? { endpoint } : {}) },
      });
      provider = shared(assume);
      credentials.set(key, provider);
    }
    return provider;
  };

  return {
    client<C>(service: string, at: AccountRef, make: (config: ClientConfig) => C): C {
      const key = `${service}\n${at.region}\n${at.roleArn ?? ""}`;
      let client = clients.get(key) as C | undefined;
      if (client === undefined) {
        const creds = credentialsFor(at);
        client = make({ region: at.region, requestHandler, maxAttempts, ...(creds ? { credentials: creds } : {}), ...(endpoint ? { endpoint } : {}) });
        clients.set(key, client);
      }
      return client;
    },
  };
}

/**
 * One AssumeRole for all the clients of a region and role (each client would otherwise assume the role for
 * itself), renewed shortly before expiry; a failed attempt is not kept, so the next read tries again.
 */
function shared(assume: CredentialsProvider): CredentialsProvider {
  let current: Promise<AssumedCredentials> | undefined;
  return async () => {
    if (current) {
      const held = await current.catch(() => undefined);
      if (held && (held.expiration === undefined || held.expiration.getTime() - Date.now() > RENEW_BEFORE_MS)) return held;
    }
    const next = assume();
    current = next;
    next.catch(() => {
      if (current === next) current = undefined;
    });
    return next;
  };
}

/** What a read's body sends with: each call counted and named (a failure names its API), under the caller's signal. */
export interface Calls {
  send<T>(api: string, send: (abortSignal: AbortSignal) => Promise<T>): Promise<T>;
}

/**
 * Runs `body` and answers its value with the number of calls it sent, or why AWS could not be read: the API
 * that failed, and the service's error name and status, a timeout, an unreachable endpoint or missing
 * credentials. An abort rejects: a cancelled verification has no result.
 */
export async function read<T>(api: string, signal: AbortSignal, body: (calls: Calls) => Promise<T>): Promise<Reading<T>> {
  let count = 0;
  let failed = api;
  const calls: Calls = {
    async send(name, send) {
      count += 1;
      try {
        return await raceAbort(signal, `the verification read ${name}`, send);
      } catch (err) {
        failed = name;
        throw err;
      }
    },
  };
  try {
    const value = await body(calls);
    return { ok: true, value, calls: count };
  } catch (err) {
    if (signal.aborted) throw isAbort(err) ? err : abortError(signal, `the verification read ${api}`);
    return { ok: false, reason: `${failed}: ${reasonOf(err)}`, calls: count };
  }
}

function reasonOf(err: unknown): string {
  const failure = awsFailure(err);
  switch (failure?.kind) {
    case "service":
      return `${failure.name} (HTTP ${failure.status})${failure.message ? `: ${failure.message}` : ""}`;
    case "timeout":
      return "no answer within the request timeout";
    case "unreachable":
      return `endpoint unreachable: ${failure.message}`;
    case "credentials":
      return `no credentials: ${failure.message}`;
    case undefined: {
      // Not an AWS answer: an endpoint without this API (an emulator answers an HTML error page), a bug.
      const status = httpStatus(err);
      if (status !== undefined) return `HTTP ${status} without an AWS error (the API is not available at this endpoint)`;
      return err instanceof Error ? `${clean(err.name)}: ${clean(err.message)}` : clean(String(err));
    }
  }
}

/** Every page of a paginated read, each page one counted call. */
export async function pages<T>(calls: Calls, api: string, page: (next: string | undefined, abortSignal: AbortSignal) => Promise<{ items: readonly T[]; next?: string | undefined }>): Promise<T[]> {
  const items: T[] = [];
  let next: string | undefined;
  do {
    const token = next;
    const out = await calls.send(api, (abortSignal) => page(token, abortSignal));
    items.push(...out.items);
    next = out.next || undefined;
  } while (next !== undefined);
  return items;
}

/** The HTTP status of an answer the SDK could not read as AWS's (its deserialization error keeps the response). */
function httpStatus(err: unknown): number | undefined {
  const detail = err as { $response?: { statusCode?: unknown }; $metadata?: { httpStatusCode?: unknown } } | undefined;
  const status = detail?.$response?.statusCode ?? detail?.$metadata?.httpStatusCode;
  return typeof status === "number" ? status : undefined;
}

/** The service's error name when `err` is an AWS service error (e.g. NotFoundException). */
export function serviceErrorName(err: unknown): string | undefined {
  const failure = awsFailure(err);
  return failure?.kind === "service" ? failure.name : undefined;
}
