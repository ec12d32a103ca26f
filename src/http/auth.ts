import type { FastifyInstance, FastifyRequest } from "fastify";
import { ANONYMOUS, auditPrincipal, type Actor } from "../auth/actor.js";
import type { Authenticator, AuthFailure } from "../auth/authenticator.js";
import type { FailureLimiter } from "../auth/failure-limiter.js";
import type { Principal } from "../auth/principal.js";
import { hasRole, type Role } from "../auth/roles.js";
import type { AuditAction, AuditInput, AuditPrincipal, AuditResource } from "../audit/record.js";
import { DeniedError } from "../auth/denied.js";
import { AppError } from "../errors.js";

/**
 * Authentication and the per-route authorization decision (issue #5, DESIGN §10). Deny by default: every
 * route states its decision in `config.auth`, and registering a route without one throws, so the app does
 * not start (and every test fails) until the new route has a decision. The decision is either public
 * (health only) or the least role it needs; object-level checks (team ownership) are the use cases' part.
 */
export type RouteAuth =
  | { readonly public: true }
  | {
      readonly role: Role;
      /** A second role that also may (`auditor` beside `viewer`: the auditor holds no other role, roles.ts). */
      readonly alsoRole?: Role;
      /** Audited as this action when refused (a viewer's `provider.create` is `provider.create`, denied). */
      readonly action?: AuditAction;
      /** Also accepts `?ticket=` for the operation in the path (SSE clients that cannot set headers). */
      readonly streamTicket?: boolean;
    };

declare module "fastify" {
  interface FastifyContextConfig {
    auth?: RouteAuth;
  }
  interface FastifyRequest {
    /** Set for every non-public route before its body is read. */
    principal: Principal | undefined;
    /** The operation a stream ticket granted (the ticket is the object-level check). */
    ticketOperation: string | undefined;
  }
  interface FastifyInstance {
    /** Every route with its decision, for the authorization matrix test. */
    readonly authRoutes: readonly RegisteredRoute[];
  }
}

export interface RegisteredRoute {
  readonly method: string;
  readonly url: string;
  readonly auth: RouteAuth;
}

/** Routes other plugins register: their decision is stated here, not left to a default. */
const FRAMEWORK_ROUTES: readonly { readonly match: (method: string, url: string) => boolean; readonly auth: RouteAuth }[] = [
  // The API docs (@fastify/swagger-ui) and the OpenAPI document.
  { match: (_m, url) => url === "/openapi.json" || url === "/docs" || url.startsWith("/docs/"), auth: { role: "viewer" } },
  // The web console's static bundle (@fastify/static; src/http/console.ts): public, it calls the API with the person's credential.
  { match: (method, url) => (method === "GET" || method === "HEAD") && (url === "/console" || url.startsWith("/console/")), auth: { public: true } },
  // CORS preflights (@fastify/cors, only when CORS_ORIGINS is set): browsers send them without credentials.
  { match: (method, url) => method === "OPTIONS" && url === "*", auth: { public: true } },
];


export interface AuthOptions {
  readonly authenticator: Authenticator;
  readonly failures: FailureLimiter;
  /** Writes one audit record in a transaction of its own (denials change nothing else). */
  readonly auditDenial: (input: AuditInput) => Promise<void>;
}


export function requestActor(request: FastifyRequest): Actor {
  const principal = request.principal;
  // Unreachable for a route with a role decision: the preParsing hook refused the request already.
  if (principal === undefined) throw new AppError("INTERNAL", "no principal on an authenticated route");
  return { principal, requestId: String(request.id), sourceIp: request.ip };
}

function routeResource(request: FastifyRequest): AuditResource {
  return { kind: "route", id: `${request.method} ${request.routeOptions.url ?? request.url.split("?")[0]}` };
}

function unauthenticated(request: FastifyRequest, reason: AuthFailure, subject: string | undefined, action: AuditAction | undefined): DeniedError {
  const detail =
    reason === "missing"
      ? "This route needs credentials: `authorization: Bearer <API key or OIDC token>`."
      : reason.startsWith("ticket-")
        ? "The stream ticket is not valid for this operation (tickets expire after a minute; ask for a new one)."
        : "The credentials are not valid.";
  return new DeniedError("UNAUTHENTICATED", detail, {
    action: action ?? "auth.denied",
    resource: routeResource(request),
    reason,
    principal: subject === undefined ? ANONYMOUS : { kind: "apikey", id: subject },
  });
}

