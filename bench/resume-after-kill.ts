import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { openPostgres } from "../src/store/postgres.js";
import { createScratchDatabase, startPostgresCluster } from "../test/helpers/postgres-cluster.js";
import { startServerProcess, type ServerProcess } from "../test/helpers/server-process.js";
import type { Figure, Skipped } from "./report.js";
import { benchSpec, sleep, within } from "./support.js";

/**
 * Figure `resume-after-kill` (issue 14): two real replicas on one PostgreSQL; replica A runs four operations
 * and is SIGKILLed. Measured per operation: the time from the kill to its next attempt's `operation.started`
 * on replica B. Target: at most the lease plus one sweep interval (the sweep runs every lease/2). Ratio:
 * the slowest of the four ÷ the lease; the lease each had left at the kill (its floor) is measured too.
 */
const OPERATIONS = 4;
const LEASE_SECONDS = 10;
const SWEEP_SECONDS = LEASE_SECONDS / 2;
type Json = Record<string, any>;

export async function measureResumeAfterKill(): Promise<Figure | Skipped> {
  const cluster = await startPostgresCluster();
  if ("skipped" in cluster) return { id: "resume-after-kill", skipped: cluster.skipped };
  const scratch = await createScratchDatabase(cluster.url);
  const dataDir = await mkdtemp(join(tmpdir(), "saas-bridge-bench-resume-"));
  const db = await openPostgres({ connectionString: scratch.url, max: 2, onError: () => undefined });
  const servers: ServerProcess[] = [];
  try {
    const env = { DATABASE_URL: scratch.url, LEASE_SECONDS: String(LEASE_SECONDS), SIMULATED_STEP_MS: "1500", MAX_CONCURRENT_OPERATIONS: String(OPERATIONS) };
    const a = await startServerProcess(dataDir, env);
    servers.push(a);
    const get = async (base: string, path: string): Promise<Json> => (await (await fetch(`${base}${path}`, { headers: a.auth })).json()) as Json;
    const ids: string[] = [];
    for (let i = 0; i < OPERATIONS; i++) {
      const res = await fetch(`${a.base}/v1/providers`, { method: "POST", headers: { "content-type": "application/json", ...a.auth }, body: JSON.stringify(benchSpec(`resume-${i}`)) });
      ids.push(((await res.json()) as Json).operation.id as string);
    }
    await within(60_000, "four running on A", (async () => {
      for (;;) {
        const ops = await Promise.all(ids.map((id) => get(a.base, `/v1/operations/${id}`)));
        if (ops.every((o) => o.status === "running" && o.progress.done >= 2)) return;
        await sleep(100);
      }
    })());
    const b = await startServerProcess(dataDir, env);
    servers.push(b);
    // Let B settle into its claim loop, then kill A where its heartbeats happen to be.
    await sleep(1_000);
    const leases = await db.query<{ id: string; expires: Date }>(`SELECT id, lease_expires_at AS expires FROM operations WHERE id = ANY($1::uuid[])`, [ids]);
    const killedAt = Date.now();
    a.child.kill("SIGKILL");
    await a.exited();
    const restarted = await within(120_000, "four resumed on B", (async () => {
      for (;;) {
        const rows = await db.query<{ operation_id: string; at: Date }>(
          `SELECT operation_id, at FROM operation_events WHERE operation_id = ANY($1::uuid[]) AND type = 'operation.started' AND (data->>'attempt')::int = 2`,
          [ids],
        );
        if (rows.length === OPERATIONS) return rows;
        await sleep(100);
      }
    })());
    const ended = await within(180_000, "four ended", (async () => {
      for (;;) {
        const ops = await Promise.all(ids.map((id) => get(b.base, `/v1/operations/${id}`)));
        if (ops.every((o) => ["succeeded", "failed", "cancelled", "interrupted"].includes(o.status))) return ops;
        await sleep(200);
      }
    })());
    const resumeMs = restarted.map((r) => new Date(r.at).getTime() - killedAt).sort((x, y) => x - y);
    const leftMs = leases.map((l) => new Date(l.expires).getTime() - killedAt).sort((x, y) => x - y);
    const maxMs = resumeMs.at(-1)!;
    const targetMs = (LEASE_SECONDS + SWEEP_SECONDS) * 1000;
    return {
      id: "resume-after-kill",
      title: `${OPERATIONS} operations on a SIGKILLed replica: time from the kill to their next attempt running on another replica`,
      ratio: Math.round((maxMs / (LEASE_SECONDS * 1000)) * 100) / 100,
      ratioMeaning: "slowest kill → attempt 2 started elsewhere ÷ the lease (LEASE_SECONDS)",
      target: `≤ lease + one sweep interval (${LEASE_SECONDS} s + ${SWEEP_SECONDS} s = ratio ≤ ${(targetMs / (LEASE_SECONDS * 1000)).toFixed(2)})`,
      pass: maxMs <= targetMs && ended.every((o) => o.status === "succeeded"),
      subject: {
        operations: OPERATIONS,
        resumed: restarted.length,
        succeeded: ended.filter((o) => o.status === "succeeded").length,
        minMs: resumeMs[0]!,
        medianMs: resumeMs[Math.floor(resumeMs.length / 2)]!,
        maxMs,
      },
      baseline: { leaseMs: LEASE_SECONDS * 1000, sweepIntervalMs: SWEEP_SECONDS * 1000, leaseLeftAtKillMinMs: leftMs[0]!, leaseLeftAtKillMaxMs: leftMs.at(-1)! },
      notes: [
        "two src/main.ts processes (simulated engine, 1.5 s steps) on a throwaway PostgreSQL cluster; the first resumption has no back-off",
        "lease left at the kill is the floor: nobody may take an operation over before its lease has expired",
      ],
    };
  } finally {
    for (const s of servers) if (s.child.exitCode === null && s.child.signalCode === null) s.child.kill("SIGKILL");
    await Promise.all(servers.map((s) => s.exited()));
    await db.close().catch(() => undefined);
    await scratch.stop().catch(() => undefined);
    await cluster.stop();
    await rm(dataDir, { recursive: true, force: true });
  }
}
