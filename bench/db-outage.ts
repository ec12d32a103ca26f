import { migrate } from "../src/store/migrate.js";
import { openPostgres } from "../src/store/postgres.js";
import { createScratchDatabase, startPostgresCluster } from "../test/helpers/postgres-cluster.js";
import { startTestService, type TestService } from "../test/helpers/service.js";
import type { Figure, Skipped } from "./report.js";
import { benchSpec, now, sleep, within } from "./support.js";

/**
 * Figure `db-outage` (issue 14): four operations running on PostgreSQL when the server is stopped the way
 * a crash or failover stops it (`pg_ctl -m immediate`) for 10 s, then started again. Target: every one
 * ends `succeeded` without a person. Ratio: the wall time of those four ÷ the wall time of four identical
 * operations without an outage, in the same run and service (what the outage costs).
 */
const OPERATIONS = 4;
const OUTAGE_MS = 10_000;
type Json = Record<string, any>;

async function runBatch(svc: TestService, prefix: string, during?: () => Promise<void>): Promise<{ ms: number; statuses: string[]; attempts: number[] }> {
  const started = now();
  const ids: string[] = [];
  for (let i = 0; i < OPERATIONS; i++) {
    const res = await svc.app.inject({ method: "POST", url: "/v1/providers", payload: benchSpec(`${prefix}-${i}`) });
    ids.push((res.json() as Json).operation.id as string);
  }
  const read = async (id: string): Promise<Json | undefined> => {
    const res = await svc.app.inject({ method: "GET", url: `/v1/operations/${id}` });
    return res.statusCode === 200 ? (res.json() as Json) : undefined;
  };
  if (during) {
    // Cut them mid-run: every operation running and past its first steps.
    await within(60_000, "all running", (async () => {
      for (;;) {
        const ops = await Promise.all(ids.map(read));
        if (ops.every((o) => o?.status === "running" && o.progress.done >= 2)) return;
        await sleep(50);
      }
    })());
    await during();
  }
  const ended = await within(180_000, "all ended", (async () => {
    for (;;) {
      const ops = await Promise.all(ids.map(read));
      if (ops.every((o) => o !== undefined && ["succeeded", "failed", "cancelled", "interrupted"].includes(o.status as string))) return ops as Json[];
      await sleep(100);
    }
  })());
  return { ms: now() - started, statuses: ended.map((o) => o.status as string), attempts: ended.map((o) => o.attempt as number) };
}

export async function measureDbOutage(): Promise<Figure | Skipped> {
  const cluster = await startPostgresCluster();
  if ("skipped" in cluster) return { id: "db-outage", skipped: cluster.skipped };
  const { restart } = cluster;
  if (restart === undefined) {
    await cluster.stop();
    return { id: "db-outage", skipped: "DATABASE_URL is set: the benchmark cannot restart that server" };
  }
  const scratch = await createScratchDatabase(cluster.url);
  const db = await openPostgres({ connectionString: scratch.url, max: 10, onError: () => undefined });
  await migrate(db);
  const svc = await startTestService({ db, checkContract: false, config: { SIMULATED_STEP_MS: 150, LEASE_SECONDS: 30, MAX_CONCURRENT_OPERATIONS: OPERATIONS } });
  // The same outage past the lease (5 s): the attempts cannot be kept, and must resume by themselves.
  const shortScratch = await createScratchDatabase(cluster.url);
  const shortDb = await openPostgres({ connectionString: shortScratch.url, max: 10, onError: () => undefined });
  await migrate(shortDb);
  const shortLease = await startTestService({ db: shortDb, checkContract: false, config: { SIMULATED_STEP_MS: 150, LEASE_SECONDS: 5, MAX_CONCURRENT_OPERATIONS: OPERATIONS } });
  try {
    const baseline = await runBatch(svc, "calm");
    const subject = await runBatch(svc, "outage", () => restart({ whileDown: () => sleep(OUTAGE_MS) }));
    const pastLease = await runBatch(shortLease, "past-lease", () => restart({ whileDown: () => sleep(OUTAGE_MS) }));
    const succeeded = subject.statuses.filter((s) => s === "succeeded").length;
    const pastLeaseSucceeded = pastLease.statuses.filter((s) => s === "succeeded").length;
    return {
      id: "db-outage",
      title: `${OPERATIONS} operations through a ${OUTAGE_MS / 1000} s PostgreSQL outage (pg_ctl -m immediate): succeeded without a person`,
      ratio: Math.round((subject.ms / baseline.ms) * 100) / 100,
      ratioMeaning: `wall time of ${OPERATIONS} operations cut by the outage ÷ the same without an outage (same service, same run)`,
      target: "100% of the operations the outage cut end succeeded without a person",
      pass: succeeded === OPERATIONS && pastLeaseSucceeded === OPERATIONS,
      subject: { operations: OPERATIONS, succeeded, interrupted: subject.statuses.filter((s) => s === "interrupted").length, maxAttempt: Math.max(...subject.attempts), ms: Math.round(subject.ms), outageMs: OUTAGE_MS },
      baseline: { operations: OPERATIONS, succeeded: baseline.statuses.filter((s) => s === "succeeded").length, ms: Math.round(baseline.ms) },
      diagnostics: {
        pastLease: {
          operations: OPERATIONS,
          succeeded: pastLeaseSucceeded,
          interrupted: pastLease.statuses.filter((s) => s === "interrupted").length,
          minAttempt: Math.min(...pastLease.attempts),
          maxAttempt: Math.max(...pastLease.attempts),
          ms: Math.round(pastLease.ms),
          leaseSeconds: 5,
        },
      },
      notes: [
        "simulated engine (150 ms steps) on a throwaway PostgreSQL cluster; LEASE_SECONDS 30: the outage is shorter than the lease, so nothing needs resuming",
        "pastLease: the same outage with LEASE_SECONDS 5 — the attempts the outage cut end and resume by themselves (attempt 2); counted in the target",
      ],
    };
  } finally {
    await svc.close(2_000).catch(() => undefined);
    await shortLease.close(2_000).catch(() => undefined);
    await shortScratch.stop().catch(() => undefined);
    await scratch.stop().catch(() => undefined);
    await cluster.stop();
  }
}