export function registerAuth(app: FastifyInstance, options: AuthOptions): void {
  const routes: RegisteredRoute[] = [];
  app.decorate("authRoutes", routes);
  app.decorateRequest("principal", undefined);
  app.decorateRequest("ticketOperation", undefined);

  app.addHook("onRoute", (route) => {
    const url = route.url ?? route.path;
    let auth = route.config?.auth;
    if (auth === undefined) auth = FRAMEWORK_ROUTES.find((r) => [route.method].flat().every((m) => r.match(m, url)))?.auth;
    if (auth === undefined) throw new Error(`route ${String(route.method)} ${url} has no auth decision (config.auth); see src/http/auth.ts`);
    route.config = { ...route.config, auth };
    for (const method of [route.method].flat()) routes.push({ method, url, auth });
  });

  // preParsing: after the per-IP limit (onRequest), before a body is read for anyone unauthenticated.
  app.addHook("preParsing", async (request, reply, payload) => {
    const auth = request.routeOptions.config.auth;
    // Every route has a decision (onRoute above), so none means no route matched: the 404 handler answers.
    if (auth === undefined || "public" in auth) return payload;

    const limited = options.failures.blocked(request.ip);
    if (limited.blocked) {
      reply.header("retry-after", String(limited.retryAfterSeconds));
      const error = new DeniedError("RATE_LIMITED", `Too many failed authentications from this address; try again in ${limited.retryAfterSeconds} s.`, {
        action: "auth.rate-limited",
        resource: routeResource(request),
        reason: "authentication failures",
        principal: ANONYMOUS,
      });
      // Audited once per address and window: a flood must not become a flood of records.
      if (!limited.first) throw new AppError("RATE_LIMITED", error.message);
      throw error;
    }

    const header = request.headers.authorization;
    const ticket = auth.streamTicket && header === undefined ? (request.query as { ticket?: unknown }).ticket : undefined;
    const operationId = (request.params as { id?: string }).id;
    const check =
      typeof ticket === "string" && operationId !== undefined
        ? await options.authenticator.fromTicket(ticket, operationId)
        : await options.authenticator.fromHeader(header);
    if (!check.ok) {
      options.failures.fail(request.ip);
      reply.header("www-authenticate", check.reason === "missing" ? 'Bearer realm="saas-bridge"' : 'Bearer realm="saas-bridge", error="invalid_token"');
      throw unauthenticated(request, check.reason, check.subject, auth.action);
    }
    request.principal = check.principal;
    if (typeof ticket === "string") request.ticketOperation = operationId;
    if (!hasRole(check.principal.role, auth.role) && !(auth.alsoRole !== undefined && hasRole(check.principal.role, auth.alsoRole))) {
      const needs = auth.alsoRole === undefined ? `the ${auth.role} role` : `the ${auth.role} or the ${auth.alsoRole} role`;
      throw new DeniedError("FORBIDDEN", `This needs ${needs}; the caller has ${check.principal.role}.`, {
        action: auth.action ?? "auth.denied",
        resource: routeResource(request),
        reason: `role ${check.principal.role} < ${auth.role}`,
        principal: auditPrincipal(check.principal),
      });
    }
    return payload;
  });

  app.addHook("onError", async (request, _reply, error) => {
    if (!(error instanceof DeniedError)) return;
    const principal = error.audit.principal ?? auditPrincipal(request.principal);
    try {
      await options.auditDenial({
        action: error.audit.action,
        outcome: "denied",
        principal,
        resource: error.audit.resource,
        requestId: String(request.id),
        sourceIp: request.ip,
        details: { reason: error.audit.reason, status: error.status, method: request.method, route: request.routeOptions.url ?? null },
      });
    } catch (err) {
      // The request is refused either way; a refusal that cannot be recorded is an operator's problem.
      request.log.error({ err }, "audit: could not record a denied request");
    }
  });
}
