import { afterAll, describe, expect, it } from "vitest";
import type { Engine, EngineRequest } from "../../src/engine/engine.js";
import type { Db } from "../../src/store/db.js";
import { createSimulatedEngine } from "../../src/engine/simulated/simulated-engine.js";
import { PROGRAM_VERSION } from "../../programs/version.js";
import { insertRollout } from "../../src/fleet/fleet-repo.js";
import { enqueueOperation } from "../../src/operations/operations-repo.js";
import { sharedEvaluator, specNamed, startTestService, waitForStatus, type TestService } from "../helpers/service.js";
import { markBehind } from "../helpers/behind.js";
import { maxOverlap, onboard, rolloutOps, waitForRollout } from "./helpers.js";

/**
 * Issue 15, part 3: a fleet rollout of a new program version. Stacks "behind" (they last ran an older
 * version — set here as a release upgrade leaves them) are previewed, then updated in waves, at most
 * maxParallel at once; the rollout halts past maxFailures, yields to people's operations, and can be
 * paused, resumed, cancelled, approved and rejected.
 */
type Json = Record<string, any>;
const services: TestService[] = [];
afterAll(async () => {
  for (const s of services) await s.close(5_000);
});

/** The simulated engine; an `up` of a provider in `failing` fails, and each rollout `up` takes `upMs` (a test double around the real engine). */
function engineWith(failing: Set<string>, upMs = 0): (db: Db) => Engine {
  return (db) => {
    const inner = createSimulatedEngine({
      state: { db },
      stepMs: 0,
      evaluator: sharedEvaluator(),
      faultOf: (step) => (failing.has(step.urn.split("::")[0]!.split(":").at(-1)!) ? "injected failure (test)" : undefined),
    });
    return {
      ...inner,
      name: inner.name,
      run: async (request: EngineRequest, options) => {
        if (upMs > 0 && request.kind === "up") await new Promise((r) => setTimeout(r, upMs));
        return inner.run(request, options);
      },
      outputs: (stack, program) => inner.outputs(stack, program),
      readiness: () => inner.readiness(),
      ready: () => inner.ready(),
      close: () => inner.close(),
    };
  };
}

async function start(options: { failing?: Set<string>; upMs?: number; config?: Record<string, unknown> } = {}): Promise<TestService> {
  const svc = await startTestService({ engine: engineWith(options.failing ?? new Set(), options.upMs ?? 0), config: options.config ?? {} });
  services.push(svc);
  return svc;
}

async function createRollout(svc: TestService, body: Json): Promise<Json> {
  const res = await svc.app.inject({ method: "POST", url: "/v1/rollouts", payload: body });
  expect(res.statusCode, res.body).toBe(201);
  return res.json() as Json;
}

