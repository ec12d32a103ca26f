/**
 * What every AWS SDK v3 adapter of this service shares: a call that stops when the caller's signal aborts,
 * the HTTP handler's bounds, and the reading of an SDK error as one clean line (the key-store connector
 * and the access verifier's reader both build on it).
 */

const MAX_MESSAGE_CHARS = 500;
/** Node's codes for a peer that cannot be reached or went away. */
const NETWORK_CODES = new Set(["ECONNREFUSED", "ECONNRESET", "ECONNABORTED", "EPIPE", "ETIMEDOUT", "ENOTFOUND", "EAI_AGAIN", "EHOSTUNREACH", "ENETUNREACH", "EHOSTDOWN"]);

/** The node HTTP handler's options for one attempt bounded by `timeoutMs` (connect, send, answer). */
export function boundedRequestHandler(timeoutMs: number): { requestTimeout: number; connectionTimeout: number; throwOnRequestTimeout: true } {
  if (!Number.isInteger(timeoutMs) || timeoutMs <= 0) throw new Error(`requestTimeoutMs must be a positive integer: ${timeoutMs}`);
  // throwOnRequestTimeout: without it the handler only logs a warning when requestTimeout passes.
  return { requestTimeout: timeoutMs, connectionTimeout: timeoutMs, throwOnRequestTimeout: true };
}

/** STS RoleSessionName: 2-64 characters of [\w+=,.@-]; shown in CloudTrail. */
export function assertSessionName(sessionName: string): void {
  if (!/^[\w+=,.@-]{2,64}$/.test(sessionName)) throw new Error(`sessionName must be 2-64 characters of [\\w+=,.@-]: ${JSON.stringify(sessionName)}`);
}

/**
 * One SDK call under the caller's signal. The SDK aborts the HTTP request it is sending, but not the
 * AssumeRole call resolving credentials nor a retry's back-off, so the race makes cancelling prompt.
 * Rejects with an AbortError once the signal aborted, else with the SDK's own error.
 */
export async function raceAbort<T>(signal: AbortSignal, what: string, send: (abortSignal: AbortSignal) => Promise<T>): Promise<T> {
  if (signal.aborted) throw abortError(signal, what);
  let onAbort: (() => void) | undefined;
  const aborted = new Promise<never>((_, reject) => {
    onAbort = () => reject(abortError(signal, what));
    signal.addEventListener("abort", onAbort, { once: true });
  });
  try {
    return await Promise.race([send(signal), aborted]);
  } catch (err) {
    if (signal.aborted) throw isAbort(err) ? err : abortError(signal, what);
    throw err;
  } finally {
    if (onAbort) signal.removeEventListener("abort", onAbort);
  }
}

export function isAbort(err: unknown): boolean {
  return err instanceof Error && err.name === "AbortError";
}

export function abortError(signal: AbortSignal, what: string): Error {
  const error = new Error(`${what} was aborted`, { cause: signal.reason });
  error.name = "AbortError";
  return error;
}

/** An SDK error read: the service answered (with its error name and HTTP status), or why it did not. */
export type AwsFailure =
  | { readonly kind: "service"; readonly name: string; readonly status: number; readonly message: string }
  | { readonly kind: "timeout" }
  | { readonly kind: "unreachable"; readonly message: string }
  | { readonly kind: "credentials"; readonly message: string };

/** The failure an SDK error stands for, its message cleaned; undefined for anything else (a bug, an abort). */
export function awsFailure(err: unknown): AwsFailure | undefined {
  if (!(err instanceof Error) || isAbort(err)) return undefined;
  const detail = err as Error & { $fault?: unknown; $metadata?: { httpStatusCode?: unknown }; code?: unknown };
  if (detail.$fault !== undefined && typeof detail.$metadata?.httpStatusCode === "number") {
    return { kind: "service", name: clean(err.name), status: detail.$metadata.httpStatusCode, message: clean(err.message) };
  }
  if (err.name === "TimeoutError") return { kind: "timeout" };
  if (typeof detail.code === "string" && NETWORK_CODES.has(detail.code)) return { kind: "unreachable", message: clean(err.message) };
  // No base credentials in the process: the default chain's refusal, said as such.
  if (err.name === "CredentialsProviderError") return { kind: "credentials", message: clean(err.message) };
  return undefined;
}

/**
 * A message fit for an operation's events: one line, bounded, without request ids or anything shaped like
 * an access key id, a secret key or a session token (a service message never should hold one; a proxy's might).
 */
export function clean(message: string): string {
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
