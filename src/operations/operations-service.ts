import { AppError } from "../errors.js";
import type { Db, Queryable } from "../store/db.js";
import type { EventHub } from "./event-hub.js";
import type { OperationEvent } from "./events.js";
import { listEvents } from "./events-repo.js";
import { TERMINAL_STATUSES, type Operation, type OperationStatus } from "./operation.js";
import * as ops from "./operations-repo.js";

export interface OperationsDeps {
  readonly db: Db;
  readonly hub: EventHub;
  /** Provider lifecycle reaction to a queued operation being cancelled (onboarding owns it). */
  readonly onFinish: (tx: Queryable, op: Operation, status: OperationStatus) => Promise<void>;
  readonly cancelLocal: (operationId: string) => void;
}

const notFound = (id: string) => new AppError("NOT_FOUND", `No operation with id "${id}".`);
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

export async function getOperation(deps: Pick<OperationsDeps, "db">, id: string): Promise<{ operation: Operation; queuePosition: number | undefined }> {
  // Not a uuid ⇒ it cannot exist: answer 404 rather than letting the database reject the cast.
  const operation = UUID.test(id) ? await ops.getOperation(deps.db, id) : undefined;
  if (!operation) throw notFound(id);
  return { operation, queuePosition: operation.status === "queued" ? await ops.queuePosition(deps.db, operation) : undefined };
}

/**
 * Cancel: a queued operation ends now (`operation.cancelled`); a running one is asked to stop (graceful:
 * in-flight resource steps settle first) and its stream ends with `operation.cancelled` when it has.
 */
export async function cancelOperation(deps: OperationsDeps, id: string): Promise<Operation> {
  const { operation } = await getOperation(deps, id);
  if (TERMINAL_STATUSES.has(operation.status)) {
    throw new AppError("OPERATION_FINISHED", `Operation ${id} already ${operation.status}.`);
  }
  const outcome = await deps.db.transaction(async (tx) => {
    const cancelled = await ops.cancelQueued(tx, id);
    if (cancelled) {
      await deps.onFinish(tx, cancelled, "cancelled");
      const data = { type: "operation.cancelled" as const, reason: "cancelled by request before it started" };
      const { seq, at } = await ops.appendEvent(tx, id, null, data);
      return { op: cancelled, event: { ...data, seq, at } as OperationEvent };
    }
    const requested = await ops.requestCancel(tx, id);
    return { op: requested, event: undefined };
  });
  if (outcome.event) await deps.hub.publish(id, outcome.event);
  if (!outcome.op) {
    // It finished between our read and the update.
    const { operation: now } = await getOperation(deps, id);
    throw new AppError("OPERATION_FINISHED", `Operation ${id} already ${now.status}.`);
  }
  if (!outcome.event) deps.cancelLocal(id);
  return outcome.op;
}

export async function eventPage(deps: Pick<OperationsDeps, "db">, id: string, after: number, limit: number): Promise<OperationEvent[]> {
  await getOperation(deps, id);
  return listEvents(deps.db, id, after, limit);
}
