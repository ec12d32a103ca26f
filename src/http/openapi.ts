import type { FastifyInstance } from "fastify";
import { hasRole, ROLES } from "../auth/roles.js";
import type { RegisteredRoute, RouteAuth } from "./auth.js";
import {
  ACCEPTED_HEADERS,
  CORS_HEADERS,
  HEADER_COMPONENTS,
  named,
  NO_STORE_HEADERS,
  problemResponseComponents,
  problemResponseRef,
  RATE_LIMIT_HEADERS,
  STREAM_CONTENT,
  STREAM_DESCRIPTION,
} from "./openapi-responses.js";
import { acceptsNull, hoistSchema, integerFormats, pruneSchemas, withoutNull } from "./openapi-schemas.js";

/**
 * The OpenAPI 3.1 document, finished from what the server does (issue 13). @fastify/swagger and
 * fastify-type-provider-zod generate it from the routes' zod schemas; this adds what they cannot know:
 * - the credential (a bearer API key or OIDC JWT) and `security: []` on the public routes, from the same
 *   auth decisions the server enforces (src/http/auth.ts), and each route's role in its description;
 * - every answer the server sends besides a route's own (problem+json 400/401/403/404/413/415/429/500/503/507 with
 *   their headers, src/http/openapi-responses.ts), and the live-progress media types of a streaming route;
 * - response headers (Location, Operation-Id, Link, Cache-Control, rate limits, Retry-After);
 * - the provider spec as one component (it is built per landing zone), examples from examples/ that the
 *   landing zone accepts, one name per schema, integer formats (src/http/openapi-schemas.ts).
 */
export const BEARER_SCHEME = "bearer";

type Json = Record<string, unknown>;
const METHODS = ["get", "put", "post", "delete"] as const;

declare module "fastify" {
  interface FastifyContextConfig {
    /** The route answers a streaming Accept (SSE, NDJSON, text) with the operation's live progress. */
    streams?: boolean;
  }
}

/** A provider spec that the document shows as an example request body (from examples/). */
export interface SpecExample {
  readonly name: string;
  readonly summary: string;
  readonly value: unknown;
}

export interface DocumentFacts {
  readonly routes: readonly RegisteredRoute[];
  /** `post /v1/providers`-style keys of the routes with `config.streams`. */
  readonly streaming: ReadonlySet<string>;
  readonly specExamples: readonly SpecExample[];
  /** OIDC_ISSUER when OIDC is configured: its tokens are a second documented scheme. */
  readonly oidcIssuer?: string | undefined;
}

export const OIDC_SCHEME = "oidc";

/** `/v1/providers/:name` → `/v1/providers/{name}` (how @fastify/swagger writes paths). */
export function openapiPath(url: string): string {
  return url.replace(/:([A-Za-z0-9_]+)/g, "{$1}");
}
const opKey = (method: string, url: string) => `${method.toLowerCase()} ${openapiPath(url)}`;

/** Records which routes stream, as they are registered (call before any route). */
export function collectStreamingRoutes(app: FastifyInstance): Set<string> {
  const streaming = new Set<string>();
  app.addHook("onRoute", (route) => {
    if (route.config?.streams === true) for (const m of [route.method].flat()) streaming.add(opKey(m, route.url));
  });
  return streaming;
}

export const DOCUMENT_INFO = {
  title: "saas-bridge",
  version: "1",
  description:
    "Onboards third-party SaaS providers into the AWS landing zone: one Pulumi stack per provider, live progress, revoke and decommission. " +
    "Errors are RFC 9457 problems (`application/problem+json`) with a stable `code`; their `type` resolves, relative to the request, to a page that describes it (`GET /problems/{type}`). " +
    "A known path asked with another method is a 405 problem with `Allow`.",
  contact: { name: "The platform team that operates this deployment" },
};

export const DOCUMENT_TAGS = [
  { name: "providers", description: "Onboard, change, preview, revoke, reinstate, drift-check and decommission SaaS providers: one Pulumi stack each." },
  { name: "operations", description: "Every change runs as an operation: its state, its events (JSON pages or live streams), cancel." },
  { name: "fleet", description: "Which program version each provider's stack last ran, and rollouts of a new one: previews, approval, canary and waves, pause, resume, cancel, a live stream (admins)." },
  { name: "network-hubs", description: "Each region's network hub (the stack owning the central firewall policy that lists every provider's rule group): its drift and drift checks (admins)." },
  { name: "approvals", description: "A second person's approval for the operations that need one (APPROVAL_RULES)." },
  { name: "api-keys", description: "API keys, managed by admins; the secret is shown once." },
  { name: "webhooks", description: "Signed notifications: CloudEvents to subscribed endpoints (Standard Webhooks signatures, at-least-once, in order per subscription), their deliveries and attempts (operators of the team; admins for all)." },
  { name: "audit", description: "The hash-chained, signed audit trail (auditor or admin)." },
  { name: "ops", description: "Liveness and readiness probes: public and not rate-limited." },
  { name: "problems", description: "A page for each problem type a response can name." },
];

