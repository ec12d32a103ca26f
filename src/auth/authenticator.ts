import type { Queryable } from "../store/db.js";
import { looksLikeApiKey } from "./api-key-token.js";
import { apiKeyState, authenticateApiKey, getApiKey } from "./api-keys.js";
import type { OidcVerifier } from "./oidc.js";
import type { Principal } from "./principal.js";
import { verifyStreamTicket } from "./stream-tickets.js";

/**
 * Turns what a request presents into a principal, or says why not. Never throws for any input, and never
 * echoes what was presented: reasons are fixed words, `subject` is only ever an id we stored.
 */
export type AuthCheck =
  | { readonly ok: true; readonly principal: Principal }
  | { readonly ok: false; readonly reason: AuthFailure; readonly subject?: string };

export type AuthFailure =
  | "missing"
  | "malformed"
  | "unknown-key"
  | "expired-key"
  | "revoked-key"
  | "oidc-not-configured"
  | `oidc-${"malformed" | "bad-signature" | "expired" | "wrong-issuer" | "wrong-audience" | "bad-algorithm" | "no-role" | "invalid"}`
  | `ticket-${"malformed" | "bad-signature" | "expired" | "wrong-operation" | "revoked-key"}`;

export interface Authenticator {
  /** The value of an `Authorization` header (`Bearer sbk_…` or `Bearer <JWT>`). */
  fromHeader(header: string | undefined): Promise<AuthCheck>;
  /** A stream ticket for `operationId` (issued by POST /v1/operations/:id/stream-tickets). */
  fromTicket(ticket: string, operationId: string): Promise<AuthCheck>;
}

export interface AuthenticatorOptions {
  readonly db: Queryable;
  /** Undefined when no OIDC issuer is configured: JWTs are then refused. */
  readonly oidc: OidcVerifier | undefined;
  /** HMAC key of stream tickets (≥ 32 bytes), shared by all replicas. */
  readonly ticketKey: Buffer;
}

const BEARER = /^Bearer ([\x21-\x7e]{1,16384})$/i;

export function createAuthenticator(options: AuthenticatorOptions): Authenticator {
  return {
    async fromHeader(header) {
      if (header === undefined || header === "") return { ok: false, reason: "missing" };
      const token = BEARER.exec(header)?.[1];
      if (token === undefined) return { ok: false, reason: "malformed" };
      if (looksLikeApiKey(token)) {
        const result = await authenticateApiKey(options.db, token);
        if (result.ok) return result;
        // Only an expired or revoked key names itself: its secret matched, so naming the key reveals nothing.
        if ("keyId" in result) return { ok: false, reason: result.reason === "expired" ? "expired-key" : "revoked-key", subject: result.keyId };
        return { ok: false, reason: result.reason === "malformed" ? "malformed" : "unknown-key" };
      }
      if (options.oidc === undefined) return { ok: false, reason: "oidc-not-configured" };
      const result = await options.oidc.verify(token);
      return result.ok ? result : { ok: false, reason: `oidc-${result.reason}` };
    },

    async fromTicket(ticket, operationId) {
      const check = verifyStreamTicket(options.ticketKey, ticket, operationId);
      if (!check.ok) return { ok: false, reason: `ticket-${check.reason}` };
      const principal = parseTicketPrincipal(check.principal);
      if (principal === undefined) return { ok: false, reason: "ticket-malformed" };
      // A key revoked since the ticket was issued ends its tickets too; an OIDC ticket lives its ≤ 5 minutes.
      if (principal.kind === "apikey") {
        const key = await getApiKey(options.db, principal.id);
        if (key === undefined || apiKeyState(key) !== "active") return { ok: false, reason: "ticket-revoked-key", subject: principal.id };
      }
      return { ok: true, principal };
    },
  };
}

/**
 * A ticket names its principal as `<kind>:<id>`. It grants reading one operation's events and nothing
 * else, so the holder gets the lowest role and no teams: the route checks the ticket's operation instead.
 */
function parseTicketPrincipal(ref: string): Principal | undefined {
  const match = /^(apikey|oidc):(.{1,256})$/s.exec(ref);
  if (!match) return undefined;
  const [, kind, id] = match as unknown as [string, "apikey" | "oidc", string];
  return { kind, id, name: id, role: "viewer", teams: [] };
}
