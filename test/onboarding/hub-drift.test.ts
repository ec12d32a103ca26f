import { randomUUID } from "node:crypto";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { specNamed, startTestService, waitForStatus, type TestService } from "../helpers/service.js";
import { until } from "../helpers/until.js";
import { changeInCloud, deleteInCloud, stackResources } from "../support/simulated-drift.js";

/**
 * Drift of network hubs (issue 16): a hub stack's changed and deleted resources in the simulated cloud are
 * reported with their keys (never values) on GET /v1/network-hubs/{region}; a drift.found notice goes to the
 * subscriptions of all teams only; drift of the central firewall policy is a critical security event, audited as
 * the system; a hub update makes the result unknown; the routes are for admins.
 */
type Json = Record<string, any>;
const REGION = "eu-west-1";
const STACK = `network-hub.${REGION}`;
const POLICY = "aws:networkfirewall/firewallPolicy:FirewallPolicy";
let s: TestService;
let allTeams: string;
let oneTeam: string;

beforeAll(async () => {
  s = await startTestService();
  allTeams = randomUUID();
  oneTeam = randomUUID();
  const subscribe = `INSERT INTO webhook_subscriptions (id, team, url, event_types, created_by) VALUES ($1, $2, 'https://hooks.example.com/x', '{drift.found}', 'test')`;
  await s.db.query(subscribe, [allTeams, null]);
  await s.db.query(subscribe, [oneTeam, "data-platform"]);
}, 60_000);
afterAll(async () => {
  await s?.close(2_000);
});

const hubUpdates = () => s.db.query<Json>(`SELECT id, status FROM operations WHERE provider = $1 AND intent = 'hub-update' ORDER BY queue_seq`, [STACK]);
/** Every hub update there is has ended, and at least `n` succeeded. */
const settledHub = (n: number) =>
  until("the hub updates settled", async () => {
    const ops = await hubUpdates();
    return ops.filter((o) => o.status === "succeeded").length >= n && ops.every((o) => !["queued", "running"].includes(o.status)) ? ops : undefined;
  }, 30_000);

async function get(url: string, headers: Record<string, string> = {}) {
  return s.app.inject({ method: "GET", url, headers });
}
const hub = async () => (await get(`/v1/network-hubs/${REGION}`)).json() as Json;

async function check(): Promise<Json> {
  const res = await s.app.inject({ method: "POST", url: `/v1/network-hubs/${REGION}/drift-checks` });
  expect(res.statusCode, res.body).toBe(202);
  const accepted = res.json() as Json;
  expect(accepted.operation).toMatchObject({ intent: "drift-check", kind: "refresh" });
  expect(accepted.links.networkHub).toBe(`/v1/network-hubs/${REGION}`);
  expect(accepted.links.provider).toBeUndefined();
  return waitForStatus(s, accepted.operation.id, ["succeeded", "failed", "cancelled", "interrupted"], 30_000);
}
const events = async (id: string) => ((await get(`/v1/operations/${id}/events?limit=1000`)).json() as Json).items as Json[];
const notices = (subscription: string) =>
  s.db.query<{ payload: string }>(`SELECT payload FROM webhook_deliveries WHERE subscription_id = $1 AND type = 'drift.found' ORDER BY seq`, [subscription]);

