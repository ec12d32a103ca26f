import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { exportJWK, generateKeyPair, SignJWT, type CryptoKey, type JWK } from "jose";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createOidcVerifier, type OidcVerifier } from "../../src/auth/oidc.js";

/**
 * OIDC verification against a JWKS served over HTTP on loopback (the real remote key-set path of
 * jose), with tokens signed by keys generated here: the issuer's, and an attacker's.
 */
let server: Server;
let issuer = "";
let verifier: OidcVerifier;
let signingKey: CryptoKey;
let otherKey: CryptoKey;
const audience = "saas-bridge";

beforeAll(async () => {
  const pair = await generateKeyPair("RS256");
  signingKey = pair.privateKey;
  otherKey = (await generateKeyPair("RS256")).privateKey;
  const jwk: JWK = { ...(await exportJWK(pair.publicKey)), kid: "k1", alg: "RS256", use: "sig" };
  server = createServer((req, res) => {
    if (req.url !== "/.well-known/jwks.json") return void res.writeHead(404).end();
    res.writeHead(200, { "content-type": "application/json" }).end(JSON.stringify({ keys: [jwk] }));
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  issuer = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  verifier = createOidcVerifier({
    issuer,
    audience,
    rolesClaim: "realm_access.roles",
    teamsClaim: "teams",
    roleMap: { "saas-admins": "admin", "saas-operators": "operator", "everyone": "viewer", "auditors": "auditor" },
  });
});
afterAll(() => new Promise<void>((resolve) => server.close(() => resolve())));

async function token(claims: Record<string, unknown>, options: { key?: CryptoKey; iss?: string; aud?: string; exp?: string | number; alg?: string } = {}): Promise<string> {
  return new SignJWT(claims)
    .setProtectedHeader({ alg: options.alg ?? "RS256", kid: "k1" })
    .setIssuer(options.iss ?? issuer)
    .setAudience(options.aud ?? audience)
    .setSubject("user-42")
    .setIssuedAt()
    .setExpirationTime(options.exp ?? "5m")
    .sign(options.key ?? signingKey);
}

describe("OIDC bearer tokens", () => {
  it("a valid token gives the highest mapped role and the caller's teams", async () => {
    const t = await token({ realm_access: { roles: ["everyone", "saas-operators", "unrelated"] }, teams: ["data-platform", "payments"], email: "ada@example.com" });
    expect(await verifier.verify(t)).toEqual({
      ok: true,
      principal: { kind: "oidc", id: "user-42", name: "ada@example.com", role: "operator", teams: ["data-platform", "payments"] },
    });
  });

  it("refuses a bad signature, another issuer or audience, an expired token, and no mapped role — each with its reason", async () => {
    const roles = { realm_access: { roles: ["saas-admins"] } };
    expect(await verifier.verify(await token(roles, { key: otherKey }))).toEqual({ ok: false, reason: "bad-signature" });
    expect(await verifier.verify(await token(roles, { iss: "https://evil.example" }))).toEqual({ ok: false, reason: "wrong-issuer" });
    expect(await verifier.verify(await token(roles, { aud: "another-api" }))).toEqual({ ok: false, reason: "wrong-audience" });
    expect(await verifier.verify(await token(roles, { exp: Math.floor(Date.now() / 1000) - 120 }))).toEqual({ ok: false, reason: "expired" });
    expect(await verifier.verify(await token({ realm_access: { roles: ["unrelated"] } }))).toEqual({ ok: false, reason: "no-role" });
  });

  it("never accepts alg none or an HMAC token (even one signed with the public key as the secret)", async () => {
    const header = Buffer.from(JSON.stringify({ alg: "none", typ: "JWT" })).toString("base64url");
    const body = Buffer.from(JSON.stringify({ iss: issuer, aud: audience, sub: "x", exp: Math.floor(Date.now() / 1000) + 60, realm_access: { roles: ["saas-admins"] } })).toString("base64url");
    expect((await verifier.verify(`${header}.${body}.`)).ok).toBe(false);
    expect((await verifier.verify(`${header}.${body}.AAAA`)).ok).toBe(false);
    const hs = await new SignJWT({ realm_access: { roles: ["saas-admins"] } })
      .setProtectedHeader({ alg: "HS256", kid: "k1" })
      .setIssuer(issuer)
      .setAudience(audience)
      .setSubject("x")
      .setExpirationTime("5m")
      .sign(new TextEncoder().encode("a-secret-an-attacker-knows-of-at-least-32-bytes"));
    expect(await verifier.verify(hs)).toEqual({ ok: false, reason: "bad-algorithm" });
  });

  it("garbage is malformed, never a throw", async () => {
    for (const input of ["", "a.b", "a.b.c.d", "x".repeat(20_000), "é.é.é", "eyJhbGciOiJSUzI1NiJ9.e30.sig"]) {
      const r = await verifier.verify(input);
      expect(r.ok).toBe(false);
    }
  });
});
