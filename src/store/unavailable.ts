import type { Queryable } from "./db.js";

/**
 * The database could not be reached, or dropped the connection (a failover, a restart, a killed backend):
 * the statement's transaction is gone, rolled back by the server, so nothing of it was kept. Unless the
 * connection broke while a COMMIT was on its way: then the outcome is unknown, which is why callers retry
 * with the same idempotency key rather than assume either (issue 14).
 */
export class DatabaseUnavailableError extends Error {
  readonly code = "DATABASE_UNAVAILABLE";
  constructor(cause: unknown) {
    super(`the database is unavailable: ${describe(cause)}`, { cause });
    this.name = "DatabaseUnavailableError";
  }
}

/**
 * SQLSTATEs of a lost or refused connection: class 08 (connection exception), 57P01 admin_shutdown
 * (a fast or immediate stop, pg_terminate_backend), 57P02 crash_shutdown, 57P03 cannot_connect_now
 * (starting up or shutting down).
 */
const CONNECTION_STATES = /^(08...|57P0[123])$/;
/** What node-postgres and Node say when the socket itself is gone or refused. */
const CONNECTION_MESSAGES = /Connection terminated|connection error and is not queryable|timeout expired|Client was closed|not queryable/i;
const SOCKET_CODES = new Set(["ECONNREFUSED", "ECONNRESET", "EPIPE", "ENOENT", "ETIMEDOUT", "EHOSTUNREACH", "ENETUNREACH", "EAI_AGAIN"]);

export function isConnectionLoss(err: unknown): boolean {
  if (err instanceof DatabaseUnavailableError) return true;
  const e = err as { code?: unknown; message?: unknown } | null;
  if (typeof e?.code === "string" && (CONNECTION_STATES.test(e.code) || SOCKET_CODES.has(e.code))) return true;
  return typeof e?.message === "string" && CONNECTION_MESSAGES.test(e.message);
}

/** `err` as a DatabaseUnavailableError when it is a lost connection, else unchanged. */
export function asUnavailable(err: unknown): unknown {
  return isConnectionLoss(err) && !(err instanceof DatabaseUnavailableError) ? new DatabaseUnavailableError(err) : err;
}

function describe(err: unknown): string {
  const e = err as { code?: unknown; message?: unknown } | null;
  const message = typeof e?.message === "string" ? e.message : String(err);
  return typeof e?.code === "string" ? `${message} (${e.code})` : message;
}

const FIRST_RETRY_MS = 100;
const MAX_RETRY_MS = 2_000;

export interface RetryOptions<T> {
  /** Until when (ms since the epoch, asked before each wait) a lost connection is worth waiting out. */
  readonly deadline: () => number;
  /**
   * Whether a try whose answer was lost took effect after all (the connection broke during its COMMIT):
   * its result, or undefined to try again. Without it the work must be idempotent.
   */
  readonly settled?: () => Promise<T | undefined>;
  /** Called before each wait, e.g. to log the first one. */
  readonly onRetry?: (err: unknown, attempt: number, delayMs: number) => void;
}

/**
 * Runs `work`; while the database is unavailable (a failover, a restart, a killed backend) tries again
 * with back-off (100 ms, doubling to 2 s) until the deadline, then throws the DatabaseUnavailableError.
 * Any other error is thrown at once.
 */
export async function retryUnavailable<T>(work: () => Promise<T>, options: RetryOptions<T>): Promise<T> {
  let delayMs = FIRST_RETRY_MS;
  let answerLost = false;
  for (let attempt = 1; ; attempt++) {
    try {
      if (answerLost && options.settled) {
        const done = await options.settled();
        if (done !== undefined) return done;
      }
      return await work();
    } catch (err) {
      if (!isConnectionLoss(err)) throw err;
      answerLost = true;
      if (Date.now() + delayMs >= options.deadline()) throw asUnavailable(err);
      options.onRetry?.(err, attempt, delayMs);
      await new Promise((resolve) => setTimeout(resolve, delayMs));
      delayMs = Math.min(delayMs * 2, MAX_RETRY_MS);
    }
  }
}

/**
 * `q` with every statement retried across a database outage of up to `maxMs` (from each statement's
 * start). Only for statements that are safe to run twice (upserts, deletes by key, reads).
 */
export function retryingQueryable(q: Queryable, maxMs: number): Queryable {
  return {
    query: (sql, params) => {
      const deadline = Date.now() + maxMs;
      return retryUnavailable(() => q.query(sql, params), { deadline: () => deadline });
    },
  };
}
