import type { AuditPrincipal } from "../audit/record.js";
import type { Principal } from "./principal.js";

/**
 * Who acts, and from where: what every use case that changes something (or refuses to) receives, so the
 * audit record it writes in its own transaction names the caller, the request and the source address.
 */
export interface Actor {
  readonly principal: Principal;
  /** Fastify's request id; null outside a request. */
  readonly requestId: string | null;
  readonly sourceIp: string | null;
}

/** The service itself (approval expiry, start-up): audited as `system`. */
export const SYSTEM_ACTOR: Actor = {
  principal: { kind: "apikey", id: "system", name: "saas-bridge", role: "admin", teams: [] },
  requestId: null,
  sourceIp: null,
};

export function auditPrincipalOf(actor: Actor): AuditPrincipal {
  if (actor === SYSTEM_ACTOR) return { kind: "system", id: "saas-bridge" };
  const { kind, id, name } = actor.principal;
  return { kind, id, name };
}

/** `<kind>:<id>`: how approvals, stream tickets, rate limits and stream caps name a principal. */
export function principalRef(principal: Pick<Principal, "kind" | "id">): string {
  return `${principal.kind}:${principal.id}`;
}

/**
 * Team ownership (issue #5): a caller sees and acts on the providers of its own teams only; `admin` sees
 * every team. Anything else is answered as if it did not exist (404), so names of other teams' providers
 * cannot be probed.
 */
export function canSeeTeam(principal: Principal, team: string): boolean {
  return principal.role === "admin" || principal.teams.includes(team);
}

/** The teams a list is limited to; undefined = every team (admin). */
export function visibleTeams(principal: Principal): readonly string[] | undefined {
  return principal.role === "admin" ? undefined : principal.teams;
}
