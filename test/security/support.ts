import { createLocalJWKSet, exportJWK, generateKeyPair, SignJWT, type CryptoKey, type JWTVerifyGetKey } from "jose";

/**
 * A stand-in identity provider for the security suites: a real key pair whose public half the service
 * trusts (as a local JWKS instead of the issuer's URL), and an attacker's key it does not.
 */
export const OIDC_ISSUER = "https://idp.example.test";
export const OIDC_AUDIENCE = "saas-bridge";
export const oidcConfig: { OIDC_ISSUER: string; OIDC_AUDIENCE: string; OIDC_ROLES_CLAIM: string; OIDC_TEAMS_CLAIM: string; OIDC_ROLE_MAP: string[] } = {
  OIDC_ISSUER,
  OIDC_AUDIENCE,
  OIDC_ROLES_CLAIM: "groups",
  OIDC_TEAMS_CLAIM: "teams",
  OIDC_ROLE_MAP: ["bridge-admins=admin", "bridge-approvers=approver", "bridge-operators=operator", "bridge-viewers=viewer", "bridge-auditors=auditor"],
};

export interface TestIdp {
  readonly keys: JWTVerifyGetKey;
  token(claims: Record<string, unknown>, options?: { key?: "attacker"; aud?: string; exp?: string | number; sub?: string }): Promise<string>;
}

export async function createTestIdp(): Promise<TestIdp> {
  const pair = await generateKeyPair("ES256");
  const attacker: CryptoKey = (await generateKeyPair("ES256")).privateKey;
  const jwk = { ...(await exportJWK(pair.publicKey)), kid: "idp-1", alg: "ES256", use: "sig" };
  return {
    keys: createLocalJWKSet({ keys: [jwk] }),
    token: (claims, options = {}) =>
      new SignJWT(claims)
        .setProtectedHeader({ alg: "ES256", kid: "idp-1" })
        .setIssuer(OIDC_ISSUER)
        .setAudience(options.aud ?? OIDC_AUDIENCE)
        .setSubject(options.sub ?? "user-1")
        .setIssuedAt()
        .setExpirationTime(options.exp ?? "5m")
        .sign(options.key === "attacker" ? attacker : pair.privateKey),
  };
}
