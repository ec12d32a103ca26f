import type { Queryable } from "../store/db.js";

/**
 * Stacks to recover before they run again: an operation ended without its engine finishing (the
 * process crashed or was killed, the lease expired, a cancel had to kill it). The first interruption
 * is kept until a later operation has recovered the stack.
 */
export interface StackRecovery {
  readonly stack: string;
  readonly operationId: string;
  readonly reason: string;
}

export async function markForRecovery(q: Queryable, recovery: StackRecovery): Promise<void> {
  await q.query(
    `INSERT INTO stack_recovery (stack, operation_id, reason) VALUES ($1, $2, $3) ON CONFLICT (stack) DO NOTHING`,
    [recovery.stack, recovery.operationId, recovery.reason],
  );
}

export async function getRecovery(q: Queryable, stack: string): Promise<StackRecovery | undefined> {
  const rows = await q.query<{ stack: string; operation_id: string; reason: string }>(
    `SELECT stack, operation_id, reason FROM stack_recovery WHERE stack = $1`,
    [stack],
  );
  const row = rows[0];
  return row ? { stack: row.stack, operationId: row.operation_id, reason: row.reason } : undefined;
}

/** Only the recovery this run was asked to do: a newer interruption recorded meanwhile stays. */
export async function clearRecovery(q: Queryable, stack: string, operationId: string): Promise<void> {
  await q.query(`DELETE FROM stack_recovery WHERE stack = $1 AND operation_id = $2`, [stack, operationId]);
}
