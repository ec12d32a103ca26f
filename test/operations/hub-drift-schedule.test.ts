import { afterEach, describe, expect, it } from "vitest";
import { createAuditWriter } from "../../src/audit/append.js";
import { createDriftSchedulePort } from "../../src/onboarding/drift-schedule-port.js";
import { requestHubUpdate } from "../../src/onboarding/network-hub.js";
import { createDriftSchedule, type DriftSchedule } from "../../src/operations/schedules/drift-schedule.js";
import { specNamed, startTestService, waitForStatus, type TestService } from "../helpers/service.js";
import { until } from "../helpers/until.js";

/**
 * Network hubs on the drift schedule (issue 16): a hub stack that exists (a hub update succeeded) gets scheduled
 * checks like a provider's stack, at priority 2, audited as the system; never while a hub update of it is queued
 * or running; a region whose hub update never succeeded has no hub to check.
 */
type Json = Record<string, any>;
const HOUR = 3_600_000;
const STACK = "network-hub.eu-west-1";
const services: TestService[] = [];
afterEach(async () => {
  while (services.length > 0) await services.pop()!.close(2_000);
});

async function start(options: Parameters<typeof startTestService>[0] = {}): Promise<TestService> {
  const svc = await startTestService({ ...options, config: { DRIFT_CHECK_INTERVAL: null, ...options.config } });
  services.push(svc);
  return svc;
}

function scheduleOf(svc: TestService, clock: { t: number }): DriftSchedule {
  return createDriftSchedule({
    db: svc.db,
    hub: svc.hub,
    log: svc.app.log as never,
    port: createDriftSchedulePort({ audit: createAuditWriter({ hmacKey: svc.keys.auditHmac }), engine: svc.engine.name, programVersion: "test" }),
    intervalMs: HOUR,
    retryMs: 60_000,
    kickRunner: svc.runner.kick,
    now: () => clock.t,
  });
}

const hubOps = (svc: TestService) =>
  svc.db.query<Json>(`SELECT id, intent, priority, status, program_version, started_at, finished_at FROM operations WHERE provider = $1 ORDER BY queue_seq`, [STACK]);

const settled = (svc: TestService) =>
  until("no operation queued or running", async () => {
    const rows = await svc.db.query<{ n: number }>(`SELECT count(*)::int AS n FROM operations WHERE status IN ('queued', 'running')`);
    return rows[0]!.n === 0 ? true : undefined;
  }, 30_000);

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
    expect((await svc.db.query<{ stack: string }>(`SELECT stack FROM drift_schedule ORDER BY stack`)).map((r) => r.stack)).toEqual([STACK, "sched-hub"]);

    // A hub update is queued (a provider of the region changed) when the hub's check falls due.
    const update = await svc.db.transaction((tx) => requestHubUpdate(tx, svc.engine.name, "eu-west-1"));
    clock.t += HOUR + 1;
    // The provider's check is queued; the hub's waits.
    expect(await schedule.sweep()).toMatchObject({ queued: 1, deferred: 1 });
    expect((await hubOps(svc)).filter((o) => o.intent === "drift-check")).toEqual([]);
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
