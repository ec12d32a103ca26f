import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { openPostgres } from "../../src/store/postgres.js";
import type { Db } from "../../src/store/db.js";
import { markBehind } from "../helpers/behind.js";
import { createScratchDatabase, startPostgresCluster, type PostgresCluster } from "../helpers/postgres-cluster.js";
import { startServerProcess, type ServerProcess } from "../helpers/server-process.js";
import { specNamed } from "../helpers/service.js";
import { until } from "../helpers/until.js";

/**
 * Issue 15, part 3: a rollout survives a SIGKILL of the service. The real server (a process) on
 * PostgreSQL applies a rollout to eight behind stacks (one at a time, each update a real step), is killed
 * halfway, and started again on the same database: the rollout's lease expires, the new process takes it
 * over where the database says it is, the interrupted update resumes (attempt 2), and every stack ends
 * updated exactly once, none twice. Needs PostgreSQL; else skipped with the reason printed.
 */
type Json = Record<string, any>;
const LEASE_SECONDS = 5;
const NAMES = Array.from({ length: 8 }, (_, i) => `rk-${String.fromCharCode(97 + i)}`);
let cluster: PostgresCluster;
let scratch: { url: string; stop(): Promise<void> } | undefined;
let db: Db | undefined;
let dataDir = "";
const servers: ServerProcess[] = [];

beforeAll(async () => {
  cluster = await startPostgresCluster();
  if ("skipped" in cluster) {
    console.warn(`[test/e2e] rollout SIGKILL test skipped: ${cluster.skipped}`);
    return;
  }
  scratch = await createScratchDatabase(cluster.url);
  dataDir = await mkdtemp(join(tmpdir(), "saas-bridge-rollout-kill-"));
}, 60_000);

afterAll(async () => {
  for (const s of servers) if (s.child.exitCode === null && s.child.signalCode === null) s.child.kill("SIGKILL");
  await Promise.all(servers.map((s) => s.exited()));
  await db?.close();
  await scratch?.stop().catch(() => undefined);
  if (cluster && !("skipped" in cluster)) await cluster.stop();
  if (dataDir) await rm(dataDir, { recursive: true, force: true });
});

describe("a rollout whose service is SIGKILLed halfway", () => {
  it("resumes where it was after a restart: every stack updated exactly once, the stream gap-free to its final event", async (ctx) => {
    if ("skipped" in cluster || scratch === undefined) return ctx.skip();
    const env = { DATABASE_URL: scratch.url, LEASE_SECONDS: String(LEASE_SECONDS), SHUTDOWN_GRACE_SECONDS: "1", MAX_CONCURRENT_OPERATIONS: "4" };
    // Onboarded with no step time; the rollout's process gives each changed resource 700 ms.
    const setup = await startServerProcess(dataDir, { ...env, SIMULATED_STEP_MS: "0" });
    servers.push(setup);
    const call = async (s: ServerProcess, method: string, path: string, body?: unknown): Promise<{ status: number; body: Json }> => {
      const res = await fetch(`${s.base}${path}`, {
        method,
        headers: { ...s.auth, ...(body === undefined ? {} : { "content-type": "application/json" }) },
        ...(body === undefined ? {} : { body: JSON.stringify(body) }),
      });
      return { status: res.status, body: res.status === 204 ? {} : ((await res.json()) as Json) };
    };
    for (const name of NAMES) {
      const res = await call(setup, "POST", "/v1/providers", specNamed(name));
      expect(res.status, JSON.stringify(res.body)).toBe(202);
    }
    await until("eight providers active", async () => {
      const list = (await call(setup, "GET", "/v1/providers?limit=100")).body.items as Json[];
      return list.filter((p) => p.lifecycle === "active").length === NAMES.length ? true : undefined;
    }, 120_000);
    setup.child.kill("SIGTERM");
    await setup.exited();

    db = await openPostgres({ connectionString: scratch.url, max: 2 });
    await markBehind(db, NAMES, { changedResources: 1 });

    const a = await startServerProcess(dataDir, { ...env, SIMULATED_STEP_MS: "700" });
    servers.push(a);
    const created = await call(a, "POST", "/v1/rollouts", { canary: 1, batchSize: 3, maxParallel: 1, maxFailures: 0 });
    expect(created.status, JSON.stringify(created.body)).toBe(201);
    const id = created.body.id as string;
    // Killed while applying, some stacks done and one update running.
    await until("three stacks updated and the fourth running", async () => {
      const r = (await call(a, "GET", `/v1/rollouts/${id}`)).body;
      const running = await db!.query<{ n: number }>(`SELECT count(*)::int AS n FROM operations WHERE rollout_id = $1 AND intent = 'update' AND status = 'running'`, [id]);
      return r.counts.done >= 3 && running[0]!.n === 1 ? r : undefined;
    }, 120_000);
    a.child.kill("SIGKILL");
    await a.exited();
    const atKill = await db.query<{ provider: string; status: string }>(`SELECT provider, status FROM rollout_stacks WHERE rollout_id = $1 ORDER BY position`, [id]);
    expect(atKill.filter((s) => s.status === "succeeded").length).toBeLessThan(NAMES.length);

    const b = await startServerProcess(dataDir, { ...env, SIMULATED_STEP_MS: "700" });
    servers.push(b);
    const done = await until("the rollout to finish on the restarted service", async () => {
      const r = (await call(b, "GET", `/v1/rollouts/${id}`)).body;
      return r.finishedAt ? r : undefined;
    }, 180_000);
    expect(done).toMatchObject({ status: "succeeded", counts: { total: 8, done: 8, failed: 0, inFlight: 0 } });
    expect(done.stacks.map((s: Json) => s.status)).toEqual(NAMES.map(() => "succeeded"));

    // Exactly one update per stack (the interrupted one resumed under its id, attempt 2), none queued twice.
    const updates = await db.query<{ provider: string; status: string; attempt: number }>(
      `SELECT provider, status, attempt FROM operations WHERE rollout_id = $1 AND intent = 'update' ORDER BY queue_seq`,
      [id],
    );
    expect(updates.map((u) => u.provider)).toEqual(NAMES);
    expect(updates.every((u) => u.status === "succeeded")).toBe(true);
    expect(updates.filter((u) => u.attempt === 2)).toHaveLength(1);
    // The fleet is current, and the rollout's stream is gap-free from its creation to its final event.
    expect((await call(b, "GET", "/v1/fleet")).body).toMatchObject({ behind: 0, rollout: null });
    const events = (await call(b, "GET", `/v1/rollouts/${id}/events?limit=1000`)).body.items as Json[];
    expect(events.map((e) => e.seq)).toEqual(events.map((_, i) => i + 1));
    expect(events[0]!.type).toBe("rollout.created");
    expect(events.at(-1)).toMatchObject({ type: "rollout.succeeded", done: 8, failed: 0 });
    expect(events.filter((e) => e.type === "rollout.stack" && e.phase === "apply" && e.status === "succeeded").map((e) => e.provider)).toEqual(NAMES);
    b.child.kill("SIGTERM");
    await b.exited();
  }, 400_000);
});
