import { createCipheriv, createDecipheriv, createHmac, hkdfSync, randomBytes, type KeyObject } from "node:crypto";

/**
 * Credentials the service must hold for later operations (the CloudHSM `kmsuser` password, issue 12) are
 * stored sealed: AES-256-GCM under a key that lives outside the database, bound (additional data) to what
 * they belong to, so a row copied to another provider does not open. An attacker with the database alone
 * reads nothing. `fingerprint` is a keyed hash for comparisons (Idempotency-Key fingerprints), never a
 * plain hash, which would let a short password be guessed offline.
 */
export interface CredentialSealer {
  seal(context: string, plaintext: string): string;
  /** Throws when the value was sealed under another key or for another context. */
  open(context: string, sealed: string): string;
  fingerprint(context: string, plaintext: string): string;
}

const VERSION = "v1";
const IV_BYTES = 12;
const TAG_BYTES = 16;

/**
 * Derived from the audit HMAC key (HKDF-SHA256, a label of its own), the same on every replica and kept
 * outside the database like it. Rotating the audit HMAC key makes sealed credentials unreadable: they are
 * then asked for again.
 */
export function deriveCredentialKey(auditHmac: KeyObject): Buffer {
  return Buffer.from(hkdfSync("sha256", auditHmac.export(), Buffer.alloc(0), "saas-bridge sealed credentials v1", 32));
}

export function createCredentialSealer(key: Buffer): CredentialSealer {
  if (key.length !== 32) throw new Error("a credential sealing key is 32 bytes");
  const macKey = Buffer.from(hkdfSync("sha256", key, Buffer.alloc(0), "saas-bridge credential fingerprints v1", 32));
  return {
    seal(context, plaintext) {
      const iv = randomBytes(IV_BYTES);
      const cipher = createCipheriv("aes-256-gcm", key, iv).setAAD(Buffer.from(context, "utf8"));
      const body = Buffer.concat([cipher.update(plaintext, "utf8"), cipher.final()]);
      return `${VERSION}:${Buffer.concat([iv, cipher.getAuthTag(), body]).toString("base64")}`;
    },
    open(context, sealed) {
      const [version, data = ""] = sealed.split(":");
      const raw = Buffer.from(data, "base64");
      if (version !== VERSION || raw.length < IV_BYTES + TAG_BYTES) throw new Error("not a sealed credential");
      const decipher = createDecipheriv("aes-256-gcm", key, raw.subarray(0, IV_BYTES)).setAAD(Buffer.from(context, "utf8"));
      decipher.setAuthTag(raw.subarray(IV_BYTES, IV_BYTES + TAG_BYTES));
      try {
        return Buffer.concat([decipher.update(raw.subarray(IV_BYTES + TAG_BYTES)), decipher.final()]).toString("utf8");
      } catch {
        throw new Error("the sealed credential does not open with this key and context (was the audit HMAC key rotated?)");
      }
    },
    fingerprint(context, plaintext) {
      return createHmac("sha256", macKey).update(`${context}\u0000${plaintext}`, "utf8").digest("hex");
    },
  };
}
