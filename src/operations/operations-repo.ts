import type { KeyDisposition } from "../../programs/types.js";
import { isUniqueViolation, type Db, type Queryable } from "../store/db.js";
import type { EventData, OperationError, OperationEvent } from "./events.js";
import { LeaseLostError, OperationRow, type Fence, type Intent, type Operation, type OperationStatus } from "./operation.js";

const parse = (rows: Record<string, unknown>[]): Operation[] => rows.map((r) => OperationRow.parse(r));

export interface NewOperation {
  readonly id: string;
  readonly provider: string;
  readonly intent: Intent;
  readonly kind: Operation["kind"];
  readonly accessState: Operation["access_state"];
  readonly engine: string;
  readonly spec: Record<string, unknown>;
  readonly specHash: string;
  readonly programVersion: string;
  /** It may only start once this operation has ended. */
  readonly blockedBy?: string;
  /** Inserted as `awaiting_approval`: the runner leaves it until an approver queues it. */
  readonly awaitingApproval?: boolean;
  /** Decommission only: what happens to the provider's BYOK key. */
  readonly keyDisposition?: KeyDisposition;
  /** Queued by this fleet rollout: it yields to every person's request (priority 1). */
  readonly rolloutId?: string;
  /** Queued by a schedule (a drift check): BACKGROUND_PRIORITY, after people's and rollouts'. */
  readonly background?: boolean;
}

/** Scheduled work (drift checks): claimed after people's (0) and rollouts' (1), and never in every runner slot. */
export const BACKGROUND_PRIORITY = 2;

/** Statuses of operations that have not ended: they hold their place in the provider's queue. */
export const ACTIVE_SQL = "('awaiting_approval', 'queued', 'running')";

export interface Enqueued {
  readonly operation: Operation;
  /** Operations ahead of it on its provider (0 = runs next). */
  readonly queuePosition: number;
  /** Its first event, `operation.queued` (seq 1). */
  readonly event: OperationEvent;
}

/**
 * Inserts a queued operation and its `operation.queued` event in ONE statement (the accept path's hot
 * spot). All parts of a statement see the same snapshot, so `ahead` counts the operations queued or
 * running before this one; the event's foreign key is checked at the end of the statement.
 */
export async function enqueueOperation(q: Queryable, op: NewOperation): Promise<Enqueued> {
  const rows = await q.query(
    `WITH ahead AS (
       SELECT count(*)::int AS n FROM operations WHERE provider = $2 AND status IN ${ACTIVE_SQL}),
     op AS (
       INSERT INTO operations (id, provider, intent, kind, access_state, status, engine, spec, spec_hash, program_version, last_seq, blocked_by, key_disposition,
                               rollout_id, priority)
       VALUES ($1, $2, $3, $4, $5, $11, $6, $7, $8, $9, 1, $10, $12, $13, CASE WHEN $14 THEN ${BACKGROUND_PRIORITY} WHEN $13::uuid IS NULL THEN 0 ELSE 1 END) RETURNING *),
     ev AS (
       INSERT INTO operation_events (operation_id, seq, type, data)
       SELECT $1, 1, 'operation.queued', jsonb_build_object('type', 'operation.queued', 'position', ahead.n) FROM ahead
       RETURNING at)
     SELECT op.*, ahead.n AS queue_position, ev.at AS event_at FROM op, ahead, ev`,
    [
      op.id,
      op.provider,
      op.intent,
      op.kind,
      op.accessState,
      op.engine,
      JSON.stringify(op.spec),
      op.specHash,
      op.programVersion,
      op.blockedBy ?? null,
      op.awaitingApproval === true ? "awaiting_approval" : "queued",
      op.keyDisposition ?? null,
      op.rolloutId ?? null,
      op.background === true,
    ],
  );
  const row = rows[0] as Record<string, unknown> & { queue_position: number; event_at: Date | string };
  const queuePosition = row.queue_position;
  return {
    operation: OperationRow.parse(row),
    queuePosition,
    event: { type: "operation.queued", position: queuePosition, seq: 1, at: new Date(row.event_at).toISOString() },
  };
}

/**
 * The queued hub update of `op.provider` (a hub stack), inserting it if there is none: everyone who
 * needs the hub re-run joins the same queued operation, which reads the providers' rule groups only
 * when it starts. The partial unique index makes this race-free across replicas. Returns the
 * queued operation, and its `operation.queued` event when this call created it.
 */
