import { randomUUID } from "node:crypto";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { prepareEngine } from "../../src/engine/factory.js";
import { createLogger } from "../../src/logger.js";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ACCESS_RULES, reopensAccess } from "../../src/onboarding/access-drift.js";
import { specNamed, startTestService, testConfig, waitForStatus, type TestService } from "../helpers/service.js";
import { changeInCloud, deleteInCloud, stackResources } from "../support/simulated-drift.js";

/**
 * Drift detection (issue 16): a change and a delete made in the simulated cloud behind the stack's back are
 * reported with their keys (never values) on the provider's drift object and in the events; the list filters
 * on it; an up makes it unknown; a revoked provider whose ingress reappears raises the security event.
 */
type Json = Record<string, any>;
const SG = "aws:ec2/securityGroup:SecurityGroup";
const LOG_GROUP = "aws:cloudwatch/logGroup:LogGroup";
let s: TestService;

beforeAll(async () => {
  s = await startTestService();
}, 60_000);
afterAll(async () => {
  await s?.close(2_000);
});

async function run(method: "POST" | "PUT", url: string, payload?: Record<string, unknown>): Promise<Json> {
  const res = await s.app.inject({ method, url, ...(payload === undefined ? {} : { payload }) });
  expect(res.statusCode, res.body).toBe(202);
  return waitForStatus(s, (res.json() as Json).operation.id, ["succeeded", "failed", "cancelled", "interrupted"], 30_000);
}

const provider = async (name: string) => (await s.app.inject({ method: "GET", url: `/v1/providers/${name}` })).json() as Json;
const events = async (id: string) => ((await s.app.inject({ method: "GET", url: `/v1/operations/${id}/events?limit=1000` })).json() as Json).items as Json[];
const names = async (query: string) =>
  (((await s.app.inject({ method: "GET", url: `/v1/providers?${query}` })).json() as Json).items as Json[]).map((p) => p.name as string);

