import { createSaasBridgeClient, type SaasBridgeClient } from "../client/index.js";
import type { CliConfig } from "./config.js";
import { CliError, EXIT, exitForStatus, type ProblemDetail } from "./exit-codes.js";

/** A JSON request that takes longer than this is abandoned (exit 6); streams have their own handling. */
const REQUEST_TIMEOUT_MS = 30_000;

/** `signal`: Ctrl-C, so a request in flight ends with the command instead of holding it up to the timeout. */
export function createApi(config: CliConfig, signal: AbortSignal): SaasBridgeClient {
  return createSaasBridgeClient({
    baseUrl: config.baseUrl,
    token: config.token,
    fetch: (request) => fetch(request, { signal: AbortSignal.any([signal, AbortSignal.timeout(REQUEST_TIMEOUT_MS)]) }),
  });
}

interface Answer<T> {
  readonly data?: T;
  readonly error?: unknown;
  readonly response: Response;
}

/** The body of a successful answer; a problem, a dropped connection or a timeout becomes a CliError. */
export async function call<T>(baseUrl: string, request: Promise<Answer<T>>): Promise<T> {
  let answer: Answer<T>;
  try {
    answer = await request;
  } catch (err) {
    throw unreachable(baseUrl, err);
  }
  if (answer.response.ok && answer.data !== undefined) return answer.data;
  throw problemError(answer.response.status, answer.error);
}

/** An RFC 9457 problem (or whatever a proxy answered instead) as the CLI reports it. */
export function problemError(status: number, body: unknown): CliError {
  const problem = (typeof body === "object" && body !== null ? body : {}) as { detail?: unknown; title?: unknown; code?: unknown; errors?: unknown };
  const text = typeof problem.detail === "string" ? problem.detail : typeof problem.title === "string" ? problem.title : `the service answered ${status}`;
  const code = typeof problem.code === "string" ? problem.code : undefined;
  const details: ProblemDetail[] = Array.isArray(problem.errors)
    ? problem.errors.flatMap((e: unknown) => {
        const item = e as { path?: unknown; message?: unknown };
        return typeof item.message === "string" ? [{ path: typeof item.path === "string" ? item.path : "", message: item.message }] : [];
      })
    : [];
  return new CliError(exitForStatus(status, code), code === undefined ? text : `${text} (${code})`, details, status);
}

/** A request that got no answer: refused, reset, timed out, DNS. Names the URL, never the request's headers. */
export function unreachable(baseUrl: string, err: unknown): CliError {
  if (err instanceof CliError) return err;
  const cause = (err as { cause?: { code?: unknown; message?: unknown } }).cause;
  const timedOut = err instanceof Error && (err.name === "TimeoutError" || err.name === "AbortError");
  const why =
    typeof cause?.code === "string" ? cause.code : typeof cause?.message === "string" ? cause.message : timedOut ? "timed out" : err instanceof Error ? err.message : String(err);
  return new CliError(EXIT.unavailable, `cannot reach the service at ${baseUrl}: ${why}`);
}
