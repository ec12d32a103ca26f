import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { createSimulatedEngine } from "../../src/engine/simulated/simulated-engine.js";
import { startTestService, specNamed, waitForStatus, type TestService } from "../helpers/service.js";

/**
 * The network hub end to end on the simulated engine: provider changes queue coalesced hub updates, each
 * hub run lists the rule groups of the providers that had one when it started, and a decommission's
 * destroy waits for the hub update that stops referencing its group.
 */
type OpRow = {
  id: string;
  provider: string;
  intent: string;
  status: string;
  result: { outputs?: { providers?: string[] } } | null;
  error: { code: string; message: string } | null;
  created_at: Date;
  started_at: Date | null;
  finished_at: Date | null;
};

const hubOps = (s: TestService) =>
  s.db.query<OpRow>(`SELECT * FROM operations WHERE intent = 'hub-update' ORDER BY queue_seq`);

async function settleHub(s: TestService, timeoutMs = 60_000): Promise<OpRow[]> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const ops = await hubOps(s);
    const pending = await s.db.query(`SELECT 1 FROM operations WHERE status IN ('queued', 'running')`);
    if (pending.length === 0 && ops.length > 0) return ops;
    if (Date.now() > deadline) throw new Error(`hub still busy after ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

async function create(s: TestService, name: string): Promise<string> {
  const res = await s.app.inject({ method: "POST", url: "/v1/providers", payload: specNamed(name) });
  expect(res.statusCode, res.body).toBe(202);
  return (res.json() as { operation: { id: string } }).operation.id;
}

describe("network hub: 20 concurrent onboardings", () => {
  let s: TestService;
  const names = Array.from({ length: 20 }, (_, i) => `burst-${String(i).padStart(2, "0")}`);

  beforeAll(async () => {
    s = await startTestService({ config: { MAX_CONCURRENT_OPERATIONS: 8 } });
  });
  afterAll(() => s.close(1_000));

  test("lead to at most 2 hub updates, each listing exactly the groups that existed when it started", async () => {
    const ids = await Promise.all(names.map((n) => create(s, n)));
    for (const id of ids) expect((await waitForStatus(s, id, ["succeeded", "failed"], 60_000)).status).toBe("succeeded");
    const hubs = await settleHub(s);
    console.log(`hub updates for 20 concurrent onboardings: ${hubs.length}`);
    expect(hubs.length).toBeGreaterThanOrEqual(1);
    expect(hubs.length).toBeLessThanOrEqual(2);

    const creates = await s.db.query<OpRow>(`SELECT * FROM operations WHERE intent = 'create'`);
    for (const hub of hubs) {
      expect(hub.status).toBe("succeeded");
      expect(hub.provider).toBe("network-hub.eu-west-1");
      const startedAt = new Date(hub.started_at!).getTime();
      const expected = creates
        .filter((c) => new Date(c.finished_at!).getTime() <= startedAt)
        .map((c) => c.provider)
        .sort();
      expect(hub.result?.outputs?.providers).toEqual(expected);
    }
    // The last run lists everyone.
    expect(hubs.at(-1)!.result?.outputs?.providers).toEqual(names);
  }, 120_000);

  test("a decommission removes the group from the policy before the destroy runs", async () => {
    const res = await s.app.inject({ method: "DELETE", url: `/v1/providers/${names[0]}` });
    expect(res.statusCode, res.body).toBe(202);
    const destroyId = (res.json() as { operation: { id: string } }).operation.id;
    expect((await waitForStatus(s, destroyId, ["succeeded", "failed"], 60_000)).status).toBe("succeeded");
    const hubs = await settleHub(s);
    const last = hubs.at(-1)!;
    expect(last.result?.outputs?.providers).toEqual(names.slice(1));
    const [destroy] = await s.db.query<OpRow & { blocked_by: string }>(`SELECT * FROM operations WHERE id = $1`, [destroyId]);
    expect(destroy!.blocked_by).toBe(last.id);
    expect(new Date(destroy!.started_at!).getTime()).toBeGreaterThanOrEqual(new Date(last.finished_at!).getTime());
    // The API shows the dependency; a hub operation has no provider link.
    const view = (await s.app.inject({ method: "GET", url: `/v1/operations/${destroyId}` })).json() as { links: Record<string, string> };
    expect(view.links["blockedBy"]).toBe(`/v1/operations/${last.id}`);
    const hubView = (await s.app.inject({ method: "GET", url: `/v1/operations/${last.id}` })).json() as { intent: string; links: Record<string, string> };
    expect(hubView.intent).toBe("hub-update");
    expect(hubView.links["provider"]).toBeUndefined();
    // Its subnets went back to the pool.
    expect(await s.db.query(`SELECT 1 FROM subnet_allocations WHERE provider = $1`, [names[0]])).toEqual([]);
  }, 120_000);
});

describe("network hub: a failed hub update stops the destroy", () => {
  let s: TestService;
  beforeAll(async () => {
    s = await startTestService({
      engine: (db) =>
        createSimulatedEngine({
          state: { db },
          stepMs: 0,
          // The hub's policy update fails once a decommission is pending.
          faultOf: (step) => (step.type.includes("firewallPolicy") && step.op === "update" ? "AccessDenied (injected)" : undefined),
        }),
    });
  });
  afterAll(() => s.close(1_000));

  test("the destroy fails with HUB_UPDATE_FAILED and deletes nothing", async () => {
    await waitForStatus(s, await create(s, "hub-fail-a"), ["succeeded"], 60_000);
    await waitForStatus(s, await create(s, "hub-fail-b"), ["succeeded"], 60_000);
    await settleHub(s);
    const before = await s.db.query(`SELECT urn FROM simulated_resources WHERE stack = 'hub-fail-a'`);
    const res = await s.app.inject({ method: "DELETE", url: "/v1/providers/hub-fail-a" });
    const destroy = await waitForStatus(s, (res.json() as { operation: { id: string } }).operation.id, ["succeeded", "failed"], 60_000);
    expect(destroy.status).toBe("failed");
    expect(destroy.error.code).toBe("HUB_UPDATE_FAILED");
    expect(destroy.error.message).toMatch(/nothing was destroyed/);
    expect(await s.db.query(`SELECT urn FROM simulated_resources WHERE stack = 'hub-fail-a'`)).toEqual(before);
    const provider = (await s.app.inject({ method: "GET", url: "/v1/providers/hub-fail-a" })).json() as { lifecycle: string };
    expect(provider.lifecycle).toBe("decommissioning");
  }, 120_000);
});
