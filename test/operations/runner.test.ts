import { afterEach, describe, expect, it } from "vitest";
import { createSimulatedEngine } from "../../src/engine/simulated/simulated-engine.js";
import { LeaseLostError } from "../../src/operations/operation.js";
import * as ops from "../../src/operations/operations-repo.js";
import { sweepExpiredLeases } from "../../src/operations/interruption.js";
import { specNamed, startTestService, waitForStatus, type TestService } from "../helpers/service.js";

type Json = Record<string, any>;
let svc: TestService | undefined;
afterEach(async () => {
  await svc?.close(2_000);
  svc = undefined;
});

async function create(s: TestService, name: string): Promise<Json> {
  const res = await s.app.inject({ method: "POST", url: "/v1/providers", payload: specNamed(name) });
  expect(res.statusCode).toBe(202);
  return (res.json() as Json).operation;
}

async function eventTypes(s: TestService, id: string): Promise<string[]> {
  const res = await s.app.inject({ method: "GET", url: `/v1/operations/${id}/events?limit=1000` });
  return ((res.json() as Json).items as Json[]).map((e) => e.type);
}

describe("runner", () => {
  it("never runs two operations of one provider at once; the second is queued FIFO with its position", async () => {
    svc = await startTestService({ config: { SIMULATED_STEP_MS: 15 } });
    const s = svc;
    const first = await create(s, "serial");
    const [a, b] = await Promise.all([
      s.app.inject({ method: "PUT", url: "/v1/providers/serial", payload: specNamed("serial") }),
      s.app.inject({ method: "POST", url: "/v1/providers/serial/revoke" }),
    ]);
    const positions = [a, b].map((r) => (r.json() as Json).queuePosition).sort();
    expect(positions).toEqual([1, 2]);

    let maxRunning = 0;
    const ids = [first.id, (a.json() as Json).operation.id, (b.json() as Json).operation.id];
    const deadline = Date.now() + 30_000;
    for (;;) {
      const rows = await s.db.query<{ running: number; open: number }>(
        `SELECT count(*) FILTER (WHERE status = 'running')::int AS running,
                count(*) FILTER (WHERE status IN ('queued','running'))::int AS open
           FROM operations WHERE provider = 'serial'`,
      );
      maxRunning = Math.max(maxRunning, rows[0]!.running);
      if (rows[0]!.open === 0 || Date.now() > deadline) break;
      await new Promise((r) => setTimeout(r, 5));
    }
    expect(maxRunning).toBe(1);
    const done = await Promise.all(ids.map((id) => waitForStatus(s, id, ["succeeded", "failed"])));
    expect(done.map((o) => o.status)).toEqual(["succeeded", "succeeded", "succeeded"]);
    // FIFO in queue order, and no overlap: each started after the previous one finished.
    const byQueue = [first.id, ...[a, b].sort((x, y) => (x.json() as Json).queuePosition - (y.json() as Json).queuePosition).map((r) => (r.json() as Json).operation.id)];
    const ordered = byQueue.map((id) => done[ids.indexOf(id)]!);
    for (let i = 1; i < ordered.length; i++) {
      expect(Date.parse(ordered[i]!.startedAt)).toBeGreaterThanOrEqual(Date.parse(ordered[i - 1]!.finishedAt));
    }
  });

  it("the database refuses a second running operation even if code tried", async () => {
    svc = await startTestService({ start: false });
    const s = svc;
    const op1 = await create(s, "guarded");
    await s.app.inject({ method: "POST", url: "/v1/providers/guarded/preview" });
    await s.db.query(`UPDATE operations SET status = 'running' WHERE id = $1`, [op1.id]);
    await expect(s.db.query(`UPDATE operations SET status = 'running' WHERE provider = 'guarded' AND id <> $1`, [op1.id])).rejects.toThrow();
  });

  it("cancels a queued operation at once and a running one gracefully; both streams end with operation.cancelled", async () => {
    svc = await startTestService({ config: { SIMULATED_STEP_MS: 40 } });
    const s = svc;
    const running = await create(s, "cancel-me");
    const queued = (await s.app.inject({ method: "POST", url: "/v1/providers/cancel-me/preview" })).json() as Json;
    await waitForStatus(s, running.id, ["running"]);

    const cq = await s.app.inject({
      method: "POST",
      url: `/v1/operations/${queued.operation.id}/cancel`,
      headers: { accept: "application/x-ndjson" },
    });
    expect(cq.statusCode).toBe(202);
    // Cancel itself can stream: the queued operation's stream ends with the cancellation.
    expect((JSON.parse(cq.body.trim().split("\n").at(-1)!) as Json).type).toBe("operation.cancelled");
    expect((await eventTypes(s, queued.operation.id)).at(-1)).toBe("operation.cancelled");
    expect(((await s.app.inject({ method: "GET", url: `/v1/operations/${queued.operation.id}` })).json() as Json).status).toBe("cancelled");

    // A client follows the running operation; its stream must end with the cancellation.
    const following = s.app.inject({ method: "GET", url: `/v1/operations/${running.id}/events`, headers: { accept: "application/x-ndjson" } });
    const cr = await s.app.inject({ method: "POST", url: `/v1/operations/${running.id}/cancel` });
    expect(cr.statusCode).toBe(202);
    expect((cr.json() as Json).cancelRequested).toBe(true);
    const streamed = (await following).body.trim().split("\n").map((l) => JSON.parse(l) as Json);
    expect(streamed.at(-1)!.type).toBe("operation.cancelled");
    const ended = await waitForStatus(s, running.id, ["cancelled", "succeeded", "failed"]);
    expect(ended.status).toBe("cancelled");
    const types = await eventTypes(s, running.id);
    expect(types.at(-1)).toBe("operation.cancelled");
    // Cancelled before the end: not every planned resource completed.
    expect(types.filter((t) => t === "resource.completed").length).toBeLessThan(types.filter((t) => t === "resource.planned").length);
    // A cancelled first provisioning leaves the provider failed, and it can be retried.
    expect(((await s.app.inject({ method: "GET", url: "/v1/providers/cancel-me" })).json() as Json).lifecycle).toBe("failed");
    const again = await s.app.inject({ method: "POST", url: `/v1/operations/${running.id}/cancel` });
    expect(again.statusCode).toBe(409);
  });

  it("a worker that lost its lease can neither write events nor finish", async () => {
    svc = await startTestService({ start: false });
    const s = svc;
    const op = await create(s, "fenced");
    const claimed = (await ops.claimNext(s.db, "worker-a", 30))!;
    expect(claimed.id).toBe(op.id);
    const fence = { attempt: claimed.attempt, owner: "worker-a" };
    await ops.appendEvent(s.db, op.id, fence, { type: "progress", done: 0, total: 1 });
    await s.db.query(`UPDATE operations SET lease_expires_at = now() - interval '1 second' WHERE id = $1`, [op.id]);
    // Expired is lost, even before a sweep ended the attempt: a late heartbeat does not bring it back.
    expect(await ops.heartbeat(s.db, op.id, fence, 30)).toBeUndefined();
    const policy = { maxAttempts: 3, backoffSeconds: 0 };
    const swept = await s.db.transaction((tx) => sweepExpiredLeases(tx, { policy, onFinish: async () => undefined }));
    expect(swept.map((e) => [e.op.id, e.outcome])).toEqual([[op.id, "resuming"]]);
    await expect(ops.appendEvent(s.db, op.id, fence, { type: "progress", done: 1, total: 1 })).rejects.toBeInstanceOf(LeaseLostError);
    await expect(ops.finishRunning(s.db, op.id, fence, "succeeded", {})).rejects.toBeInstanceOf(LeaseLostError);
    expect(await ops.heartbeat(s.db, op.id, fence, 30)).toBeUndefined();
  });

  it("on start, an operation whose lease expired resumes as its next attempt, the stack recovered first, and succeeds", async () => {
    svc = await startTestService({ start: false });
    const s = svc;
    const op = await create(s, "resumed");
    await ops.claimNext(s.db, "dead-worker", 30);
    await ops.appendEvent(s.db, op.id, null, { type: "operation.started", attempt: 1, engine: "simulated" });
    await s.db.query(`UPDATE operations SET lease_expires_at = now() - interval '1 second' WHERE id = $1`, [op.id]);
    await s.start();
    const ended = await waitForStatus(s, op.id, ["succeeded", "failed", "interrupted"]);
    expect(ended.status).toBe("succeeded");
    expect(ended.attempt).toBe(2);
    const page = (await s.app.inject({ method: "GET", url: `/v1/operations/${op.id}/events?limit=1000` })).json() as Json;
    const items = page.items as Json[];
    // Gap-free across attempts: the boundary, then attempt 2 starts with the recovery step.
    expect(items.map((e) => e.seq)).toEqual(items.map((_, i) => i + 1));
    const boundary = items.findIndex((e) => e.type === "operation.resuming");
    expect(items[boundary]).toMatchObject({ attempt: 1, nextAttempt: 2, maxAttempts: 3 });
    expect(items[boundary]!.reason).toMatch(/lease/);
    expect(items[boundary + 1]).toMatchObject({ type: "operation.started", attempt: 2 });
    expect(items.slice(boundary + 1).some((e) => e.type === "diagnostic" && /recovered the stack after interrupted operation/.test(e.message))).toBe(true);
    expect(((await s.app.inject({ method: "GET", url: "/v1/providers/resumed" })).json() as Json).lifecycle).toBe("active");
  });

  it("with RESUME_MAX_ATTEMPTS=1, an operation whose lease expired is interrupted, saying why, and the provider can be operated again", async () => {
    svc = await startTestService({ start: false, config: { RESUME_MAX_ATTEMPTS: 1 } });
    const s = svc;
    const op = await create(s, "crashed");
    await ops.claimNext(s.db, "dead-worker", 30);
    await s.db.query(`UPDATE operations SET lease_expires_at = now() - interval '1 second' WHERE id = $1`, [op.id]);
    await s.start();
    const ended = await waitForStatus(s, op.id, ["interrupted"]);
    expect(ended.error.code).toBe("INTERRUPTED");
    expect(ended.error.message).toMatch(/lease.*automatic resumption is off \(RESUME_MAX_ATTEMPTS=1\)/);
    expect((await eventTypes(s, op.id)).at(-1)).toBe("operation.interrupted");
    expect(((await s.app.inject({ method: "GET", url: "/v1/providers/crashed" })).json() as Json).lifecycle).toBe("failed");
    const retry = await s.app.inject({ method: "PUT", url: "/v1/providers/crashed", payload: specNamed("crashed") });
    expect((await waitForStatus(s, (retry.json() as Json).operation.id, ["succeeded", "failed"])).status).toBe("succeeded");
  });

  it("drain: running operations get the grace period, then are queued to resume (another replica continues them) — none left running", async () => {
    svc = await startTestService({ config: { SIMULATED_STEP_MS: 200 } });
    const s = svc;
    const op = await create(s, "draining");
    await waitForStatus(s, op.id, ["running"]);
    await s.runner.drain(50);
    const rows = await s.db.query<{ status: string; attempt: number }>(`SELECT status, attempt FROM operations WHERE id = $1`, [op.id]);
    expect(rows[0]).toEqual({ status: "queued", attempt: 1 });
    const types = await eventTypes(s, op.id);
    expect(types.at(-1)).toBe("operation.resuming");
    expect(types).not.toContain("operation.interrupted");
  });

  it("drain with RESUME_MAX_ATTEMPTS=1: running operations are interrupted after the grace period, saying the service shut down", async () => {
    svc = await startTestService({ config: { SIMULATED_STEP_MS: 200, RESUME_MAX_ATTEMPTS: 1 } });
    const s = svc;
    const op = await create(s, "draining");
    await waitForStatus(s, op.id, ["running"]);
    await s.runner.drain(50);
    const rows = await s.db.query<{ status: string; error: { message: string } }>(`SELECT status, error FROM operations WHERE id = $1`, [op.id]);
    expect(rows[0]!.status).toBe("interrupted");
    expect(rows[0]!.error.message).toMatch(/^the service shut down before the operation finished/);
    expect((await eventTypes(s, op.id)).at(-1)).toBe("operation.interrupted");
  });

  it("a failing resource fails the operation with the engine's message; a failed first provisioning is 'failed'", async () => {
    svc = await startTestService({
      engine: (db) => createSimulatedEngine({ state: { db }, stepMs: 0, faultOf: (step) => (step.type === "aws:ec2/vpcEndpoint:VpcEndpoint" ? "InvalidServiceName" : undefined) }),
    });
    const s = svc;
    const op = await create(s, "broken");
    const ended = await waitForStatus(s, op.id, ["failed", "succeeded"]);
    expect(ended.status).toBe("failed");
    expect(ended.error.message).toContain("InvalidServiceName");
    expect(await eventTypes(s, op.id)).toContain("resource.failed");
    expect(((await s.app.inject({ method: "GET", url: "/v1/providers/broken" })).json() as Json).lifecycle).toBe("failed");
  });

  it("destroy takes simulated time for cloud deletes only, not for components, providers or retained resources", async () => {
    svc = await startTestService({ config: { SIMULATED_STEP_MS: 40 } });
    const s = svc;
    await waitForStatus(s, (await create(s, "timed")).id, ["succeeded"]);
    const del = ((await s.app.inject({ method: "DELETE", url: "/v1/providers/timed" })).json() as Json).operation;
    await waitForStatus(s, del.id, ["succeeded"]);
    const page = (await s.app.inject({ method: "GET", url: `/v1/operations/${del.id}/events?limit=1000` })).json() as Json;
    const deletes = (page.items as Json[]).filter((e) => e.type === "resource.completed" && e.op === "delete");
    const retained = new Set((page.items as Json[]).filter((e) => e.type === "diagnostic" && /stays in AWS/.test(e.message)).map((e) => e.urn));
    const bookkeeping = deletes.filter((e) => !e.resourceType.startsWith("aws:") || retained.has(e.urn));
    const cloud = deletes.filter((e) => e.resourceType.startsWith("aws:") && !retained.has(e.urn));
    expect(retained.size).toBeGreaterThan(0);
    expect(bookkeeping.length).toBeGreaterThan(retained.size);
    expect(cloud.length).toBeGreaterThan(0);
    expect(Math.max(...bookkeeping.map((e) => e.durationMs))).toBeLessThan(40);
    expect(Math.min(...cloud.map((e) => e.durationMs))).toBeGreaterThanOrEqual(35);
  });

  it("preview plans without changing state", async () => {
    svc = await startTestService();
    const s = svc;
    await waitForStatus(s, (await create(s, "previewed")).id, ["succeeded"]);
    const before = await s.db.query(`SELECT urn, inputs FROM simulated_resources WHERE stack = 'previewed' ORDER BY urn`);
    const spec = specNamed("previewed") as Json;
    spec.outbound = { ...spec.outbound, ports: [...spec.outbound.ports, { port: 9443, protocol: "tcp" }] };
    const res = await s.app.inject({ method: "POST", url: "/v1/providers/previewed/preview", payload: spec });
    const op = await waitForStatus(s, (res.json() as Json).operation.id, ["succeeded", "failed"]);
    expect(op.result.summary.create).toBeGreaterThan(0);
    expect(op.result.steps.some((st: Json) => st.op === "create" && st.resourceType.includes("SecurityGroupIngressRule"))).toBe(true);
    const after = await s.db.query(`SELECT urn, inputs FROM simulated_resources WHERE stack = 'previewed' ORDER BY urn`);
    expect(after).toEqual(before);
  });
});
