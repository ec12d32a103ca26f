import { setTimeout as sleep } from "node:timers/promises";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { createAuditWriter } from "../../src/audit/append.js";
import type { Engine } from "../../src/engine/engine.js";
import { createSimulatedEngine } from "../../src/engine/simulated/simulated-engine.js";
import { createDriftSchedulePort } from "../../src/onboarding/drift-schedule-port.js";
import { requestHubUpdate } from "../../src/onboarding/network-hub.js";
import { createDriftSchedule, nextSlotMs, stackOffsetMs, type DriftSchedule } from "../../src/operations/schedules/drift-schedule.js";
import { openDb } from "../../src/store/open.js";
import { ConfigError, loadConfig } from "../../src/config.js";
import { createScratchDatabase, startPostgresCluster, type PostgresCluster } from "../helpers/postgres-cluster.js";
import { sharedEvaluator, specNamed, startTestService, waitForStatus, type TestService } from "../helpers/service.js";
import { until } from "../helpers/until.js";

/**
 * The drift schedule (issue 16): stable jittered slots, one check per stack per interval across replicas,
 * none for decommissioned providers, `off`; a scheduled check never overlaps an operation of its stack and
 * never takes every runner slot.
 */
type Json = Record<string, any>;
const HOUR = 3_600_000;
const services: TestService[] = [];
afterEach(async () => {
  while (services.length > 0) await services.pop()!.close(2_000);
});

async function start(options: Parameters<typeof startTestService>[0] = {}): Promise<TestService> {
  const svc = await startTestService({ ...options, config: { DRIFT_CHECK_INTERVAL: null, ...options.config } });
  services.push(svc);
  return svc;
}

function scheduleOf(svc: TestService, clock: { t: number }, intervalMs: number | null = HOUR): DriftSchedule {
  return createDriftSchedule({
    db: svc.db,
    hub: svc.hub,
    log: svc.app.log as never,
    port: createDriftSchedulePort({ audit: createAuditWriter({ hmacKey: svc.keys.auditHmac }), engine: svc.engine.name, programVersion: "test" }),
    intervalMs,
    retryMs: 60_000,
    kickRunner: svc.runner.kick,
    now: () => clock.t,
  });
}

async function onboard(svc: TestService, name: string): Promise<void> {
  const res = await svc.app.inject({ method: "POST", url: "/v1/providers", payload: specNamed(name) });
  expect(res.statusCode, res.body).toBe(202);
  await waitForStatus(svc, (res.json() as Json).operation.id, ["succeeded"], 30_000);
}

const driftChecks = (svc: TestService, provider: string) =>
  svc.db.query<Json>(`SELECT id, priority, status, created_at, started_at, finished_at FROM operations WHERE provider = $1 AND intent = 'drift-check' ORDER BY queue_seq`, [
    provider,
  ]);

const settled = (svc: TestService) =>
  until("no operation queued or running", async () => {
    const rows = await svc.db.query<{ n: number }>(`SELECT count(*)::int AS n FROM operations WHERE status IN ('queued', 'running')`);
    return rows[0]!.n === 0 ? true : undefined;
  }, 30_000);

describe("slots", () => {
  it("spread a fleet over the interval, stably, and come once per interval", () => {
    const names = Array.from({ length: 200 }, (_, i) => `provider-${i}`);
    const buckets = new Array<number>(24).fill(0);
    for (const n of names) {
      const offset = stackOffsetMs(n, 24 * HOUR);
      expect(offset).toBe(stackOffsetMs(n, 24 * HOUR));
      expect(offset).toBeGreaterThanOrEqual(0);
      expect(offset).toBeLessThan(24 * HOUR);
      buckets[Math.floor(offset / HOUR)]! += 1;
    }
    // 200 stacks over 24 hours: no hour empty, none with more than three times its share.
    expect(Math.min(...buckets)).toBeGreaterThan(0);
    expect(Math.max(...buckets)).toBeLessThan((3 * 200) / 24);
    for (const after of [0, 1, 12 * HOUR - 1, 1_765_000_000_000]) {
      const next = nextSlotMs(after, HOUR, 1_234);
      expect(next).toBeGreaterThan(after);
      expect(next - after).toBeLessThanOrEqual(HOUR);
      expect((next - 1_234) % HOUR).toBe(0);
    }
  });
});

