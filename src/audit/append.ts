import type { KeyObject } from "node:crypto";
import { z } from "zod";
import type { Queryable } from "../store/db.js";
import { canonicalTemplate, type ChainedFields } from "./chain.js";
import { storableString, toJsonValue, toStorableJson, type JsonObject } from "./canonical-json.js";
import { AT_SQL, AuditInput, type AuditRecord } from "./record.js";
import { auditHash, hashLeaves, hashSensitivePaths, type SensitiveLeaf } from "./sensitive.js";

export interface AppendAuditOptions {
  /** The HMAC key for sensitive values (loadAuditHmacKey); never stored. */
  readonly hmacKey: KeyObject;
}

/** appendAudit and auditHash bound to one HMAC key: what the composition root hands to the use cases. */
export interface AuditWriter {
  append(tx: Queryable, input: AuditInput): Promise<AuditRecord>;
  /** auditHash with the writer's key, for the admin look-up of a known value. */
  hash(value: SensitiveLeaf): string;
}

export function createAuditWriter(options: AppendAuditOptions): AuditWriter {
  return {
    append: (tx, input) => appendAudit(tx, input, options),
    hash: (value) => auditHash(options.hmacKey, value),
  };
}

const Appended = z.object({ seq: z.number().int().positive(), at: z.string(), prev_hash: z.string(), hash: z.string() });

/** ISO 8601 UTC with microseconds, as the verifier reads `at` back (record.ts AT_SQL). */
const NOW_SQL = `to_char(statement_timestamp() AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"')`;

/**
 * One statement: move the head (which locks its row until the transaction ends) and compute the new hash
 * in SET from the locked row, then insert the record from what the UPDATE returned. Under READ COMMITTED an
 * UPDATE that waited for the lock re-evaluates SET on the row as committed, so it chains after the winner.
 * The hash is SHA-256 over prev_hash ‖ before ‖ at ‖ middle ‖ seq ‖ after (chain.ts canonicalTemplate).
 */
const APPEND_SQL = `
  WITH head AS (
    UPDATE audit_head SET
      seq = seq + 1,
      prev_hash = hash,
      hash = encode(sha256(convert_to(hash || $1 || ${NOW_SQL} || $2 || (seq + 1)::text || $3, 'UTF8')), 'hex')
    WHERE id
    RETURNING seq, prev_hash, hash, ${NOW_SQL} AS at
  )
  INSERT INTO audit_log (seq, at, action, outcome, principal_kind, principal_id, principal_name, resource_kind,
                         resource_id, request_id, source_ip, details, sensitive, prev_hash, hash)
  SELECT head.seq, head.at::timestamptz, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13::jsonb, $14::jsonb, head.prev_hash, head.hash
    FROM head
  RETURNING seq, ${AT_SQL} AS at, prev_hash, hash`;

/**
 * Appends one record to the chain inside the caller's transaction `tx`: committed with the change it
 * describes, or rolled back with it. A failure throws (and so fails the transaction: no audit row, no change).
 *
 * Its one statement locks the single `audit_head` row until `tx` ends, so appends from concurrent
 * transactions and replicas form one linear chain in commit order, and seq is gap-free (a rolled-back
 * transaction gives its seq back). Hence: call it as the LAST statement of the transaction (the lock then
 * spans only the commit), and take no other row locks after it (lock order: your rows, then the head).
 * Several records in one transaction are fine (they are contiguous in the chain).
 */
export async function appendAudit(tx: Queryable, input: AuditInput, options: AppendAuditOptions): Promise<AuditRecord> {
  const parsed = AuditInput.parse(input);
  // Everything but the hash is prepared before the lock, which every auditing transaction waits for.
  const details = toStorableJson(
    hashSensitivePaths(toJsonValue(parsed.details, "details") as JsonObject, parsed.sensitivePaths, options.hmacKey),
    "details",
  ) as JsonObject;
  const sensitive = toStorableJson(hashLeaves(toJsonValue(parsed.sensitive, "sensitive"), options.hmacKey)) as JsonObject;
  const name = parsed.principal.name;
  const text = (value: string | null): string | null => (value === null ? null : storableString(value));
  const base = {
    action: parsed.action,
    outcome: parsed.outcome,
    principal: {
      kind: parsed.principal.kind,
      id: storableString(parsed.principal.id),
      ...(name === undefined ? {} : { name: storableString(name) }),
    },
    resource: { kind: parsed.resource.kind, id: storableString(parsed.resource.id) },
    requestId: text(parsed.requestId),
    sourceIp: text(parsed.sourceIp),
    details,
    sensitive,
  };

  const template = canonicalTemplate(base);
  const rows = await tx.query(APPEND_SQL, [
    template.before,
    template.middle,
    template.after,
    base.action,
    base.outcome,
    base.principal.kind,
    base.principal.id,
    base.principal.name ?? null,
    base.resource.kind,
    base.resource.id,
    base.requestId,
    base.sourceIp,
    JSON.stringify(details),
    JSON.stringify(sensitive),
  ]);
  if (rows[0] === undefined) throw new Error("audit: the audit_head row is missing (migration 006 inserts it)");
  const { seq, at, prev_hash: prevHash, hash } = Appended.parse(rows[0]);
  const fields: ChainedFields = { seq, at, ...base };
  return { ...fields, prevHash, hash };
}
