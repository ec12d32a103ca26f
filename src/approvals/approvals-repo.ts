import { z } from "zod";
import { KEY_DISPOSITIONS, type KeyDisposition } from "../../programs/types.js";
import type { Queryable } from "../store/db.js";
import { Intent } from "../operations/operation.js";
import type { ApprovalRule } from "./policy.js";

export const APPROVAL_STATUSES = ["pending", "approved", "rejected", "expired", "withdrawn"] as const;
export type ApprovalStatus = (typeof APPROVAL_STATUSES)[number];

const timestamp = z.union([z.date(), z.string()]).transform((v) => new Date(v).toISOString());

export const ApprovalRow = z
  .object({
    operation_id: z.string(),
    rule: z.enum(["decommission", "restricted", "revoke", "all"]),
    spec_hash: z.string(),
    program_version: z.string(),
    requested_by: z.string(),
    requested_by_name: z.string(),
    requested_at: timestamp,
    expires_at: timestamp,
    status: z.enum(APPROVAL_STATUSES),
    decided_by: z.string().nullable(),
    decided_by_name: z.string().nullable(),
    decided_at: timestamp.nullable(),
    comment: z.string().nullable(),
  })
  .transform((r) => ({
    operationId: r.operation_id,
    rule: r.rule,
    specHash: r.spec_hash,
    programVersion: r.program_version,
    requestedBy: r.requested_by,
    requestedByName: r.requested_by_name,
    requestedAt: r.requested_at,
    expiresAt: r.expires_at,
    status: r.status,
    decidedBy: r.decided_by,
    decidedByName: r.decided_by_name,
    decidedAt: r.decided_at,
    comment: r.comment,
  }));
export type Approval = z.output<typeof ApprovalRow>;

export interface NewApproval {
  readonly operationId: string;
  readonly rule: ApprovalRule;
  readonly specHash: string;
  readonly programVersion: string;
  readonly requestedBy: string;
  readonly requestedByName: string;
  readonly ttlMs: number;
}

export async function insertApproval(q: Queryable, a: NewApproval): Promise<Approval> {
  const rows = await q.query(
    `INSERT INTO approvals (operation_id, rule, spec_hash, program_version, requested_by, requested_by_name, expires_at)
     VALUES ($1, $2, $3, $4, $5, $6, now() + make_interval(secs => $7)) RETURNING *`,
    [a.operationId, a.rule, a.specHash, a.programVersion, a.requestedBy, a.requestedByName, a.ttlMs / 1000],
  );
  return ApprovalRow.parse(rows[0]);
}

export async function getApproval(q: Queryable, operationId: string, forUpdate = false): Promise<Approval | undefined> {
  const rows = await q.query(`SELECT * FROM approvals WHERE operation_id = $1${forUpdate ? " FOR UPDATE" : ""}`, [operationId]);
  return rows[0] === undefined ? undefined : ApprovalRow.parse(rows[0]);
}

/** Whether a pending approval has passed its expiry by the database's clock (the one that set it). */
export async function isExpired(q: Queryable, operationId: string): Promise<boolean> {
  const rows = await q.query<{ expired: boolean }>(`SELECT expires_at <= now() AS expired FROM approvals WHERE operation_id = $1`, [operationId]);
  return rows[0]?.expired === true;
}

export interface Decision {
  readonly status: Extract<ApprovalStatus, "approved" | "rejected" | "withdrawn">;
  readonly by: string;
  readonly byName: string;
  readonly comment?: string | undefined;
}

/** Decides a pending approval; undefined when it was not pending any more. */
export async function decide(q: Queryable, operationId: string, d: Decision): Promise<Approval | undefined> {
  const rows = await q.query(
    `UPDATE approvals SET status = $2, decided_by = $3, decided_by_name = $4, decided_at = now(), comment = $5
      WHERE operation_id = $1 AND status = 'pending' RETURNING *`,
    [operationId, d.status, d.by, d.byName, d.comment ?? null],
  );
  return rows[0] === undefined ? undefined : ApprovalRow.parse(rows[0]);
}

/**
 * Marks due pending approvals expired (at most `limit`, oldest first). The operation rows are locked first
 * (SKIP LOCKED), then the approvals: the order every decision takes (operation, then approval), so a sweep
 * and an approve of the same operation never deadlock, and a sweep skips what a decision holds.
 */
export async function expireDue(q: Queryable, limit = 100): Promise<Approval[]> {
  const rows = await q.query(
    `WITH due AS (
       SELECT o.id FROM operations o JOIN approvals a ON a.operation_id = o.id
        WHERE a.status = 'pending' AND a.expires_at <= now()
        ORDER BY a.expires_at LIMIT $1
        FOR UPDATE OF o SKIP LOCKED)
     UPDATE approvals SET status = 'expired'
      WHERE operation_id IN (SELECT id FROM due) AND status = 'pending'
      RETURNING *`,
    [limit],
  );
  return rows.map((r) => ApprovalRow.parse(r));
}

export interface ApprovalListQuery {
  readonly status: ApprovalStatus;
  /** Only providers of these teams; undefined = every team (admins; hub updates never need approval). */
  readonly teams: readonly string[] | undefined;
  readonly limit: number;
  /** Keyset: the operation id of the last item of the previous page (ordered by request time, then id). */
  readonly after?: string | undefined;
}

export interface ApprovalListItem {
  readonly approval: Approval;
  readonly provider: string;
  readonly intent: Intent;
  /** A decommission's choice for the BYOK key (null: queued before the option existed): part of what the approver decides. */
  readonly keyDisposition: KeyDisposition | null;
  /** The spec the operation runs once approved (the approver reads the change against the provider's spec). */
  readonly spec: Record<string, unknown>;
}

/** Approval requests with their operation's provider, oldest first. */
export async function listApprovals(q: Queryable, query: ApprovalListQuery): Promise<ApprovalListItem[]> {
  const rows = await q.query(
    `SELECT a.*, o.provider AS op_provider, o.intent AS op_intent, o.key_disposition AS op_key_disposition, o.spec AS op_spec
       FROM approvals a JOIN operations o ON o.id = a.operation_id JOIN providers p ON p.name = o.provider
      WHERE a.status = $1
        AND ($2::text[] IS NULL OR p.team = ANY($2::text[]))
        AND ($3::uuid IS NULL OR (a.requested_at, a.operation_id) > (SELECT requested_at, operation_id FROM approvals WHERE operation_id = $3))
      ORDER BY a.requested_at, a.operation_id
      LIMIT $4`,
    [query.status, query.teams === undefined ? null : [...query.teams], query.after ?? null, query.limit],
  );
  return rows.map((r) => ({
    approval: ApprovalRow.parse(r),
    provider: String(r["op_provider"]),
    intent: Intent.parse(r["op_intent"]),
    keyDisposition: z.enum(KEY_DISPOSITIONS).nullable().parse(r["op_key_disposition"] ?? null),
    spec: z.record(z.string(), z.unknown()).parse(r["op_spec"]),
  }));
}
