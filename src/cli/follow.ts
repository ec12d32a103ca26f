// The service's own event union (a type only: nothing of the server is loaded).
import type { OperationEvent } from "../operations/events.js";
import { problemError, unreachable } from "./api.js";
import { CliError } from "./exit-codes.js";

/**
 * An operation's events as NDJSON, from the first after `after` to the terminal one. A connection that
 * drops (a proxy's idle timeout, a service restart, a replica draining) is opened again with `?after=`
 * the last seq seen, so no event is lost or shown twice; retries are bounded and back off.
 */
export interface FollowOptions {
  readonly baseUrl: string;
  readonly token: string;
  readonly operationId: string;
  readonly after?: number;
  /** Reconnects in a row without an event in between before giving up (exit 6). */
  readonly maxRetries?: number;
  /** The first back-off; each further retry waits twice as long, up to MAX_BACKOFF_MS. */
  readonly backoffMs?: number;
  readonly signal?: AbortSignal;
  /** Told before each reconnect, so a human sees why the output paused. */
  readonly onRetry?: (info: { readonly attempt: number; readonly delayMs: number; readonly reason: string }) => void;
}

const MAX_BACKOFF_MS = 8_000;
const TERMINAL = new Set(["operation.succeeded", "operation.failed", "operation.cancelled", "operation.interrupted"]);

export async function* followOperation(options: FollowOptions): AsyncGenerator<OperationEvent> {
  const maxRetries = options.maxRetries ?? 6;
  const backoffMs = options.backoffMs ?? 500;
  let after = options.after ?? 0;
  let failures = 0;
  for (;;) {
    let reason: string;
    try {
      const response = await open(options, after);
      // At or past the terminal event already: nothing more will come.
      if (response.status === 204) return;
      if (!response.ok) {
        const error = problemError(response.status, await response.json().catch(() => undefined));
        if (response.status < 500 && response.status !== 429) throw error;
        reason = error.message;
      } else {
        for await (const event of events(response)) {
          // A resumed stream starts after `after`; anything at or before it was shown already.
          if (event.seq <= after) continue;
          after = event.seq;
          failures = 0;
          yield event;
          if (TERMINAL.has(event.type)) return;
        }
        reason = "the stream ended before the operation did";
      }
    } catch (err) {
      if (err instanceof CliError || options.signal?.aborted) throw err;
      reason = unreachable(options.baseUrl, err).message;
    }
    failures += 1;
    if (failures > maxRetries) throw unreachable(options.baseUrl, new Error(`${reason} (gave up after ${maxRetries} reconnects)`));
    const delayMs = Math.min(backoffMs * 2 ** (failures - 1), MAX_BACKOFF_MS);
    options.onRetry?.({ attempt: failures, delayMs, reason });
    await sleep(delayMs, options.signal);
  }
}

function open(options: FollowOptions, after: number): Promise<Response> {
  const url = `${options.baseUrl}/v1/operations/${encodeURIComponent(options.operationId)}/events?after=${after}`;
  return fetch(url, {
    headers: { authorization: `Bearer ${options.token}`, accept: "application/x-ndjson" },
    ...(options.signal ? { signal: options.signal } : {}),
  });
}

/** One parsed event per NDJSON line; a partial last line (the connection dropped mid-line) is left out. */
async function* events(response: Response): AsyncGenerator<OperationEvent> {
  if (response.body === null) return;
  const decoder = new TextDecoder();
  let buffered = "";
  for await (const chunk of response.body) {
    buffered += decoder.decode(chunk as Uint8Array, { stream: true });
    let newline = buffered.indexOf("\n");
    while (newline >= 0) {
      const line = buffered.slice(0, newline).trim();
      buffered = buffered.slice(newline + 1);
      if (line !== "") yield JSON.parse(line) as OperationEvent;
      newline = buffered.indexOf("\n");
    }
  }
}

function sleep(ms: number, signal: AbortSignal | undefined): Promise<void> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(resolve, ms);
    signal?.addEventListener(
      "abort",
      () => {
        clearTimeout(timer);
        reject(signal.reason);
      },
      { once: true },
    );
  });
}
