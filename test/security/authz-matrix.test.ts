import { randomUUID } from "node:crypto";
import { readFileSync } from "node:fs";
import { insertRollout } from "../../src/fleet/fleet-repo.js";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import Fastify from "fastify";
import { createApiKey, revokeApiKey } from "../../src/auth/api-keys.js";
import { hasRole, type Role } from "../../src/auth/roles.js";
import { createFailureLimiter } from "../../src/auth/failure-limiter.js";
import { registerAuth } from "../../src/http/auth.js";
import { specNamed, startTestService, type TestService } from "../helpers/service.js";
import { createTestIdp, oidcConfig, type TestIdp } from "./support.js";

/**
 * The authorization matrix (issue #5): every registered route × every kind of caller, against a table of
 * expected decisions written here, independently of the routes' own config. A route missing from the
 * table (a new route) fails the first test; a decision that differs from the table fails the second.
 */
type Need = Role | "public";
/**
 * owned: true = the path names a team's object (another team's → 404, as if it did not exist);
 * "body" = the body names the team (creating for a team one is not in → 403).
 */
/**
 * also: a second role that may too (RouteAuth.alsoRole); it reads across teams (the auditor reads the whole
 * trail, which names every operation), so another team's object is not hidden from it.
 */
const EXPECTED: Record<string, { need: Need; owned: boolean | "body"; also?: Role }> = {
  "GET /healthz": { need: "public", owned: false },
  "GET /readyz": { need: "public", owned: false },
  "GET /problems/:type": { need: "public", owned: false },
  "GET /console": { need: "public", owned: false },
  "GET /console/config.json": { need: "public", owned: false },
  "GET /console/*": { need: "public", owned: false },
  "GET /openapi.json": { need: "viewer", owned: false },
  "GET /metrics": { need: "viewer", owned: false },
  "GET /docs": { need: "viewer", owned: false },
  "GET /docs/static/*": { need: "viewer", owned: false },
  "GET /docs/json": { need: "viewer", owned: false },
  "GET /docs/yaml": { need: "viewer", owned: false },
  "GET /docs/static/index.html": { need: "viewer", owned: false },
  "GET /docs/static/swagger-initializer.js": { need: "viewer", owned: false },
  "POST /v1/providers": { need: "operator", owned: "body" },
  "GET /v1/providers": { need: "viewer", owned: false },
  "GET /v1/providers/:name": { need: "viewer", owned: true },
  "GET /v1/providers/:name/operations": { need: "viewer", owned: true },
  "PUT /v1/providers/:name": { need: "operator", owned: true },
  "POST /v1/providers/:name/preview": { need: "operator", owned: true },
  "POST /v1/providers/:name/revoke": { need: "operator", owned: true },
  "POST /v1/providers/:name/reinstate": { need: "operator", owned: true },
  "POST /v1/providers/:name/drift-check": { need: "operator", owned: true },
  "POST /v1/providers/:name/drift-checks": { need: "operator", owned: true },
  "POST /v1/providers/:name/verifications": { need: "operator", owned: true, also: "auditor" },
  "PUT /v1/providers/:name/key-store": { need: "operator", owned: true },
  "DELETE /v1/providers/:name": { need: "operator", owned: true },
  "GET /v1/operations/:id": { need: "viewer", owned: true },
  "POST /v1/operations/:id/cancel": { need: "operator", owned: true },
  "POST /v1/operations/:id/approve": { need: "approver", owned: true },
  "POST /v1/operations/:id/reject": { need: "approver", owned: true },
  "POST /v1/operations/:id/stream-tickets": { need: "viewer", owned: true },
  "GET /v1/approvals": { need: "viewer", owned: false },
  "GET /v1/operations/:id/events": { need: "viewer", owned: true },
  "GET /v1/fleet": { need: "viewer", owned: false },
  "POST /v1/rollouts": { need: "admin", owned: false },
  "GET /v1/rollouts": { need: "admin", owned: false },
  "GET /v1/rollouts/:id": { need: "admin", owned: false },
  "GET /v1/rollouts/:id/events": { need: "admin", owned: false },
  "POST /v1/rollouts/:id/pause": { need: "admin", owned: false },
  "POST /v1/rollouts/:id/resume": { need: "admin", owned: false },
  "POST /v1/rollouts/:id/cancel": { need: "admin", owned: false },
  "POST /v1/rollouts/:id/approve": { need: "admin", owned: false },
  "POST /v1/rollouts/:id/reject": { need: "admin", owned: false },
  "GET /v1/network-hubs": { need: "admin", owned: false },
  "GET /v1/network-hubs/:region": { need: "admin", owned: false },
  "POST /v1/network-hubs/:region/drift-checks": { need: "admin", owned: false },
  "POST /v1/api-keys": { need: "admin", owned: false },
  "GET /v1/api-keys": { need: "admin", owned: false },
  "POST /v1/webhooks": { need: "operator", owned: "body" },
  "GET /v1/webhooks": { need: "operator", owned: false },
  "GET /v1/webhooks/:id": { need: "operator", owned: true },
  "DELETE /v1/webhooks/:id": { need: "operator", owned: true },
  "POST /v1/webhooks/:id/rotate-secret": { need: "operator", owned: true },
  "GET /v1/webhooks/:id/deliveries": { need: "operator", owned: true },
  "GET /v1/webhooks/:id/deliveries/:deliveryId": { need: "operator", owned: true },
  "POST /v1/webhooks/:id/deliveries/:deliveryId/redeliver": { need: "operator", owned: true },
  "GET /v1/api-keys/:id": { need: "admin", owned: false },
  "DELETE /v1/api-keys/:id": { need: "admin", owned: false },
  "GET /v1/audit": { need: "auditor", owned: false },
  "GET /v1/audit/verify": { need: "auditor", owned: false },
  "POST /v1/audit/hash": { need: "auditor", owned: false },
  "GET /v1/keys": { need: "public", owned: false },
  "GET /v1/operations/:id/receipt": { need: "viewer", owned: true, also: "auditor" },
  "GET /v1/providers/:name/evidence": { need: "auditor", owned: false },
};