export const DOCUMENT_SERVERS = [
  {
    url: "/",
    description: "This deployment (production, staging or local): the server that serves this document, over HTTPS when TLS is configured.",
    "x-internal": true,
  },
];

/** Who may call a route, as its description says it. */
function accessText(auth: RouteAuth, streams: boolean): string {
  const parts: string[] = [];
  if ("public" in auth) parts.push("Public: no credential.");
  else {
    const holders = ROLES.filter((r) => hasRole(r, auth.role) || (auth.alsoRole !== undefined && hasRole(r, auth.alsoRole)));
    const needs = auth.alsoRole === undefined ? `the \`${auth.role}\` role` : `the \`${auth.role}\` or the \`${auth.alsoRole}\` role`;
    parts.push(`Needs ${needs} (held by ${holders.map((r) => `\`${r}\``).join(", ")}); objects of other teams are not found.`);
    if (auth.action) parts.push(`Audited as \`${auth.action}\`.`);
    if (auth.streamTicket) parts.push("Also takes `?ticket=` (POST /v1/operations/{id}/stream-tickets) instead of the authorization header, for EventSource.");
  }
  if (streams) {
    parts.push(
      "With `Accept: text/event-stream`, `application/x-ndjson` or `text/plain` the answer is the operation's live progress until it ends; `application/json` (the default) is a document.",
    );
  }
  return parts.join(" ");
}

/** Headers of a route's own answers beyond the shared ones, by operation and status. */
const ROUTE_HEADERS: Readonly<Record<string, Readonly<Record<string, Json>>>> = {
  "get /v1/operations/{id}/events": {
    200: named("Link"),
    204: named("Link"),
  },
  "post /v1/operations/{id}/stream-tickets": { 201: NO_STORE_HEADERS },
  "post /v1/api-keys": { 201: NO_STORE_HEADERS },
  "post /v1/audit/hash": { 200: NO_STORE_HEADERS },
};

const REASONS: Readonly<Record<string, string>> = { 200: "OK", 201: "Created", 202: "Accepted", 204: "No Content", 503: "Not ready" };

function componentDescription(document: Json, schema: unknown): string | undefined {
  const ref = (schema as Json | undefined)?.["$ref"];
  if (typeof ref !== "string") return undefined;
  const schemas = ((document["components"] as Json | undefined)?.["schemas"] ?? {}) as Record<string, Json>;
  const described = schemas[ref.slice("#/components/schemas/".length)]?.["description"];
  return typeof described === "string" ? described : undefined;
}

/** An operation's answers: its own, then every shared one the server can send for it. */
function describeResponses(document: Json, key: string, operation: Json, route: RegisteredRoute | undefined, streams: boolean): Json {
  const own = (operation["responses"] ?? {}) as Record<string, Json>;
  const method = key.split(" ")[0]!;
  const isPublic = route !== undefined && "public" in route.auth;
  const limited = !(key === "get /healthz" || key === "get /readyz");
  const hasPath = /\{[^}]+\}/.test(key);
  // Credentials are checked against the database, so a non-public route can find it unavailable (503).
  // A change under /v1 is refused while the disk is low, or fails when it fills up (507, src/http/storage-guard.ts).
  const changes = method !== "get" && key.startsWith(`${method} /v1/`);
  const shared = [400, 415, 500, ...(isPublic ? [] : [401, 403, 503]), ...(limited ? [429] : []), ...(hasPath ? [404] : []), ...(method === "get" ? [] : [413]), ...(changes ? [507] : [])];
  const responses: Json = {};
  for (const status of [...new Set([...Object.keys(own).map(Number), ...shared])].sort((a, b) => a - b)) {
    // A route's own error answer that is not a problem (/readyz's 503 is the readiness document) stays its own.
    const ownProblem = own[String(status)] === undefined || JSON.stringify(own[String(status)]).includes('"#/components/schemas/Problem"');
    const ref = status >= 400 && ownProblem ? problemResponseRef(status) : undefined;
    if (ref) {
      responses[String(status)] = ref;
      continue;
    }
    const response = { ...own[String(status)] };
    const content = response["content"] as Record<string, Json> | undefined;
    if (response["description"] === "Default Response" || response["description"] === undefined) {
      response["description"] = componentDescription(document, content?.["application/json"]?.["schema"]) ?? REASONS[String(status)] ?? "OK";
    }
    const accepted = (content?.["application/json"]?.["schema"] as Json | undefined)?.["$ref"] === "#/components/schemas/Accepted";
    response["headers"] = {
      ...(accepted ? ACCEPTED_HEADERS : {}),
      ...ROUTE_HEADERS[key]?.[status],
      ...(limited ? RATE_LIMIT_HEADERS : {}),
      ...CORS_HEADERS,
    };
    if (streams && status < 300 && content) {
      response["content"] = { ...content, ...STREAM_CONTENT };
      response["description"] = `${String(response["description"])} ${STREAM_DESCRIPTION}`;
    }
    responses[String(status)] = response;
  }
  return responses;
}

