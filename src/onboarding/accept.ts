import { randomUUID } from "node:crypto";
import { AppError } from "../errors.js";
import type { EventHub } from "../operations/event-hub.js";
import type { OperationEvent } from "../operations/events.js";
import type { Intent, Operation } from "../operations/operation.js";
import * as ops from "../operations/operations-repo.js";
import { isUniqueViolation, type Db, type Queryable } from "../store/db.js";

/** What every accepted mutation returns: the operation, where it sits in its provider's queue, and replay status. */
export interface Accepted {
  readonly operation: Operation;
  readonly queuePosition: number;
  /** True when an Idempotency-Key matched an earlier identical request. */
  readonly replayed: boolean;
}

export interface Idempotency {
  readonly key: string;
  /** Hash of method, route and canonical body: the same key with another request is refused. */
  readonly fingerprint: string;
}

export interface AcceptDeps {
  readonly db: Db;
  readonly hub: EventHub;
  /** Wakes the runner after commit. */
  readonly kick: () => void;
  readonly engine: string;
  readonly programVersion: string;
}

export type Enqueue = (tx: Queryable, newOperation: (input: OperationInput) => Promise<ops.Enqueued>) => Promise<ops.Enqueued>;

export interface OperationInput {
  readonly provider: string;
  readonly intent: Intent;
  readonly kind: Operation["kind"];
  readonly accessState: Operation["access_state"];
  readonly spec: Record<string, unknown>;
  readonly specHash: string;
  /** It may only start once this operation has ended. */
  readonly blockedBy?: string;
}

/**
 * One transaction: the caller's checks and row changes, the operation row, its `operation.queued` event
 * and the idempotency record commit together or not at all. Events are published only after commit.
 */
export async function accept(deps: AcceptDeps, idempotency: Idempotency | undefined, enqueue: Enqueue): Promise<Accepted> {
  // Two attempts: on PostgreSQL a concurrent request with the same key can win the insert race; the
  // second attempt then finds its record and replays it.
  for (let attempt = 1; ; attempt++) {
    try {
      const { accepted, event } = await deps.db.transaction((tx) => acceptIn(tx, deps, idempotency, enqueue));
      if (event) {
        await deps.hub.publish(accepted.operation.id, event);
        deps.kick();
      }
      return accepted;
    } catch (err) {
      if (attempt < 2 && isUniqueViolation(err, "idempotency_keys_pkey")) continue;
      throw err;
    }
  }
}

async function acceptIn(
  tx: Queryable,
  deps: AcceptDeps,
  idempotency: Idempotency | undefined,
  enqueue: Enqueue,
): Promise<{ accepted: Accepted; event?: OperationEvent }> {
  if (idempotency) {
    const rows = await tx.query<{ request_hash: string; operation_id: string }>(
      `SELECT request_hash, operation_id FROM idempotency_keys WHERE key = $1`,
      [idempotency.key],
    );
    const earlier = rows[0];
    if (earlier) {
      if (earlier.request_hash !== idempotency.fingerprint) {
        throw new AppError("IDEMPOTENCY_KEY_REUSED", "This Idempotency-Key was already used with a different request.");
      }
      const operation = (await ops.getOperation(tx, earlier.operation_id))!;
      return { accepted: { operation, queuePosition: await ops.queuePosition(tx, operation), replayed: true } };
    }
  }
  const enqueued = await enqueue(tx, (input) =>
    ops.enqueueOperation(tx, { id: randomUUID(), engine: deps.engine, programVersion: deps.programVersion, ...input }),
  );
  const { operation, queuePosition, event } = enqueued;
  if (idempotency) {
    await tx.query(`INSERT INTO idempotency_keys (key, request_hash, operation_id) VALUES ($1, $2, $3)`, [
      idempotency.key,
      idempotency.fingerprint,
      operation.id,
    ]);
  }
  return { accepted: { operation, queuePosition, replayed: false }, event };
}