describe("a network hub's drift", () => {
  it("exists once a hub update succeeded, never checked until then; 404 for a region without one, 400 naming path:/region", async () => {
    expect((await get("/v1/network-hubs")).json()).toEqual({ items: [], links: {} });
    const created = await s.app.inject({ method: "POST", url: "/v1/providers", payload: specNamed("hub-drift-a") });
    await waitForStatus(s, (created.json() as Json).operation.id, ["succeeded"], 30_000);
    const [update] = await settledHub(1);
    const shown = await hub();
    expect(shown).toMatchObject({
      region: REGION,
      stack: STACK,
      drift: { status: "unknown", checkedAt: null, operationId: null, resources: [], reason: "never checked" },
      policy: { providers: ["hub-drift-a"] },
      lastOperation: { id: update!.id, intent: "hub-update", status: "succeeded" },
    });
    const list = (await get("/v1/network-hubs")).json() as Json;
    expect(list.items.map((h: Json) => h.region)).toEqual([REGION]);

    for (const [method, url] of [["GET", "/v1/network-hubs/us-east-1"], ["POST", "/v1/network-hubs/us-east-1/drift-checks"]] as const) {
      const res = await s.app.inject({ method, url });
      expect(res.statusCode, url).toBe(404);
      expect(res.headers["content-type"]).toContain("application/problem+json");
    }
    for (const bad of ["EU_WEST", "eu-west-1%00", "x".repeat(40)]) {
      const res = await get(`/v1/network-hubs/${bad}`);
      expect(res.statusCode, bad).toBe(400);
      expect((res.json() as Json).errors.map((e: Json) => e.path)).toContain("path:/region");
    }
  }, 90_000);

  it("reports a changed and then a deleted firewall policy with its keys, never values; policy drift is a security event", async () => {
    const clean = await check();
    expect(clean.status).toBe("succeeded");
    expect((await hub()).drift).toMatchObject({ status: "in_sync", operationId: clean.id, resources: [] });
    const policy = (await stackResources(s.db, STACK)).find((r) => r.type === POLICY)!;
    expect(policy).toBeTruthy();

    // Tags and description only: drift, not security-relevant.
    await changeInCloud(s.db, STACK, policy.urn, { description: "edited-in-console-SECRET-VALUE", tags: { Name: "SECRET-VALUE" } });
    const cosmetic = await check();
    expect(cosmetic.status).toBe("succeeded");
    expect((await hub()).drift).toEqual({
      status: "drifted",
      checkedAt: expect.any(String),
      operationId: cosmetic.id,
      resources: [{ urn: policy.urn, type: POLICY, change: "update", keys: ["description", "tags"] }],
    });
    expect((await events(cosmetic.id)).some((e) => String(e.type).startsWith("security."))).toBe(false);

    // The policy document itself: its rule group references could be gone.
    await changeInCloud(s.db, STACK, policy.urn, { firewallPolicy: { statelessDefaultActions: ["aws:pass"], statefulRuleGroupReferences: [] } });
    const changed = await check();
    expect((await hub()).drift.resources).toEqual([{ urn: policy.urn, type: POLICY, change: "update", keys: ["description", "firewallPolicy", "tags"] }]);
    const security = (await events(changed.id)).filter((e) => e.type === "security.hub-policy-drifted");
    expect(security).toHaveLength(1);
    expect(security[0]).toMatchObject({ severity: "critical", resources: [{ urn: policy.urn, change: "update", keys: ["description", "firewallPolicy", "tags"] }] });
    expect(security[0]!.resources[0].reason).toMatch(/central firewall policy.*\(changed: firewallPolicy\)/);

    await deleteInCloud(s.db, STACK, policy.urn);
    const deleted = await check();
    expect((await hub()).drift).toMatchObject({ status: "drifted", operationId: deleted.id, resources: [{ urn: policy.urn, type: POLICY, change: "delete", keys: [] }] });
    expect((await events(deleted.id)).filter((e) => e.type === "security.hub-policy-drifted")).toHaveLength(1);

    // Audited as the system, once per security-relevant check, on the hub.
    const audit = await s.db.query<Json>(
      `SELECT principal_kind, resource_kind, resource_id, details FROM audit_log WHERE action = 'network-hub.policy-drifted' ORDER BY seq`,
    );
    expect(audit.map((a) => a.details.operationId)).toEqual([changed.id, deleted.id]);
    expect(audit.every((a) => a.principal_kind === "system" && a.resource_kind === "network-hub" && a.resource_id === REGION)).toBe(true);
    const asked = await s.db.query<Json>(`SELECT principal_kind, resource_kind, resource_id FROM audit_log WHERE action = 'network-hub.drift-check'`);
    expect(asked).toHaveLength(4);
    expect(asked[0]).toEqual({ principal_kind: "apikey", resource_kind: "network-hub", resource_id: REGION });

    // One notice per check that found drift, to the subscription of all teams only; severity says which matter.
    const sent = (await notices(allTeams)).map((n) => JSON.parse(n.payload) as Json);
    expect(sent.map((n) => [n.subject, n.data.operationId, n.data.severity, n.data.securityRelevant])).toEqual([
      [`network-hubs/${REGION}`, cosmetic.id, "warning", false],
      [`network-hubs/${REGION}`, changed.id, "critical", true],
      [`network-hubs/${REGION}`, deleted.id, "critical", true],
    ]);
    expect(sent[2]!.data).toMatchObject({ networkHub: REGION, status: "drifted", resources: [{ urn: policy.urn, change: "delete" }], links: { networkHub: `/v1/network-hubs/${REGION}` } });
    expect(await notices(oneTeam)).toEqual([]);
    // Key names only: no value from the cloud reaches the API, the events, the notices or the audit trail.
    const everything = JSON.stringify([await hub(), await events(cosmetic.id), await events(changed.id), sent, await s.db.query(`SELECT details FROM audit_log`)]);
    expect(everything).not.toContain("SECRET-VALUE");
    expect(everything).not.toContain("aws:pass");
    // The check's operation is the hub's: linked to it, not to a provider.
    const op = (await get(`/v1/operations/${deleted.id}`)).json() as Json;
    expect(op.links).toMatchObject({ networkHub: `/v1/network-hubs/${REGION}` });
    expect(op.links.provider).toBeUndefined();
  }, 120_000);

  it("a hub update that ran makes the last result unknown, naming it", async () => {
    const before = (await hub()).drift as Json;
    const created = await s.app.inject({ method: "POST", url: "/v1/providers", payload: specNamed("hub-drift-b") });
    await waitForStatus(s, (created.json() as Json).operation.id, ["succeeded"], 30_000);
    const ops = await settledHub(2);
    const last = ops.at(-1)!;
    const after = (await hub()).drift as Json;
    expect(after).toMatchObject({ status: "unknown", operationId: before.operationId, checkedAt: before.checkedAt, resources: [] });
    expect(after.reason).toContain(last.id);
  }, 90_000);

  it("streams like the provider's check when asked to", async () => {
    const res = await s.app.inject({ method: "POST", url: `/v1/network-hubs/${REGION}/drift-checks`, headers: { accept: "text/plain" } });
    expect(res.statusCode).toBe(202);
    expect(res.body).toContain(`drift-check ${STACK}`);
    expect(res.body).toMatch(/succeeded|failed/);
  }, 60_000);

  it("is for admins only: hubs belong to no team", async () => {
    for (const role of ["viewer", "operator", "approver", "auditor"] as const) {
      const key = await s.createKey(role, ["data-platform"]);
      for (const [method, url] of [["GET", "/v1/network-hubs"], ["GET", `/v1/network-hubs/${REGION}`], ["POST", `/v1/network-hubs/${REGION}/drift-checks`]] as const) {
        const res = await s.app.inject({ method, url, headers: { authorization: `Bearer ${key}` } });
        expect(res.statusCode, `${role} ${method} ${url}`).toBe(403);
      }
    }
    const denied = await s.db.query<Json>(`SELECT outcome FROM audit_log WHERE action = 'network-hub.drift-check' AND outcome = 'denied'`);
    expect(denied.length).toBe(4);
  }, 60_000);
});