type Decision = "allowed" | "unauthenticated" | "forbidden" | "hidden";

interface Caller {
  readonly name: string;
  /** The authorization header; undefined = none. */
  readonly header: () => string | undefined;
  /** undefined: not authenticated. */
  readonly role?: Role;
  /** Whether it belongs to the team owning the target provider. */
  readonly ownTeam?: boolean;
}

let svc: TestService;
let idp: TestIdp;
const callers: Caller[] = [];
const OWNER = "alpha";
let provider = "";
let operationId = "";
let otherOperationId = "";
let targetKeyId = "";
let rolloutId = "";
let spec: Record<string, unknown> = {};
let webhookId = "";
let deliveryId = "";
/** A subscription of OWNER's per DELETE cell: a deleted one is gone for the next caller. */
const webhooksToDelete: string[] = [];
const WEBHOOK = { team: OWNER, url: "https://93.184.215.14/hook", types: ["operation.finished"] };
/** A region with a network hub stack (nothing runs here, so its row is written as a succeeded hub update would). */
const HUB_REGION = "eu-west-1";

beforeAll(async () => {
  idp = await createTestIdp();
  svc = await startTestService({
    config: { ...oidcConfig, AUTH_FAILURES_PER_IP_PER_MINUTE: 1_000_000, APPROVAL_RULES: ["none"] },
    oidcKeys: idp.keys,
    // Nothing runs: what is decided is who may ask, not what the engine does with it.
    start: false,
  });
  provider = "matrix";
  spec = { ...specNamed(provider), owner: { team: OWNER, contact: "alpha@example.com" } };
  const created = await svc.app.inject({ method: "POST", url: "/v1/providers", payload: spec });
  expect(created.statusCode).toBe(202);
  operationId = (created.json() as { operation: { id: string } }).operation.id;
  const other = await svc.app.inject({ method: "POST", url: "/v1/providers", payload: { ...specNamed("matrix-beta"), owner: { team: "beta", contact: "beta@example.com" } } });
  otherOperationId = (other.json() as { operation: { id: string } }).operation.id;
  targetKeyId = (await createApiKey(svc.db, { name: "target", role: "viewer", teams: [], maxExpiresInDays: 30, createdBy: "test" })).key.id;
  // A rollout row to address (nothing runs here, so none could be started through the API).
  rolloutId = (
    await insertRollout(svc.db, {
      id: randomUUID(),
      programVersion: "provider-stack@2",
      canary: 1,
      batchSize: 1,
      maxParallel: 1,
      maxFailures: 0,
      requestedBy: "apikey:matrix",
      requestedByName: "matrix",
      approvalRule: undefined,
      stacks: [{ provider, fromVersion: "provider-stack@1", accessState: "active" }],
    })
  ).id;

  await svc.db.query(`INSERT INTO network_hubs (region, stack) VALUES ($1, $2)`, [HUB_REGION, `network-hub.${HUB_REGION}`]);

  // A subscription of the owning team with one (pending: nothing runs) delivery.
  const hook = async () => ((await svc.app.inject({ method: "POST", url: "/v1/webhooks", payload: WEBHOOK })).json() as { webhook: { id: string } }).webhook.id;
  webhookId = await hook();
  await svc.db.transaction((tx) => svc.notify(tx, { type: "operation.finished", team: OWNER, subject: `providers/${provider}`, data: {} }));
  deliveryId = String((await svc.db.query<{ id: string }>("SELECT id::text AS id FROM webhook_deliveries WHERE subscription_id = $1", [webhookId]))[0]?.id);
  for (let i = 0; i < 40; i++) webhooksToDelete.push(await hook());

  const key = async (role: Role, teams: string[]) => `Bearer ${await svc.createKey(role, teams)}`;
  for (const role of ["viewer", "operator", "approver", "admin", "auditor"] as const) {
    const own = await key(role, [OWNER]);
    const other = await key(role, ["beta"]);
    callers.push({ name: `${role} key, own team`, header: () => own, role, ownTeam: true });
    callers.push({ name: `${role} key, other team`, header: () => other, role, ownTeam: false });
  }
  const oidcOperator = `Bearer ${await idp.token({ groups: ["bridge-operators"], teams: [OWNER] })}`;
  const oidcOther = `Bearer ${await idp.token({ groups: ["bridge-approvers"], teams: ["beta"] }, { sub: "user-2" })}`;
  callers.push({ name: "OIDC operator, own team", header: () => oidcOperator, role: "operator", ownTeam: true });
  callers.push({ name: "OIDC approver, other team", header: () => oidcOther, role: "approver", ownTeam: false });

  const expired = await createApiKey(svc.db, {
    name: "expired",
    role: "admin",
    teams: [],
    maxExpiresInDays: 30,
    expiresInDays: 1,
    createdBy: "test",
    now: new Date(Date.now() - 2 * 86_400_000),
  });
  const revoked = await createApiKey(svc.db, { name: "revoked", role: "admin", teams: [], maxExpiresInDays: 30, createdBy: "test" });
  await revokeApiKey(svc.db, revoked.key.id, "test");
  const badSignature = `Bearer ${await idp.token({ groups: ["bridge-admins"] }, { key: "attacker" })}`;
  const wrongAudience = `Bearer ${await idp.token({ groups: ["bridge-admins"] }, { aud: "someone-else" })}`;
  // Past the verifier's 30 s clock tolerance.
  const expiredJwt = `Bearer ${await idp.token({ groups: ["bridge-admins"] }, { exp: Math.floor(Date.now() / 1000) - 120 })}`;
  callers.push(
    { name: "anonymous", header: () => undefined },
    { name: "expired key", header: () => `Bearer ${expired.secret}` },
    { name: "revoked key", header: () => `Bearer ${revoked.secret}` },
    { name: "unknown key", header: () => `Bearer sbk_0123456789ab_${"A".repeat(43)}` },
    { name: "bad JWT signature", header: () => badSignature },
    { name: "JWT for another audience", header: () => wrongAudience },
    { name: "expired JWT", header: () => expiredJwt },
    { name: "not a bearer", header: () => "Basic YWRtaW46YWRtaW4=" },
  );
});
afterAll(() => svc.close(1_000));