/** A request body: `required: false` when the server takes none, and the examples a spec body has. */
function describeBody(body: Json): Json {
  const content = (body["content"] ?? {}) as Record<string, Json>;
  const schema = (content["application/json"]?.["schema"] ?? {}) as Json;
  if (!acceptsNull(schema)) return body;
  return { ...body, required: false, content: { ...content, "application/json": { ...content["application/json"], schema: withoutNull(schema) } } };
}

function withSpecExamples(document: Json, examples: readonly SpecExample[]): Json {
  if (examples.length === 0) return document;
  const paths = (document["paths"] ?? {}) as Record<string, Json>;
  for (const item of Object.values(paths)) {
    for (const method of METHODS) {
      const media = (((item[method] as Json | undefined)?.["requestBody"] as Json | undefined)?.["content"] as Record<string, Json> | undefined)?.["application/json"];
      if ((media?.["schema"] as Json | undefined)?.["$ref"] !== "#/components/schemas/ProviderSpec") continue;
      media!["examples"] = Object.fromEntries(examples.map((e) => [e.name, { summary: e.summary, value: e.value }]));
    }
  }
  return document;
}

export function describeServer(generated: Json, facts: DocumentFacts): Json {
  const routes = new Map(facts.routes.map((r) => [opKey(r.method, r.url), r]));
  const paths = (generated["paths"] ?? {}) as Record<string, Json>;
  let specSchema: Json | undefined;
  for (const [path, item] of Object.entries(paths)) {
    for (const method of METHODS) {
      const operation = item[method] as Json | undefined;
      if (!operation) continue;
      const key = `${method} ${path}`;
      const route = routes.get(key);
      const streams = facts.streaming.has(key);
      if (route && "public" in route.auth) operation["security"] = [];
      if (route) operation["description"] = [operation["description"], accessText(route.auth, streams)].filter(Boolean).join("\n\n");
      if (operation["requestBody"]) operation["requestBody"] = describeBody(operation["requestBody"] as Json);
      operation["responses"] = describeResponses(generated, key, operation, route, streams);
      if (key === "post /v1/providers") specSchema = ((operation["requestBody"] as Json)["content"] as Record<string, Json>)["application/json"]!["schema"] as Json;
    }
  }
  const components = (generated["components"] ?? {}) as Json;
  let document: Json = {
    ...generated,
    info: { ...((generated["info"] as Json | undefined) ?? {}), ...DOCUMENT_INFO },
    servers: DOCUMENT_SERVERS,
    tags: DOCUMENT_TAGS,
    // Alternatives: either credential will do.
    security: [{ [BEARER_SCHEME]: [] }, ...(facts.oidcIssuer ? [{ [OIDC_SCHEME]: [] }] : [])],
    components: {
      ...components,
      responses: problemResponseComponents(),
      headers: HEADER_COMPONENTS,
      securitySchemes: {
        [BEARER_SCHEME]: {
          type: "http",
          scheme: "bearer",
          description:
            "An API key (`POST /v1/api-keys`; `npm run dev` writes an admin key to .data/admin.key) or, when OIDC is configured, a JWT from the identity provider. The events route also takes a short-lived `?ticket=` for EventSource.",
        },
        ...(facts.oidcIssuer
          ? {
              [OIDC_SCHEME]: {
                type: "openIdConnect",
                openIdConnectUrl: `${facts.oidcIssuer.replace(/\/$/, "")}/.well-known/openid-configuration`,
                description: "A token of the portal's identity provider, sent as `authorization: Bearer <JWT>`; its groups claim maps to a role (OIDC_ROLE_MAP).",
              },
            }
          : {}),
      },
    },
  };
  if (specSchema) document = hoistSchema(document, "ProviderSpec", specSchema);
  document = withSpecExamples(pruneSchemas(document), facts.specExamples);
  return integerFormats(document) as Json;
}
