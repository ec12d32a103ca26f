import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { Engine } from "../../src/engine/engine.js";
import { createSimulatedEngine } from "../../src/engine/simulated/simulated-engine.js";
import { openDb } from "../../src/store/open.js";
import { createScratchDatabase, startPostgresCluster, type PostgresCluster } from "../helpers/postgres-cluster.js";
import { specNamed, startTestService, waitForStatus, type TestService } from "../helpers/service.js";

/**
 * Two replicas (two runners, two apps) sharing one real PostgreSQL: the design's multi-replica promise.
 * Skipped, with the reason printed, when no PostgreSQL can be started here.
 */
type Json = Record<string, any>;
let cluster: PostgresCluster;
let scratch: { url: string; stop(): Promise<void> } | undefined;
const replicas: TestService[] = [];
const ran = new Map<string, number>();

beforeAll(async () => {
  cluster = await startPostgresCluster();
  if ("skipped" in cluster) {
    console.warn(`replica tests skipped: ${cluster.skipped}`);
    return;
  }
  scratch = await createScratchDatabase(cluster.url);
  for (const name of ["replica-a", "replica-b"]) {
    const db = await openDb({ databaseUrl: scratch.url, dataDir: "unused" });
    const counting = (inner: Engine): Engine => ({
      ...inner,
      run: (req, opts) => {
        ran.set(name, (ran.get(name) ?? 0) + 1);
        return inner.run(req, opts);
      },
    });
    replicas.push(await startTestService({ db, config: { SIMULATED_STEP_MS: 10 }, engine: (d) => counting(createSimulatedEngine({ state: { db: d }, stepMs: 10 })) }));
  }
  // A third replica that runs nothing: whatever it streams live must have come through NOTIFY.
  const db = await openDb({ databaseUrl: scratch.url, dataDir: "unused" });
  replicas.push(await startTestService({ db, config: { SIMULATED_PAUSED: true } }));
}, 60_000);

afterAll(async () => {
  for (const r of replicas) await r.close(2_000);
  await scratch?.stop();
  if (cluster && !("skipped" in cluster)) await cluster.stop();
});

describe("replicas on one PostgreSQL", () => {
  it("share the queue: never two running operations of one provider; when one replica stops, the other finishes the work", async (ctx) => {
    if ("skipped" in cluster) ctx.skip();
    const [a, b] = replicas as [TestService, TestService];
    const names = ["multi-one", "multi-two"];
    const ids: string[] = [];
    for (const n of names) ids.push(((await a.app.inject({ method: "POST", url: "/v1/providers", payload: specNamed(n) })).json() as Json).operation.id);
    // Interleave mutations through both replicas.
    const requests = [];
    for (let i = 0; i < 6; i++) {
      for (const n of names) {
        const via = i % 2 === 0 ? a : b;
        requests.push(via.app.inject({ method: "POST", url: `/v1/providers/${n}/preview` }));
      }
    }
    for (const res of await Promise.all(requests)) {
      expect(res.statusCode).toBe(202);
      ids.push((res.json() as Json).operation.id);
    }
    let maxRunning = 0;
    let drained: Promise<void> | undefined;
    const deadline = Date.now() + 60_000;
    for (;;) {
      // Replica a leaves after its first operation (graceful drain); b must take over the rest.
      if (!drained && (ran.get("replica-a") ?? 0) > 0) drained = a.runner.drain(10_000);
      const rows = await a.db.query<{ running: number; open: number }>(
        `SELECT coalesce(max(r), 0)::int AS running, (SELECT count(*) FROM operations WHERE status IN ('queued','running'))::int AS open
           FROM (SELECT count(*) AS r FROM operations WHERE status = 'running' GROUP BY provider) t`,
      );
      maxRunning = Math.max(maxRunning, rows[0]!.running);
      if (rows[0]!.open === 0 || Date.now() > deadline) break;
      await new Promise((r) => setTimeout(r, 5));
    }
    await drained;
    expect(maxRunning).toBe(1);
    const done = await Promise.all(ids.map((id) => waitForStatus(b, id, ["succeeded", "failed"])));
    expect(done.every((o) => o.status === "succeeded")).toBe(true);
    expect(ran.get("replica-a") ?? 0).toBeGreaterThan(0);
    expect(ran.get("replica-b") ?? 0).toBeGreaterThan(0);
  }, 90_000);

  it("a stream on one replica follows an operation another replica runs (LISTEN/NOTIFY, not the poll fallback)", async (ctx) => {
    if ("skipped" in cluster) ctx.skip();
    const [a, , reader] = replicas as [TestService, TestService, TestService];
    const created = (await a.app.inject({ method: "POST", url: "/v1/providers", payload: specNamed("cross-replica") })).json() as Json;
    const id = created.operation.id as string;
    const started = Date.now();
    // inject resolves when the stream ends, i.e. after the terminal event arrived on the reader.
    const res = await reader.app.inject({ method: "GET", url: `/v1/operations/${id}/events`, headers: { accept: "application/x-ndjson" } });
    const elapsed = Date.now() - started;
    const events = res.body.trim().split("\n").map((l) => JSON.parse(l) as Json);
    expect(events.map((e) => e.seq)).toEqual(events.map((_, i) => i + 1));
    expect(events.at(-1)!.type).toBe("operation.succeeded");
    const op = (await reader.app.inject({ method: "GET", url: `/v1/operations/${id}` })).json() as Json;
    // The reader re-reads the table every 5 s at the latest; ending well within that proves notifications crossed.
    expect(Date.now() - Date.parse(op.finishedAt)).toBeLessThan(2_000);
    expect(elapsed).toBeLessThan(30_000);
  }, 60_000);
});
