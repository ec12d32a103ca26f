import { readFileSync } from "node:fs";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { performance } from "node:perf_hooks";
import type { Logger } from "pino";
import type { ServiceConfig } from "../src/compose.js";
import { createApiKey } from "../src/auth/api-keys.js";
import { loadConfig } from "../src/config.js";
import { createLogger } from "../src/logger.js";
import { LandingZoneSchema, type LandingZone } from "../src/onboarding/landing-zone.js";
import type { Queryable } from "../src/store/db.js";

/** Shared by the benchmark processes: fixtures, the service config, a clock, statistics. */

const example = (name: string): unknown => JSON.parse(readFileSync(new URL(`../examples/${name}`, import.meta.url), "utf8"));

/**
 * The example landing zone, with room for every provider a benchmark creates in one region (the example
 * caps the central policy at 20 rule groups, which a load test passes in a second; a fast accept path, e.g.
 * accept-security's trivial-program runs, creates well over 1,000 in one server's 13 s).
 */
export const landingZone: LandingZone = (() => {
  const lz = LandingZoneSchema.parse(example("landing-zone.json"));
  return { ...lz, firewall: { ...lz.firewall, maxRuleGroupsPerPolicy: 1_000_000 } };
})();

const acme = example("acme.json") as Record<string, unknown>;

/** examples/acme.json under another name (names must match ^[a-z][a-z0-9-]{1,38}[a-z0-9]$). */
export function benchSpec(name: string): Record<string, unknown> {
  return { ...acme, name };
}

/**
 * The request body for `name`, built by splicing into a pre-serialized template so that the load
 * generator spends no time serializing while it measures.
 */
export function bodyTemplate(): (name: string) => string {
  const marker = "__bench_name__";
  const [head, tail] = JSON.stringify(benchSpec(marker)).split(`"${marker}"`);
  if (head === undefined || tail === undefined) throw new Error("bodyTemplate: marker not found");
  return (name) => `${head}${JSON.stringify(name)}${tail}`;
}

/** The PostgreSQL database an accept-path server child uses instead of PGlite, when set and not empty. */
export const DATABASE_URL_ENV = "BENCH_DATABASE_URL";

/**
 * The service's own defaults (parsed by the real config schema), with the simulated engine, except what a
 * load test would otherwise measure instead of the service: the rate limits at the schema's maximum
 * (1,000,000 a minute, far above any rate measured here, so no 429s), room for figure 2's 100 streams of one
 * principal, and no approval rules (an approval would park the operation; no figure measures approvals).
 */
export const baseConfig: ServiceConfig = loadConfig({
  ENGINE: "simulated",
  LANDING_ZONE_FILE: "examples/landing-zone.json",
  RATE_LIMIT_PER_IP_PER_MINUTE: "1000000",
  RATE_LIMIT_PER_PRINCIPAL_PER_MINUTE: "1000000",
  MAX_STREAMS_PER_PRINCIPAL: "1000",
  APPROVAL_RULES: "none",
  // No scheduled drift check among a figure's operations (drift-sweep drives its own schedule).
  DRIFT_CHECK_INTERVAL: "off",
});

/** A fresh admin API key in `db`, as the `authorization` header value every non-public route needs. */
export async function benchAuthorization(db: Queryable): Promise<string> {
  const { secret } = await createApiKey(db, { name: "bench", role: "admin", teams: [], maxExpiresInDays: 365, createdBy: "bench" });
  return `Bearer ${secret}`;
}

/** Warnings and errors only, to stderr: the benchmarks measure the service, not log I/O (see README). */
export function benchLogger(): Logger {
  return createLogger("warn", process.stderr);
}

/** Milliseconds on the wall clock with sub-millisecond resolution; comparable across processes (see README). */
export function now(): number {
  return performance.timeOrigin + performance.now();
}

export const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

/** Nearest-rank percentile (p in 0..100) of an unsorted sample. */
export function percentile(values: readonly number[], p: number): number {
  if (values.length === 0) return Number.NaN;
  const sorted = [...values].sort((a, b) => a - b);
  const rank = Math.min(sorted.length, Math.max(1, Math.ceil((p / 100) * sorted.length)));
  return sorted[rank - 1]!;
}

export const median = (values: readonly number[]): number => percentile(values, 50);

/** A fresh temporary directory, removed again by the returned function. */
export async function tempDir(): Promise<{ path: string; remove: () => Promise<void> }> {
  const path = await mkdtemp(join(tmpdir(), "saas-bridge-bench-"));
  return { path, remove: () => rm(path, { recursive: true, force: true }) };
}

/** Rejects when `promise` does not settle within `ms`: every wait in the benchmarks is bounded. */
export async function within<T>(ms: number, what: string, promise: Promise<T>): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what}: no result within ${ms} ms`)), ms);
  });
  try {
    return await Promise.race([promise, timeout]);
  } finally {
    clearTimeout(timer);
  }
}