export async function enqueueCoalesced(q: Queryable, op: NewOperation): Promise<{ operation: Operation; created?: Enqueued }> {
  for (let attempt = 0; attempt < 5; attempt++) {
    const existing = parse(
      // The oldest: one waiting to resume (attempt > 0) may be queued beside the fresh one.
      await q.query(`SELECT * FROM operations WHERE provider = $1 AND intent = $2 AND status = 'queued' ORDER BY queue_seq LIMIT 1`, [
        op.provider,
        op.intent,
      ]),
    )[0];
    if (existing) return { operation: existing };
    await q.query("SAVEPOINT coalesce");
    try {
      const created = await enqueueOperation(q, op);
      await q.query("RELEASE SAVEPOINT coalesce");
      return { operation: created.operation, created };
    } catch (err) {
      await q.query("ROLLBACK TO SAVEPOINT coalesce");
      // Another transaction queued one first: join it.
      if (!isUniqueViolation(err, "operations_one_queued_hub_update")) throw err;
    }
  }
  throw new Error(`could not queue or join a ${op.intent} of ${op.provider}`);
}

export async function getOperation(q: Queryable, id: string, forUpdate = false): Promise<Operation | undefined> {
  return parse(await q.query(`SELECT * FROM operations WHERE id = $1${forUpdate ? " FOR UPDATE" : ""}`, [id]))[0];
}

/** Operations ahead of this one on its provider (0 = next to run). */
export async function queuePosition(q: Queryable, op: Operation): Promise<number> {
  const rows = await q.query<{ n: number }>(
    `SELECT count(*)::int AS n FROM operations
      WHERE provider = $1 AND status IN ${ACTIVE_SQL} AND queue_seq < $2`,
    [op.provider, op.queue_seq],
  );
  return rows[0]?.n ?? 0;
}

/**
 * The latest decommission of the provider's current onboarding (after its latest create) that started
 * running, other than `except`: a decommission after it is a retry of the same one (issue 12).
 */
export async function earlierDecommission(q: Queryable, provider: string, except?: string): Promise<Operation | undefined> {
  return parse(
    await q.query(
      `SELECT * FROM operations
        WHERE provider = $1 AND intent = 'decommission' AND started_at IS NOT NULL AND ($2::uuid IS NULL OR id <> $2::uuid)
          AND queue_seq > coalesce((SELECT max(queue_seq) FROM operations WHERE provider = $1 AND intent = 'create'), 0)
        ORDER BY queue_seq DESC LIMIT 1`,
      [provider, except ?? null],
    ),
  )[0];
}

/** A provider's operations, newest first; `before` is the queue_seq the previous page ended at (the console's history). */
export async function providerOperations(q: Queryable, provider: string, limit: number, before?: string): Promise<Operation[]> {
  return parse(
    await q.query(`SELECT * FROM operations WHERE provider = $1 AND ($2::bigint IS NULL OR queue_seq < $2::bigint) ORDER BY queue_seq DESC LIMIT $3`, [
      provider,
      before ?? null,
      limit,
    ]),
  );
}

/** Queued and running operations of a provider, oldest first. */
export async function activeOperations(q: Queryable, provider: string): Promise<Operation[]> {
  return parse(
    await q.query(`SELECT * FROM operations WHERE provider = $1 AND status IN ${ACTIVE_SQL} ORDER BY queue_seq`, [provider]),
  );
}

/**
 * Claims the oldest queued operation — a person's request before a rollout's (priority) — whose provider has nothing running and nothing queued before it
 * (per-provider FIFO; a preview passes a change awaiting approval: it changes nothing, and shows the approver the plan), once its back-off is over if it waits to resume (it keeps its place in the queue). SKIP LOCKED lets replicas claim different rows concurrently; the partial unique
 * index on running operations is the backstop if two ever race on one provider.
 *
 * Two more conditions: an operation `blocked_by` another waits until that one has ended; and a hub
 * update waits while provider creates or decommissions of its region are queued, running or were
 * requested in the last HUB_QUIET_SECONDS (other than those waiting for it), so a burst of onboardings
 * is listed by one hub run, not one each — for at most HUB_MAX_WAIT_SECONDS, so a steady stream of
 * onboardings cannot starve the hub.
 */
/** Longest a queued hub update waits for a burst of onboardings to settle. */
export const HUB_MAX_WAIT_SECONDS = 120;
/** A burst has settled when no create or decommission of the region was requested for this long. */
export const HUB_QUIET_SECONDS = 2;

/**
 * `background`: whether scheduled work (priority ≥ BACKGROUND_PRIORITY) may be claimed now (the runner keeps a
 * slot for people). A queued background operation never holds back a later person's or rollout's operation of
 * its stack: that one runs first, the check after it.
 */
