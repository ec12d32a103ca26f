import type { Queryable } from "../store/db.js";
import { retryUnavailable, type RetryOptions } from "../store/unavailable.js";
import type { EventData, OperationEvent } from "./events.js";
import { listEvents } from "./events-repo.js";

/**
 * Writes of a running operation that outlast a short database outage (issue 14): while this replica still
 * holds the operation's lease, a write the database could not take (a failover, a restart, a killed
 * backend) is tried again with back-off, instead of failing or interrupting work that did not need to stop.
 * Once the lease would have lapsed the error is thrown: the recovery sweep owns the operation then.
 */
export class Lease {
  #until: number;
  #timer: NodeJS.Timeout | undefined;
  /**
   * `onLapse` runs when the lease runs out here without a renewal (a database outage longer than the
   * lease): by then the recovery sweep of any replica may take the operation over, so its work must stop.
   */
  constructor(
    private readonly seconds: number,
    grantedAt = Date.now(),
    private readonly onLapse?: () => void,
  ) {
    this.#until = grantedAt + seconds * 1000;
    this.#arm();
  }
  /** A heartbeat sent at `sentAt` succeeded: the lease runs from then (the server's clock counted later). */
  renewed(sentAt: number): void {
    this.#until = Math.max(this.#until, sentAt + this.seconds * 1000);
    this.#arm();
  }
  get until(): number {
    return this.#until;
  }
  /** The work ended: no lapse is reported any more. */
  release(): void {
    clearTimeout(this.#timer);
    this.#timer = undefined;
  }
  #arm(): void {
    if (this.onLapse === undefined) return;
    clearTimeout(this.#timer);
    const lapse = this.onLapse;
    this.#timer = setTimeout(() => (Date.now() >= this.#until ? lapse() : this.#arm()), Math.max(0, this.#until - Date.now()));
    this.#timer.unref();
  }
}

/** Runs a write of a leased operation, retrying a lost database connection while the lease lasts. */
export function whileLeased<T>(lease: Lease, write: () => Promise<T>, options: Omit<RetryOptions<T>, "deadline"> = {}): Promise<T> {
  return retryUnavailable(write, { ...options, deadline: () => lease.until });
}

/**
 * The event right after `lastSeq`, when it is `data`: an append whose answer was lost but which committed.
 * The runner is the only writer of a running operation's events, and waits for each before the next.
 */
export async function appendedAfter(q: Queryable, operationId: string, lastSeq: number, data: EventData): Promise<OperationEvent | undefined> {
  return (await batchAppendedAfter(q, operationId, lastSeq, [data]))?.[0];
}

/** appendedAfter for a batch written in one statement (all of it committed, or none). */
export async function batchAppendedAfter(q: Queryable, operationId: string, lastSeq: number, batch: readonly EventData[]): Promise<OperationEvent[] | undefined> {
  const next = await listEvents(q, operationId, lastSeq, batch.length);
  if (next.length !== batch.length) return undefined;
  const same = next.every(({ seq: _seq, at: _at, ...stored }, i) => JSON.stringify(sorted(stored)) === JSON.stringify(sorted(JSON.parse(JSON.stringify(batch[i])) as object)));
  return same ? next : undefined;
}

/** Keys in order, at every level (jsonb does not keep the order they were written in). */
function sorted(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(sorted);
  if (typeof value !== "object" || value === null) return value;
  return Object.fromEntries(Object.entries(value).sort(([a], [b]) => a.localeCompare(b)).map(([k, v]) => [k, sorted(v)]));
}
