import type { Queryable } from "../store/db.js";

/**
 * `expiry_steps` (migration 019): what the service did for a provider's `expiresAt`, each step once —
 * `warn-<days>d` before it, `expired` at it (with the revoke it queued, if one was needed).
 */

/** Records steps not taken yet; returns those this call recorded (a racing replica's are not returned). */
export async function takeSteps(tx: Queryable, provider: string, expiresAt: string, steps: readonly string[], operationId?: string): Promise<string[]> {
  const rows = await tx.query<{ step: string }>(
    `INSERT INTO expiry_steps (provider, expires_at, step, operation_id)
     SELECT $1, $2::timestamptz, s, $4 FROM unnest($3::text[]) AS s
     ON CONFLICT DO NOTHING RETURNING step`,
    [provider, expiresAt, [...steps], operationId ?? null],
  );
  return rows.map((r) => r.step);
}

/** What the provider shows about its `expiresAt`: the warnings sent and, once past, the service's revoke. */
export interface ExpiryView {
  readonly expiresAt: string;
  readonly warnings: { readonly daysBefore: number; readonly sentAt: string }[];
  readonly expiredAt?: string;
  /** The revoke the service queued when access expired (absent: nothing was left to revoke, or not yet past). */
  readonly revokeOperationId?: string;
}

export async function expiryView(q: Queryable, provider: string, expiresAt: unknown): Promise<ExpiryView | undefined> {
  if (typeof expiresAt !== "string") return undefined;
  const rows = await q.query<{ step: string; taken_at: Date | string; operation_id: string | null }>(
    `SELECT step, taken_at, operation_id FROM expiry_steps WHERE provider = $1 AND expires_at = $2::timestamptz ORDER BY taken_at, step`,
    [provider, expiresAt],
  );
  const at = (v: Date | string) => new Date(v).toISOString();
  const expired = rows.find((r) => r.step === "expired");
  return {
    expiresAt,
    warnings: rows
      .filter((r) => r.step.startsWith("warn-"))
      .map((r) => ({ daysBefore: Number(r.step.slice(5, -1)), sentAt: at(r.taken_at) }))
      .sort((a, b) => b.daysBefore - a.daysBefore),
    ...(expired ? { expiredAt: at(expired.taken_at) } : {}),
    ...(expired?.operation_id ? { revokeOperationId: expired.operation_id } : {}),
  };
}
