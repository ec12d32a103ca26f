import { createHash, randomBytes } from "node:crypto";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { oidcFromConfig, type OidcVerifier } from "../../src/auth/oidc.js";
import { loadConfig } from "../../src/config.js";
import { startTestService, type TestService } from "../helpers/service.js";
import { startOidcIssuer, type OidcIssuer } from "../support/oidc-issuer.js";

/**
 * The OIDC authorization server test double (test/support/oidc-issuer.ts) does the authorization code
 * flow with PKCE the way a real one must, and its tokens pass the service's own verifier, configured from
 * the environment as a deployment would be (OIDC_ISSUER, OIDC_AUDIENCE, OIDC_JWKS_URI, OIDC_ROLE_MAP).
 */
const audience = "saas-bridge";
const clientId = "saas-bridge-console";
const redirectUri = "http://127.0.0.1:9/console/callback";

let idp: OidcIssuer;
let verifier: OidcVerifier;

beforeAll(async () => {
  idp = await startOidcIssuer({
    audience,
    clientId,
    redirectUris: [redirectUri],
    users: {
      ada: { sub: "user-ada", email: "ada@example.com", groups: ["ops"], teams: ["data-platform"] },
      bob: { sub: "user-bob", email: "bob@example.com", groups: ["readers"], teams: ["payments"] },
    },
    defaultUser: "ada",
  });
  const config = loadConfig({
    ENGINE: "simulated",
    LANDING_ZONE_FILE: "examples/landing-zone.json",
    OIDC_ISSUER: idp.issuer,
    OIDC_AUDIENCE: audience,
    OIDC_JWKS_URI: idp.jwksUri,
    OIDC_ROLE_MAP: "ops=operator,readers=viewer",
  });
  const configured = oidcFromConfig(config);
  if (!configured) throw new Error("OIDC is off in the configuration");
  verifier = configured;
});
afterAll(() => idp.close());

const pkcePair = () => {
  const codeVerifier = randomBytes(32).toString("base64url");
  return { codeVerifier, challenge: createHash("sha256").update(codeVerifier).digest("base64url") };
};

/** GET /authorize without following the redirect; the code from its Location, checked against state. */
async function authorizeCode(challenge: string, uri = redirectUri): Promise<string> {
  const state = randomBytes(8).toString("hex");
  const url = new URL("/authorize", idp.issuer);
  const query = { response_type: "code", client_id: clientId, redirect_uri: uri, code_challenge: challenge, code_challenge_method: "S256", state, scope: "openid" };
  for (const [k, v] of Object.entries(query)) url.searchParams.set(k, v);
  const res = await fetch(url, { redirect: "manual" });
  expect(res.status).toBe(302);
  const location = new URL(res.headers.get("location") ?? "");
  expect(`${location.origin}${location.pathname}`).toBe(uri);
  expect(location.searchParams.get("state")).toBe(state);
  return location.searchParams.get("code") ?? "";
}

function exchange(code: string, codeVerifier: string): Promise<Response> {
  return fetch(new URL("/token", idp.issuer), {
    method: "POST",
    headers: { "content-type": "application/x-www-form-urlencoded", origin: "http://127.0.0.1:9" },
    body: new URLSearchParams({ grant_type: "authorization_code", code, redirect_uri: redirectUri, client_id: clientId, code_verifier: codeVerifier }),
  });
}