describe("DRIFT_CHECK_INTERVAL", () => {
  const parse = (v?: string) => loadConfig({ ENGINE: "simulated", LANDING_ZONE_FILE: "x", ...(v === undefined ? {} : { DRIFT_CHECK_INTERVAL: v }) }).DRIFT_CHECK_INTERVAL;
  it("takes a duration or off, daily by default", () => {
    expect(parse()).toBe(24 * HOUR);
    expect(parse("24h")).toBe(24 * HOUR);
    expect(parse("90m")).toBe(90 * 60_000);
    expect(parse("7d")).toBe(7 * 24 * HOUR);
    expect(parse("30s")).toBe(30_000);
    expect(parse("off")).toBeNull();
    for (const bad of ["5s", "1.5h", "daily", "24", "-1h", "400d"]) expect(() => parse(bad), bad).toThrow(ConfigError);
  });
});

describe("the schedule on one service", () => {
  it("off queues nothing", async () => {
    const svc = await start();
    await onboard(svc, "sched-off");
    expect(await svc.sweepDrift()).toEqual({ queued: 0, deferred: 0, removed: 0 });
    expect(await scheduleOf(svc, { t: Date.now() + 100 * HOUR }, null).sweep()).toEqual({ queued: 0, deferred: 0, removed: 0 });
    expect(await svc.db.query(`SELECT * FROM drift_schedule`)).toEqual([]);
    expect(await driftChecks(svc, "sched-off")).toEqual([]);
  }, 60_000);

  it("defers a check while an operation of the stack is queued or running, and never overlaps one", async () => {
    const svc = await start({ config: { SIMULATED_STEP_MS: 30 } });
    await onboard(svc, "sched-busy");
    const clock = { t: Date.now() };
    const schedule = scheduleOf(svc, clock);
    expect(await schedule.sweep()).toEqual({ queued: 0, deferred: 0, removed: 0 });
    // A person's revoke (an up that takes a while) is queued; the check falls due meanwhile.
    const revoke = await svc.app.inject({ method: "POST", url: "/v1/providers/sched-busy/revoke" });
    expect(revoke.statusCode, revoke.body).toBe(202);
    clock.t += HOUR + 1;
    expect(await schedule.sweep()).toMatchObject({ queued: 0, deferred: 1 });
    expect(await driftChecks(svc, "sched-busy")).toEqual([]);
    await waitForStatus(svc, (revoke.json() as Json).operation.id, ["succeeded"], 30_000);
    // Tried again after the retry delay, once the stack is free.
    clock.t += 60_001;
    expect(await schedule.sweep()).toMatchObject({ queued: 1, deferred: 0 });
    const [check] = await driftChecks(svc, "sched-busy");
    expect(check).toMatchObject({ priority: 2 });
    await waitForStatus(svc, check!.id, ["succeeded"], 30_000);
    // Measured from the operations' own times: nothing on the stack ran at the same time as anything else.
    const ops = await svc.db.query<Json>(`SELECT intent, started_at, finished_at FROM operations WHERE provider = 'sched-busy' ORDER BY started_at`);
    for (let i = 1; i < ops.length; i++) expect(new Date(ops[i]!.started_at).getTime()).toBeGreaterThanOrEqual(new Date(ops[i - 1]!.finished_at).getTime());
    expect(ops.map((o) => o.intent)).toEqual(["create", "revoke", "drift-check"]);
    // Audited as the system, and shown on the provider.
    const audit = await svc.db.query<Json>(`SELECT principal_kind, details FROM audit_log WHERE action = 'provider.drift-check' AND resource_id = 'sched-busy'`);
    expect(audit).toEqual([expect.objectContaining({ principal_kind: "system", details: expect.objectContaining({ operationId: check!.id, scheduled: true }) })]);
    const provider = (await svc.app.inject({ method: "GET", url: "/v1/providers/sched-busy" })).json() as Json;
    expect(provider.drift).toMatchObject({ status: "in_sync", operationId: check!.id });
  }, 90_000);

  it("scheduled checks never take every runner slot: a person's operation starts at once", async () => {
    // Each drift check holds its slot for 400 ms (a slow cloud): two slots, so at most one check at a time.
    const engine = (db: never): Engine => {
      const inner = createSimulatedEngine({ state: { db }, stepMs: 0, evaluator: sharedEvaluator() });
      return {
        ...inner,
        run: async (request, options) => {
          if (request.kind === "refresh") await sleep(400);
          return inner.run(request, options);
        },
      };
    };
    const svc = await start({ engine: engine as never, config: { MAX_CONCURRENT_OPERATIONS: 2 } });
    const names = ["slot-1", "slot-2", "slot-3", "slot-4"];
    for (const n of names) await onboard(svc, n);
    await onboard(svc, "slot-user");
    const clock = { t: Date.now() };
    const schedule = scheduleOf(svc, clock);
    await schedule.sweep();
    clock.t += HOUR + 1;
    expect(await schedule.sweep()).toMatchObject({ queued: 5 });
    await sleep(100);
    const preview = await svc.app.inject({ method: "POST", url: "/v1/providers/slot-user/preview" });
    expect(preview.statusCode).toBe(202);
    const user = await waitForStatus(svc, (preview.json() as Json).operation.id, ["succeeded"], 30_000);
    await settled(svc);
    const checks = await svc.db.query<Json>(`SELECT started_at, finished_at FROM operations WHERE intent = 'drift-check' ORDER BY started_at`);
    expect(checks).toHaveLength(5);
    for (let i = 1; i < checks.length; i++) expect(new Date(checks[i]!.started_at).getTime()).toBeGreaterThanOrEqual(new Date(checks[i - 1]!.finished_at).getTime());
    // The person's preview did not wait for the five checks (5 × 400 ms).
    const waited = new Date(user.startedAt).getTime() - new Date(user.createdAt).getTime();
    expect(waited).toBeLessThan(1_000);
  }, 90_000);
});

