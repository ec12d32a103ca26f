import { composeService, type Service } from "../src/compose.js";
import { generateSecurityKeys } from "../src/auth/security-keys.js";
import { openDb } from "../src/store/open.js";
import { notMeasured, type Figure } from "./report.js";
import { baseConfig, benchAuthorization, benchLogger, benchSpec, landingZone, median, now, percentile, tempDir, within } from "./support.js";

/**
 * Figure `metrics-scrape` (issue 18): GET /metrics with 10,000 finished operations in the store (PGlite)
 * ÷ GET /healthz, median of N each, interleaved in one run, both through the app's inject (no socket).
 * The scrape reads its gauges from the database (queued, running, awaiting approval, the signed head's age)
 * and renders every series; /healthz answers from memory, so the ratio is what a scrape costs over the
 * cheapest request the server answers. The operations are written by SQL, as finished (the figure measures
 * the scrape, not the runner).
 */
const OPERATIONS = 10_000;
const PROVIDERS = 100;
const SCRAPES = 200;
const WARMUP = 20;
const TARGET_MS = 50;
const TIMEOUT_MS = 120_000;
const round = (v: number, digits = 0): number => Math.round(v * 10 ** digits) / 10 ** digits;

async function seed(svc: Service): Promise<void> {
  const spec = benchSpec("bench-metrics-000");
  await svc.db.query(
    `INSERT INTO providers (name, team, spec, spec_hash, lifecycle, engine)
     SELECT 'bench-metrics-' || lpad(i::text, 3, '0'), 'bench', $1::jsonb, 'bench', 'active', 'simulated' FROM generate_series(0, $2::int - 1) AS i`,
    [JSON.stringify(spec), PROVIDERS],
  );
  // Mostly successes, some failures and cancels; creates, updates, revokes and previews; minutes apart.
  await svc.db.query(
    `INSERT INTO operations (id, provider, intent, kind, access_state, status, engine, spec, spec_hash, program_version, attempt, result, error, created_at, started_at, finished_at)
     SELECT gen_random_uuid(), 'bench-metrics-' || lpad((i % $2::int)::text, 3, '0'),
            (ARRAY['create','update','revoke','preview'])[1 + i % 4], CASE WHEN i % 4 = 3 THEN 'preview' ELSE 'up' END, 'active',
            CASE WHEN i % 20 = 0 THEN 'failed' WHEN i % 33 = 0 THEN 'cancelled' ELSE 'succeeded' END,
            'simulated', $3::jsonb, 'bench', 'bench', 1, '{"summary":{"create":31}}'::jsonb, NULL,
            now() - make_interval(mins => $1::int - i) - interval '3 seconds', now() - make_interval(mins => $1::int - i) - interval '2 seconds', now() - make_interval(mins => $1::int - i)
     FROM generate_series(1, $1::int) AS i`,
    [OPERATIONS, PROVIDERS, JSON.stringify(spec)],
  );
}

export async function measureMetricsScrape(): Promise<Figure> {
  const dir = await tempDir();
  let svc: Service | undefined;
  try {
    const db = await openDb({ dataDir: dir.path });
    // Not started: no runner, no head signer; nothing else touches the database while it is measured.
    svc = await composeService({ config: baseConfig, landingZone, db, logger: benchLogger(), keys: generateSecurityKeys() });
    const service = svc;
    const authorization = await benchAuthorization(db);
    const time = async (url: string): Promise<{ ms: number; bytes: number }> => {
      const t = now();
      const res = await service.app.inject({ method: "GET", url, headers: { authorization } });
      const ms = now() - t;
      if (res.statusCode !== 200) throw new Error(`${url}: ${res.statusCode} ${res.body.slice(0, 200)}`);
      return { ms, bytes: res.rawPayload.length };
    };
    let bytes = 0;
    /** SCRAPES of /metrics and of /healthz, interleaved, after a warm-up. */
    const session = () =>
      within(TIMEOUT_MS, "scrapes", (async () => {
        const metrics: number[] = [];
        const health: number[] = [];
        for (let i = 0; i < WARMUP; i++) {
          await time("/metrics");
          await time("/healthz");
        }
        for (let i = 0; i < SCRAPES; i++) {
          const m = await time("/metrics");
          bytes = m.bytes;
          metrics.push(m.ms);
          health.push((await time("/healthz")).ms);
        }
        return { metrics, health };
      })());
    // The same scrape with an empty store first: what the 10,000 rows add.
    const empty = await session();
    const seedStart = now();
    await within(TIMEOUT_MS, "seeding", seed(service));
    const seedMs = now() - seedStart;
    const [count] = await db.query<{ n: number }>(`SELECT count(*)::int AS n FROM operations WHERE status IN ('succeeded', 'failed', 'cancelled')`);
    const { metrics, health } = await session();
    const m50 = median(metrics);
    const h50 = median(health);
    const ratio = m50 / h50;
    return {
      id: "metrics-scrape",
      title: `GET /metrics with ${count?.n ?? 0} finished operations in the store (PGlite) vs GET /healthz`,
      ratio: round(ratio, 1),
      ratioMeaning: `median /metrics ÷ median /healthz (${SCRAPES} each, interleaved, app.inject)`,
      target: `median scrape ≤ ${TARGET_MS} ms (reported; the ratio has no target)`,
      pass: (count?.n ?? 0) >= OPERATIONS && m50 <= TARGET_MS,
      subject: { medianMs: round(m50, 2), p95Ms: round(percentile(metrics, 95), 2), maxMs: round(Math.max(...metrics), 2), bytes },
      baseline: { medianMs: round(h50, 3), p95Ms: round(percentile(health, 95), 3) },
      diagnostics: { emptyStore: { metricsMedianMs: round(median(empty.metrics), 2), healthzMedianMs: round(median(empty.health), 3) } },
      notes: [
        `${OPERATIONS} operations over ${PROVIDERS} providers written by SQL in ${round(seedMs)} ms; the service composed, not started (no runner, no head signer)`,
        `a scrape runs 2 queries (one count of queued by priority, running and awaiting approval; the newest audit signature) and renders every series, process and Node.js defaults included (${bytes} bytes)`,
        `with an empty store (same service, before seeding): /metrics median ${round(median(empty.metrics), 2)} ms, /healthz ${round(median(empty.health), 3)} ms`,
        `the operation counters are observed as events are published, so the ${OPERATIONS} rows written by SQL add no series: the cost that grows with the store is the gauges' reads`,
        `warm-up: ${WARMUP} of each first`,
      ],
    };
  } catch (err) {
    return notMeasured(
      {
        id: "metrics-scrape",
        title: `GET /metrics with ${OPERATIONS} operations vs GET /healthz`,
        ratioMeaning: "median /metrics ÷ median /healthz",
        target: `median scrape ≤ ${TARGET_MS} ms`,
      },
      err,
    );
  } finally {
    await svc?.close(5_000).catch(() => undefined);
    await dir.remove();
  }
}
