import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createScratchDatabase, startPostgresCluster, type PostgresCluster } from "../helpers/postgres-cluster.js";
import { startServerProcess, type ServerProcess } from "../helpers/server-process.js";
import { specNamed } from "../helpers/service.js";
import { until } from "../helpers/until.js";

/**
 * Issue 14, part 2: two real replicas (processes) on one PostgreSQL. Replica A runs four operations and is
 * SIGKILLed; replica B notices the expired leases, resumes all four under the same ids (attempt 2, each
 * stack recovered first) and finishes them, while a client follows one on B over SSE. Needs PostgreSQL;
 * else skipped with the reason printed.
 */
type Json = Record<string, any>;
const LEASE_SECONDS = 5;
let cluster: PostgresCluster;
let scratch: { url: string; stop(): Promise<void> } | undefined;
let dataDir = "";
const servers: ServerProcess[] = [];

beforeAll(async () => {
  cluster = await startPostgresCluster();
  if ("skipped" in cluster) {
    console.warn(`[test/e2e] replica resumption test skipped: ${cluster.skipped}`);
    return;
  }
  scratch = await createScratchDatabase(cluster.url);
  // One DATA_DIR for both: in development the admin key and the audit keys are created there once and shared.
  dataDir = await mkdtemp(join(tmpdir(), "saas-bridge-replicas-"));
}, 60_000);

afterAll(async () => {
  for (const s of servers) if (s.child.exitCode === null && s.child.signalCode === null) s.child.kill("SIGKILL");
  await Promise.all(servers.map((s) => s.exited()));
  await scratch?.stop().catch(() => undefined);
  if (cluster && !("skipped" in cluster)) await cluster.stop();
  if (dataDir) await rm(dataDir, { recursive: true, force: true });
});

describe("a replica killed with four running operations", () => {
  it("another replica resumes all four (same ids, attempt 2) and they succeed; its SSE client sees the attempt boundary, then success", async (ctx) => {
    if ("skipped" in cluster || scratch === undefined) return ctx.skip();
    const env = {
      DATABASE_URL: scratch.url,
      LEASE_SECONDS: String(LEASE_SECONDS),
      // Slow enough that the four are still running when B has started (a few seconds).
      SIMULATED_STEP_MS: "1500",
      MAX_CONCURRENT_OPERATIONS: "4",
      SHUTDOWN_GRACE_SECONDS: "1",
    };
    const a = await startServerProcess(dataDir, env);
    servers.push(a);
    const get = async (base: string, path: string): Promise<Json> => (await (await fetch(`${base}${path}`, { headers: a.auth })).json()) as Json;
    const ids: string[] = [];
    for (const name of ["resume-1", "resume-2", "resume-3", "resume-4"]) {
      const res = await fetch(`${a.base}/v1/providers`, { method: "POST", headers: { "content-type": "application/json", ...a.auth }, body: JSON.stringify(specNamed(name)) });
      expect(res.status).toBe(202);
      ids.push(((await res.json()) as Json).operation.id as string);
    }
    // All four running on A, each past its first steps.
    await until("four operations running on replica A", async () => {
      const ops = await Promise.all(ids.map((id) => get(a.base, `/v1/operations/${id}`)));
      return ops.every((o) => o.status === "running" && o.progress.done >= 2) ? true : undefined;
    }, 60_000);

    // B starts once A holds them all: it can only get them by resuming them.
    const b = await startServerProcess(dataDir, env);
    servers.push(b);
    expect(b.auth).toEqual(a.auth);
    const stream = await fetch(`${b.base}/v1/operations/${ids[0]}/events`, { headers: { accept: "text/event-stream", ...b.auth } });
    expect(stream.status).toBe(200);
    const body = stream.text();

    a.child.kill("SIGKILL");
    await a.exited();
    const ended = await until("all four to end", async () => {
      const ops = await Promise.all(ids.map((id) => get(b.base, `/v1/operations/${id}`)));
      return ops.every((o) => ["succeeded", "failed", "cancelled", "interrupted"].includes(o.status)) ? ops : undefined;
    }, 120_000);
    expect(ended.map((o) => [o.status, o.attempt]), JSON.stringify(ended.map((o) => o.error))).toEqual(ids.map(() => ["succeeded", 2]));

    for (const id of ids) {
      const events = (await get(b.base, `/v1/operations/${id}/events?limit=1000`)).items as Json[];
      // Gap-free across the attempts; exactly one boundary; attempt 2 recovered the stack before its steps.
      expect(events.map((e) => e.seq)).toEqual(events.map((_, i) => i + 1));
      const boundaries = events.filter((e) => e.type === "operation.resuming");
      expect(boundaries).toHaveLength(1);
      expect(boundaries[0]).toMatchObject({ attempt: 1, nextAttempt: 2, maxAttempts: 3 });
      expect(boundaries[0]!.reason).toMatch(/lease/);
      const after = events.slice(events.indexOf(boundaries[0]!) + 1);
      expect(after[0]).toMatchObject({ type: "operation.started", attempt: 2 });
      expect(after.some((e) => e.type === "diagnostic" && String(e.message).startsWith(`recovered the stack after interrupted operation ${id}`))).toBe(true);
      expect(events.filter((e) => e.type === "operation.interrupted")).toEqual([]);
    }

    // The SSE client on B: one stream from the first event to success, the boundary in it, ids in order.
    const text = await body;
    const frames = text.split("\n\n").filter((f) => f.includes("event: "));
    const types = frames.map((f) => /event: (\S+)/.exec(f)![1]);
    const seqs = frames.map((f) => Number(/id: (\d+)/.exec(f)![1]));
    expect(seqs).toEqual(seqs.map((_, i) => i + 1));
    expect(types).toContain("operation.resuming");
    expect(types.indexOf("operation.resuming")).toBeLessThan(types.lastIndexOf("operation.started"));
    expect(types.at(-1)).toBe("operation.succeeded");

    // The providers are what four successful creates leave, and B is still up.
    for (const name of ["resume-1", "resume-2", "resume-3", "resume-4"]) expect((await get(b.base, `/v1/providers/${name}`)).lifecycle).toBe("active");
    expect((await fetch(`${b.base}/readyz`)).status).toBe(200);
    b.child.kill("SIGTERM");
    await b.exited();
  }, 240_000);
});
