import { z } from "zod";
import type { Queryable } from "../store/db.js";
import { AuditAction, AuditOutcome, RECORD_COLUMNS, ResourceKind, parseAuditRecord, type AuditRecord } from "./record.js";

export const MAX_AUDIT_PAGE = 500;
export const DEFAULT_AUDIT_PAGE = 100;

/** The cursor is the seq of the last record of the previous page (decimal). */
export const AuditCursor = z
  .string()
  .max(16, { message: "must be a cursor from a previous page", abort: true })
  .regex(/^(0|[1-9]\d{0,15})$/, "must be a cursor from a previous page");

/**
 * The filters of `GET /v1/audit`, usable as the route's querystring schema (strings coerced). All filters
 * combine with AND; `since` is inclusive, `until` exclusive.
 */
export const AuditListQuery = z.strictObject({
  after: AuditCursor.optional(),
  limit: z.coerce.number().int().min(1).max(MAX_AUDIT_PAGE).default(DEFAULT_AUDIT_PAGE),
  order: z.enum(["asc", "desc"]).default("asc"),
  action: AuditAction.optional(),
  outcome: AuditOutcome.optional(),
  principalId: z.string().min(1).max(1024).optional(),
  resourceKind: ResourceKind.optional(),
  resourceId: z.string().min(1).max(1024).optional(),
  since: z.iso.datetime({ offset: true, abort: true }).max(64).optional(),
  until: z.iso.datetime({ offset: true, abort: true }).max(64).optional(),
  /** Records carrying this keyed hash anywhere in `details` or `sensitive` (from `POST /v1/audit/hash`). */
  hash: z
    .string()
    .max(76, { message: "must be a keyed hash from POST /v1/audit/hash", abort: true })
    .regex(/^hmac-sha256:[0-9a-f]{64}$/, "must be a keyed hash from POST /v1/audit/hash")
    .optional(),
});
export type AuditListQuery = z.input<typeof AuditListQuery>;

export interface AuditPage {
  readonly records: AuditRecord[];
  /** Pass as `after` for the next page; null on the last page. */
  readonly nextCursor: string | null;
}

/** A page of records in seq order (keyset pagination: stable while records are appended). */
export async function listAudit(db: Queryable, query: AuditListQuery): Promise<AuditPage> {
  const q = AuditListQuery.parse(query);
  const asc = q.order === "asc";
  const rows = await db.query(
    `SELECT ${RECORD_COLUMNS} FROM audit_log
      WHERE ($1::bigint IS NULL OR ${asc ? "seq > $1" : "seq < $1"})
        AND ($2::text IS NULL OR action = $2)
        AND ($3::text IS NULL OR outcome = $3)
        AND ($4::text IS NULL OR principal_id = $4)
        AND ($5::text IS NULL OR resource_kind = $5)
        AND ($6::text IS NULL OR resource_id = $6)
        AND ($7::timestamptz IS NULL OR at >= $7)
        AND ($8::timestamptz IS NULL OR at < $8)
        AND ($10::text IS NULL OR strpos(details::text, $10) > 0 OR strpos(sensitive::text, $10) > 0)
      ORDER BY seq ${asc ? "ASC" : "DESC"} LIMIT $9`,
    [
      q.after ?? null,
      q.action ?? null,
      q.outcome ?? null,
      q.principalId ?? null,
      q.resourceKind ?? null,
      q.resourceId ?? null,
      q.since ?? null,
      q.until ?? null,
      q.limit + 1,
      q.hash ?? null,
    ],
  );
  const records = rows.slice(0, q.limit).map((r) => parseAuditRecord(r));
  const last = records.at(-1);
  return { records, nextCursor: rows.length > q.limit && last !== undefined ? String(last.seq) : null };
}

/** The head row and the latest signed head, for `GET /v1/audit/verify` and /readyz-style reporting. */
export interface AuditHead {
  readonly seq: number;
  readonly hash: string;
  readonly lastSignedSeq: number | null;
  readonly lastSignedAt: string | null;
}

const HeadRow = z.object({
  seq: z.number().int(),
  hash: z.string(),
  signed_seq: z.number().int().nullable(),
  signed_at: z.union([z.date(), z.string(), z.null()]),
});

export async function readAuditHead(db: Queryable): Promise<AuditHead> {
  const [row] = await db.query(
    `SELECT h.seq, h.hash, s.seq AS signed_seq, s.signed_at
       FROM audit_head h LEFT JOIN LATERAL (SELECT seq, signed_at FROM audit_signatures ORDER BY seq DESC, signed_at DESC LIMIT 1) s ON true
      WHERE h.id`,
  );
  const parsed = HeadRow.parse(row);
  return {
    seq: parsed.seq,
    hash: parsed.hash,
    lastSignedSeq: parsed.signed_seq,
    lastSignedAt: parsed.signed_at === null ? null : new Date(parsed.signed_at).toISOString(),
  };
}
