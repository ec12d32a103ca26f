import { afterEach, describe, expect, it } from "vitest";
import { EngineInterruptedError } from "../../src/engine/engine.js";
import { createSimulatedEngine } from "../../src/engine/simulated/simulated-engine.js";
import { requestHubUpdate } from "../../src/onboarding/network-hub.js";
import { INTENTS } from "../../src/operations/operation.js";
import * as ops from "../../src/operations/operations-repo.js";
import { afterInterruption, backoffSeconds, RESUMPTION } from "../../src/operations/resumption.js";
import { createTestDb } from "../helpers/db.js";
import { specNamed, startTestService, waitForStatus, type TestService } from "../helpers/service.js";

/** Issue 14, part 2: which interrupted attempts are resumed, how often, how far apart, and what ends them. */
type Json = Record<string, any>;
let svc: TestService | undefined;
afterEach(async () => {
  await svc?.close(2_000);
  svc = undefined;
});

async function events(s: TestService, id: string): Promise<Json[]> {
  return ((await s.app.inject({ method: "GET", url: `/v1/operations/${id}/events?limit=1000` })).json() as Json).items as Json[];
}

describe("resumption policy", () => {
  it("every kind of operation says whether, and why, it is safe to run again", () => {
    expect(Object.keys(RESUMPTION).sort()).toEqual([...INTENTS].sort());
    for (const intent of INTENTS) expect(RESUMPTION[intent].why.length, intent).toBeGreaterThan(20);
  });

  it("resumes until the last attempt; the first resumption at once, then the back-off doubling with ±20 % jitter", () => {
    const policy = { maxAttempts: 4, backoffSeconds: 10 };
    expect(afterInterruption({ intent: "create", attempt: 1 }, policy)).toEqual({ resume: true, nextAttempt: 2, delaySeconds: 0 });
    expect(afterInterruption({ intent: "create", attempt: 2 }, policy, () => 0.5)).toEqual({ resume: true, nextAttempt: 3, delaySeconds: 10 });
    expect(afterInterruption({ intent: "create", attempt: 3 }, policy, () => 0.5)).toEqual({ resume: true, nextAttempt: 4, delaySeconds: 20 });
    expect(afterInterruption({ intent: "create", attempt: 4 }, policy)).toEqual({ resume: false, why: "attempt 4 of 4 was the last" });
    expect(afterInterruption({ intent: "decommission", attempt: 1 }, { maxAttempts: 1, backoffSeconds: 10 })).toMatchObject({ resume: false, why: expect.stringMatching(/RESUME_MAX_ATTEMPTS=1/) });
    expect([backoffSeconds(3, 10, () => 0), backoffSeconds(3, 10, () => 1)]).toEqual([16, 24]);
    expect(backoffSeconds(30, 3_600, () => 0.5)).toBe(3_600);
    expect(backoffSeconds(5, 0)).toBe(0);
  });
});

