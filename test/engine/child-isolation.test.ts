import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import type { EngineConfig } from "../../src/engine/factory.js";
import { prepareEngine } from "../../src/engine/factory.js";
import type { ChildEngine } from "../../src/engine/process/child-engine.js";
import { BASE_CHILD_ENV_KEYS } from "../../src/engine/process/child-env.js";
import { createLogger } from "../../src/logger.js";
import { getRecovery } from "../../src/operations/recovery-repo.js";
import { specNamed, startTestService, testConfig, waitForStatus, type TestService } from "../helpers/service.js";
import { CLOUD_RESOURCE, waitForEvent } from "./contract.js";

/**
 * Child-process isolation (issue #4), with the simulated engine running in the children: what one
 * operation's process can see, and what its death does (and does not do) to the others.
 */
type Json = Record<string, any>;
const CANARY = "canary-ambient-credential-5d1f";
let dataDir = "";
let svc: TestService | undefined;

beforeAll(async () => {
  dataDir = await mkdtemp(join(tmpdir(), "saas-bridge-isolation-"));
  // Ambient credentials in the service's own environment must never reach an operation.
  process.env["AWS_SECRET_ACCESS_KEY"] = CANARY;
  process.env["AWS_ACCESS_KEY_ID"] = CANARY;
});
afterAll(async () => {
  delete process.env["AWS_SECRET_ACCESS_KEY"];
  delete process.env["AWS_ACCESS_KEY_ID"];
  await rm(dataDir, { recursive: true, force: true });
});
afterEach(async () => {
  await svc?.close(5_000);
  svc = undefined;
});

async function service(overrides: Partial<EngineConfig> = {}): Promise<TestService> {
  const config = { ...testConfig, DATA_DIR: dataDir, ENGINE_PROCESS: "child" as const, SIMULATED_STEP_MS: 200, ...overrides };
  const factory = await prepareEngine(config, createLogger("silent"));
  svc = await startTestService({ config, engine: (db, log) => factory(db, log) });
  return svc;
}

async function create(s: TestService, name: string): Promise<string> {
  const res = await s.app.inject({ method: "POST", url: "/v1/providers", payload: specNamed(name) });
  expect(res.statusCode, res.body).toBe(202);
  return (res.json() as Json).operation.id as string;
}

function pidOf(s: TestService, id: string): number {
  const pid = (s.engine as ChildEngine).running().get(id);
  if (pid === undefined) throw new Error(`operation ${id} has no running child`);
  return pid;
}

async function eventsOf(s: TestService, id: string): Promise<Json[]> {
  return ((await s.app.inject({ method: "GET", url: `/v1/operations/${id}/events?limit=1000` })).json() as Json).items as Json[];
}

function startedChildren(s: TestService): { engineChild: number; envKeys: string[] }[] {
  return s.logs.map((l) => JSON.parse(l) as Json).filter((l) => l.msg === "engine child started") as never;
}

describe("engine children", () => {
  it("see only the keys they were given: no ambient credentials, only what ENGINE_ENV_PASSTHROUGH names", async () => {
    const s = await service({ ENGINE_PASSTHROUGH_ENV: { AWS_REGION: "eu-west-1" } });
    const done = await waitForStatus(s, await create(s, "iso-env"), ["succeeded", "failed"], 60_000);
    expect(done.status).toBe("succeeded");
    const children = startedChildren(s);
    expect(children.length).toBeGreaterThan(0);
    for (const c of children) expect(c.envKeys.sort()).toEqual([...BASE_CHILD_ENV_KEYS, "AWS_REGION"].sort());
    expect(s.logs.join("")).not.toContain(CANARY);
    expect(done.result.engineProcess.peakRssBytes).toBeGreaterThan(10 * 1024 * 1024);
  }, 90_000);

  it("killing one operation's child interrupts that attempt only: it resumes as attempt 2, the stack recovered first; the others finish", async () => {
    const s = await service();
    const ids = await Promise.all(["iso-a", "iso-b", "iso-c"].map((n) => create(s, n)));
    await Promise.all(ids.map((id) => waitForEvent(s, id, "resource.started", 60_000)));
    process.kill(pidOf(s, ids[1]!), "SIGKILL");
    const ended = await Promise.all(ids.map((id) => waitForStatus(s, id, ["succeeded", "failed", "interrupted", "cancelled"], 60_000)));
    expect(ended.map((o) => [o.status, o.attempt])).toEqual([["succeeded", 1], ["succeeded", 2], ["succeeded", 1]]);
    const events = await eventsOf(s, ids[1]!);
    expect(events.find((e) => e.type === "operation.resuming")?.reason).toContain("killed by SIGKILL");
    // Recorded for recovery in the transaction that ended attempt 1, done (and cleared) by attempt 2.
    expect(events.some((e) => e.type === "diagnostic" && String(e.message).startsWith(`recovered the stack after interrupted operation ${ids[1]}`))).toBe(true);
    expect(await getRecovery(s.db, "iso-b")).toBeUndefined();
    expect(events.filter((e) => e.type === "diagnostic" && String(e.message).startsWith("recovered the stack"))).toHaveLength(1);
    for (const id of [ids[0]!, ids[2]!]) expect((await eventsOf(s, id)).some((e) => e.type === "operation.resuming")).toBe(false);
  }, 120_000);

  it("a child that stops answering (SIGSTOP) is killed after the heartbeat timeout; that attempt is interrupted and the next succeeds", async () => {
    const s = await service({ ENGINE_HEARTBEAT_TIMEOUT_SECONDS: 2 });
    const id = await create(s, "iso-hung");
    await waitForEvent(s, id, "resource.started", 60_000);
    process.kill(pidOf(s, id), "SIGSTOP");
    const ended = await waitForStatus(s, id, ["interrupted", "succeeded", "failed"], 60_000);
    expect([ended.status, ended.attempt]).toEqual(["succeeded", 2]);
    expect((await eventsOf(s, id)).find((e) => e.type === "operation.resuming")?.reason).toContain("stopped answering");
  }, 90_000);

  it("a cancel the child does not finish within the grace period kills it; the stack is recovered by the next operation", async () => {
    // Steps take 3 s and the grace is 1 s: the in-flight steps cannot settle in time.
    const s = await service({ SIMULATED_STEP_MS: 3_000, ENGINE_CANCEL_GRACE_SECONDS: 1 });
    // (the retry below takes a few 3 s steps in sequence)
    const id = await create(s, "iso-forced");
    // A cloud resource (components and providers take no time): its step is in flight when the cancel comes.
    await waitForEvent(s, id, "resource.started", 60_000, (e) => CLOUD_RESOURCE.test(String(e.resourceType)));
    expect((await s.app.inject({ method: "POST", url: `/v1/operations/${id}/cancel` })).statusCode).toBe(202);
    const ended = await waitForStatus(s, id, ["cancelled", "succeeded", "failed", "interrupted"], 30_000);
    expect(ended.status).toBe("cancelled");
    expect(await getRecovery(s.db, "iso-forced")).toMatchObject({ operationId: id });
    expect(s.logs.some((l) => l.includes("did not stop within the grace period"))).toBe(true);

    const retry = await s.app.inject({ method: "PUT", url: "/v1/providers/iso-forced", payload: specNamed("iso-forced") });
    const next = await waitForStatus(s, (retry.json() as Json).operation.id, ["succeeded", "failed"], 120_000);
    expect(next.status).toBe("succeeded");
    expect(await getRecovery(s.db, "iso-forced")).toBeUndefined();
  }, 180_000);
});
