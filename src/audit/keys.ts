import { createHash, createPrivateKey, createPublicKey, createSecretKey, generateKeyPairSync, type KeyObject } from "node:crypto";
import { readFile } from "node:fs/promises";

/**
 * The audit trail's two keys live outside the database (files the operator provides, e.g. mounted secrets):
 * an HMAC key for sensitive values and an Ed25519 key pair for signing the chain head. An attacker with the
 * database alone can neither read sensitive values back nor sign a forged head.
 */
export const MIN_HMAC_KEY_BYTES = 32;

/** The HMAC key: the file's bytes without trailing whitespace (`openssl rand -hex 32 > audit-hmac.key`). */
export async function loadAuditHmacKey(path: string): Promise<KeyObject> {
  return parseAuditHmacKey(await readFile(path), path);
}

export function parseAuditHmacKey(bytes: Uint8Array, source = "the audit HMAC key"): KeyObject {
  let end = bytes.length;
  while (end > 0 && isSpace(bytes[end - 1] ?? 0)) end--;
  if (end < MIN_HMAC_KEY_BYTES) {
    throw new Error(`${source}: an audit HMAC key needs at least ${MIN_HMAC_KEY_BYTES} bytes, found ${end} (try \`openssl rand -hex 32\`)`);
  }
  return createSecretKey(bytes.subarray(0, end));
}

const isSpace = (b: number): boolean => b === 0x20 || b === 0x09 || b === 0x0a || b === 0x0d;

/** The Ed25519 private key (PKCS#8 PEM, `openssl genpkey -algorithm ed25519`) that signs the chain head. */
export async function loadAuditSigningKey(path: string): Promise<KeyObject> {
  return parseAuditSigningKey(await readFile(path, "utf8"), path);
}

export function parseAuditSigningKey(pem: string, source = "the audit signing key"): KeyObject {
  return ed25519(() => createPrivateKey(pem), source, "private");
}

/** An Ed25519 public key (SPKI PEM) to verify with; a private key PEM is accepted too (its public half is used). */
export async function loadAuditVerifyKey(path: string): Promise<KeyObject> {
  return parseAuditVerifyKey(await readFile(path, "utf8"), path);
}

export function parseAuditVerifyKey(pem: string, source = "the audit verify key"): KeyObject {
  return ed25519(() => createPublicKey(pem), source, "public");
}

function ed25519(parse: () => KeyObject, source: string, type: "private" | "public"): KeyObject {
  let key: KeyObject;
  try {
    key = parse();
  } catch (err) {
    throw new Error(`${source}: not a PEM ${type} key (${err instanceof Error ? err.message : String(err)})`, { cause: err });
  }
  if (key.asymmetricKeyType !== "ed25519") {
    throw new Error(`${source}: expected an Ed25519 key, got ${key.asymmetricKeyType ?? key.type}`);
  }
  return key;
}

/** A short, stable name of a key pair: the first 16 hex digits of SHA-256 over the public key's SPKI DER. */
export function auditKeyId(key: KeyObject): string {
  const publicKey = key.type === "private" ? createPublicKey(key) : key;
  return createHash("sha256").update(publicKey.export({ type: "spki", format: "der" })).digest("hex").slice(0, 16);
}

/** A new key pair as PEM text (for a bootstrap command or `npm run dev`; production brings its own). */
export function generateAuditSigningKeyPair(): { privateKeyPem: string; publicKeyPem: string } {
  const { privateKey, publicKey } = generateKeyPairSync("ed25519");
  return {
    privateKeyPem: privateKey.export({ type: "pkcs8", format: "pem" }).toString(),
    publicKeyPem: publicKey.export({ type: "spki", format: "pem" }).toString(),
  };
}
