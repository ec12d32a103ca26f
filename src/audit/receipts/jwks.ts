import { createPublicKey, type KeyObject } from "node:crypto";
import { auditKeyId, parseAuditVerifyKey } from "../keys.js";

/**
 * The service's public keys as a JWKS (RFC 7517, Ed25519 as RFC 8037 OKP keys): what GET /v1/keys serves and
 * what the offline tool trusts. `kid` is auditKeyId, the name receipts, manifests and signed heads carry.
 */
export interface Jwk {
  readonly kty: "OKP";
  readonly crv: "Ed25519";
  /** The raw 32-byte public key, base64url. */
  readonly x: string;
  readonly kid: string;
  readonly use: "sig";
  readonly alg: "EdDSA";
  /** `current` signs now; `previous` keys (AUDIT_VERIFY_KEY_FILES) only verify what they signed before a rotation. */
  readonly status: "current" | "previous";
}

export interface Jwks {
  readonly keys: readonly Jwk[];
}

/** The first key is the signing key's public half (SecurityKeys.auditVerify order); a key listed twice appears once. */
export function toJwks(publicKeys: readonly KeyObject[]): Jwks {
  const seen = new Set<string>();
  const keys: Jwk[] = [];
  for (const [i, key] of publicKeys.entries()) {
    const publicKey = key.type === "private" ? createPublicKey(key) : key;
    const kid = auditKeyId(publicKey);
    if (seen.has(kid)) continue;
    seen.add(kid);
    const { x } = publicKey.export({ format: "jwk" });
    if (typeof x !== "string") throw new Error(`key ${kid}: not an Ed25519 public key`);
    keys.push({ kty: "OKP", crv: "Ed25519", x, kid, use: "sig", alg: "EdDSA", status: i === 0 ? "current" : "previous" });
  }
  return { keys };
}

/** Trusted keys by key id. */
export type TrustedKeys = ReadonlyMap<string, KeyObject>;

/**
 * Trusted keys from a JWKS document (GET /v1/keys saved to a file). The key id is recomputed from the key
 * itself, never taken from `kid`: a JWKS whose kid names another key cannot make that key trusted.
 */
export function trustedKeysFromJwks(document: unknown, source = "the key set"): Map<string, KeyObject> {
  const keys = (document as { keys?: unknown } | null)?.keys;
  if (!Array.isArray(keys)) throw new Error(`${source}: not a JWKS (no "keys" array)`);
  const trusted = new Map<string, KeyObject>();
  for (const [i, jwk] of keys.entries()) {
    const { kty, crv, x } = (jwk ?? {}) as Record<string, unknown>;
    if (kty !== "OKP" || crv !== "Ed25519" || typeof x !== "string") throw new Error(`${source}: keys[${i}] is not an Ed25519 (OKP) key`);
    let key: KeyObject;
    try {
      key = createPublicKey({ key: { kty, crv, x }, format: "jwk" });
    } catch (err) {
      throw new Error(`${source}: keys[${i}] is not a valid Ed25519 key (${err instanceof Error ? err.message : String(err)})`, { cause: err });
    }
    trusted.set(auditKeyId(key), key);
  }
  return trusted;
}

/** Trusted keys from SPKI PEM texts (the public half of the signing key, e.g. from `openssl pkey -pubout`). */
export function trustedKeysFromPems(pems: readonly { readonly pem: string; readonly source: string }[]): Map<string, KeyObject> {
  return new Map(pems.map(({ pem, source }) => {
    const key = parseAuditVerifyKey(pem, source);
    return [auditKeyId(key), key] as const;
  }));
}
