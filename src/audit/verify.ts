import type { KeyObject } from "node:crypto";
import { z } from "zod";
import type { Queryable } from "../store/db.js";
import { GENESIS_HASH, recordHash } from "./chain.js";
import { auditKeyId } from "./keys.js";
import { AuditRow, RECORD_COLUMNS } from "./record.js";
import { isValidHeadSignature, SignatureRow, type SignedHead } from "./signing.js";

/**
 * Why the chain is broken at `seq`:
 * - `changed`: the record's fields no longer give its stored hash (a field or the hash was edited).
 * - `missing`: seq jumps: records were deleted from the middle.
 * - `reordered`: prev_hash names another record of the trail (rows were swapped or renumbered).
 * - `broken-link`: prev_hash names no record at all (the link was edited, or the predecessor deleted and the rest renumbered).
 * - `truncated`: the head row or a valid signed head is beyond the last record: the tail was deleted.
 * - `rewritten`: a valid signed head has another hash than the chain at its seq: the chain after `seq - 1`
 *   was re-hashed, or cut and regrown.
 * - `head-mismatch`: the head row disagrees with the last record (records appended or edited around appendAudit).
 * - `bad-signature`: a signature does not verify, or is by a key that is not among the given public keys.
 */
export type AuditBreakReason = "changed" | "missing" | "reordered" | "broken-link" | "truncated" | "rewritten" | "head-mismatch" | "bad-signature";

export type AuditVerification =
  | {
      readonly ok: true;
      readonly records: number;
      readonly lastSeq: number;
      readonly lastHash: string;
      /** The highest seq a valid signed head vouches for; null when none does (records after it are unsigned). */
      readonly signedSeq: number | null;
      readonly signatures: number;
    }
  | {
      readonly ok: false;
      /** Records that checked out before the break. */
      readonly records: number;
      readonly firstBroken: { readonly seq: number; readonly reason: AuditBreakReason; readonly detail: string };
    };

export interface VerifyAuditOptions {
  /** Records (and signatures) read per query; memory is bounded by it. Default 1,000. */
  readonly batchSize?: number;
  /** Signed heads kept outside the database (e.g. the signer's "audit head signed" log lines), checked as the table's. */
  readonly anchors?: readonly SignedHead[];
}

export const DEFAULT_VERIFY_BATCH_SIZE = 1_000;

/** int8 beyond 2^53 arrives as a bigint: only a planted row can be there, and it must be reported, not crash. */
const Int8 = z.union([z.number().int(), z.bigint()]).transform((n) => Math.min(Number(n), Number.MAX_SAFE_INTEGER));
const Snapshot = z.object({
  head_seq: Int8.nullable(),
  head_hash: z.string().nullable(),
  head_prev_hash: z.string().nullable(),
  max_record: Int8.nullable(),
  max_signed: Int8.nullable(),
});

class Broken extends Error {
  constructor(
    readonly seq: number,
    readonly reason: AuditBreakReason,
    readonly detail: string,
  ) {
    super(detail);
  }
}

/**
 * Recomputes every hash and link of the trail in seq order, in batches, and checks every signed head (the
 * table's and `anchors`) against the chain at its seq. Reports the first broken link, or how much is intact.
 * Does not hold a transaction: appends go on meanwhile, and the bound read first keeps them out of the check.
 * Rows deleted together with the head row's matching update and every later signature cannot be seen from the
 * database alone: that is what `anchors` from outside are for.
 */