describe("two replicas on one PostgreSQL", () => {
  let cluster: PostgresCluster;
  let scratch: { url: string; stop(): Promise<void> } | undefined;
  beforeAll(async () => {
    cluster = await startPostgresCluster();
    if ("skipped" in cluster) console.warn(`[test/operations/drift-schedule] two replicas skipped: ${cluster.skipped}`);
    else scratch = await createScratchDatabase(cluster.url);
  }, 60_000);
  afterAll(async () => {
    await scratch?.stop().catch(() => undefined);
    if (cluster && !("skipped" in cluster)) await cluster.stop();
  });

  it("queue one check per stack per interval between them, and none for a decommissioned provider", async (ctx) => {
    if (!scratch) return ctx.skip();
    const replicas: TestService[] = [];
    for (let i = 0; i < 2; i++) replicas.push(await start({ db: await openDb({ databaseUrl: scratch.url, dataDir: "unused" }) }));
    const [a, b] = replicas as [TestService, TestService];
    const names = ["rep-1", "rep-2", "rep-3", "rep-4", "rep-5"];
    for (const n of names) await onboard(a, n);
    await onboard(a, "rep-gone");
    const gone = await a.app.inject({ method: "DELETE", url: "/v1/providers/rep-gone" });
    await waitForStatus(a, (gone.json() as Json).operation.id, ["succeeded"], 30_000);

    const clock = { t: Date.now() };
    const [sa, sb] = [scheduleOf(a, clock), scheduleOf(b, clock)];
    const start0 = clock.t;
    // Registered now, so each stack's three slots fall within the three intervals swept below (registered at the
    // first step instead, a stack whose first slot lands in its first tenth would get only two: it depended on the wall clock).
    await Promise.all([sa.sweep(), sb.sweep()]);
    // Three intervals in steps of a tenth, both replicas sweeping at once each step.
    for (let j = 1; j <= 30; j++) {
      clock.t = start0 + (j * HOUR) / 10;
      await Promise.all([sa.sweep(), sb.sweep(), sa.sweep(), sb.sweep()]);
      await settled(a);
    }
    for (const n of names) {
      const checks = await driftChecks(a, n);
      expect(checks, n).toHaveLength(3);
      expect(checks.every((c) => c.status === "succeeded"), n).toBe(true);
    }
    expect(await driftChecks(a, "rep-gone")).toEqual([]);
    // The region's network hub too, once per interval between the replicas.
    expect(await driftChecks(a, "network-hub.eu-west-1")).toHaveLength(3);
    const audited = await a.db.query<{ n: number }>(`SELECT count(*)::int AS n FROM audit_log WHERE action = 'provider.drift-check' AND principal_kind = 'system'`);
    expect(audited[0]!.n).toBe(15);
  }, 180_000);
});