describe("fleet rollout", () => {
  it("previews every behind stack, then applies in waves (canary, batches) with at most maxParallel at once; a revoked provider stays revoked", async () => {
    const svc = await start({ upMs: 150 });
    const names = ["ro-a", "ro-b", "ro-c", "ro-d", "ro-e"];
    await onboard(svc, names, { revoke: ["ro-c"] });
    // Before the upgrade: every stack is current.
    expect((await svc.app.inject({ method: "GET", url: "/v1/fleet" })).json()).toMatchObject({ programVersion: PROGRAM_VERSION, behind: 0 });
    expect((await svc.app.inject({ method: "POST", url: "/v1/rollouts", payload: {} })).json()).toMatchObject({ code: "ROLLOUT_CONFLICT" });
    await markBehind(svc.db, names);
    const fleet = (await svc.app.inject({ method: "GET", url: "/v1/fleet" })).json() as Json;
    expect(fleet.behind).toBe(5);
    expect(fleet.versions).toEqual([{ programVersion: "provider-stack@1", standing: "behind", providers: 5, lifecycles: { active: 4, revoked: 1 } }]);

    const created = await createRollout(svc, { canary: 1, batchSize: 2, maxParallel: 2, maxFailures: 0 });
    expect(created).toMatchObject({ status: "previewing", programVersion: PROGRAM_VERSION, options: { canary: 1, batchSize: 2, maxParallel: 2, maxFailures: 0 } });
    expect(created.counts.total).toBe(5);
    // A second rollout is refused while this one is open, naming it.
    const second = await svc.app.inject({ method: "POST", url: "/v1/rollouts", payload: {} });
    expect(second.statusCode).toBe(409);
    expect(second.json()).toMatchObject({ code: "ROLLOUT_CONFLICT", links: { rollout: `/v1/rollouts/${created.id}` } });

    const done = await waitForRollout(svc, created.id);
    expect(done).toMatchObject({ status: "succeeded", counts: { total: 5, done: 5, failed: 0, inFlight: 0, pending: 0 }, wave: { current: 2, of: 3 } });
    expect(done.stacks.map((s: Json) => [s.provider, s.wave, s.status, s.accessState])).toEqual([
      ["ro-a", 0, "succeeded", "active"],
      ["ro-b", 1, "succeeded", "active"],
      ["ro-c", 1, "succeeded", "revoked"],
      ["ro-d", 2, "succeeded", "active"],
      ["ro-e", 2, "succeeded", "active"],
    ]);
    // Every stack previewed (a change summary), then updated once, each an ordinary operation of the rollout.
    for (const s of done.stacks) expect(s.changes).toMatchObject({ same: expect.any(Number) });
    const ran = await rolloutOps(svc, created.id);
    expect(ran.filter((o) => o.intent === "preview").map((o) => o.provider).sort()).toEqual(names);
    expect(ran.filter((o) => o.intent === "update").map((o) => o.provider).sort()).toEqual(names);
    expect(new Set(ran.map((o) => o.priority))).toEqual(new Set([1]));
    expect(ran.find((o) => o.provider === "ro-c" && o.intent === "update")!.access_state).toBe("revoked");
    expect((await svc.app.inject({ method: "GET", url: "/v1/providers/ro-c" })).json()).toMatchObject({ lifecycle: "revoked" });
    // Never more than maxParallel of its updates at once; and the canary ended before any other update started.
    const updates = ran.filter((o) => o.intent === "update");
    expect(maxOverlap(updates)).toBeLessThanOrEqual(2);
    expect(maxOverlap(updates)).toBe(2);
    const canary = updates.find((o) => o.provider === "ro-a")!;
    for (const o of updates.filter((u) => u !== canary)) expect(Date.parse(o.started_at)).toBeGreaterThanOrEqual(Date.parse(canary.finished_at));
    // Every preview before the first update.
    const lastPreview = Math.max(...ran.filter((o) => o.intent === "preview").map((o) => Date.parse(o.finished_at)));
    expect(Math.min(...updates.map((o) => Date.parse(o.started_at)))).toBeGreaterThanOrEqual(lastPreview);
    // The fleet is current; the stream tells the whole story and ends by itself.
    expect((await svc.app.inject({ method: "GET", url: "/v1/fleet" })).json()).toMatchObject({ behind: 0, rollout: null });
    const stream = await svc.app.inject({ method: "GET", url: `/v1/rollouts/${created.id}/events`, headers: { accept: "application/x-ndjson" } });
    const events = stream.body.trim().split("\n").map((l) => JSON.parse(l) as Json);
    expect(events.map((e) => e.seq)).toEqual(events.map((_, i) => i + 1));
    expect(events[0]).toMatchObject({ type: "rollout.created", total: 5 });
    expect(events.filter((e) => e.type === "rollout.stack" && e.phase === "apply").at(-1)).toMatchObject({ done: 5, failed: 0, total: 5 });
    expect(events.filter((e) => e.type === "rollout.wave").map((e) => [e.wave, e.stacks])).toEqual([[0, 1], [1, 2], [2, 2]]);
    expect(events.at(-1)).toMatchObject({ type: "rollout.succeeded", done: 5, failed: 0, skipped: 0 });
    const text = await svc.app.inject({ method: "GET", url: `/v1/rollouts/${created.id}/events`, headers: { accept: "text/plain" } });
    // The last wave's two stacks run at once: either may be the fifth to finish (CI saw ro-d after ro-e).
    expect(text.body).toMatch(/\[5\/5\] ro-[de] apply succeeded/);
    expect(text.body).toMatch(/wave 1 of 3 \(canary\): 1 stack/);
    // Resumed at its end, the stream is a 204.
    const resumed = await svc.app.inject({ method: "GET", url: `/v1/rollouts/${created.id}/events`, headers: { accept: "text/event-stream", "last-event-id": String(events.length) } });
    expect(resumed.statusCode).toBe(204);
    // Audited: the request, each queued operation (as the service, naming the rollout), the end.
    const audit = (await svc.app.inject({ method: "GET", url: "/v1/audit?limit=500" })).json() as Json;
    const actions = (audit.items as Json[]).filter((r) => r.resource.id === created.id || r.details?.rolloutId === created.id).map((r) => r.action);
    expect(actions.filter((a) => a === "rollout.create")).toHaveLength(1);
    expect(actions.filter((a) => a === "provider.update")).toHaveLength(5);
    expect(actions.filter((a) => a === "rollout.finish")).toHaveLength(1);
  }, 120_000);

  it("halts once failures pass maxFailures: nothing more starts, the stacks after it are untouched", async () => {
    const failing = new Set<string>();
    const svc = await start({ failing });
    const names = ["rh-a", "rh-b", "rh-c", "rh-d", "rh-e", "rh-f"];
    await onboard(svc, names);
    await markBehind(svc.db, names);
    failing.add("rh-b").add("rh-c");
    const created = await createRollout(svc, { canary: 1, batchSize: 2, maxParallel: 1, maxFailures: 1 });
    const done = await waitForRollout(svc, created.id);
    expect(done).toMatchObject({ status: "halted", reason: "2 stack(s) failed, more than maxFailures (1)", counts: { done: 1, failed: 2, inFlight: 0 } });
    expect(done.stacks.map((s: Json) => [s.provider, s.status])).toEqual([
      ["rh-a", "succeeded"],
      ["rh-b", "failed"],
      ["rh-c", "failed"],
      ["rh-d", "previewed"],
      ["rh-e", "previewed"],
      ["rh-f", "previewed"],
    ]);
    expect(done.stacks[1].error).toMatchObject({ code: "RESOURCE_FAILED" });
    // Untouched: no update queued for them, and they still run the old version (a new rollout takes them).
    const updated = (await rolloutOps(svc, created.id)).filter((o) => o.intent === "update").map((o) => o.provider).sort();
    expect(updated).toEqual(["rh-a", "rh-b", "rh-c"]);
    expect((await svc.app.inject({ method: "GET", url: "/v1/fleet" })).json()).toMatchObject({ behind: 5, rollout: null });
    const events = (await svc.app.inject({ method: "GET", url: `/v1/rollouts/${created.id}/events` })).json().items as Json[];
    expect(events.at(-1)).toMatchObject({ type: "rollout.halted", failed: 2, maxFailures: 1 });
    // A halted rollout is final; a new one takes what is still behind.
    expect((await svc.app.inject({ method: "POST", url: `/v1/rollouts/${created.id}/resume` })).statusCode).toBe(409);
    failing.clear();
    // This time followed live: the request itself streams the rollout (NDJSON) until its final event.
    const again = await svc.app.inject({
      method: "POST",
      url: "/v1/rollouts",
      headers: { accept: "application/x-ndjson" },
      payload: { canary: 0, batchSize: 5, maxParallel: 5, maxFailures: 0 },
    });
    expect(again.statusCode, again.body).toBe(201);
    const lines = again.body.trim().split("\n").map((l) => JSON.parse(l) as Json);
    expect(lines[0]).toMatchObject({ type: "rollout.created", total: 5 });
    expect(lines.at(-1)).toMatchObject({ type: "rollout.succeeded", done: 5, failed: 0 });
    expect(again.headers["location"]).toMatch(/^\/v1\/rollouts\/[0-9a-f-]{36}$/);
  }, 120_000);

  it("a person's operation queued during a rollout starts before the rollout's queued updates", async () => {
    // One operation at a time on this replica, so the order of claims is the whole story.
    const svc = await start({ upMs: 400, config: { MAX_CONCURRENT_OPERATIONS: 1 } });
    const names = ["rp-a", "rp-b", "rp-c"];
    await onboard(svc, [...names, "rp-user"]);
    await markBehind(svc.db, names);
    const created = await createRollout(svc, { canary: 0, batchSize: 3, maxParallel: 2, maxFailures: 0, providers: names });
    expect(created.counts.total).toBe(3);
    // Wait until the first update runs and the second is queued behind it.
    const deadline = Date.now() + 30_000;
    let ops: Json[] = [];
    for (;;) {
      ops = (await rolloutOps(svc, created.id)).filter((o) => o.intent === "update");
      if (ops.some((o) => o.status === "running") && ops.some((o) => o.status === "queued")) break;
      if (Date.now() > deadline) throw new Error(`rollout updates never ran: ${JSON.stringify(ops)}`);
      await new Promise((r) => setTimeout(r, 10));
    }
    const waiting = ops.find((o) => o.status === "queued")!;
    const user = await svc.app.inject({ method: "PUT", url: "/v1/providers/rp-user", payload: { ...specNamed("rp-user"), displayName: "Changed by a person" } });
    expect(user.statusCode, user.body).toBe(202);
    const userOp = await waitForStatus(svc, (user.json() as Json).operation.id, ["succeeded"], 30_000);
    await waitForRollout(svc, created.id);
    const after = (await rolloutOps(svc, created.id)).find((o) => o.id === waiting.id)!;
    // Queued after the rollout's update, yet started first (and, one at a time, finished before it started).
    expect(Date.parse(userOp.startedAt)).toBeLessThan(Date.parse(after.started_at));
    expect(Date.parse(userOp.finishedAt)).toBeLessThanOrEqual(Date.parse(after.started_at));
  }, 120_000);

  it("pause stops new work and resume goes on; cancel ends it with its queued operations cancelled", async () => {
    const svc = await start({ upMs: 300 });
    const names = ["rc-a", "rc-b", "rc-c", "rc-d"];
    await onboard(svc, names);
    await markBehind(svc.db, names);
    const created = await createRollout(svc, { canary: 1, batchSize: 1, maxParallel: 1, maxFailures: 0 });
    const paused = await svc.app.inject({ method: "POST", url: `/v1/rollouts/${created.id}/pause` });
    expect(paused.statusCode, paused.body).toBe(200);
    expect(paused.json()).toMatchObject({ status: "paused", pausedPhase: "previewing", links: { resume: `/v1/rollouts/${created.id}/resume` } });
    expect((await svc.app.inject({ method: "POST", url: `/v1/rollouts/${created.id}/pause` })).json()).toMatchObject({ code: "ROLLOUT_CONFLICT" });
    // Paused: what was queued (at most one preview, maxParallel) finishes; nothing more is queued.
    const atPause = (await rolloutOps(svc, created.id)).length;
    expect(atPause).toBeLessThanOrEqual(1);
    await new Promise((r) => setTimeout(r, 800));
    expect((await rolloutOps(svc, created.id)).length).toBe(atPause);
    expect((await svc.app.inject({ method: "POST", url: `/v1/rollouts/${created.id}/resume` })).json()).toMatchObject({ status: "previewing" });
    // Once it applies, cancel: the queued update is cancelled, the running one finishes; the rollout is final.
    const deadline = Date.now() + 30_000;
    while (!(await rolloutOps(svc, created.id)).some((o) => o.intent === "update" && o.status === "running")) {
      if (Date.now() > deadline) throw new Error("no update started");
      await new Promise((r) => setTimeout(r, 10));
    }
    const cancelled = await svc.app.inject({ method: "POST", url: `/v1/rollouts/${created.id}/cancel` });
    expect(cancelled.json()).toMatchObject({ status: "cancelled" });
    const done = await waitForRollout(svc, created.id);
    expect(done.status).toBe("cancelled");
    expect(done.stacks.filter((s: Json) => s.status === "succeeded").length).toBe(1);
    expect(done.stacks.filter((s: Json) => s.status === "previewed").length).toBe(3);
    const events = (await svc.app.inject({ method: "GET", url: `/v1/rollouts/${created.id}/events` })).json().items as Json[];
    expect(events.map((e) => e.type)).toEqual(expect.arrayContaining(["rollout.paused", "rollout.resumed"]));
    expect(events.at(-1)).toMatchObject({ type: "rollout.cancelled", reason: expect.stringMatching(/^cancelled by /) });
  }, 120_000);

  it("with an approval rule, waits after the previews for a second person; the requester cannot approve", async () => {
    const svc = await start({ config: { APPROVAL_RULES: ["all"] } });
    const names = ["ra-a", "ra-b"];
    // Creates need approval too under "all": onboard approves them with a second admin.
    const second = await svc.createKey("admin", [], "second-admin");
    await onboard(svc, names, { approver: second });
    await markBehind(svc.db, names);
    const created = await createRollout(svc, { canary: 0, batchSize: 2, maxParallel: 2, maxFailures: 0 });
    const waiting = await waitForRollout(svc, created.id, ["awaiting_approval"]);
    expect(waiting.stacks.map((s: Json) => s.status)).toEqual(["previewed", "previewed"]);
    expect(waiting.approval).toEqual({ rule: "all", decidedBy: null, decidedAt: null });
    expect((await rolloutOps(svc, created.id)).filter((o) => o.intent === "update")).toEqual([]);
    const self = await svc.app.inject({ method: "POST", url: `/v1/rollouts/${created.id}/approve` });
    expect(self.statusCode).toBe(403);
    const approved = await svc.app.inject({ method: "POST", url: `/v1/rollouts/${created.id}/approve`, headers: { authorization: `Bearer ${second}` }, payload: { comment: "previews look right" } });
    expect(approved.statusCode, approved.body).toBe(200);
    expect(approved.json()).toMatchObject({ status: "applying", approval: { rule: "all", decidedBy: "second-admin" } });
    expect(await waitForRollout(svc, created.id)).toMatchObject({ status: "succeeded", counts: { done: 2 } });
  }, 120_000);

  it("a replica running another program version does not advance that version's rollout, and winds it down once it has ended", async () => {
    const svc = await start();
    await onboard(svc, ["rv-a"]);
    const { id } = await insertRollout(svc.db, {
      id: crypto.randomUUID(),
      programVersion: "provider-stack@99",
      canary: 1,
      batchSize: 1,
      maxParallel: 1,
      maxFailures: 0,
      requestedBy: "apikey:newer-release",
      requestedByName: "newer release",
      approvalRule: undefined,
      stacks: [{ provider: "rv-a", fromVersion: PROGRAM_VERSION, accessState: "active" }],
    });
    // The worker passes every 50 ms here.
    await new Promise((r) => setTimeout(r, 600));
    const [row] = await svc.db.query<Json>(`SELECT status, lease_owner FROM rollouts WHERE id = $1`, [id]);
    expect(row).toEqual({ status: "previewing", lease_owner: null });
    expect(await rolloutOps(svc, id)).toEqual([]);

    // Once it has ended, any replica winds it down: a replica of its release had a preview running when
    // it was cancelled; when that preview ends, this replica records it and writes the final event.
    const op = await enqueueOperation(svc.db, {
      id: crypto.randomUUID(),
      provider: "rv-a",
      intent: "preview",
      kind: "preview",
      accessState: "active",
      engine: "simulated",
      spec: {},
      specHash: "h",
      programVersion: "provider-stack@99",
      rolloutId: id,
    });
    await svc.db.query(
      `UPDATE operations SET status = 'running', attempt = 1, lease_owner = 'newer-release', lease_expires_at = now() + interval '1 hour' WHERE id = $1`,
      [op.operation.id],
    );
    await svc.db.query(`UPDATE rollout_stacks SET status = 'previewing', preview_operation_id = $2 WHERE rollout_id = $1`, [id, op.operation.id]);
    const cancelled = await svc.app.inject({ method: "POST", url: `/v1/rollouts/${id}/cancel` });
    expect(cancelled.json()).toMatchObject({ status: "cancelled", finishedAt: null, counts: { inFlight: 1 } });
    await svc.db.query(
      `UPDATE operations SET status = 'succeeded', finished_at = now(), lease_owner = NULL, lease_expires_at = NULL, result = $2 WHERE id = $1`,
      [op.operation.id, JSON.stringify({ outputs: {}, summary: { create: 0, update: 1, delete: 0, replace: 0, same: 5 } })],
    );
    const ended = await waitForRollout(svc, id);
    expect(ended).toMatchObject({ status: "cancelled", counts: { inFlight: 0 } });
    expect(ended.stacks[0]).toMatchObject({ status: "previewed", changes: { update: 1 } });
    const events = (await svc.app.inject({ method: "GET", url: `/v1/rollouts/${id}/events` })).json().items as Json[];
    expect(events.at(-1)).toMatchObject({ type: "rollout.cancelled" });
  }, 60_000);

  it("refuses bad requests with problems naming the field, and a viewer", async () => {
    const svc = await start();
    const bad = async (payload: unknown, path: string) => {
      const res = await svc.app.inject({ method: "POST", url: "/v1/rollouts", payload: payload as Json });
      expect(res.statusCode, res.body).toBe(400);
      expect((res.json() as Json).errors.map((e: Json) => e.path)).toContain(path);
    };
    await bad({ maxParallel: 0 }, "/maxParallel");
    await bad({ batchSize: 1.5 }, "/batchSize");
    await bad({ canary: -1 }, "/canary");
    await bad({ providers: ["Not A Name"] }, "/providers/0");
    await bad({ providers: ["x-a", "x-a"] }, "/providers");
    await bad({ unknown: true }, "/unknown");
    await bad({ providers: ["nobody-here"] }, "/providers/0");
    const viewer = await svc.createKey("viewer", ["payments"]);
    const asViewer = await svc.app.inject({ method: "POST", url: "/v1/rollouts", headers: { authorization: `Bearer ${viewer}` }, payload: {} });
    expect(asViewer.statusCode).toBe(403);
    expect((await svc.app.inject({ method: "GET", url: "/v1/rollouts/not-a-uuid" })).statusCode).toBe(404);
    expect((await svc.app.inject({ method: "GET", url: `/v1/rollouts/${crypto.randomUUID()}/events` })).statusCode).toBe(404);
    // A viewer sees the fleet of its teams only, and no rollout.
    expect((await svc.app.inject({ method: "GET", url: "/v1/fleet", headers: { authorization: `Bearer ${viewer}` } })).json()).toMatchObject({ providers: 0, rollout: null });
  }, 60_000);
});
