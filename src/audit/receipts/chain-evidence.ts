import { canonicalJson } from "../canonical-json.js";
import { recordHash } from "../chain.js";
import type { AuditRecord } from "../record.js";
import { isValidHeadSignature, type SignedHead } from "../signing.js";
import type { TrustedKeys } from "./jwks.js";
import type { Problem } from "./verify.js";

/**
 * What audit/chain.json holds: the provider's records can be checked against the signed chain heads only
 * through every record between them (a record's hash covers all its fields and its predecessor's hash), so
 * each segment runs from a provider record up to the first signed head at or after it, in full, with the
 * signatures of that head. Overlapping segments are merged.
 */
export interface ChainSegment {
  readonly records: readonly AuditRecord[];
  /** Signatures of the head at the last record's seq (one per key that signed it). */
  readonly heads: readonly SignedHead[];
}

export interface ChainEvidence {
  readonly segments: readonly ChainSegment[];
}

const PART = "audit/chain.json";

/**
 * Recomputes every record's hash from its predecessor's, checks the links, and that each segment ends at a
 * head signed by a trusted key. Returns the problems (empty: intact) and the verified records by seq.
 */
export function verifyChainEvidence(chain: unknown, trusted: TrustedKeys): { problems: Problem[]; verified: Map<number, AuditRecord> } {
  const problems: Problem[] = [];
  const verified = new Map<number, AuditRecord>();
  const segments = (chain as ChainEvidence | null)?.segments;
  if (!Array.isArray(segments)) return { problems: [{ part: PART, detail: "no `segments` array" }], verified };
  for (const [i, segment] of segments.entries()) {
    const problem = segmentProblem(segment, trusted);
    if (problem !== undefined) problems.push({ part: PART, detail: `segment ${i}: ${problem}` });
    else for (const record of segment.records) verified.set(record.seq, record);
  }
  return { problems, verified };
}

function segmentProblem(segment: ChainSegment, trusted: TrustedKeys): string | undefined {
  const records = segment?.records;
  if (!Array.isArray(records) || records.length === 0) return "no records";
  let previous: AuditRecord | undefined;
  for (const record of records) {
    if (previous !== undefined) {
      if (record.seq !== previous.seq + 1) return `record ${record.seq} follows record ${previous.seq}: records are missing or reordered`;
      if (record.prevHash !== previous.hash) return `record ${record.seq} links to ${String(record.prevHash)}, record ${previous.seq} has hash ${previous.hash}`;
    }
    let recomputed: string;
    try {
      recomputed = recordHash(record.prevHash, record);
    } catch (err) {
      return `record ${record.seq} cannot be hashed (${err instanceof Error ? err.message : String(err)})`;
    }
    if (recomputed !== record.hash) return `record ${record.seq} was changed: its fields hash to ${recomputed}, its hash says ${record.hash}`;
    previous = record;
  }
  const last = previous!;
  const heads = Array.isArray(segment.heads) ? segment.heads : [];
  let good = 0;
  for (const head of heads) {
    const key = trusted.get(head.keyId);
    if (key === undefined) continue; // a head by a key the auditor does not trust vouches for nothing
    if (!isValidHeadSignature(head, key)) return `the signed head at seq ${head.seq} (key ${head.keyId}) does not verify`;
    if (head.seq !== last.seq || head.hash !== last.hash) {
      return `the signed head (seq ${head.seq}, hash ${head.hash}) is not the segment's last record (seq ${last.seq}, hash ${last.hash})`;
    }
    good++;
  }
  if (good === 0) return `no head signed by a trusted key covers records ${records[0]!.seq}–${last.seq}`;
  return undefined;
}

/** Every record of audit/records.json must be, field for field, a record the chain verified. */
export function recordsProblems(records: unknown, verified: ReadonlyMap<number, AuditRecord>): Problem[] {
  const part = "audit/records.json";
  if (!Array.isArray(records)) return [{ part, detail: "not an array of audit records" }];
  const problems: Problem[] = [];
  for (const record of records as AuditRecord[]) {
    const inChain = verified.get(record?.seq);
    if (inChain === undefined) problems.push({ part, detail: `record ${String(record?.seq)} is not covered by a verified segment of audit/chain.json` });
    else if (canonicalJson(record) !== canonicalJson(inChain)) problems.push({ part, detail: `record ${record.seq} differs from the chain's record ${record.seq}` });
  }
  return problems;
}