function concreteUrl(url: string, method = "GET"): string {
  if (url.startsWith("/v1/webhooks")) {
    const id = method === "DELETE" ? webhooksToDelete.pop()! : webhookId;
    return url.replace(":id", id).replace(":deliveryId", deliveryId);
  }
  return url
    .replace(":region", HUB_REGION)
    .replace(":name", provider)
    .replace(":type", "not-found")
    .replace(":id", url.startsWith("/v1/api-keys") ? targetKeyId : url.startsWith("/v1/rollouts") ? rolloutId : operationId)
    .replace("*", "index.html");
}

function bodyFor(method: string, url: string): unknown {
  if (url === "/v1/providers" && method === "POST") return { ...spec, name: `m-${Math.random().toString(36).slice(2, 10)}` };
  if (url === "/v1/providers/:name" && method === "PUT") return spec;
  if (url.endsWith("/approve")) return { specHash: "0".repeat(64) };
  if (url === "/v1/webhooks" && method === "POST") return WEBHOOK;
  if (url === "/v1/api-keys" && method === "POST") return { name: "made-by-matrix", role: "viewer", teams: [] };
  if (url === "/v1/audit/hash") return { value: "someone@example.com" };
  if (url.endsWith("/key-store")) return { trustAnchorCertificate: readFileSync(new URL("../support/certs/customer-ca.pem", import.meta.url), "utf8"), kmsuserPassword: "matrix-pw-1" };
  return undefined;
}