describe("drift found by a drift check", () => {
  it("reports a changed and a deleted resource with their keys, never values, on the provider and in the events", async () => {
    expect((await run("POST", "/v1/providers", specNamed("drift-a"))).status).toBe("succeeded");
    expect((await run("POST", "/v1/providers", specNamed("drift-b"))).status).toBe("succeeded");
    expect((await run("POST", "/v1/providers", specNamed("drift-c"))).status).toBe("succeeded");
    expect((await provider("drift-a")).drift).toEqual({ status: "unknown", checkedAt: null, operationId: null, resources: [], reason: "never checked" });

    const clean = await run("POST", "/v1/providers/drift-a/drift-checks");
    expect(clean).toMatchObject({ status: "succeeded", intent: "drift-check", kind: "refresh" });
    expect((await provider("drift-a")).drift).toMatchObject({ status: "in_sync", operationId: clean.id, resources: [] });

    const resources = await stackResources(s.db, "drift-a");
    const sg = resources.find((r) => r.type === SG)!;
    const logs = resources.find((r) => r.type === LOG_GROUP)!;
    expect(sg && logs).toBeTruthy();
    await changeInCloud(s.db, "drift-a", sg.urn, { description: "edited-in-console-SECRET-VALUE", tags: { Name: "edited-SECRET-VALUE" } });
    await deleteInCloud(s.db, "drift-a", logs.urn);

    // The deprecated singular route does the same as the plural one.
    const drift = await run("POST", "/v1/providers/drift-a/drift-check");
    expect(drift.status).toBe("succeeded");
    expect(drift.result.summary).toMatchObject({ update: 1, delete: 1, create: 0, replace: 0 });
    const shown = (await provider("drift-a")).drift as Json;
    expect(shown).toMatchObject({ status: "drifted", operationId: drift.id, checkedAt: expect.any(String) });
    expect([...shown.resources].sort((a: Json, b: Json) => a.change.localeCompare(b.change))).toEqual([
      { urn: logs.urn, type: LOG_GROUP, change: "delete", keys: [] },
      { urn: sg.urn, type: SG, change: "update", keys: ["description", "tags"] },
    ]);
    const list = await events(drift.id);
    const warnings = list.filter((e) => e.type === "diagnostic" && String(e.message).startsWith("Drift:")).map((e) => e.message).sort();
    expect(warnings).toEqual([
      `Drift: ${LOG_GROUP} ${logs.name} no longer exists in the cloud (deleted outside Pulumi)`,
      `Drift: ${SG} ${sg.name} changed outside Pulumi (changed: description, tags)`,
    ]);
    expect(list.filter((e) => e.type === "resource.planned" && e.op !== "same").map((e) => `${e.op} ${e.urn}`).sort()).toEqual([
      `delete ${logs.urn}`,
      `update ${sg.urn}`,
    ]);
    // Key names only: no value from the cloud reaches the API, the events or the audit trail.
    const everything = JSON.stringify([await provider("drift-a"), list, await s.db.query(`SELECT details FROM audit_log`)]);
    expect(everything).not.toContain("SECRET-VALUE");
    // Only a security event on a revoked provider: none here.
    expect(list.some((e) => e.type === "security.access-reopened")).toBe(false);
    // Nothing was written: the stack's state is as before.
    expect(await stackResources(s.db, "drift-a")).toEqual(resources);

    // Lists filter on it (never checked counts as unknown), and the next page keeps the filter.
    expect(await names("drift=drifted")).toEqual(["drift-a"]);
    expect(await names("drift=unknown")).toContain("drift-b");
    expect(await names("drift=unknown")).not.toContain("drift-a");
    expect(await names("drift=in_sync")).not.toContain("drift-a");
    const page = (await s.app.inject({ method: "GET", url: "/v1/providers?drift=unknown&limit=1" })).json() as Json;
    expect(page.links.next).toContain("drift=unknown");
    const bad = await s.app.inject({ method: "GET", url: "/v1/providers?drift=maybe" });
    expect(bad.statusCode).toBe(400);
    expect((bad.json() as Json).errors.map((e: Json) => e.path)).toContain("query:/drift");

    // An up changes the stack: the last result no longer holds, whatever it said.
    const update = await run("PUT", "/v1/providers/drift-a", specNamed("drift-a"));
    expect(update.status).toBe("succeeded");
    const after = (await provider("drift-a")).drift as Json;
    expect(after).toMatchObject({ status: "unknown", operationId: drift.id, checkedAt: shown.checkedAt, resources: [] });
    expect(after.reason).toContain(update.id);
    expect(await names("drift=drifted")).toEqual([]);
  }, 120_000);

  it("a failed check leaves the drift unknown", async () => {
    await s.db.query(`UPDATE providers SET spec = jsonb_set(spec, '{region}', '"xx-nowhere-1"') WHERE name = 'drift-b'`);
    const failed = await run("POST", "/v1/providers/drift-b/drift-checks");
    expect(failed.status).toBe("failed");
    expect((await provider("drift-b")).drift).toMatchObject({ status: "unknown", operationId: failed.id, reason: "the last drift check failed" });
  }, 60_000);

  it("a viewer cannot start one", async () => {
    const viewer = await s.createKey("viewer", ["data-platform"]);
    for (const url of ["/v1/providers/drift-a/drift-checks", "/v1/providers/drift-a/drift-check"]) {
      const res = await s.app.inject({ method: "POST", url, headers: { authorization: `Bearer ${viewer}` } });
      expect(res.statusCode, url).toBe(403);
    }
  });
});

describe("drift of a revoked provider that re-opens access", () => {
  it("is a security event: its own event (critical), an audit record as the system and a drift.found notice", async () => {
    // A subscription to drift.found of every team: the notice lands in the outbox in the check's transaction.
    const subscription = randomUUID();
    await s.db.query(`INSERT INTO webhook_subscriptions (id, team, url, event_types, created_by) VALUES ($1, NULL, 'https://hooks.example.com/x', '{drift.found}', 'test')`, [
      subscription,
    ]);
    expect((await run("POST", "/v1/providers", specNamed("drift-rev"))).status).toBe("succeeded");
    expect((await run("POST", "/v1/providers/drift-rev/revoke")).status).toBe("succeeded");
    const resources = await stackResources(s.db, "drift-rev");
    // What the table guards on deletion is what a revoked stack holds (the deny NACL, the quarantine RCP…).
    const types = new Set(resources.map((r) => r.type));
    for (const rule of ACCESS_RULES.filter((r) => r.onDelete)) expect(types.has(rule.type), rule.type).toBe(true);
    const sg = resources.find((r) => r.type === SG)!;

    // A harmless change on a revoked provider is drift, not a security event.
    await changeInCloud(s.db, "drift-rev", sg.urn, { tags: { Name: "renamed" } });
    const tagsOnly = await run("POST", "/v1/providers/drift-rev/drift-checks");
    expect((await events(tagsOnly.id)).some((e) => e.type === "security.access-reopened")).toBe(false);

    // The ingress reappears.
    await changeInCloud(s.db, "drift-rev", sg.urn, { ingress: [{ protocol: "tcp", fromPort: 443, toPort: 443, cidrBlocks: ["10.99.0.0/16"] }] });
    const check = await run("POST", "/v1/providers/drift-rev/drift-checks");
    expect(check.status).toBe("succeeded");
    const security = (await events(check.id)).filter((e) => e.type === "security.access-reopened");
    expect(security).toHaveLength(1);
    expect(security[0]).toMatchObject({ severity: "critical", resources: [{ urn: sg.urn, type: SG, change: "update", keys: ["ingress", "tags"] }] });
    expect(security[0]!.resources[0].reason).toMatch(/security group/);

    const audit = await s.db.query<Json>(`SELECT principal_kind, principal_id, details FROM audit_log WHERE action = 'provider.access-reopened' AND resource_id = 'drift-rev'`);
    expect(audit).toHaveLength(1);
    expect(audit[0]).toMatchObject({ principal_kind: "system", details: { operationId: check.id, severity: "critical" } });

    const notices = await s.db.query<{ payload: string }>(`SELECT payload FROM webhook_deliveries WHERE subscription_id = $1 AND type = 'drift.found' ORDER BY seq`, [subscription]);
    expect(notices).toHaveLength(2);
    const last = JSON.parse(notices[1]!.payload) as Json;
    expect(last).toMatchObject({ subject: "providers/drift-rev", data: { provider: "drift-rev", operationId: check.id, status: "drifted", accessReopened: true } });
    expect(JSON.parse(notices[0]!.payload).data.accessReopened).toBe(false);
    expect(notices.map((n) => n.payload).join("")).not.toContain("10.99.0.0");
  }, 120_000);
});

