import { isHubStack, type Operation, type OperationStatus } from "../operations/operation.js";
import type { Notice } from "./notice.js";

/**
 * The notices about operations and approvals, built from the rows the transaction already holds. Each names
 * its operation and provider and links to them; errors are the messages the API shows, never a secret.
 */

/** The team that owns an operation's stack: the provider spec's owner (a network hub has none). */
export function teamOf(op: Pick<Operation, "spec">): string | null {
  const owner = op.spec["owner"] as { team?: unknown } | undefined;
  return typeof owner?.team === "string" ? owner.team : null;
}

function subjectOf(op: Pick<Operation, "intent" | "provider" | "spec">): string {
  return isHubStack(op.provider) ? `network-hubs/${String(op.spec["region"])}` : `providers/${op.provider}`;
}

function operationRef(op: Operation) {
  return {
    operationId: op.id,
    provider: isHubStack(op.provider) ? null : op.provider,
    intent: op.intent,
    kind: op.kind,
    specHash: op.spec_hash,
    ...(op.rollout_id === null ? {} : { rolloutId: op.rollout_id }),
    links: { operation: `/v1/operations/${op.id}`, events: `/v1/operations/${op.id}/events` },
  };
}

/** An operation ended: succeeded, failed, cancelled or interrupted (after its last attempt). */
export function operationFinished(op: Operation, status: OperationStatus): Notice {
  const summary = (op.result?.["summary"] as Record<string, number> | undefined) ?? undefined;
  return {
    type: "operation.finished",
    team: teamOf(op),
    subject: subjectOf(op),
    data: {
      ...operationRef(op),
      status,
      attempt: op.attempt,
      finishedAt: op.finished_at ?? new Date().toISOString(),
      ...(summary === undefined ? {} : { summary }),
      ...(op.error === null ? {} : { error: op.error }),
    },
  };
}

/** A change waits for a second person. */
export function approvalRequested(op: Operation, request: { rule: string; requestedBy: string; expiresAt: string }): Notice {
  return {
    type: "approval.requested",
    team: teamOf(op),
    subject: subjectOf(op),
    data: { ...operationRef(op), ...request, links: { ...operationRef(op).links, approve: `/v1/operations/${op.id}/approve` } },
  };
}

/** A request was approved, rejected, or expired undecided. */
export function approvalDecided(op: Operation, decision: { decision: "approved" | "rejected" | "expired"; by: string | null; comment?: string | undefined }): Notice {
  return {
    type: "approval.decided",
    team: teamOf(op),
    subject: subjectOf(op),
    data: { ...operationRef(op), decision: decision.decision, decidedBy: decision.by, ...(decision.comment ? { comment: decision.comment } : {}) },
  };
}
