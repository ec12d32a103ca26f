import { createHash } from "node:crypto";
import { canonicalJson } from "./canonical-json.js";
import type { AuditRecord } from "./record.js";

/** prev_hash of the first record, and the head's hash while the trail is empty. */
export const GENESIS_HASH = "0".repeat(64);

/** Every stored field of a record except its own hash and prev_hash (which the hash covers by concatenation). */
export type ChainedFields = Omit<AuditRecord, "hash" | "prevHash">;

/** The object whose canonical JSON is hashed. principal.name is null when absent (as the column is). */
function hashedObject(record: ChainedFields): Record<string, unknown> {
  return {
    seq: record.seq,
    at: record.at,
    action: record.action,
    outcome: record.outcome,
    principal: { kind: record.principal.kind, id: record.principal.id, name: record.principal.name ?? null },
    resource: { kind: record.resource.kind, id: record.resource.id },
    requestId: record.requestId,
    sourceIp: record.sourceIp,
    details: record.details,
    sensitive: record.sensitive,
  };
}

/**
 * hash = SHA-256(prev_hash ‖ canonical JSON of the record's fields), hex over the UTF-8 bytes. prev_hash is
 * always 64 hex characters, so the concatenation is unambiguous. seq is among the fields: renumbering a
 * record changes it. This is the verifier's computation; appendAudit has the database do the same (below).
 */
export function recordHash(prevHash: string, record: ChainedFields): string {
  return createHash("sha256").update(prevHash, "utf8").update(canonicalJson(hashedObject(record)), "utf8").digest("hex");
}

/**
 * The canonical JSON of a record around its two values only the database knows when it appends (the time
 * and seq, read under the head lock): `before + at + middle + seq + after` is canonicalJson of the fields.
 * Canonical order sorts the keys: action, at, details, outcome, principal, requestId, resource, sensitive,
 * seq, sourceIp — `at` and `seq` are always 2nd and 9th. test/audit/chain.test.ts checks it against canonicalJson.
 */
export function canonicalTemplate(record: Omit<ChainedFields, "seq" | "at">): { before: string; middle: string; after: string } {
  const o = hashedObject({ ...record, seq: 0, at: "" });
  const json = canonicalJson;
  return {
    before: `{"action":${json(o["action"])},"at":"`,
    middle:
      `","details":${json(o["details"])},"outcome":${json(o["outcome"])},"principal":${json(o["principal"])},` +
      `"requestId":${json(o["requestId"])},"resource":${json(o["resource"])},"sensitive":${json(o["sensitive"])},"seq":`,
    after: `,"sourceIp":${json(o["sourceIp"])}}`,
  };
}
