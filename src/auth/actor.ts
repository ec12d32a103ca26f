import type { AuditWriter } from "../audit/append.js";
import type { AuditAction, AuditPrincipal, AuditRecord, AuditResource } from "../audit/record.js";
import type { Queryable } from "../store/db.js";
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

export const ANONYMOUS: AuditPrincipal = { kind: "anonymous", id: "anonymous" };

/** How the audit trail names a caller: kind, id and display name (never its teams or credentials). */
export function auditPrincipal(principal: Principal | undefined): AuditPrincipal {
  if (principal === undefined) return ANONYMOUS;
  const { kind, id, name } = principal;
  return { kind, id, name };
}

export function auditPrincipalOf(actor: Actor): AuditPrincipal {
  return actor === SYSTEM_ACTOR ? { kind: "system", id: "saas-bridge" } : auditPrincipal(actor.principal);
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

/**
 * Appends the record of an allowed act by `actor` in `tx` — the transaction of the change it describes,
 * last (src/audit/append.ts: the head row lock is then held only until commit).
 */
export function recordAllowed(
  audit: AuditWriter,
  tx: Queryable,
  actor: Actor,
  action: AuditAction,
  resource: AuditResource,
  details: Record<string, unknown> = {},
  /** JSON pointers into `details` stored only as keyed hashes (AuditInput.sensitivePaths). */
  sensitivePaths: readonly string[] = [],
): Promise<AuditRecord> {
  return audit.append(tx, {
    action,
    outcome: "allowed",
    principal: auditPrincipalOf(actor),
    resource,
    requestId: actor.requestId,
    sourceIp: actor.sourceIp,
    details,
    sensitivePaths: [...sensitivePaths],
  });
}
