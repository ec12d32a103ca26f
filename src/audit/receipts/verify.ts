import { verify, type KeyObject } from "node:crypto";
import { receiptSigningPayload, RECEIPT_VERSION } from "./receipt.js";
import type { TrustedKeys } from "./jwks.js";

/** One thing that did not verify, and where: a file of a pack, or a part of a receipt (`signature`, `receipt`). */
export interface Problem {
  readonly part: string;
  readonly detail: string;
}

export type ReceiptVerification =
  | { readonly ok: true; readonly operationId: string; readonly provider: string; readonly keyId: string; readonly audit: { readonly seq: number; readonly hash: string } }
  | { readonly ok: false; readonly problem: Problem };

const isObject = (v: unknown): v is Record<string, unknown> => typeof v === "object" && v !== null && !Array.isArray(v);

/**
 * Verifies an Ed25519 signature `{alg, crv, keyId, value}` over `payload` with the trusted key it names.
 * Returns why not, or undefined when it verifies. Shared by receipts and the evidence manifest.
 */
export function signatureProblem(signature: unknown, payload: () => Buffer, trusted: TrustedKeys): string | undefined {
  if (!isObject(signature)) return "no signature object";
  const { alg, crv, keyId, value } = signature;
  if (alg !== "EdDSA" || crv !== "Ed25519") return `unsupported algorithm ${String(alg)}/${String(crv)} (expected EdDSA/Ed25519)`;
  if (typeof keyId !== "string" || typeof value !== "string") return "the signature has no keyId or value";
  const key: KeyObject | undefined = trusted.get(keyId);
  if (key === undefined) return `signed by key ${keyId}, which is not one of the trusted keys`;
  let bytes: Buffer;
  try {
    bytes = payload();
  } catch (err) {
    // canonicalJson refuses a value JSON cannot carry: the content was tampered with or is not a signed document.
    return `the signed content cannot be canonicalized (${err instanceof Error ? err.message : String(err)})`;
  }
  let ok = false;
  try {
    ok = verify(null, bytes, key, Buffer.from(value, "base64url"));
  } catch {
    ok = false; // a malformed signature is a bad one
  }
  return ok ? undefined : `the Ed25519 signature by key ${keyId} does not verify: the signed content or the signature was changed`;
}

/** Verifies a signed receipt (parsed JSON) against the trusted keys; `part` names what failed. */
export function verifyReceipt(document: unknown, trusted: TrustedKeys, part = "receipt"): ReceiptVerification {
  if (!isObject(document) || !isObject(document["receipt"])) return fail(part, "not a signed receipt (no `receipt` object)");
  const receipt = document["receipt"];
  if (receipt["version"] !== RECEIPT_VERSION) return fail(part, `unknown receipt version ${JSON.stringify(receipt["version"])} (expected ${RECEIPT_VERSION})`);
  const problem = signatureProblem(document["signature"], () => receiptSigningPayload(receipt), trusted);
  if (problem !== undefined) return fail(part, problem);
  // Signed, so the shape is the issuer's: read what the caller reports.
  const operation = receipt["operation"] as { id: string };
  const audit = receipt["audit"] as { seq: number; hash: string };
  return { ok: true, operationId: operation.id, provider: String(receipt["provider"]), keyId: String((document["signature"] as { keyId: string }).keyId), audit };
}

function fail(part: string, detail: string): ReceiptVerification {
  return { ok: false, problem: { part, detail } };
}
