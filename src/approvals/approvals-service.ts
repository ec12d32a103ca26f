import type { AuditWriter } from "../audit/append.js";
import { principalRef, recordAllowed, SYSTEM_ACTOR, type Actor } from "../auth/actor.js";
import { AppError } from "../errors.js";
import { DeniedError } from "../auth/denied.js";
import { requestHubUpdate } from "../onboarding/network-hub.js";
import { updateSpec } from "../onboarding/providers-repo.js";
import type { EventHub } from "../operations/event-hub.js";
import type { OperationEvent } from "../operations/events.js";
import { decommissionOf, type Operation, type OperationStatus } from "../operations/operation.js";
import * as ops from "../operations/operations-repo.js";
import { visibleOperation } from "../operations/operations-service.js";
import type { Db, Queryable } from "../store/db.js";
import type { Notify } from "../notifications/notice.js";
import { approvalDecided } from "../notifications/notices.js";
import { decide, expireDue, getApproval, isExpired, type Approval } from "./approvals-repo.js";

/**
 * Four eyes (issue #5). An approval is bound to the operation's exact spec hash and program version:
 * the approver names the spec hash it reviewed, and the service's program must still be the one the
 * request was made with. Self-approval, another spec hash, a changed program, an expired or decided
 * request are refused and audited. Approving queues the operation; rejecting or expiry cancels it.
 */
export interface ApprovalsDeps {
  readonly db: Db;
  readonly hub: EventHub;
  readonly audit: AuditWriter;
  readonly kick: () => void;
  readonly engine: string;
  /** The program version this service runs; an approval for another one does not apply. */
  readonly programVersion: string;
  /** Provider lifecycle reaction to a cancelled operation (onboarding owns it). */
  readonly onFinish: (tx: Queryable, op: Operation, status: OperationStatus) => Promise<void>;
  /** Subscribers hear of each decision in its transaction (webhooks, issue 16). */
  readonly notify?: Notify | undefined;
}

export interface ApproveRequest {
  readonly specHash: string;
  readonly comment?: string | undefined;
}

function refused(operationId: string, action: "approval.approve" | "approval.reject", reason: string, message: string, code: "APPROVAL_INVALID" | "SELF_APPROVAL" = "APPROVAL_INVALID"): DeniedError {
  return new DeniedError(code, message, { action, resource: { kind: "operation", id: operationId }, reason });
}

async function pendingFor(tx: Queryable, actor: Actor, id: string, action: "approval.approve" | "approval.reject"): Promise<{ operation: Operation; approval: Approval }> {
  const operation = await visibleOperation(tx, { principal: actor.principal }, id, action, true);
  const approval = await getApproval(tx, id, true);
  if (approval === undefined || operation.status !== "awaiting_approval" || approval.status !== "pending") {
    const state = approval === undefined ? "needs no approval" : `is ${approval.status === "pending" ? operation.status : approval.status}`;
    throw refused(id, action, `not awaiting approval (${state})`, `Operation ${id} is not awaiting approval: it ${state}.`);
  }
  if (await isExpired(tx, id)) {
    throw refused(id, action, "the approval request expired", `The approval request of operation ${id} expired at ${approval.expiresAt}; request the change again.`);
  }
  if (approval.requestedBy === principalRef(actor.principal)) {
    throw refused(id, action, "self-approval", "A change needs a second person: the requester cannot decide its own request.", "SELF_APPROVAL");
  }
  return { operation, approval };
}