export async function verifyAudit(
  db: Queryable,
  publicKeys: KeyObject | readonly KeyObject[],
  options: VerifyAuditOptions = {},
): Promise<AuditVerification> {
  const batchSize = options.batchSize ?? DEFAULT_VERIFY_BATCH_SIZE;
  if (!Number.isInteger(batchSize) || batchSize < 1) throw new RangeError(`verifyAudit: batchSize must be a positive integer, got ${batchSize}`);
  const keys = new Map((Array.isArray(publicKeys) ? publicKeys : [publicKeys as KeyObject]).map((k) => [auditKeyId(k), k]));
  const anchors = [...(options.anchors ?? [])].sort((a, b) => a.seq - b.seq);

  // One statement, one snapshot: a signature beyond the head row is evidence, not a race.
  const [first] = await db.query(
    `SELECT h.seq AS head_seq, h.hash AS head_hash, h.prev_hash AS head_prev_hash,
            (SELECT max(seq) FROM audit_log) AS max_record, (SELECT max(seq) FROM audit_signatures) AS max_signed
       FROM (SELECT 1) one LEFT JOIN audit_head h ON h.id`,
  );
  const snapshot = Snapshot.parse(first);
  const bound = Math.max(snapshot.head_seq ?? 0, snapshot.max_record ?? 0, snapshot.max_signed ?? 0, anchors.at(-1)?.seq ?? 0);

  let records = 0;
  let expected = 1;
  let prevHash = GENESIS_HASH;
  let lastPrevHash = GENESIS_HASH;
  let signedSeq: number | null = null;
  let signatures = 0;
  const heads = mergeSignatures(db, bound, batchSize, anchors);
  let nextHead = await heads.next();

  const checkSignature = (head: SignedHead, chainHash: string): void => {
    const key = keys.get(head.keyId);
    if (key === undefined) {
      const detail = `the head signed at seq ${head.seq} (${head.signedAt}) names key ${head.keyId}, which is not one of the verifying keys`;
      throw new Broken(head.seq, "bad-signature", detail);
    }
    if (!isValidHeadSignature(head, key)) {
      const detail = `the signature of the head at seq ${head.seq} (${head.signedAt}, key ${head.keyId}) does not verify`;
      throw new Broken(head.seq, "bad-signature", detail);
    }
    if (head.hash !== chainHash) {
      const from = (signedSeq ?? 0) + 1;
      throw new Broken(
        from,
        "rewritten",
        `the head signed at seq ${head.seq} (${head.signedAt}) has hash ${head.hash}, the chain has ${chainHash}: ` +
          `a record from seq ${from} on was changed and the chain re-hashed, or the tail was cut and regrown`,
      );
    }
    signedSeq = head.seq;
    signatures++;
  };
  const signaturesUpTo = async (seq: number, chainHash: string): Promise<void> => {
    while (!nextHead.done && nextHead.value.seq <= seq) {
      checkSignature(nextHead.value, chainHash);
      nextHead = await heads.next();
    }
  };

  try {
    await signaturesUpTo(0, GENESIS_HASH);
    // Ranges of seq, not `seq > last LIMIT n`: seq is gap-free, so a range is a batch, and each query touches
    // only its own rows whatever plan the planner picks (without statistics it sorts everything above `last`).
    // The next range is read while this one is hashed: at most two batches in memory.
    const range = (from: number): Promise<Record<string, unknown>[]> => {
      const rows = db.query(`SELECT ${RECORD_COLUMNS} FROM audit_log WHERE seq >= $1 AND seq < $2 ORDER BY seq`, [
        from,
        Math.min(from + batchSize, bound + 1),
      ]);
      rows.catch(() => undefined); // awaited below, unless a break ends the loop first
      return rows;
    };
    for (let from = 1, pending = from <= bound ? range(from) : undefined; pending !== undefined; from += batchSize) {
      const rows = await pending;
      pending = from + batchSize <= bound ? range(from + batchSize) : undefined;
      if (rows.length === 0) {
        // A gap as wide as a batch, or the end: is anything left above it?
        const [next] = await db.query<{ seq: number | null }>("SELECT min(seq) AS seq FROM audit_log WHERE seq >= $1 AND seq <= $2", [from, bound]);
        if (next?.seq === null || next?.seq === undefined) break;
        rows.push(...(await db.query(`SELECT ${RECORD_COLUMNS} FROM audit_log WHERE seq = $1`, [next.seq])));
      }
      for (const row of rows) {
        const record = AuditRow.parse(row);
        if (record.seq !== expected) {
          const gap = record.seq - 1 === expected ? `record ${expected} is` : `records ${expected}–${record.seq - 1} are`;
          throw new Broken(expected, "missing", `${gap} missing: seq goes from ${expected - 1} to ${record.seq}`);
        }
        if (record.prevHash !== prevHash) {
          const [other] = await db.query<{ seq: number }>("SELECT seq FROM audit_log WHERE hash = $1 ORDER BY seq LIMIT 1", [record.prevHash]);
          if (other !== undefined) {
            throw new Broken(record.seq, "reordered", `record ${record.seq} links to record ${other.seq} instead of record ${record.seq - 1}`);
          }
          const detail = `record ${record.seq} links to ${record.prevHash}, which is no record's hash (record ${record.seq - 1} has ${prevHash})`;
          throw new Broken(record.seq, "broken-link", detail);
        }
        const recomputed = recordHash(prevHash, record);
        if (recomputed !== record.hash) {
          throw new Broken(record.seq, "changed", `record ${record.seq} hashes to ${recomputed}, its stored hash is ${record.hash}`);
        }
        lastPrevHash = prevHash;
        prevHash = record.hash;
        expected++;
        records++;
        if (!nextHead.done && nextHead.value.seq <= record.seq) await signaturesUpTo(record.seq, record.hash);
      }
    }

    const lastSeq = expected - 1;
    const maxRecord = snapshot.max_record ?? 0;
    if (maxRecord > lastSeq) {
      throw new Broken(lastSeq + 1, "missing", `records ${lastSeq + 1}–${maxRecord - 1} are missing: seq goes from ${lastSeq} to ${maxRecord}`);
    }
    if (!nextHead.done) {
      const beyond = nextHead.value;
      checkSignatureOnly(beyond, keys);
      const detail = `a valid head signed at ${beyond.signedAt} covers seq ${beyond.seq}, the last record is ${lastSeq}`;
      throw new Broken(lastSeq + 1, "truncated", detail);
    }
    if (snapshot.head_seq === null || snapshot.head_hash === null) throw new Broken(lastSeq + 1, "head-mismatch", "the audit_head row is missing");
    if (snapshot.head_seq > lastSeq) {
      throw new Broken(lastSeq + 1, "truncated", `the head row is at seq ${snapshot.head_seq}, the last record is ${lastSeq}`);
    }
    if (snapshot.head_seq < lastSeq || snapshot.head_hash !== prevHash || snapshot.head_prev_hash !== lastPrevHash) {
      throw new Broken(
        snapshot.head_seq + 1,
        "head-mismatch",
        `the head row (seq ${snapshot.head_seq}, hash ${snapshot.head_hash}, prev_hash ${snapshot.head_prev_hash}) ` +
          `is not the last record (seq ${lastSeq}, hash ${prevHash}, prev_hash ${lastPrevHash})`,
      );
    }
    return { ok: true, records, lastSeq, lastHash: prevHash, signedSeq, signatures };
  } catch (err) {
    if (err instanceof Broken) return { ok: false, records, firstBroken: { seq: err.seq, reason: err.reason, detail: err.detail } };
    throw err;
  } finally {
    await heads.return(undefined);
  }
}

