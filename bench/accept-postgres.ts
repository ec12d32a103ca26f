import { openPostgres } from "../src/store/postgres.js";
import { startPostgresCluster } from "../test/helpers/postgres-cluster.js";
import { acceptFigure, measure, type Database, type Load } from "./accept.js";
import type { Figure, Skipped } from "./report.js";
import { within } from "./support.js";

/**
 * Figure 1b: the accept path of figure 1 (same load, same service, same same-transaction baseline) on a
 * real PostgreSQL instead of PGlite. One server for the figure (DATABASE_URL's when set, else a throwaway
 * initdb cluster from test/helpers/postgres-cluster.ts); each measured server gets its own scratch
 * database, migrated by the child and dropped after it (see README §1b).
 */
const CLUSTER_START_MS = 90_000;
const SETTINGS_MS = 15_000;
/** The server settings that decide what a COMMIT costs, read from the server rather than assumed. */
const DURABILITY_SETTINGS = ["fsync", "synchronous_commit", "full_page_writes"] as const;

export async function measureAcceptPostgres(): Promise<Figure | Skipped> {
  const cluster = await within(CLUSTER_START_MS, "start PostgreSQL", startPostgresCluster());
  if ("skipped" in cluster) return { id: "accept-postgres", skipped: `no PostgreSQL server: ${cluster.skipped}` };
  try {
    const settings = await within(SETTINGS_MS, "read PostgreSQL settings", serverSettings(cluster.url));
    const database: Database = { kind: "postgres", serverUrl: cluster.url };
    const baseline = await measure("same-tx", database);
    const service = await measure("service", database);
    return figure(service, baseline, settings);
  } finally {
    await within(CLUSTER_START_MS, "stop PostgreSQL", cluster.stop());
  }
}

async function serverSettings(url: string): Promise<Record<string, string>> {
  const db = await openPostgres({ connectionString: url, max: 1 });
  try {
    const rows = await db.query<{ name: string; setting: string }>(
      "SELECT name, setting FROM pg_settings WHERE name = ANY($1::text[])",
      [[...DURABILITY_SETTINGS, "max_connections"]],
    );
    return Object.fromEntries(rows.map((r) => [r.name, r.setting]));
  } finally {
    await db.close();
  }
}

function figure(service: Load, baseline: Load, settings: Record<string, string>): Figure {
  return acceptFigure(
    {
      id: "accept-postgres",
      title: "Accept path on PostgreSQL: POST /v1/providers req/s",
      ratioMeaning: "service req/s ÷ bare Fastify+zod route committing the same transaction, both on PostgreSQL (higher is better)",
    },
    service,
    baseline,
    [
      `database (each run its own fresh scratch database, migrated, dropped after): service ${service.database}; baseline ${baseline.database}`,
      poolNote(service, baseline),
      durabilityNote(settings),
      "the PostgreSQL server, the measured server and autocannon share the same CPUs",
    ],
  );
}

function poolNote(service: Load, baseline: Load): string {
  const max = (l: Load): string => /pool max (\d+)/.exec(l.database)?.[1] ?? "?";
  return (
    `pool: pg.Pool max ${max(service)} (service, openDb → openPostgres's default) and max ${max(baseline)} (baseline, openPostgres's default); ` +
    "the service also holds one LISTEN connection for its event hub"
  );
}

function durabilityNote(settings: Record<string, string>): string {
  const shown = (names: readonly string[]): string => names.map((name) => `${name}=${settings[name] ?? "?"}`).join(", ");
  const off = DURABILITY_SETTINGS.filter((name) => settings[name] === "off");
  const server = process.env["DATABASE_URL"] ? "the server in DATABASE_URL" : "the throwaway cluster (test/helpers/postgres-cluster.ts)";
  if (off.length === 0) return `${server}: ${shown([...DURABILITY_SETTINGS, "max_connections"])}`;
  return (
    `${server} runs with ${shown(off)} (${shown(["max_connections"])}): NOT durable, a COMMIT does not wait for its WAL to reach ` +
    "disk, so PostgreSQL looks faster here than a durable production server would; absolute req/s and latencies are optimistic for both runs"
  );
}
