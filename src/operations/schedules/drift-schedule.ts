import { createHash } from "node:crypto";
import type { Logger } from "pino";
import type { Db, Queryable } from "../../store/db.js";
import type { EventHub } from "../event-hub.js";
import { periodic } from "./periodic.js";
import type { OperationEvent } from "../events.js";

/**
 * Scheduled drift checks (issue 16; DESIGN §13: a schedule enqueues ordinary operations, DB-claimed so one
 * replica acts). Each stack has a row in `drift_schedule` with the time its next check is due. Every replica
 * sweeps: it claims due rows FOR UPDATE SKIP LOCKED and, in the same transaction, queues the check (through the
 * port: the operations layer knows no providers) and moves the row to its next slot. The row lock is the lease
 * and the commit the only effect, so there is nothing to heartbeat or recover: a replica that dies mid-sweep
 * rolls back, and the row is due again for the next sweeper.
 *
 * Slots: every `intervalMs`, at a stable per-stack offset within the interval (a hash of the stack's name), so
 * a fleet's checks spread over the interval instead of starting at once, on every replica alike.
 */
export interface DriftSchedulePort {
  /** The stacks that get drift checks (active or revoked providers, and the network hubs that exist). */
  stacks(q: Queryable): Promise<string[]>;
  /**
   * Queues a drift check of `stack` as the system in `tx` (audited), or says why not now: `busy` (another
   * operation of the stack is queued, running or awaits approval: tried again after the retry delay) or `gone`
   * (no longer a stack to check: its row is dropped).
   */
  enqueue(tx: Queryable, stack: string): Promise<ScheduledEnqueue>;
}

export type ScheduledEnqueue =
  | { readonly outcome: "queued"; readonly operationId: string; readonly event: OperationEvent }
  | { readonly outcome: "busy"; readonly reason: string }
  | { readonly outcome: "gone" };

export interface DriftScheduleOptions {
  readonly db: Db;
  readonly hub: EventHub;
  readonly log: Logger;
  readonly port: DriftSchedulePort;
  /** DRIFT_CHECK_INTERVAL in ms; null: off (the schedule queues nothing). */
  readonly intervalMs: number | null;
  /** A busy stack is tried again after this long (default: a tenth of the interval, between 1 min and 1 h). */
  readonly retryMs?: number;
  /** How often a replica sweeps (default 30 s). */
  readonly pollMs?: number;
  /** Due rows claimed per transaction (default 50). */
  readonly batch?: number;
  /** Wakes the runner after checks were queued. */
  readonly kickRunner: () => void;
  /** The clock (tests). */
  readonly now?: () => number;
}

export interface SweepResult {
  readonly queued: number;
  readonly deferred: number;
  readonly removed: number;
}

export interface DriftSchedule {
  /** One sweep now: registers new stacks, drops gone ones, queues every due check. */
  sweep(): Promise<SweepResult>;
  start(): void;
  stop(): Promise<void>;
}

/** The stack's stable offset within the interval: the same on every replica, spread evenly over stacks. */
export function stackOffsetMs(stack: string, intervalMs: number): number {
  const h = createHash("sha256").update(stack).digest();
  return Math.floor((h.readUIntBE(0, 6) / 2 ** 48) * intervalMs);
}

/** The first slot of the stack strictly after `afterMs`: offset + k × interval. */
export function nextSlotMs(afterMs: number, intervalMs: number, offsetMs: number): number {
  const k = Math.floor((afterMs - offsetMs) / intervalMs) + 1;
  return offsetMs + k * intervalMs;
}

const MAX_ROUNDS = 1_000;

export function createDriftSchedule(options: DriftScheduleOptions): DriftSchedule {
  const { db, hub, log, port, intervalMs } = options;
  const now = options.now ?? Date.now;
  const batch = options.batch ?? 50;
  const retryMs = options.retryMs ?? (intervalMs === null ? 60_000 : Math.min(3_600_000, Math.max(60_000, intervalMs / 10)));

  async function register(interval: number): Promise<number> {
    const stacks = await port.stacks(db);
    const at = now();
    const firsts = stacks.map((s) => new Date(nextSlotMs(at, interval, stackOffsetMs(s, interval))).toISOString());
    await db.query(
      `INSERT INTO drift_schedule (stack, next_at) SELECT s, n::timestamptz FROM unnest($1::text[], $2::text[]) AS t(s, n)
       ON CONFLICT (stack) DO NOTHING`,
      [stacks, firsts],
    );
    const gone = await db.query(`DELETE FROM drift_schedule WHERE NOT (stack = ANY($1::text[])) RETURNING stack`, [stacks]);
    return gone.length;
  }

  /** One transaction: up to `batch` due rows, each queued (or deferred, or dropped) and moved on. */
  async function round(interval: number): Promise<{ claimed: number; queued: { id: string; event: OperationEvent }[]; deferred: number; removed: number }> {
    return db.transaction(async (tx) => {
      const at = now();
      const due = await tx.query<{ stack: string }>(
        `SELECT stack FROM drift_schedule WHERE next_at <= $1::timestamptz ORDER BY next_at, stack LIMIT $2 FOR UPDATE SKIP LOCKED`,
        [new Date(at).toISOString(), batch],
      );
      const queued: { id: string; event: OperationEvent }[] = [];
      let deferred = 0;
      let removed = 0;
      for (const { stack } of due) {
        const result = await port.enqueue(tx, stack);
        if (result.outcome === "gone") {
          await tx.query(`DELETE FROM drift_schedule WHERE stack = $1`, [stack]);
          removed++;
        } else if (result.outcome === "busy") {
          await tx.query(`UPDATE drift_schedule SET next_at = $2::timestamptz WHERE stack = $1`, [stack, new Date(at + retryMs).toISOString()]);
          deferred++;
        } else {
          const next = nextSlotMs(at, interval, stackOffsetMs(stack, interval));
          await tx.query(`UPDATE drift_schedule SET next_at = $2::timestamptz, last_queued_at = $3::timestamptz, last_operation_id = $4 WHERE stack = $1`, [
            stack,
            new Date(next).toISOString(),
            new Date(at).toISOString(),
            result.operationId,
          ]);
          queued.push({ id: result.operationId, event: result.event });
        }
      }
      return { claimed: due.length, queued, deferred, removed };
    });
  }

  async function sweep(): Promise<SweepResult> {
    if (intervalMs === null) return { queued: 0, deferred: 0, removed: 0 };
    let removed = await register(intervalMs);
    let queued = 0;
    let deferred = 0;
    for (let i = 0; i < MAX_ROUNDS; i++) {
      const r = await round(intervalMs);
      for (const q of r.queued) await hub.publish(q.id, q.event);
      if (r.queued.length > 0) options.kickRunner();
      queued += r.queued.length;
      deferred += r.deferred;
      removed += r.removed;
      if (r.claimed < batch) break;
    }
    if (queued + deferred + removed > 0) log.info({ queued, deferred, removed }, "drift schedule: checks queued");
    return { queued, deferred, removed };
  }

  const every = periodic(sweep, options.pollMs ?? 30_000, (err) => log.warn({ err }, "drift schedule: sweep failed; retrying at the next one"));
  return {
    sweep,
    start() {
      if (intervalMs !== null) every.start();
    },
    stop: () => every.stop(),
  };
}
