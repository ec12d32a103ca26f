import type { KeyObject } from "node:crypto";
import { z } from "zod";
import { getApproval } from "../../approvals/approvals-repo.js";
import type { Operation } from "../../operations/operation.js";
import type { Queryable } from "../../store/db.js";
import { toJsonValue } from "../canonical-json.js";
import { RECEIPT_VERSION, signReceipt, type Receipt, type ReceiptApproval, type ReceiptResource, type SignedReceipt } from "./receipt.js";

/** The operation's final audit record (`operation.finish`), as appendAudit returned it. */
export interface FinalRecord {
  readonly seq: number;
  readonly hash: string;
}

/**
 * Signs and stores the receipt of a finished operation, in the caller's transaction `tx` (the one that appended
 * `finalRecord`), so a receipt exists exactly when the finish committed. Idempotent: when the operation has a
 * receipt already (a retried transaction, another replica finishing it too), that one is returned unchanged.
 */
export async function issueReceipt(tx: Queryable, op: Operation, finalRecord: FinalRecord, signingKey: KeyObject): Promise<SignedReceipt> {
  const existing = await getReceipt(tx, op.id);
  if (existing !== undefined) return existing;
  const approval = await getApproval(tx, op.id);
  const approvals: ReceiptApproval[] =
    approval === undefined
      ? []
      : [
          {
            rule: approval.rule,
            requestedBy: approval.requestedBy,
            requestedByName: approval.requestedByName,
            requestedAt: approval.requestedAt,
            status: approval.status,
            decidedBy: approval.decidedBy,
            decidedByName: approval.decidedByName,
            decidedAt: approval.decidedAt,
          },
        ];
  const signed = signReceipt(buildReceipt(op, finalRecord, approvals, new Date().toISOString()), signingKey);
  const inserted = await tx.query(
    `INSERT INTO receipts (operation_id, provider, key_id, audit_seq, issued_at, document)
     VALUES ($1, $2, $3, $4, $5::timestamptz, $6) ON CONFLICT (operation_id) DO NOTHING RETURNING operation_id`,
    [op.id, op.provider, signed.signature.keyId, finalRecord.seq, signed.receipt.issuedAt, JSON.stringify(signed)],
  );
  if (inserted.length === 1) return signed;
  // Another transaction stored one between our read and our insert (the insert waited for it to commit).
  const stored = await getReceipt(tx, op.id);
  if (stored === undefined) throw new Error(`receipts: the receipt of operation ${op.id} conflicted but cannot be read`);
  return stored;
}

/**
 * The receipt's content. Result fields are the engine's and the verifier's (both optional): anything that is
 * not plain JSON is refused here rather than signed as something else than what is served.
 */
export function buildReceipt(op: Operation, finalRecord: FinalRecord, approvals: readonly ReceiptApproval[], issuedAt: string): Receipt {
  const result = op.result ?? {};
  return {
    version: RECEIPT_VERSION,
    operation: {
      id: op.id,
      intent: op.intent,
      kind: op.kind,
      status: op.status,
      attempt: op.attempt,
      requestedAt: op.created_at,
      startedAt: op.started_at,
      finishedAt: op.finished_at,
      ...(op.error === null ? {} : { error: { code: op.error.code, message: op.error.message } }),
    },
    provider: op.provider,
    specHash: op.spec_hash,
    programVersion: op.program_version,
    engine: op.engine,
    summary: toJsonValue(result["summary"] ?? null, "summary"),
    resources: resourcesOf(result["resources"]),
    verification: toJsonValue(result["verification"] ?? null, "verification"),
    approvals: [...approvals],
    audit: { seq: finalRecord.seq, hash: finalRecord.hash },
    issuedAt,
  };
}

const Resources = z.array(z.object({ urn: z.string(), type: z.string(), id: z.string().optional() }));

/**
 * Only urn, type and id of each cloud resource: never its outputs or inputs (they may hold secrets).
 * Components and provider-less bookkeeping have no cloud id and are left out.
 */
function resourcesOf(value: unknown): ReceiptResource[] {
  if (value === undefined || value === null) return [];
  return Resources.parse(value).flatMap(({ urn, type, id }) => (id === undefined ? [] : [{ urn, type, id }]));
}

const ReceiptRow = z.object({ document: z.string() });

/** The stored receipt of an operation, or undefined when it has none (not finished, or finished before receipts). */
export async function getReceipt(db: Queryable, operationId: string): Promise<SignedReceipt | undefined> {
  const [row] = await db.query(`SELECT document FROM receipts WHERE operation_id = $1`, [operationId]);
  return row === undefined ? undefined : (JSON.parse(ReceiptRow.parse(row).document) as SignedReceipt);
}

/** A provider's receipts in the order they were issued (at most `limit`). */
export async function listReceipts(db: Queryable, provider: string, limit: number): Promise<SignedReceipt[]> {
  const rows = await db.query(`SELECT document FROM receipts WHERE provider = $1 ORDER BY issued_at, operation_id LIMIT $2`, [provider, limit]);
  return rows.map((r) => JSON.parse(ReceiptRow.parse(r).document) as SignedReceipt);
}