export async function approveOperation(deps: ApprovalsDeps, actor: Actor, id: string, request: ApproveRequest): Promise<Operation> {
  await expireApprovals(deps);
  const action = "approval.approve" as const;
  const { operation, events } = await deps.db.transaction(async (tx) => {
    const { operation, approval } = await pendingFor(tx, actor, id, action);
    if (request.specHash !== approval.specHash || operation.spec_hash !== approval.specHash) {
      throw refused(id, action, "a different spec hash", `The approval names spec hash ${request.specHash}, but operation ${id} would apply ${approval.specHash}; review that spec.`);
    }
    if (approval.programVersion !== deps.programVersion || operation.program_version !== approval.programVersion) {
      throw refused(
        id,
        action,
        "the program changed since the request",
        `Operation ${id} was requested with program ${approval.programVersion}; this service runs ${deps.programVersion}. Request the change again.`,
      );
    }
    await decide(tx, id, { status: "approved", by: principalRef(actor.principal), byName: actor.principal.name, comment: request.comment });
    // An approved update becomes the provider's spec now (it was held back while it waited).
    if (operation.intent === "update") {
      const owner = operation.spec["owner"] as { team?: unknown } | undefined;
      await updateSpec(tx, operation.provider, operation.spec, operation.spec_hash, String(owner?.team));
    }
    // A decommission asks for the hub update that drops its rule group only now (see requestAction).
    const hub = operation.intent === "decommission" ? await requestHubUpdate(tx, deps.engine, String(operation.spec["region"])) : undefined;
    const [queued] = await tx.query(
      `UPDATE operations SET status = 'queued', blocked_by = coalesce($2, blocked_by) WHERE id = $1 AND status = 'awaiting_approval' RETURNING *`,
      [id, hub?.id ?? null],
    );
    // Unreachable while the row is locked (pendingFor), kept as the statement's own guard.
    if (queued === undefined) throw new AppError("INVALID_STATE", `Operation ${id} changed while it was being approved; try again.`);
    const data = { type: "approval.approved" as const, approvedBy: actor.principal.name };
    const { seq, at } = await ops.appendEvent(tx, id, null, data);
    // Notices before the audit append, which holds the chain head to commit (the other order can deadlock).
    await deps.notify?.(tx, approvalDecided(operation, { decision: "approved", by: actor.principal.name, comment: request.comment }));
    await audit(deps, tx, actor, action, id, {
      provider: operation.provider,
      intent: operation.intent,
      specHash: approval.specHash,
      programVersion: approval.programVersion,
      rule: approval.rule,
      comment: request.comment ?? null,
      ...decommissionOf(operation),
    });
    // last_seq moved with the event: the row as it is now, not as the UPDATE returned it.
    return { operation: (await ops.getOperation(tx, id))!, events: [{ ...data, seq, at } as OperationEvent] };
  });
  for (const e of events) await deps.hub.publish(id, e);
  deps.kick();
  return operation;
}

export async function rejectOperation(deps: ApprovalsDeps, actor: Actor, id: string, comment: string | undefined): Promise<Operation> {
  await expireApprovals(deps);
  const action = "approval.reject" as const;
  const { operation, event } = await deps.db.transaction(async (tx) => {
    const { approval } = await pendingFor(tx, actor, id, action);
    await decide(tx, id, { status: "rejected", by: principalRef(actor.principal), byName: actor.principal.name, comment });
    const ended = await endAwaiting(deps, tx, id, `rejected by ${actor.principal.name}${comment ? `: ${comment}` : ""}`);
    await deps.notify?.(tx, approvalDecided(ended.operation, { decision: "rejected", by: actor.principal.name, comment }));
    await audit(deps, tx, actor, action, id, {
      provider: ended.operation.provider,
      intent: ended.operation.intent,
      specHash: approval.specHash,
      rule: approval.rule,
      comment: comment ?? null,
      ...decommissionOf(ended.operation),
    });
    return ended;
  });
  await deps.hub.publish(id, event);
  return operation;
}

/** Cancels every approval request past its expiry (bounded per call); each is audited as the service's act. */
export async function expireApprovals(deps: ApprovalsDeps): Promise<number> {
  const ended = await deps.db.transaction(async (tx) => {
    const due = await expireDue(tx);
    const out: { id: string; event: OperationEvent; operation: Operation }[] = [];
    for (const a of due) {
      const { operation, event } = await endAwaiting(deps, tx, a.operationId, `the approval request expired at ${a.expiresAt}`);
      await deps.notify?.(tx, approvalDecided(operation, { decision: "expired", by: null }));
      out.push({ id: operation.id, event, operation });
    }
    for (const [i, a] of due.entries()) {
      const details = { rule: a.rule, specHash: a.specHash, requestedBy: a.requestedBy, expiresAt: a.expiresAt, ...decommissionOf(out[i]!.operation) };
      await audit(deps, tx, SYSTEM_ACTOR, "approval.expire", a.operationId, details);
    }
    return out;
  });
  for (const { id, event } of ended) await deps.hub.publish(id, event);
  return ended.length;
}

async function endAwaiting(deps: ApprovalsDeps, tx: Queryable, id: string, reason: string): Promise<{ operation: Operation; event: OperationEvent }> {
  const operation = await ops.cancelQueued(tx, id);
  if (operation === undefined) throw new AppError("INVALID_STATE", `Operation ${id} is no longer waiting.`);
  await deps.onFinish(tx, operation, "cancelled");
  const data = { type: "operation.cancelled" as const, reason };
  const { seq, at } = await ops.appendEvent(tx, id, null, data);
  return { operation, event: { ...data, seq, at } as OperationEvent };
}

function audit(deps: ApprovalsDeps, tx: Queryable, actor: Actor, action: "approval.approve" | "approval.reject" | "approval.expire", id: string, details: Record<string, unknown>) {
  return recordAllowed(deps.audit, tx, actor, action, { kind: "operation", id }, details);
}