export async function claimNext(db: Db, owner: string, leaseSeconds: number, background = true): Promise<Operation | undefined> {
  const rows = await db.query(
    `UPDATE operations
        SET status = 'running', attempt = attempt + 1, lease_owner = $1, resume_after = NULL,
            lease_expires_at = now() + make_interval(secs => $2), started_at = coalesce(started_at, now())
      WHERE id = (
        SELECT o.id FROM operations o
         WHERE o.status = 'queued'
           AND (o.resume_after IS NULL OR o.resume_after <= now())
           AND NOT EXISTS (SELECT 1 FROM operations r WHERE r.provider = o.provider AND r.status = 'running')
           AND ($5 OR o.priority < ${BACKGROUND_PRIORITY})
           AND NOT EXISTS (SELECT 1 FROM operations e
                            WHERE e.provider = o.provider AND e.queue_seq < o.queue_seq
                              AND (e.status = 'queued' OR (e.status = 'awaiting_approval' AND o.intent <> 'preview'))
                              AND NOT (e.priority >= ${BACKGROUND_PRIORITY} AND o.priority < ${BACKGROUND_PRIORITY}))
           AND (o.blocked_by IS NULL OR EXISTS (SELECT 1 FROM operations b
                                                 WHERE b.id = o.blocked_by AND b.status NOT IN ('queued', 'running')))
           AND (o.intent <> 'hub-update'
                OR o.created_at < now() - make_interval(secs => $3)
                OR NOT EXISTS (SELECT 1 FROM operations p
                                WHERE p.intent IN ('create', 'decommission') AND p.spec->>'region' = o.spec->>'region'
                                  AND p.blocked_by IS DISTINCT FROM o.id
                                  AND (p.status IN ('queued', 'running') OR p.created_at > now() - make_interval(secs => $4))))
         ORDER BY o.priority, o.queue_seq
         LIMIT 1
         FOR UPDATE SKIP LOCKED)
      RETURNING *`,
    [owner, leaseSeconds, HUB_MAX_WAIT_SECONDS, HUB_QUIET_SECONDS, background],
  );
  return parse(rows)[0];
}

/**
 * Renews the lease; returns whether a cancel was requested, or undefined when the lease is lost. An expired
 * lease is lost even before a sweep has ended its attempt: the runner has stopped that attempt's work by then.
 */
export async function heartbeat(
  q: Queryable,
  id: string,
  fence: Fence,
  leaseSeconds: number,
): Promise<{ cancelRequested: boolean } | undefined> {
  const rows = await q.query<{ cancel_requested_at: unknown }>(
    `UPDATE operations SET lease_expires_at = now() + make_interval(secs => $4)
      WHERE id = $1 AND attempt = $2 AND lease_owner = $3 AND status = 'running' AND lease_expires_at > now()
      RETURNING cancel_requested_at`,
    [id, fence.attempt, fence.owner, leaseSeconds],
  );
  const row = rows[0];
  return row ? { cancelRequested: row.cancel_requested_at !== null } : undefined;
}

/** Ends a running operation; fenced, so a worker that lost its lease changes nothing. */
export async function finishRunning(
  q: Queryable,
  id: string,
  fence: Fence,
  status: Extract<OperationStatus, "succeeded" | "failed" | "cancelled" | "interrupted">,
  outcome: { result?: Record<string, unknown>; error?: OperationError },
): Promise<Operation> {
  const rows = await q.query(
    `UPDATE operations
        SET status = $4, result = $5, error = $6, finished_at = now(), lease_owner = NULL, lease_expires_at = NULL
      WHERE id = $1 AND attempt = $2 AND lease_owner = $3 AND status = 'running'
      RETURNING *`,
    [id, fence.attempt, fence.owner, status, json(outcome.result), json(outcome.error)],
  );
  const op = parse(rows)[0];
  if (!op) throw new LeaseLostError(id);
  return op;
}

/** Cancels a queued (or awaiting approval) operation; undefined when it is no longer waiting. */
export async function cancelQueued(q: Queryable, id: string): Promise<Operation | undefined> {
  return parse(
    await q.query(
      `UPDATE operations SET status = 'cancelled', finished_at = now(), cancel_requested_at = now()
        WHERE id = $1 AND status IN ('queued', 'awaiting_approval') RETURNING *`,
      [id],
    ),
  )[0];
}

