import { decide } from "../approvals/approvals-repo.js";
import type { AuditWriter } from "../audit/append.js";
import type { AuditAction } from "../audit/record.js";
import { canSeeTeam, principalRef, recordAllowed, type Actor } from "../auth/actor.js";
import type { Principal } from "../auth/principal.js";
import { AppError } from "../errors.js";
import { DeniedError } from "../auth/denied.js";
import { getProvider } from "../onboarding/providers-repo.js";
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
  readonly audit: AuditWriter;
}

/**
 * Who may see an operation: the caller of a stream ticket for exactly this operation, an admin, or a
 * member of the team owning its provider. A hub update belongs to no team (admins only).
 */
export interface OperationViewer {
  readonly principal: Principal;
  /** The operation a stream ticket granted, if the request came with one. */
  readonly ticketOperation?: string | undefined;
}

const notFound = (id: string) => new AppError("NOT_FOUND", `No operation with id "${id}".`);
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

export async function getOperation(
  deps: Pick<OperationsDeps, "db">,
  viewer: OperationViewer,
  id: string,
  action: AuditAction = "auth.denied",
): Promise<{ operation: Operation; queuePosition: number | undefined }> {
  const operation = await visibleOperation(deps.db, viewer, id, action);
  return { operation, queuePosition: operation.status === "queued" ? await ops.queuePosition(deps.db, operation) : undefined };
}

/** The operation, if `viewer` may see it; another team's is a 404 like a missing one (but audited). */
export async function visibleOperation(q: Queryable, viewer: OperationViewer, id: string, action: AuditAction, forUpdate = false): Promise<Operation> {
  // Not a uuid ⇒ it cannot exist: answer 404 rather than letting the database reject the cast.
  const operation = UUID.test(id) ? await ops.getOperation(q, id, forUpdate) : undefined;
  if (!operation) throw notFound(id);
  if (viewer.ticketOperation === id || viewer.principal.role === "admin") return operation;
  const provider = await getProvider(q, operation.provider);
  if (provider !== undefined && canSeeTeam(viewer.principal, provider.team)) return operation;
  throw new DeniedError("NOT_FOUND", `No operation with id "${id}".`, {
    action,
    resource: { kind: "operation", id },
    reason: provider === undefined ? "a network-hub operation (admins only)" : "the operation belongs to another team",
  });
}

/**
 * Cancel: a queued operation ends now (`operation.cancelled`); a running one is asked to stop (graceful:
 * in-flight resource steps settle first) and its stream ends with `operation.cancelled` when it has.
 */
export async function cancelOperation(deps: OperationsDeps, actor: Actor, id: string): Promise<Operation> {
  const viewer = { principal: actor.principal };
  const { operation } = await getOperation(deps, viewer, id, "operation.cancel");
  if (TERMINAL_STATUSES.has(operation.status)) {
    throw new AppError("OPERATION_FINISHED", `Operation ${id} already ${operation.status}.`);
  }
  const outcome = await deps.db.transaction(async (tx) => {
    const cancelled = await ops.cancelQueued(tx, id);
    let result: { op: Operation | undefined; event: OperationEvent | undefined };
    if (cancelled) {
      await deps.onFinish(tx, cancelled, "cancelled");
      // Cancelling an operation that awaits approval withdraws its request.
      const withdrawn = await decide(tx, id, { status: "withdrawn", by: principalRef(actor.principal), byName: actor.principal.name });
      const reason = withdrawn
        ? "cancelled by request while awaiting approval"
        : cancelled.attempt > 0
          ? `cancelled by request while waiting to resume (attempt ${cancelled.attempt} stopped without finishing)`
          : "cancelled by request before it started";
      const data = { type: "operation.cancelled" as const, reason };
      const { seq, at } = await ops.appendEvent(tx, id, null, data);
      result = { op: cancelled, event: { ...data, seq, at } as OperationEvent };
    } else {
      result = { op: await ops.requestCancel(tx, id), event: undefined };
    }
    if (result.op) {
      const details = { provider: operation.provider, intent: operation.intent, was: operation.status, ended: result.event !== undefined };
      await recordAllowed(deps.audit, tx, actor, "operation.cancel", { kind: "operation", id }, details);
    }
    return result;
  });
  if (outcome.event) await deps.hub.publish(id, outcome.event);
  if (!outcome.op) {
    // It finished between our read and the update.
    const { operation: now } = await getOperation(deps, viewer, id);
    throw new AppError("OPERATION_FINISHED", `Operation ${id} already ${now.status}.`);
  }
  if (!outcome.event) deps.cancelLocal(id);
  return outcome.op;
}

export async function eventPage(deps: Pick<OperationsDeps, "db">, viewer: OperationViewer, id: string, after: number, limit: number): Promise<OperationEvent[]> {
  await visibleOperation(deps.db, viewer, id, "auth.denied");
  return listEvents(deps.db, id, after, limit);
}