/** A signed head beyond the chain proves truncation only if it is genuine. */
function checkSignatureOnly(head: SignedHead, keys: ReadonlyMap<string, KeyObject>): void {
  const key = keys.get(head.keyId);
  if (key === undefined || !isValidHeadSignature(head, key)) {
    const detail = `the head signed at seq ${head.seq} (${head.signedAt}, key ${head.keyId}) does not verify with the given keys`;
    throw new Broken(head.seq, "bad-signature", detail);
  }
}

/** The table's signatures with seq ≤ bound, in batches, merged in seq order with the anchors. */
async function* mergeSignatures(db: Queryable, bound: number, batchSize: number, anchors: readonly SignedHead[]): AsyncGenerator<SignedHead> {
  let i = 0;
  let after = { seq: -1, keyId: "" };
  for (;;) {
    const rows = await db.query(
      `SELECT seq, hash, signed_at, key_id, signature FROM audit_signatures
        WHERE (seq, key_id) > ($1, $2) AND seq <= $3 ORDER BY seq, key_id LIMIT $4`,
      [after.seq, after.keyId, bound, batchSize],
    );
    for (const row of rows) {
      const head = SignatureRow.parse(row);
      for (; i < anchors.length && (anchors[i]?.seq ?? 0) <= head.seq; i++) yield anchors[i]!;
      yield head;
      after = { seq: head.seq, keyId: head.keyId };
    }
    if (rows.length < batchSize) break;
  }
  for (; i < anchors.length; i++) yield anchors[i]!;
}
