import type { Queryable } from "../store/db.js";
import type { EventData, OperationEvent } from "./events.js";
import { listEvents } from "./events-repo.js";
import { LeaseLostError, type Fence, type Operation, type OperationStatus } from "./operation.js";
import * as ops from "./operations-repo.js";
import { markForRecovery } from "./recovery-repo.js";
import { afterInterruption, type ResumePolicy } from "./resumption.js";

/** Why the recovery sweep ends an attempt: all it knows is that nobody renewed the lease. */
export const LEASE_EXPIRED_REASON =
  "the replica running it stopped renewing its lease (the replica was lost, or could not reach the database for longer than the lease)";

export interface InterruptionDeps {
  readonly policy: ResumePolicy;
  readonly onFinish: (tx: Queryable, op: Operation, status: OperationStatus) => Promise<void>;
}

export interface AttemptEnded {
  readonly outcome: "resuming" | "interrupted" | "cancelled";
  readonly event: OperationEvent;
}

/** Event types that end an attempt which stopped without finishing (what `endInterruptedAttempt` appends). */
const ATTEMPT_END_TYPES: ReadonlySet<EventData["type"]> = new Set(["operation.resuming", "operation.interrupted", "operation.cancelled"]);

/**
 * Ends the attempt `fence` of a running operation that stopped without finishing, in `tx`, with the stack
 * marked for recovery (`recovery`: what the engine left, when it says more than `reason`). A cancel asked
 * for meanwhile is honoured (`cancelled`); otherwise the operation is queued again for its next attempt
 * when its kind and the attempts left allow (issue 14), else `interrupted` for a person. The event is
 * appended after the change, in the same transaction; publishing it is the caller's.
 */
export async function endInterruptedAttempt(
  tx: Queryable,
  deps: InterruptionDeps,
  id: string,
  fence: Fence,
  reason: string,
  recovery: string = reason,
): Promise<AttemptEnded> {
  // The row as it is now (locked): a cancel may have been asked for since the attempt was claimed.
  const op = await ops.getOperation(tx, id, true);
  if (!op || op.status !== "running" || op.attempt !== fence.attempt || op.lease_owner !== fence.owner) throw new LeaseLostError(id);
  await markForRecovery(tx, { stack: op.provider, operationId: op.id, reason: recovery });
  const append = async (data: EventData): Promise<OperationEvent> => {
    const { seq, at } = await ops.appendEvent(tx, op.id, null, data);
    return { ...data, seq, at } as OperationEvent;
  };
  if (op.cancel_requested_at !== null) {
    const ended = await ops.finishRunning(tx, op.id, fence, "cancelled", {});
    await deps.onFinish(tx, ended, "cancelled");
    return { outcome: "cancelled", event: await append({ type: "operation.cancelled", reason: `cancelled by request: ${reason}` }) };
  }
  const next = afterInterruption(op, deps.policy);
  if (next.resume) {
    const queued = await ops.requeueRunning(tx, op.id, fence, next.delaySeconds);
    const event = await append({
      type: "operation.resuming",
      attempt: op.attempt,
      reason,
      nextAttempt: next.nextAttempt,
      maxAttempts: deps.policy.maxAttempts,
      notBefore: queued.resume_after ?? new Date().toISOString(),
    });
    return { outcome: "resuming", event };
  }
  const message = `${reason}; ${next.why}`;
  const ended = await ops.finishRunning(tx, op.id, fence, "interrupted", { error: { code: "INTERRUPTED", message } });
  await deps.onFinish(tx, ended, "interrupted");
  return { outcome: "interrupted", event: await append({ type: "operation.interrupted", reason: message }) };
}

/**
 * The recovery sweep: every running operation whose lease expired has its attempt ended (resumed or
 * interrupted) in one transaction; rows another replica is sweeping are skipped.
 */
export async function sweepExpiredLeases(tx: Queryable, deps: InterruptionDeps): Promise<(AttemptEnded & { readonly op: Operation })[]> {
  const out: (AttemptEnded & { op: Operation })[] = [];
  for (const op of await ops.expiredLeases(tx)) {
    const fence = { attempt: op.attempt, owner: op.lease_owner ?? "" };
    out.push({ op, ...(await endInterruptedAttempt(tx, deps, op.id, fence, LEASE_EXPIRED_REASON, op.error?.message ?? LEASE_EXPIRED_REASON)) });
  }
  return out;
}

/** The event that ended the attempt after `lastSeq`, when that write committed but its answer was lost. */
export async function attemptEndAfter(q: Queryable, operationId: string, lastSeq: number): Promise<AttemptEnded | undefined> {
  const [next] = await listEvents(q, operationId, lastSeq, 1);
  if (!next || !ATTEMPT_END_TYPES.has(next.type)) return undefined;
  const outcome = next.type === "operation.resuming" ? "resuming" : next.type === "operation.cancelled" ? "cancelled" : "interrupted";
  return { outcome, event: next };
}
