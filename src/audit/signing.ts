import { createPublicKey, sign, verify, type KeyObject } from "node:crypto";
import { z } from "zod";
import type { Queryable } from "../store/db.js";
import { canonicalJson } from "./canonical-json.js";
import { auditKeyId } from "./keys.js";

/** The chain head at one moment, signed with Ed25519 by a key kept outside the database. */
export interface SignedHead {
  readonly seq: number;
  readonly hash: string;
  /** ISO 8601 UTC, milliseconds. */
  readonly signedAt: string;
  /** auditKeyId of the signing key pair. */
  readonly keyId: string;
  /** Ed25519 signature of headSigningPayload, base64. */
  readonly signature: string;
}

const DOMAIN = "saas-bridge audit head v1\n";

/** What is signed: a domain tag (a signature can mean nothing else), then canonical JSON of the head. */
export function headSigningPayload(head: Omit<SignedHead, "signature">): Buffer {
  return Buffer.from(DOMAIN + canonicalJson({ seq: head.seq, hash: head.hash, signedAt: head.signedAt, keyId: head.keyId }), "utf8");
}

export function isValidHeadSignature(head: SignedHead, publicKey: KeyObject): boolean {
  try {
    return verify(null, headSigningPayload(head), publicKey, Buffer.from(head.signature, "base64"));
  } catch {
    return false; // a malformed signature is a bad one
  }
}

const timestamp = z.union([z.date(), z.string()]).transform((v) => new Date(v).toISOString());

export const SignatureRow = z
  .object({ seq: z.number().int().nonnegative(), hash: z.string(), signed_at: timestamp, key_id: z.string(), signature: z.string() })
  .transform((r): SignedHead => ({ seq: r.seq, hash: r.hash, signedAt: r.signed_at, keyId: r.key_id, signature: r.signature }));

const HeadRow = z.object({
  seq: z.number().int().nonnegative(),
  hash: z.string(),
  signed: z.union([SignatureRow, z.null()]),
});

/**
 * Signs the current head into `audit_signatures`, unless this key already signed this seq (then the existing
 * signature is returned: an idle trail gains no rows, and replicas signing at once make one row).
 * `privateKey` is Ed25519 (loadAuditSigningKey). The empty trail (seq 0) is signed too: it vouches that
 * nothing was there yet.
 */
export async function signHead(db: Queryable, privateKey: KeyObject): Promise<SignedHead & { readonly created: boolean }> {
  const keyId = auditKeyId(createPublicKey(privateKey));
  const signedRow = `(SELECT json_build_object('seq', s.seq, 'hash', s.hash, 'signed_at', s.signed_at, 'key_id', s.key_id, 'signature', s.signature)
                        FROM audit_signatures s WHERE s.seq = h.seq AND s.key_id = $1)`;
  const rows = await db.query(`SELECT h.seq, h.hash, ${signedRow} AS signed FROM audit_head h WHERE h.id`, [keyId]);
  if (rows[0] === undefined) throw new Error("audit: the audit_head row is missing (migration 006 inserts it)");
  const head = HeadRow.parse(rows[0]);
  if (head.signed !== null) return { ...head.signed, created: false };

  const unsigned = { seq: head.seq, hash: head.hash, signedAt: new Date().toISOString(), keyId };
  const signed: SignedHead = { ...unsigned, signature: sign(null, headSigningPayload(unsigned), privateKey).toString("base64") };
  const inserted = await db.query(
    `INSERT INTO audit_signatures (seq, key_id, hash, signed_at, signature) VALUES ($1, $2, $3, $4::timestamptz, $5)
     ON CONFLICT (seq, key_id) DO NOTHING RETURNING seq`,
    [signed.seq, signed.keyId, signed.hash, signed.signedAt, signed.signature],
  );
  if (inserted.length === 1) return { ...signed, created: true };
  // Another replica signed the same seq between our read and our insert.
  const existing = await db.query(`SELECT seq, hash, signed_at, key_id, signature FROM audit_signatures WHERE seq = $1 AND key_id = $2`, [
    signed.seq,
    signed.keyId,
  ]);
  return { ...SignatureRow.parse(existing[0]), created: false };
}
