import { generateKeyPairSync } from "node:crypto";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  auditKeyId,
  generateAuditSigningKeyPair,
  loadAuditHmacKey,
  loadAuditSigningKey,
  loadAuditVerifyKey,
  parseAuditHmacKey,
} from "../../src/audit/keys.js";
import { auditHash } from "../../src/audit/sensitive.js";

describe("audit keys from files", () => {
  let dir: string;
  const file = async (name: string, content: string | Buffer): Promise<string> => {
    const path = join(dir, name);
    await writeFile(path, content, { mode: 0o600 });
    return path;
  };
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), "saas-bridge-audit-keys-"));
  });
  afterAll(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it("loads an HMAC key without its trailing newline, and refuses a short one", async () => {
    const hex = "ab".repeat(32);
    const withNewline = await loadAuditHmacKey(await file("hmac", `${hex}\n`));
    expect(auditHash(withNewline, "x")).toBe(auditHash(parseAuditHmacKey(Buffer.from(hex)), "x"));
    await expect(loadAuditHmacKey(await file("short", "too-short\n"))).rejects.toThrow(/at least 32 bytes, found 9/);
    await expect(loadAuditHmacKey(join(dir, "absent"))).rejects.toThrow(/ENOENT/);
  });

  it("loads a generated Ed25519 pair; the verify key is also derivable from the private PEM; one key id", async () => {
    const { privateKeyPem, publicKeyPem } = generateAuditSigningKeyPair();
    const privateKey = await loadAuditSigningKey(await file("signing.pem", privateKeyPem));
    const publicKey = await loadAuditVerifyKey(await file("verify.pem", publicKeyPem));
    const derived = await loadAuditVerifyKey(join(dir, "signing.pem"));
    expect(auditKeyId(privateKey)).toMatch(/^[0-9a-f]{16}$/);
    expect(auditKeyId(publicKey)).toBe(auditKeyId(privateKey));
    expect(auditKeyId(derived)).toBe(auditKeyId(privateKey));
    expect(auditKeyId(generateKeyPairSync("ed25519").publicKey)).not.toBe(auditKeyId(publicKey));
  });

  it("refuses other key types and non-PEM text, naming the file", async () => {
    const rsa = generateKeyPairSync("rsa", { modulusLength: 1024 }).privateKey.export({ type: "pkcs8", format: "pem" }).toString();
    const rsaPath = await file("rsa.pem", rsa);
    await expect(loadAuditSigningKey(rsaPath)).rejects.toThrow(`${rsaPath}: expected an Ed25519 key, got rsa`);
    await expect(loadAuditSigningKey(await file("junk.pem", "not a key"))).rejects.toThrow(/junk.pem: not a PEM private key/);
    const { publicKeyPem } = generateAuditSigningKeyPair();
    await expect(loadAuditSigningKey(await file("public.pem", publicKeyPem))).rejects.toThrow(/not a PEM private key/);
  });
});
