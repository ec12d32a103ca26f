import { createRemoteJWKSet, errors, jwtVerify, type JWTPayload, type JWTVerifyGetKey } from "jose";
import { z } from "zod";
import type { Principal } from "./principal.js";
import { Role } from "./roles.js";

/**
 * OIDC bearer JWTs from the portal's identity provider (issue #5), verified with `jose` against the
 * issuer's JWKS: signature, `iss`, `aud`, `exp`/`nbf` (with a small clock tolerance) and an allow-list
 * of asymmetric algorithms — `none` and HMAC algorithms are never accepted, so a token cannot be
 * signed with a public key used as an HMAC secret. Claims map to a role and teams by configuration.
 */
export const OidcSettings = z.object({
  issuer: z.url({ protocol: /^https?$/ }),
  audience: z.string().min(1),
  /** Default: `<issuer>/.well-known/jwks.json`; most providers publish it at their discovery document's `jwks_uri`. */
  jwksUri: z.url({ protocol: /^https?$/ }).optional(),
  algorithms: z.array(z.enum(["RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "ES512", "EdDSA"])).min(1).default(["RS256", "ES256"]),
  clockToleranceSeconds: z.number().int().min(0).max(300).default(30),
  /** Claim (dot path) holding the caller's groups or roles, e.g. `groups` or `realm_access.roles`. */
  rolesClaim: z.string().min(1).default("groups"),
  /** Claim (dot path) holding the caller's teams. */
  teamsClaim: z.string().min(1).default("teams"),
  /** Group/role value → our role; a caller gets the highest role any of its values maps to. */
  roleMap: z.record(z.string(), Role),
  /** Claim used as the display name. */
  nameClaim: z.string().min(1).default("email"),
});
export type OidcSettings = z.input<typeof OidcSettings>;

export type OidcResult =
  | { readonly ok: true; readonly principal: Principal }
  | { readonly ok: false; readonly reason: "malformed" | "bad-signature" | "expired" | "wrong-issuer" | "wrong-audience" | "bad-algorithm" | "no-role" | "invalid" };

/** Most privileged first: the first mapped role a caller holds is the one it gets. */
const PRECEDENCE: readonly Role[] = ["admin", "approver", "operator", "auditor", "viewer"];

export interface OidcVerifier {
  verify(token: string): Promise<OidcResult>;
}

/** `keys` lets tests (or a pinned key set) replace the remote JWKS; production fetches and caches the issuer's. */
export function createOidcVerifier(input: OidcSettings, keys?: JWTVerifyGetKey): OidcVerifier {
  const settings = OidcSettings.parse(input);
  const jwks = keys ?? createRemoteJWKSet(new URL(settings.jwksUri ?? `${settings.issuer.replace(/\/$/, "")}/.well-known/jwks.json`));

  function principalOf(payload: JWTPayload): Principal | undefined {
    const values = strings(claim(payload, settings.rolesClaim));
    const mapped = new Set(values.flatMap((v) => (settings.roleMap[v] ? [settings.roleMap[v]] : [])));
    const role = PRECEDENCE.find((r) => mapped.has(r));
    if (!role || typeof payload.sub !== "string" || payload.sub === "") return undefined;
    const name = claim(payload, settings.nameClaim);
    return { kind: "oidc", id: payload.sub, name: typeof name === "string" ? name : payload.sub, role, teams: strings(claim(payload, settings.teamsClaim)) };
  }

  return {
    async verify(token) {
      if (!/^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+$/.test(token) || token.length > 16_384) return { ok: false, reason: "malformed" };
      try {
        const { payload } = await jwtVerify(token, jwks, {
          issuer: settings.issuer,
          audience: settings.audience,
          algorithms: settings.algorithms,
          clockTolerance: settings.clockToleranceSeconds,
          requiredClaims: ["exp", "sub"],
        });
        const principal = principalOf(payload);
        return principal ? { ok: true, principal } : { ok: false, reason: "no-role" };
      } catch (err) {
        return { ok: false, reason: reasonOf(err) };
      }
    },
  };
}

function reasonOf(err: unknown): Exclude<OidcResult, { ok: true }>["reason"] {
  if (err instanceof errors.JWTExpired) return "expired";
  if (err instanceof errors.JWSSignatureVerificationFailed || err instanceof errors.JWKSNoMatchingKey) return "bad-signature";
  if (err instanceof errors.JOSEAlgNotAllowed) return "bad-algorithm";
  if (err instanceof errors.JWTClaimValidationFailed) {
    if (err.claim === "iss") return "wrong-issuer";
    if (err.claim === "aud") return "wrong-audience";
    return "invalid";
  }
  if (err instanceof errors.JWSInvalid || err instanceof errors.JWTInvalid) return "malformed";
  return "invalid";
}

function claim(payload: JWTPayload, path: string): unknown {
  let value: unknown = payload;
  for (const key of path.split(".")) {
    if (value === null || typeof value !== "object" || !Object.hasOwn(value, key)) return undefined;
    value = (value as Record<string, unknown>)[key];
  }
  return value;
}

function strings(value: unknown): string[] {
  if (typeof value === "string") return value.split(/[\s,]+/).filter((s) => s !== "");
  return Array.isArray(value) ? value.filter((v): v is string => typeof v === "string" && v !== "") : [];
}

/** The OIDC settings as the environment gives them (config.ts); OIDC is off unless issuer and audience are set. */
export interface OidcConfig {
  readonly OIDC_ISSUER?: string | undefined;
  readonly OIDC_AUDIENCE?: string | undefined;
  readonly OIDC_JWKS_URI?: string | undefined;
  readonly OIDC_ALGORITHMS: OidcSettings["algorithms"];
  readonly OIDC_ROLES_CLAIM: string;
  readonly OIDC_TEAMS_CLAIM: string;
  readonly OIDC_NAME_CLAIM: string;
  /** `<group>=<role>` entries (validated by config.ts). */
  readonly OIDC_ROLE_MAP: readonly string[];
}

/** The verifier the configuration asks for, or undefined when OIDC is off; `keys` replaces the remote JWKS in tests. */
export function oidcFromConfig(config: OidcConfig, keys?: JWTVerifyGetKey): OidcVerifier | undefined {
  if (config.OIDC_ISSUER === undefined || config.OIDC_AUDIENCE === undefined) return undefined;
  const roleMap = Object.fromEntries(config.OIDC_ROLE_MAP.map((entry) => entry.split("=") as [string, string]));
  return createOidcVerifier(
    {
      issuer: config.OIDC_ISSUER,
      audience: config.OIDC_AUDIENCE,
      ...(config.OIDC_JWKS_URI === undefined ? {} : { jwksUri: config.OIDC_JWKS_URI }),
      algorithms: config.OIDC_ALGORITHMS,
      rolesClaim: config.OIDC_ROLES_CLAIM,
      teamsClaim: config.OIDC_TEAMS_CLAIM,
      nameClaim: config.OIDC_NAME_CLAIM,
      roleMap: roleMap as Record<string, Role>,
    },
    keys,
  );
}