function expected(route: { need: Need; owned: boolean | "body"; also?: Role }, caller: Caller): Decision {
  if (route.need === "public") return "allowed";
  if (caller.role === undefined) return "unauthenticated";
  const also = route.also !== undefined && hasRole(caller.role, route.also);
  if (!hasRole(caller.role, route.need) && !also) return "forbidden";
  if (route.owned !== false && !caller.ownTeam && caller.role !== "admin" && !also) return route.owned === "body" ? "forbidden" : "hidden";
  return "allowed";
}

function observed(status: number): Decision {
  if (status === 401) return "unauthenticated";
  if (status === 403) return "forbidden";
  if (status === 404) return "hidden";
  return "allowed";
}

describe("authorization matrix", () => {
  it("every registered route has an expected decision here, and every entry here is a route", () => {
    const registered = [...new Set(svc.app.authRoutes.filter((r) => r.method !== "HEAD").map((r) => `${r.method} ${r.url}`))].sort();
    expect(registered).toEqual(Object.keys(EXPECTED).sort());
    // Fastify's automatic HEAD routes carry their GET's decision.
    const heads = svc.app.authRoutes.filter((r) => r.method === "HEAD");
    expect(heads.length).toBeGreaterThan(0);
    for (const head of heads) {
      const get = svc.app.authRoutes.find((r) => r.method === "GET" && r.url === head.url);
      // swagger-ui registers `HEAD /docs/` without a GET twin: it has the docs' decision.
      expect(head.auth, `HEAD ${head.url}`).toEqual(get?.auth ?? (head.url === "/docs/" ? { role: "viewer" } : "a GET twin"));
    }
  });

  it("a HEAD request is refused like its GET", async () => {
    const res = await svc.app.inject({ method: "HEAD", url: "/v1/providers", headers: { authorization: "" } });
    expect(res.statusCode).toBe(401);
  });

  it("routes × callers: zero mismatches", async () => {
    const mismatches: string[] = [];
    let cells = 0;
    for (const [key, route] of Object.entries(EXPECTED)) {
      const [method, url] = key.split(" ") as [string, string];
      for (const caller of callers) {
        const header = caller.header();
        const body = bodyFor(method, url);
        const res = await svc.app.inject({
          method: method as "GET",
          url: concreteUrl(url, method),
          headers: { authorization: header ?? "", ...(body === undefined ? {} : { "content-type": "application/json" }) },
          ...(body === undefined ? {} : { payload: JSON.stringify(body) }),
        });
        cells++;
        const want = expected(route, caller);
        const got = observed(res.statusCode);
        if (want !== got) mismatches.push(`${key} as ${caller.name}: expected ${want}, got ${res.statusCode} ${res.body.slice(0, 160)}`);
        if (res.statusCode === 401) expect(res.headers["www-authenticate"]).toMatch(/^Bearer realm="saas-bridge"/);
        // /readyz answers 503 here by design (the runner is not started); any other 5xx is a bug.
        if (res.statusCode >= 500 && key !== "GET /readyz") mismatches.push(`${key} as ${caller.name}: ${res.statusCode} ${res.body.slice(0, 160)}`);
      }
    }
    console.log(`authorization matrix: ${Object.keys(EXPECTED).length} routes × ${callers.length} callers = ${cells} cells, ${mismatches.length} mismatches`);
    expect(mismatches).toEqual([]);
  });

  it("a stream ticket opens exactly its operation's events, and nothing else", async () => {
    const viewer = `Bearer ${await svc.createKey("viewer", [OWNER])}`;
    const issued = await svc.app.inject({ method: "POST", url: `/v1/operations/${operationId}/stream-tickets`, headers: { authorization: viewer } });
    expect(issued.statusCode).toBe(201);
    const { ticket } = issued.json() as { ticket: string };
    const events = await svc.app.inject({ method: "GET", url: `/v1/operations/${operationId}/events?ticket=${encodeURIComponent(ticket)}`, headers: { authorization: "" } });
    expect(events.statusCode).toBe(200);
    expect((events.json() as { items: { type: string }[] }).items[0]?.type).toBe("operation.queued");
    const elsewhere = await svc.app.inject({ method: "GET", url: `/v1/operations/${otherOperationId}/events?ticket=${encodeURIComponent(ticket)}`, headers: { authorization: "" } });
    expect(elsewhere.statusCode).toBe(401);
    const notEvents = await svc.app.inject({ method: "GET", url: `/v1/operations/${operationId}?ticket=${encodeURIComponent(ticket)}`, headers: { authorization: "" } });
    expect(notEvents.statusCode).toBe(401);
    // Another team cannot even get a ticket for it.
    const outsider = `Bearer ${await svc.createKey("viewer", ["beta"])}`;
    const refused = await svc.app.inject({ method: "POST", url: `/v1/operations/${operationId}/stream-tickets`, headers: { authorization: outsider } });
    expect(refused.statusCode).toBe(404);
  });

  it("lists show the caller's teams only, whatever the team filter says", async () => {
    const beta = `Bearer ${await svc.createKey("viewer", ["beta"])}`;
    const all = await svc.app.inject({ method: "GET", url: "/v1/providers?limit=100", headers: { authorization: beta } });
    const names = (all.json() as { items: { name: string; team: string }[] }).items.map((p) => p.team);
    expect(names.length).toBeGreaterThan(0);
    expect(new Set(names)).toEqual(new Set(["beta"]));
    const probing = await svc.app.inject({ method: "GET", url: `/v1/providers?team=${OWNER}`, headers: { authorization: beta } });
    expect((probing.json() as { items: unknown[] }).items).toEqual([]);
  });

  it("with CORS on, the only added route is the preflight, public by decision; it answers an allowed origin without credentials", async () => {
    const cors = await startTestService({ config: { CORS_ORIGINS: ["https://portal.example.com"] }, start: false });
    try {
      const extra = cors.app.authRoutes.filter((r) => !(`${r.method} ${r.url}` in EXPECTED) && r.method !== "HEAD");
      expect(extra).toEqual([{ method: "OPTIONS", url: "*", auth: { public: true } }]);
      const preflight = await cors.app.inject({
        method: "OPTIONS",
        url: "/v1/providers",
        headers: { authorization: "", origin: "https://portal.example.com", "access-control-request-method": "POST" },
      });
      expect(preflight.statusCode).toBe(204);
      expect(preflight.headers["access-control-allow-origin"]).toBe("https://portal.example.com");
      const actual = await cors.app.inject({ method: "GET", url: "/v1/providers", headers: { authorization: "", origin: "https://portal.example.com" } });
      expect(actual.statusCode).toBe(401);
    } finally {
      await cors.close(1_000);
    }
  });

  it("a route registered without an auth decision stops the app from starting", async () => {
    const app = Fastify();
    registerAuth(app, {
      authenticator: { fromHeader: async () => ({ ok: false, reason: "missing" }), fromTicket: async () => ({ ok: false, reason: "ticket-malformed" }) },
      failures: createFailureLimiter({ maxPerWindow: 10 }),
      auditDenial: async () => undefined,
    });
    expect(() => app.get("/v1/new-thing", async () => "hi")).toThrow(/no auth decision/);
    await app.close();
  });
});