describe("OIDC issuer test double", () => {
  it("publishes discovery and its JWKS to any origin", async () => {
    const res = await fetch(new URL("/.well-known/openid-configuration", idp.issuer));
    expect(res.headers.get("access-control-allow-origin")).toBe("*");
    expect(await res.json()).toMatchObject({
      issuer: idp.issuer,
      jwks_uri: idp.jwksUri,
      token_endpoint: `${idp.issuer}/token`,
      code_challenge_methods_supported: ["S256"],
    });
    const jwks = (await (await fetch(idp.jwksUri)).json()) as { keys: { kty: string; alg: string; d?: string }[] };
    expect(jwks.keys).toEqual([expect.objectContaining({ kty: "EC", alg: "ES256" })]);
    expect(jwks.keys[0]?.d).toBeUndefined();
  });

  it("code + PKCE gives an access token the service's verifier accepts, for the current user", async () => {
    const { codeVerifier, challenge } = pkcePair();
    const before = idp.tokensIssued();
    const res = await exchange(await authorizeCode(challenge), codeVerifier);
    expect(res.status).toBe(200);
    expect(res.headers.get("access-control-allow-origin")).toBe("http://127.0.0.1:9");
    const body = (await res.json()) as { access_token: string; token_type: string; expires_in: number; id_token?: string };
    expect(body).toMatchObject({ token_type: "Bearer", expires_in: 600 });
    expect(idp.tokensIssued()).toBe(before + 1);
    expect(await verifier.verify(body.access_token)).toEqual({
      ok: true,
      principal: { kind: "oidc", id: "user-ada", name: "ada@example.com", role: "operator", teams: ["data-platform"] },
    });
    // The id token is for the client, not the API: the service refuses it.
    expect(await verifier.verify(body.id_token ?? "")).toEqual({ ok: false, reason: "wrong-audience" });

    idp.setUser("bob");
    try {
      const next = pkcePair();
      const bob = (await (await exchange(await authorizeCode(next.challenge), next.codeVerifier)).json()) as { access_token: string };
      expect(await verifier.verify(bob.access_token)).toMatchObject({ ok: true, principal: { id: "user-bob", role: "viewer", teams: ["payments"] } });
    } finally {
      idp.setUser("ada");
    }
  });

  it("a wrong code_verifier is invalid_grant, and spends the code", async () => {
    const { codeVerifier, challenge } = pkcePair();
    const code = await authorizeCode(challenge);
    const wrong = await exchange(code, pkcePair().codeVerifier);
    expect(wrong.status).toBe(400);
    expect(await wrong.json()).toEqual({ error: "invalid_grant" });
    expect((await exchange(code, codeVerifier)).status).toBe(400);
  });

  it("a code is single-use", async () => {
    const { codeVerifier, challenge } = pkcePair();
    const code = await authorizeCode(challenge);
    expect((await exchange(code, codeVerifier)).status).toBe(200);
    const again = await exchange(code, codeVerifier);
    expect(again.status).toBe(400);
    expect(await again.json()).toEqual({ error: "invalid_grant" });
  });

  it("an unregistered redirect_uri (or a request without PKCE or state) is a 400 that redirects nowhere", async () => {
    const { challenge } = pkcePair();
    const base = { response_type: "code", client_id: clientId, redirect_uri: redirectUri, code_challenge: challenge, code_challenge_method: "S256", state: "s1" };
    const cases = [
      { ...base, redirect_uri: "https://evil.example/callback" },
      { ...base, redirect_uri: `${redirectUri}/extra` },
      { ...base, client_id: "another-client" },
      { ...base, code_challenge_method: "plain" },
      { ...base, code_challenge: "" },
      { ...base, state: "" },
      { ...base, response_type: "token" },
    ];
    for (const query of cases) {
      const res = await fetch(`${idp.issuer}/authorize?${new URLSearchParams(query)}`, { redirect: "manual" });
      expect(res.status, JSON.stringify(query)).toBe(400);
      expect(res.headers.get("location")).toBeNull();
      expect(res.headers.get("content-type")).toMatch(/^text\/plain/);
    }
    expect(idp.lastAuthorizeQuery).toMatchObject({ response_type: "token" });
  });

  it("answers the token endpoint's CORS preflight with the caller's origin", async () => {
    const res = await fetch(new URL("/token", idp.issuer), { method: "OPTIONS", headers: { origin: "http://127.0.0.1:9", "access-control-request-method": "POST" } });
    expect(res.status).toBe(204);
    expect(res.headers.get("access-control-allow-origin")).toBe("http://127.0.0.1:9");
    expect(res.headers.get("access-control-allow-headers")).toContain("content-type");
  });

  it("the service itself accepts the token as a bearer credential", async () => {
    let svc: TestService | undefined;
    try {
      svc = await startTestService({
        config: { OIDC_ISSUER: idp.issuer, OIDC_AUDIENCE: audience, OIDC_JWKS_URI: idp.jwksUri, OIDC_ROLE_MAP: ["ops=operator"] },
      });
      const { codeVerifier, challenge } = pkcePair();
      const { access_token } = (await (await exchange(await authorizeCode(challenge), codeVerifier)).json()) as { access_token: string };
      const res = await svc.app.inject({ method: "GET", url: "/v1/providers", headers: { authorization: `Bearer ${access_token}` } });
      expect(res.statusCode).toBe(200);
      const forged = await svc.app.inject({ method: "GET", url: "/v1/providers", headers: { authorization: `Bearer ${access_token.slice(0, -4)}AAAA` } });
      expect(forged.statusCode).toBe(401);
    } finally {
      await svc?.close(5_000);
    }
  });
});
