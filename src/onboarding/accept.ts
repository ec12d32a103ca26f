import { randomUUID } from "node:crypto";
import { insertApproval } from "../approvals/approvals-repo.js";
import type { ApprovalRule, ApprovalRules } from "../approvals/policy.js";
import type { AuditWriter } from "../audit/append.js";
import type { AuditAction, AuditResource } from "../audit/record.js";
import { principalRef, recordAllowed, type Actor } from "../auth/actor.js";
import { AppError } from "../errors.js";
import type { EventHub } from "../operations/event-hub.js";
import type { OperationEvent } from "../operations/events.js";
import { decommissionOf, queuedDetails, type Intent, type Operation } from "../operations/operation.js";
import * as ops from "../operations/operations-repo.js";
import { isUniqueViolation, type Db, type Queryable } from "../store/db.js";
import type { Notify } from "../notifications/notice.js";
import { approvalRequested } from "../notifications/notices.js";
import type { KeyDisposition } from "../../programs/types.js";

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
  /** Every accepted change is audited in its own transaction (no record, no change). */
  readonly audit: AuditWriter;
  readonly approvals: { readonly rules: ApprovalRules; readonly ttlMs: number };
  /** Subscribers hear of an approval request in its transaction (webhooks, issue 16). */
  readonly notify?: Notify | undefined;
}

/** Who asks, what is audited, and the Idempotency-Key if any. */
export interface AcceptRequest {
  readonly actor: Actor;
  readonly action: AuditAction;
  readonly idempotency?: Idempotency | undefined;
  /** More for the audit record (never a secret). */
  readonly details?: Readonly<Record<string, unknown>>;
  /** What the audit record names (default: the operation's provider). */
  readonly resource?: AuditResource;
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
  /** Set when the change needs a second person: the operation waits in `awaiting_approval`. */
  readonly approvalRule?: ApprovalRule | undefined;
  /** Decommission only: what happens to the provider's BYOK key (shown in the approval and the audit record). */
  readonly keyDisposition?: KeyDisposition;
}

/** Parts of a spec the audit trail keeps only as keyed hashes. */
const SPEC_SENSITIVE_PATHS = ["/spec/owner/contact"] as const;

/**
 * One transaction: the caller's checks and row changes, the operation row, its `operation.queued` event,
 * the approval request if one is needed, the idempotency record and the audit record commit together or
 * not at all. Events are published only after commit.
 */
export async function accept(deps: AcceptDeps, request: AcceptRequest, enqueue: Enqueue): Promise<Accepted> {
  // Two attempts: on PostgreSQL a concurrent request with the same key can win the insert race; the
  // second attempt then finds its record and replays it.
  for (let attempt = 1; ; attempt++) {
    try {
      const { accepted, events } = await deps.db.transaction((tx) => acceptIn(tx, deps, request, enqueue));
      for (const event of events) await deps.hub.publish(accepted.operation.id, event);
      if (events.length > 0) deps.kick();
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
  request: AcceptRequest,
  enqueue: Enqueue,
): Promise<{ accepted: Accepted; events: OperationEvent[] }> {
  const { idempotency, actor } = request;
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
      // A replay changes nothing, so it writes no audit record.
      return { accepted: { operation, queuePosition: await ops.queuePosition(tx, operation), replayed: true }, events: [] };
    }
  }
  let rule: ApprovalRule | undefined;
  const enqueued = await enqueue(tx, (input) => {
    rule = input.approvalRule;
    const { approvalRule, ...rest } = input;
    return ops.enqueueOperation(tx, {
      id: randomUUID(),
      engine: deps.engine,
      programVersion: deps.programVersion,
      ...rest,
      ...(approvalRule === undefined ? {} : { awaitingApproval: true }),
    });
  });
  const { operation, queuePosition, event } = enqueued;
  const events: OperationEvent[] = [event];
  if (idempotency) {
    await tx.query(`INSERT INTO idempotency_keys (key, request_hash, operation_id) VALUES ($1, $2, $3)`, [
      idempotency.key,
      idempotency.fingerprint,
      operation.id,
    ]);
  }
  const details = {
    ...queuedDetails(operation),
    // What a decommission does to the data-bearing key is part of what is asked for and approved.
    ...decommissionOf(operation),
    ...request.details,
  };
  let approvalExpiresAt: string | undefined;
  if (rule !== undefined) {
    const approval = await insertApproval(tx, {
      operationId: operation.id,
      rule,
      specHash: operation.spec_hash,
      programVersion: operation.program_version,
      requestedBy: principalRef(actor.principal),
      requestedByName: actor.principal.name,
      ttlMs: deps.approvals.ttlMs,
    });
    approvalExpiresAt = approval.expiresAt;
    const data = {
      type: "approval.requested" as const,
      rule,
      requestedBy: actor.principal.name,
      expiresAt: approval.expiresAt,
      ...decommissionOf(operation),
    };
    const { seq, at } = await ops.appendEvent(tx, operation.id, null, data);
    events.push({ ...data, seq, at });
    await deps.notify?.(tx, approvalRequested(operation, { rule, requestedBy: actor.principal.name, expiresAt: approval.expiresAt }));
  }
  // Last: the audit append holds the chain head's row lock until commit (src/audit/append.ts).
  // A create or update records the spec itself, so the trail — not only the mutable tables — says what was
  // asked for; the contact address (personal data) only as a keyed hash, which an admin can match.
  const withSpec = operation.intent === "create" || operation.intent === "update" ? { ...details, spec: operation.spec } : details;
  await recordAllowed(deps.audit, tx, actor, request.action, request.resource ?? { kind: "provider", id: operation.provider }, withSpec, SPEC_SENSITIVE_PATHS);
  if (rule !== undefined) {
    await recordAllowed(deps.audit, tx, actor, "approval.request", { kind: "operation", id: operation.id }, { ...details, rule, expiresAt: approvalExpiresAt ?? null });
  }
  return { accepted: { operation, queuePosition, replayed: false }, events };
}