describe("resumption in the runner", () => {
  it("an attempt that keeps being interrupted is resumed up to RESUME_MAX_ATTEMPTS, backing off, then interrupted for a person", async () => {
    let runs = 0;
    svc = await startTestService({
      config: { RESUME_MAX_ATTEMPTS: 3, RESUME_BACKOFF_SECONDS: 1 },
      engine: (db) => {
        const inner = createSimulatedEngine({ state: { db }, stepMs: 0 });
        return {
          ...inner,
          run: async () => {
            runs++;
            throw new EngineInterruptedError("the engine process ended before the operation finished (killed by SIGKILL)");
          },
        };
      },
    });
    const s = svc;
    const op = ((await s.app.inject({ method: "POST", url: "/v1/providers", payload: specNamed("always-killed") })).json() as Json).operation as Json;
    const ended = await waitForStatus(s, op.id, ["interrupted", "succeeded", "failed"], 30_000);
    expect([ended.status, ended.attempt, runs]).toEqual(["interrupted", 3, 3]);
    expect(ended.error.message).toBe("the engine process ended before the operation finished (killed by SIGKILL); attempt 3 of 3 was the last");
    const list = await events(s, op.id);
    const resuming = list.filter((e) => e.type === "operation.resuming");
    expect(resuming.map((e) => [e.attempt, e.nextAttempt, e.maxAttempts])).toEqual([[1, 2, 3], [2, 3, 3]]);
    // The first resumption is due at once; the second after the 1 s back-off (±20 %), and not started before.
    const due = resuming.map((e) => Date.parse(e.notBefore) - Date.parse(e.at));
    expect(due[0]).toBeLessThan(100);
    expect(due[1]).toBeGreaterThanOrEqual(700);
    expect(due[1]).toBeLessThanOrEqual(1_300);
    const third = list.find((e) => e.type === "operation.started" && e.attempt === 3)!;
    expect(Date.parse(third.at)).toBeGreaterThanOrEqual(Date.parse(resuming[1]!.notBefore));
    expect(list.filter((e) => e.type === "operation.started").map((e) => e.attempt)).toEqual([1, 2, 3]);
    expect(list.at(-1)).toMatchObject({ type: "operation.interrupted" });
    expect(list.map((e) => e.seq)).toEqual(list.map((_, i) => i + 1));
    // A first provisioning that could not finish leaves the provider failed, to be retried by a person.
    expect(((await s.app.inject({ method: "GET", url: "/v1/providers/always-killed" })).json() as Json).lifecycle).toBe("failed");
  });

  it("an attempt that runs out of disk space ends naming it, and resumes (here at once: the disk check passes)", async () => {
    let runs = 0;
    svc = await startTestService({
      engine: (db) => {
        const inner = createSimulatedEngine({ state: { db }, stepMs: 0 });
        return {
          ...inner,
          run: async (request, options) => {
            if (++runs === 1) {
              const cause = Object.assign(new Error("ENOSPC: no space left on device, write"), { code: "ENOSPC", path: "/srv/data/engine/tmp/x" });
              throw new Error("writing the checkpoint failed", { cause });
            }
            return inner.run(request, options);
          },
        };
      },
    });
    const s = svc;
    const op = ((await s.app.inject({ method: "POST", url: "/v1/providers", payload: specNamed("disk-blip") })).json() as Json).operation as Json;
    const ended = await waitForStatus(s, op.id, ["interrupted", "succeeded", "failed"], 30_000);
    expect([ended.status, ended.attempt]).toEqual(["succeeded", 2]);
    expect((await events(s, op.id)).find((e) => e.type === "operation.resuming")?.reason).toBe("no space left on the device holding /srv/data/engine/tmp/x (ENOSPC)");
  });

  it("while it waits to resume, the operation is queued with its next start time, keeps its place, and can be cancelled", async () => {
    svc = await startTestService({ start: false, config: { RESUME_BACKOFF_SECONDS: 3_600 } });
    const s = svc;
    const first = ((await s.app.inject({ method: "POST", url: "/v1/providers", payload: specNamed("waiting") })).json() as Json).operation as Json;
    const behind = ((await s.app.inject({ method: "POST", url: "/v1/providers/waiting/preview" })).json() as Json).operation as Json;
    // Attempt 2 was lost too: the next resumption waits an hour.
    await ops.claimNext(s.db, "dead-worker", 30);
    await s.db.query(`UPDATE operations SET attempt = 2, lease_expires_at = now() - interval '1 second' WHERE id = $1`, [first.id]);
    await s.start();
    const deadline = Date.now() + 10_000;
    let seen: Json = {};
    while (Date.now() < deadline && !((seen = (await s.app.inject({ method: "GET", url: `/v1/operations/${first.id}` })).json() as Json).resumesAt)) {
      await new Promise((r) => setTimeout(r, 50));
    }
    expect(seen.status).toBe("queued");
    expect(Date.parse(seen.resumesAt) - Date.now()).toBeGreaterThan(2_000_000);
    // Nothing behind it on its stack overtakes it.
    await new Promise((r) => setTimeout(r, 300));
    expect(((await s.app.inject({ method: "GET", url: `/v1/operations/${behind.id}` })).json() as Json).status).toBe("queued");
    const cancelled = await s.app.inject({ method: "POST", url: `/v1/operations/${first.id}/cancel` });
    expect(cancelled.statusCode, cancelled.body).toBe(202);
    expect(((await s.app.inject({ method: "GET", url: `/v1/operations/${first.id}` })).json() as Json).status).toBe("cancelled");
    expect((await events(s, first.id)).at(-1)).toMatchObject({ type: "operation.cancelled", reason: "cancelled by request while waiting to resume (attempt 2 stopped without finishing)" });
    // Cancelled, the stack still carries its recovery mark: the next operation recovers it first, then runs.
    const next = await waitForStatus(s, behind.id, ["succeeded", "failed"], 30_000);
    expect(next.status).toBe("succeeded");
    expect((await events(s, behind.id)).some((e) => e.type === "diagnostic" && String(e.message).startsWith(`recovered the stack after interrupted operation ${first.id}`))).toBe(true);
  });

  it("a cancel asked for before the lease expired is honoured: the operation ends cancelled, not resumed", async () => {
    svc = await startTestService({ start: false });
    const s = svc;
    const op = ((await s.app.inject({ method: "POST", url: "/v1/providers", payload: specNamed("cancel-then-lost") })).json() as Json).operation as Json;
    await ops.claimNext(s.db, "dead-worker", 30);
    await ops.requestCancel(s.db, op.id);
    await s.db.query(`UPDATE operations SET lease_expires_at = now() - interval '1 second' WHERE id = $1`, [op.id]);
    await s.start();
    const ended = await waitForStatus(s, op.id, ["cancelled", "succeeded", "interrupted", "failed"], 10_000);
    expect([ended.status, ended.attempt]).toEqual(["cancelled", 1]);
    expect((await events(s, op.id)).at(-1)).toMatchObject({ type: "operation.cancelled", reason: expect.stringMatching(/^cancelled by request: .*lease/) });
  });

  it("a hub update can be queued to resume while a fresh one is queued; joiners then take the oldest", async () => {
    const db = await createTestDb();
    try {
      const request = () => db.transaction((tx) => requestHubUpdate(tx, "simulated", "eu-west-1"));
      const first = await request();
      const claimed = (await ops.claimNext(db, "worker", 30))!;
      expect(claimed.id).toBe(first.id);
      // Asked for while the first runs: a fresh one is queued.
      const fresh = await request();
      expect(fresh.id).not.toBe(first.id);
      // The first's attempt is interrupted: it is queued again beside the fresh one (no unique violation).
      await ops.requeueRunning(db, first.id, { attempt: claimed.attempt, owner: "worker" }, 60);
      const queued = await db.query<{ id: string }>(`SELECT id FROM operations WHERE intent = 'hub-update' AND status = 'queued' ORDER BY queue_seq`);
      expect(queued.map((r) => r.id)).toEqual([first.id, fresh.id]);
      // A later request joins the oldest: the one waiting to resume reads the rule groups when it starts.
      expect((await request()).id).toBe(first.id);
    } finally {
      await db.close();
    }
  });

});
