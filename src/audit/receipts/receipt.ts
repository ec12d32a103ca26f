import { sign, type KeyObject } from "node:crypto";
import { canonicalJson } from "../canonical-json.js";
import { auditKeyId } from "../keys.js";

/**
 * A receipt (issue 17): what a finished operation did, signed with the audit signing key (Ed25519) so an
 * auditor can check it offline, years later, without the database or the service. This file has no database
 * and no server imports: the offline tool (tools/verify-receipt.ts) uses it as the server does.
 */
export const RECEIPT_VERSION = "saas-bridge.receipt/v1";

/** Prefixed to what is signed, so a receipt signature can never be replayed as a chain-head or manifest one. */
export const RECEIPT_DOMAIN = "saas-bridge receipt v1\n";

export type ReceiptResource = {
  readonly urn: string;
  readonly type: string;
  readonly id: string;
};

export type ReceiptApproval = {
  readonly rule: string;
  /** `<kind>:<id>` of the principal, as the approvals table holds it, and its display name. */
  readonly requestedBy: string;
  readonly requestedByName: string;
  readonly requestedAt: string;
  readonly status: string;
  readonly decidedBy: string | null;
  readonly decidedByName: string | null;
  readonly decidedAt: string | null;
};

/**
 * Plain JSON throughout: canonicalJson refuses anything else, so what is signed is what is served. Type aliases,
 * not interfaces: the route's loose response schema (nothing of a signed document may be dropped) needs them.
 */
export type Receipt = {
  readonly version: typeof RECEIPT_VERSION;
  readonly operation: {
    readonly id: string;
    readonly intent: string;
    readonly kind: string;
    readonly status: string;
    readonly attempt: number;
    /** When it was asked for (the operation row's created_at). */
    readonly requestedAt: string;
    readonly startedAt: string | null;
    readonly finishedAt: string | null;
    /** Only on a failed, cancelled or interrupted operation: the stable code and its one-line message. */
    readonly error?: { readonly code: string; readonly message: string };
  };
  readonly provider: string;
  readonly specHash: string;
  readonly programVersion: string;
  readonly engine: string;
  /** The change summary of the run (creates, updates, deletes…), or null when the run produced none. */
  readonly summary: unknown;
  /** The stack's resources and their cloud ids after the run (empty when the run reported none). */
  readonly resources: readonly ReceiptResource[];
  /** The access verification of this operation (src/verification/types.ts), or null when none ran. */
  readonly verification: unknown;
  readonly approvals: readonly ReceiptApproval[];
  /** The operation's final audit record (`operation.finish`): its place in the hash chain. */
  readonly audit: { readonly seq: number; readonly hash: string };
  readonly issuedAt: string;
};

export type ReceiptSignature = {
  readonly alg: "EdDSA";
  readonly crv: "Ed25519";
  /** auditKeyId of the signing key: the `kid` of its entry in GET /v1/keys. */
  readonly keyId: string;
  /** Ed25519 signature of receiptSigningPayload, base64url without padding. */
  readonly value: string;
};

export type SignedReceipt = {
  readonly receipt: Receipt;
  readonly signature: ReceiptSignature;
};

/** What is signed: the domain tag, then the canonical JSON (RFC 8785 for these values) of `receipt`. */
export function receiptSigningPayload(receipt: unknown): Buffer {
  return Buffer.from(RECEIPT_DOMAIN + canonicalJson(receipt), "utf8");
}

export function signReceipt(receipt: Receipt, privateKey: KeyObject): SignedReceipt {
  const value = sign(null, receiptSigningPayload(receipt), privateKey).toString("base64url");
  return { receipt, signature: { alg: "EdDSA", crv: "Ed25519", keyId: auditKeyId(privateKey), value } };
}
