import { createPublicKey, generateKeyPairSync, verify } from "node:crypto";
import { describe, expect, it } from "vitest";
import { canonicalJson } from "../../../src/audit/canonical-json.js";
import { auditKeyId } from "../../../src/audit/keys.js";
import { toJwks, trustedKeysFromJwks, trustedKeysFromPems } from "../../../src/audit/receipts/jwks.js";
import { RECEIPT_DOMAIN, receiptSigningPayload, signReceipt } from "../../../src/audit/receipts/receipt.js";
import { verifyReceipt } from "../../../src/audit/receipts/verify.js";
import { sampleReceipt } from "./support.js";

const pair = () => generateKeyPairSync("ed25519");

describe("receipts: sign and verify offline", () => {
  const current = pair();
  const trusted = trustedKeysFromJwks(JSON.parse(JSON.stringify(toJwks([createPublicKey(current.privateKey)]))));

  it("a signed receipt verifies with the published key, after a JSON round trip", () => {
    const signed = signReceipt(sampleReceipt(), current.privateKey);
    expect(signed.signature).toMatchObject({ alg: "EdDSA", crv: "Ed25519", keyId: auditKeyId(current.publicKey) });
    const result = verifyReceipt(JSON.parse(JSON.stringify(signed)), trusted);
    expect(result).toMatchObject({ ok: true, operationId: signed.receipt.operation.id, provider: "acme", audit: { seq: 42 } });
  });

  it("the signature covers the domain tag and the canonical JSON (what another Ed25519 library checks)", () => {
    const signed = signReceipt(sampleReceipt(), current.privateKey);
    const payload = Buffer.from(RECEIPT_DOMAIN + canonicalJson(signed.receipt), "utf8");
    expect(receiptSigningPayload(signed.receipt).equals(payload)).toBe(true);
    expect(verify(null, payload, current.publicKey, Buffer.from(signed.signature.value, "base64url"))).toBe(true);
    // Without the tag it is not a valid signature: a receipt signature means nothing else.
    expect(verify(null, Buffer.from(canonicalJson(signed.receipt)), current.publicKey, Buffer.from(signed.signature.value, "base64url"))).toBe(false);
  });

  it("flipping any one byte of the signed content fails, naming the signature", () => {
    const text = JSON.stringify(signReceipt(sampleReceipt(), current.privateKey));
    const start = text.indexOf('"receipt":') + '"receipt":'.length;
    const end = text.indexOf(',"signature":');
    let checked = 0;
    for (let i = start; i < end; i += 7) {
      const flipped = text.slice(0, i) + String.fromCharCode(text.charCodeAt(i) ^ 0x01) + text.slice(i + 1);
      let document: unknown;
      try {
        document = JSON.parse(flipped);
      } catch {
        continue; // not JSON any more: any reader refuses it
      }
      const result = verifyReceipt(document, trusted, "r.json");
      expect(result.ok, `byte ${i} (${text[i]})`).toBe(false);
      if (!result.ok) expect(result.problem.part).toBe("r.json");
      checked++;
    }
    expect(checked).toBeGreaterThan(50);
  });

  it("a changed signature, or a receipt signed by another key, fails", () => {
    const signed = signReceipt(sampleReceipt(), current.privateKey);
    const value = Buffer.from(signed.signature.value, "base64url");
    value[5] = value[5]! ^ 0x80;
    const bad = verifyReceipt({ ...signed, signature: { ...signed.signature, value: value.toString("base64url") } }, trusted);
    expect(bad).toMatchObject({ ok: false, problem: { detail: expect.stringMatching(/does not verify/) } });

    const stranger = pair();
    const foreign = signReceipt(sampleReceipt(), stranger.privateKey);
    expect(verifyReceipt(foreign, trusted)).toMatchObject({ ok: false, problem: { detail: expect.stringMatching(/not one of the trusted keys/) } });
    // Claiming the trusted key's id does not help: the signature is checked with the trusted key itself.
    const claimed = { ...foreign, signature: { ...foreign.signature, keyId: auditKeyId(current.publicKey) } };
    expect(verifyReceipt(claimed, trusted)).toMatchObject({ ok: false, problem: { detail: expect.stringMatching(/does not verify/) } });
  });

  it("a JWKS whose kid names a trusted key id does not make another key trusted (ids are recomputed)", () => {
    const stranger = pair();
    const jwks = toJwks([stranger.publicKey]);
    const lying = { keys: jwks.keys.map((k) => ({ ...k, kid: auditKeyId(current.publicKey) })) };
    const keys = trustedKeysFromJwks(lying);
    expect([...keys.keys()]).toEqual([auditKeyId(stranger.publicKey)]);
  });

  it("rotation: the JWKS lists the signing key as current and older ones as previous; both verify their receipts", () => {
    const old = pair();
    const jwks = toJwks([createPublicKey(current.privateKey), old.publicKey, old.publicKey]);
    expect(jwks.keys.map((k) => [k.kid, k.status])).toEqual([
      [auditKeyId(current.publicKey), "current"],
      [auditKeyId(old.publicKey), "previous"],
    ]);
    expect(jwks.keys[0]).toMatchObject({ kty: "OKP", crv: "Ed25519", use: "sig", alg: "EdDSA" });
    const keys = trustedKeysFromJwks(JSON.parse(JSON.stringify(jwks)));
    expect(verifyReceipt(signReceipt(sampleReceipt(), old.privateKey), keys).ok).toBe(true);
    expect(verifyReceipt(signReceipt(sampleReceipt(), current.privateKey), keys).ok).toBe(true);
  });

  it("PEM public keys are trusted keys too", () => {
    const pem = current.publicKey.export({ type: "spki", format: "pem" }).toString();
    const keys = trustedKeysFromPems([{ pem, source: "pub.pem" }]);
    expect(verifyReceipt(signReceipt(sampleReceipt(), current.privateKey), keys).ok).toBe(true);
  });

  it("a document that is not a receipt is refused with a reason", () => {
    expect(verifyReceipt({ hello: 1 }, trusted)).toMatchObject({ ok: false, problem: { part: "receipt" } });
    const signed = signReceipt(sampleReceipt(), current.privateKey);
    expect(verifyReceipt({ ...signed, signature: { ...signed.signature, alg: "RS256" } }, trusted)).toMatchObject({ ok: false, problem: { detail: expect.stringMatching(/unsupported algorithm/) } });
  });
});