export async function requestCancel(q: Queryable, id: string): Promise<Operation | undefined> {
  return parse(
    await q.query(
      `UPDATE operations SET cancel_requested_at = coalesce(cancel_requested_at, now())
        WHERE id = $1 AND status = 'running' RETURNING *`,
      [id],
    ),
  )[0];
}

/**
 * Running operations whose lease expired (their worker died or lost the database), locked for this
 * transaction; SKIP LOCKED lets two replicas sweep at once without waiting on, or handling, the same row.
 */
export async function expiredLeases(q: Queryable): Promise<Operation[]> {
  return parse(
    await q.query(`SELECT * FROM operations WHERE status = 'running' AND lease_expires_at < now() ORDER BY queue_seq FOR UPDATE SKIP LOCKED`),
  );
}

/**
 * Queues a running operation again for its next attempt, not before `delaySeconds`; fenced like
 * finishRunning. It keeps its queue place (queue_seq), so nothing queued behind it on its stack overtakes it.
 */
export async function requeueRunning(q: Queryable, id: string, fence: Fence, delaySeconds: number): Promise<Operation> {
  const rows = await q.query(
    `UPDATE operations
        SET status = 'queued', lease_owner = NULL, lease_expires_at = NULL, progress_done = 0, progress_total = NULL,
            resume_after = now() + make_interval(secs => $4)
      WHERE id = $1 AND attempt = $2 AND lease_owner = $3 AND status = 'running'
      RETURNING *`,
    [id, fence.attempt, fence.owner, delaySeconds],
  );
  const op = parse(rows)[0];
  if (!op) throw new LeaseLostError(id);
  return op;
}

/**
 * Appends one event with the next gap-free seq. The UPDATE takes the operation's row lock, so
 * concurrent writers serialize; with a fence it only succeeds while that attempt holds the lease. A
 * `progress` event also sets the operation's progress, in the same statement (one write, not two).
 */
export async function appendEvent(q: Queryable, id: string, fence: Fence | null, data: EventData): Promise<{ seq: number; at: string }> {
  const rows = await q.query<{ seq: number; at: Date | string }>(
    `WITH o AS (
       UPDATE operations SET last_seq = last_seq + 1,
              progress_done = CASE WHEN $4 = 'progress' THEN ($5::jsonb->>'done')::int ELSE progress_done END,
              progress_total = CASE WHEN $4 = 'progress' THEN ($5::jsonb->>'total')::int ELSE progress_total END
        WHERE id = $1 AND ($2::int IS NULL OR (attempt = $2 AND lease_owner = $3 AND status = 'running'))
        RETURNING last_seq)
     INSERT INTO operation_events (operation_id, seq, type, data)
     SELECT $1, last_seq, $4, $5 FROM o
     RETURNING seq, at`,
    [id, fence?.attempt ?? null, fence?.owner ?? null, data.type, JSON.stringify(data)],
  );
  const row = rows[0];
  if (!row) throw new LeaseLostError(id);
  return { seq: row.seq, at: new Date(row.at).toISOString() };
}

function json(value: unknown): string | null {
  return value === undefined ? null : JSON.stringify(value);
}

/**
 * Appends several events in one statement, with consecutive seqs after the operation's last; fenced like
 * appendEvent. The last `progress` among them sets the operation's progress.
 */
export async function appendEvents(q: Queryable, id: string, fence: Fence | null, batch: readonly EventData[]): Promise<{ seq: number; at: string }[]> {
  const progress = batch.findLast((e) => e.type === "progress");
  const rows = await q.query<{ seq: number; at: Date | string }>(
    `WITH o AS (
       UPDATE operations SET last_seq = last_seq + $4,
              progress_done = coalesce($6, progress_done), progress_total = coalesce($7, progress_total)
        WHERE id = $1 AND ($2::int IS NULL OR (attempt = $2 AND lease_owner = $3 AND status = 'running'))
        RETURNING last_seq)
     INSERT INTO operation_events (operation_id, seq, type, data)
     SELECT $1, o.last_seq - $4 + e.n::int, e.data->>'type', e.data FROM o, jsonb_array_elements($5::jsonb) WITH ORDINALITY AS e(data, n)
     RETURNING seq, at`,
    [
      id,
      fence?.attempt ?? null,
      fence?.owner ?? null,
      batch.length,
      JSON.stringify(batch),
      progress?.type === "progress" ? progress.done : null,
      progress?.type === "progress" ? progress.total : null,
    ],
  );
  if (rows.length !== batch.length) throw new LeaseLostError(id);
  return rows.sort((a, b) => a.seq - b.seq).map((r) => ({ seq: r.seq, at: new Date(r.at).toISOString() }));
}