describe("which drift of a revoked provider re-opens access (the table)", () => {
  it.each([
    [{ type: SG, change: "update", keys: ["ingress"] }, true],
    [{ type: SG, change: "update", keys: ["tags"] }, false],
    [{ type: "aws:kms/key:Key", change: "update", keys: ["policy"] }, true],
    [{ type: "aws:kms/key:Key", change: "update", keys: ["description"] }, false],
    [{ type: "aws:kms/grant:Grant", change: "update", keys: ["operations"] }, true],
    [{ type: "aws:ec2/networkAclAssociation:NetworkAclAssociation", change: "delete", keys: [] }, true],
    [{ type: "aws:organizations/policyAttachment:PolicyAttachment", change: "delete", keys: [] }, true],
    [{ type: "aws:networkfirewall/ruleGroup:RuleGroup", change: "update", keys: ["ruleGroup"] }, true],
    [{ type: "aws:networkfirewall/ruleGroup:RuleGroup", change: "update", keys: ["tags"] }, false],
    [{ type: SG, change: "delete", keys: [] }, false],
    [{ type: LOG_GROUP, change: "delete", keys: [] }, false],
    [{ type: "aws:s3/bucket:Bucket", change: "update", keys: ["policy"] }, false],
  ] as const)("%o → %s", (d, reopens) => {
    expect(reopensAccess({ urn: "urn:x", ...d }) !== undefined).toBe(reopens);
  });
});

describe("the simulated engine in a child process", () => {
  it("reads the drift records through the parent, and the keys come back in the result", async () => {
    const dataDir = await mkdtemp(join(tmpdir(), "saas-bridge-drift-child-"));
    const config = { ...testConfig, DATA_DIR: dataDir, ENGINE_PROCESS: "child" as const };
    const factory = await prepareEngine(config, createLogger("silent"));
    const child = await startTestService({ config, engine: (db, log) => factory(db, log) });
    try {
      const created = await child.app.inject({ method: "POST", url: "/v1/providers", payload: specNamed("drift-child") });
      await waitForStatus(child, (created.json() as Json).operation.id, ["succeeded"], 60_000);
      const sg = (await stackResources(child.db, "drift-child")).find((r) => r.type === SG)!;
      await changeInCloud(child.db, "drift-child", sg.urn, { ingress: [] , tags: { Name: "x" } });
      const res = await child.app.inject({ method: "POST", url: "/v1/providers/drift-child/drift-checks" });
      const check = await waitForStatus(child, (res.json() as Json).operation.id, ["succeeded", "failed"], 60_000);
      expect(check.status, JSON.stringify(check.error)).toBe("succeeded");
      const shown = ((await child.app.inject({ method: "GET", url: "/v1/providers/drift-child" })).json() as Json).drift;
      expect(shown).toMatchObject({ status: "drifted", resources: [{ urn: sg.urn, change: "update", keys: ["ingress", "tags"] }] });
    } finally {
      await child.close(5_000);
      await rm(dataDir, { recursive: true, force: true });
    }
  }, 120_000);
});