/**
 * Network hubs on the schedule: a hub stack that exists (a hub update succeeded) gets scheduled checks like a
 * provider's stack, at priority 2, audited as the system; never while a hub update of it is queued or running.
 */
const HUB_STACK = "network-hub.eu-west-1";
const hubOps = (svc: TestService) =>
  svc.db.query<Json>(`SELECT id, intent, priority, status, program_version, started_at, finished_at FROM operations WHERE provider = $1 ORDER BY queue_seq`, [HUB_STACK]);

describe("network hubs on the drift schedule", () => {
  it("a hub that exists is checked once per interval, never beside a hub update of its stack", async () => {
    const svc = await start({ config: { SIMULATED_STEP_MS: 30 } });
    const clock = { t: Date.now() };
    const schedule = scheduleOf(svc, clock);
    // No hub yet: nothing to schedule.
    await schedule.sweep();
    expect(await svc.db.query(`SELECT stack FROM drift_schedule`)).toEqual([]);

    const created = await svc.app.inject({ method: "POST", url: "/v1/providers", payload: specNamed("sched-hub") });
    await waitForStatus(svc, (created.json() as Json).operation.id, ["succeeded"], 30_000);
    await settled(svc);
    expect((await hubOps(svc)).map((o) => [o.intent, o.status])).toEqual([["hub-update", "succeeded"]]);
    await schedule.sweep();
    expect((await svc.db.query<{ stack: string }>(`SELECT stack FROM drift_schedule ORDER BY stack`)).map((r) => r.stack)).toEqual([HUB_STACK, "sched-hub"]);

    // A hub update is queued (a provider of the region changed) when the hub's check falls due.
    // Held back until the sweep has seen it queued (the runner would otherwise race the sweep to finish it).
    const update = await svc.db.transaction((tx) => requestHubUpdate(tx, svc.engine.name, "eu-west-1"));
    await svc.db.query(`UPDATE operations SET resume_after = now() + interval '1 hour' WHERE id = $1`, [update.id]);
    clock.t += HOUR + 1;
    // The provider's check is queued; the hub's waits.
    expect(await schedule.sweep()).toMatchObject({ queued: 1, deferred: 1 });
    expect((await hubOps(svc)).filter((o) => o.intent === "drift-check")).toEqual([]);
    await svc.db.query(`UPDATE operations SET resume_after = NULL WHERE id = $1`, [update.id]);
    svc.runner.kick();
    await waitForStatus(svc, update.id, ["succeeded"], 30_000);
    await settled(svc);

    // Tried again after the retry delay, once the stack is free.
    clock.t += 60_001;
    expect(await schedule.sweep()).toMatchObject({ queued: 1, deferred: 0 });
    const check = (await hubOps(svc)).find((o) => o.intent === "drift-check")!;
    expect(check).toMatchObject({ priority: 2, program_version: expect.stringMatching(/hub/) });
    await waitForStatus(svc, check.id, ["succeeded"], 30_000);
    const ops = await hubOps(svc);
    expect(ops.map((o) => o.intent)).toEqual(["hub-update", "hub-update", "drift-check"]);
    for (let i = 1; i < ops.length; i++) expect(new Date(ops[i]!.started_at).getTime()).toBeGreaterThanOrEqual(new Date(ops[i - 1]!.finished_at).getTime());

    // Audited as the system, on the hub; the result is on the hub.
    const audit = await svc.db.query<Json>(`SELECT principal_kind, resource_kind, resource_id, details FROM audit_log WHERE action = 'network-hub.drift-check'`);
    expect(audit).toEqual([expect.objectContaining({ principal_kind: "system", resource_kind: "network-hub", resource_id: "eu-west-1", details: expect.objectContaining({ operationId: check.id, scheduled: true }) })]);
    const hub = (await svc.app.inject({ method: "GET", url: "/v1/network-hubs/eu-west-1" })).json() as Json;
    expect(hub.drift).toMatchObject({ status: "in_sync", operationId: check.id });

    // Once per interval: nothing more until the next slot.
    clock.t += 60_001;
    expect(await schedule.sweep()).toMatchObject({ queued: 0 });
  }, 120_000);
});
