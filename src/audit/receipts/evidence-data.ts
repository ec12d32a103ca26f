import { z } from "zod";
import { ApprovalRow, type Approval } from "../../approvals/approvals-repo.js";
import type { Queryable } from "../../store/db.js";
import { AuditRow, RECORD_COLUMNS, type AuditRecord } from "../record.js";
import { SignatureRow, type SignedHead } from "../signing.js";
import type { ChainSegment } from "./chain-evidence.js";

/** What the evidence pack reads from the database for one provider, up to the head signed just before. */

const timestamp = z.union([z.date(), z.string()]).transform((v) => new Date(v).toISOString());

const SpecRow = z.object({
  id: z.string(),
  intent: z.string(),
  status: z.string(),
  spec_hash: z.string(),
  program_version: z.string(),
  spec: z.record(z.string(), z.unknown()),
  created_at: timestamp,
  finished_at: timestamp.nullable(),
  principal_kind: z.string().nullable(),
  principal_id: z.string().nullable(),
  principal_name: z.string().nullable(),
  audit_seq: z.union([z.number(), z.string()]).transform(Number).nullable(),
});

export interface SpecHistoryEntry {
  readonly operationId: string;
  readonly intent: string;
  readonly status: string;
  readonly specHash: string;
  readonly programVersion: string;
  /** The spec as submitted (specs hold no secrets: the key store's password is sealed elsewhere, src/onboarding/key-store-service.ts). */
  readonly spec: Record<string, unknown>;
  readonly requestedAt: string;
  readonly finishedAt: string | null;
  /** Who asked, from the audit record of the request (null for an operation queued before the trail existed). */
  readonly requestedBy: { readonly kind: string; readonly id: string; readonly name: string | null; readonly auditSeq: number } | null;
}

/** The provider's operations, oldest first, each with the audit record of whoever asked for it. */
export async function readSpecHistory(db: Queryable, provider: string, limit: number): Promise<SpecHistoryEntry[]> {
  const rows = await db.query(
    `SELECT o.id, o.intent, o.status, o.spec_hash, o.program_version, o.spec, o.created_at, o.finished_at,
            a.principal_kind, a.principal_id, a.principal_name, a.seq AS audit_seq
       FROM operations o
       LEFT JOIN LATERAL (
         SELECT principal_kind, principal_id, principal_name, seq FROM audit_log
          WHERE resource_kind = 'provider' AND resource_id = o.provider AND details->>'operationId' = o.id::text AND outcome = 'allowed'
          ORDER BY seq LIMIT 1) a ON true
      WHERE o.provider = $1
      ORDER BY o.created_at, o.id LIMIT $2`,
    [provider, limit],
  );
  return rows.map((row) => {
    const r = SpecRow.parse(row);
    return {
      operationId: r.id,
      intent: r.intent,
      status: r.status,
      specHash: r.spec_hash,
      programVersion: r.program_version,
      spec: r.spec,
      requestedAt: r.created_at,
      finishedAt: r.finished_at,
      requestedBy:
        r.principal_kind === null || r.principal_id === null || r.audit_seq === null
          ? null
          : { kind: r.principal_kind, id: r.principal_id, name: r.principal_name, auditSeq: r.audit_seq },
    };
  });
}

const LatestRow = z.object({ id: z.string(), finished_at: timestamp.nullable(), verification: z.unknown() });

/** The latest verification of the provider: the last finished operation whose result carries one. */
export async function readLatestVerification(db: Queryable, provider: string): Promise<{ operationId: string; finishedAt: string | null; verification: unknown } | null> {
  const [row] = await db.query(
    `SELECT id, finished_at, result->'verification' AS verification FROM operations
      WHERE provider = $1 AND result ? 'verification' AND result->'verification' <> 'null'::jsonb
      ORDER BY finished_at DESC NULLS LAST, created_at DESC LIMIT 1`,
    [provider],
  );
  if (row === undefined) return null;
  const r = LatestRow.parse(row);
  return { operationId: r.id, finishedAt: r.finished_at, verification: r.verification };
}

/**
 * The provider's audit records (its own, and its operations' and approvals') with seq ≤ `upTo`. Parsed loosely
 * (AuditRow): a record the enums do not know is evidence to hand over as it is, for the offline check to judge.
 */
export async function readProviderRecords(db: Queryable, provider: string, operationIds: readonly string[], upTo: number, limit: number): Promise<AuditRecord[]> {
  const rows = await db.query(
    `SELECT ${RECORD_COLUMNS} FROM audit_log
      WHERE seq <= $3 AND ((resource_kind = 'provider' AND resource_id = $1) OR (resource_kind IN ('operation', 'approval') AND resource_id = ANY($2::text[])))
      ORDER BY seq LIMIT $4`,
    [provider, [...operationIds], upTo, limit],
  );
  return rows.map((r) => AuditRow.parse(r));
}

/**
 * The ranges of the chain that vouch for `seqs` (sorted): each from a record up to the first signed head at or
 * after it, overlapping ranges merged. `signedSeqs` are the distinct seqs of audit_signatures, sorted.
 */
export function chainRanges(seqs: readonly number[], signedSeqs: readonly number[]): { from: number; to: number }[] {
  const ranges: { from: number; to: number }[] = [];
  let h = 0;
  for (const seq of seqs) {
    while (h < signedSeqs.length && signedSeqs[h]! < seq) h++;
    const to = signedSeqs[h];
    if (to === undefined) throw new Error(`audit: no signed head at or after record ${seq} (sign the head first)`);
    const last = ranges.at(-1);
    if (last !== undefined && seq <= last.to + 1) last.to = Math.max(last.to, to);
    else ranges.push({ from: seq, to });
  }
  return ranges;
}

/** Distinct signed seqs in [from, to]. */
export async function readSignedSeqs(db: Queryable, from: number, to: number): Promise<number[]> {
  const rows = await db.query<{ seq: number | string }>(`SELECT DISTINCT seq FROM audit_signatures WHERE seq >= $1 AND seq <= $2 ORDER BY seq`, [from, to]);
  return rows.map((r) => Number(r.seq));
}

/** The records and head signatures of each range: audit/chain.json. */
export async function readSegments(db: Queryable, ranges: readonly { from: number; to: number }[]): Promise<ChainSegment[]> {
  const segments: ChainSegment[] = [];
  for (const { from, to } of ranges) {
    const records = (await db.query(`SELECT ${RECORD_COLUMNS} FROM audit_log WHERE seq >= $1 AND seq <= $2 ORDER BY seq`, [from, to])).map((r) => AuditRow.parse(r));
    const heads: SignedHead[] = (await db.query(`SELECT seq, hash, signed_at, key_id, signature FROM audit_signatures WHERE seq = $1 ORDER BY key_id`, [to])).map((r) =>
      SignatureRow.parse(r),
    );
    segments.push({ records, heads });
  }
  return segments;
}

/** Who asked for each approval and who decided, when, and the approver's comment: approvals.json. */
export async function readApprovals(db: Queryable, provider: string, limit: number): Promise<Approval[]> {
  const rows = await db.query(
    `SELECT a.* FROM approvals a JOIN operations o ON o.id = a.operation_id WHERE o.provider = $1 ORDER BY a.requested_at, a.operation_id LIMIT $2`,
    [provider, limit],
  );
  return rows.map((r) => ApprovalRow.parse(r));
}
