import { readFileSync } from "node:fs";
import { loadavg } from "node:os";
import { performance, type EventLoopUtilization } from "node:perf_hooks";
import { generateSecurityKeys } from "../src/auth/security-keys.js";
import { composeService, type Service } from "../src/compose.js";
import { LandingZoneSchema, type LandingZone } from "../src/onboarding/landing-zone.js";
import type { Db } from "../src/store/db.js";
import { openDb } from "../src/store/open.js";
import { markBehind } from "../test/helpers/behind.js";
import { fromParent, toParent } from "./child.js";
import { BASELINE_RUNS, BATCH, CANARY, STACKS, STEP_MS, WIDTH } from "./rollout.js";
import { baseConfig, benchAuthorization, benchLogger, benchSpec, sleep, tempDir } from "./support.js";

/**
 * Child process (node --expose-gc) for the `rollout` figure (issue 15 part 3). Two services on one PGlite data
 * directory, as a release upgrade leaves them: the "old release" (SIMULATED_STEP_MS=0) onboards the fleet
 * through POST /v1/providers and is closed; markBehind then rewrites what those stacks last ran to an older
 * program version with one recorded resource changed per stack; the "new release" (SIMULATED_STEP_MS =
 * STEP_MS, MAX_CONCURRENT_OPERATIONS = WIDTH) is composed on the same directory and runs the rollouts:
 * BASELINE_RUNS single-stack rollouts first (the baseline "one up"), then one of STACKS stacks.
 * Times are the database's own (operations.started_at/finished_at, rollouts.created_at/applying_at/finished_at).
 * Import its types only: importing the module runs it.
 */
const ONBOARD_IN_FLIGHT = 4;
const ONBOARD_TIMEOUT_MS = 180_000;
const BASELINE_TIMEOUT_MS = 30_000;
const ROLLOUT_TIMEOUT_MS = 240_000;

export interface OpTimes {
  readonly intent: string;
  readonly status: string;
  /** Milliseconds since the epoch, from the database's timestamps. */
  readonly queuedAt: number;
  readonly startedAt: number;
  readonly finishedAt: number;
  /** Events the operation persisted (each written before it is sent). */
  readonly events: number;
}

/** How busy this process was over a phase: its main thread (event-loop utilization) and all its threads (CPU). */
export interface Busy {
  readonly eventLoopUtilization: number;
  /** CPU time of the whole process (main thread, evaluation workers, PGlite) ÷ wall time: cores in use. */
  readonly cores: number;
}

export interface RolloutTimes {
  readonly id: string;
  readonly status: string;
  readonly reason: string | null;
  readonly counts: Readonly<Record<string, number>>;
  readonly createdAt: number;
  readonly applyingAt: number;
  readonly finishedAt: number;
  readonly ops: readonly OpTimes[];
  /** Sampled where the bench's poll (every 250 ms) first saw the phase change. */
  readonly previewBusy: Busy;
  readonly applyBusy: Busy;
}

export interface Heap {
  readonly heapUsed: number;
  readonly rss: number;
  readonly external: number;
  readonly arrayBuffers: number;
}

export interface RolloutResult {
  readonly baselines: readonly RolloutTimes[];
  readonly rollout: RolloutTimes;
  readonly before: Heap;
  readonly after: Heap;
  readonly onboardedAfter: Heap;
  readonly gcExposed: boolean;
  readonly onboardSeconds: number;
  readonly reopenSeconds: number;
  readonly database: string;
  /** The machine's 1-minute load average when the 200-stack rollout started and ended (other work included). */
  readonly loadAverage: readonly [number, number];
}

/** One message, always: the numbers, or why there are none. */
export type RolloutChildMessage = { type: "done"; result: RolloutResult } | { type: "done"; error: string };

/** The example landing zone with room for the fleet in eu-west-1: a /18 pool (341 providers of 3 /28s) and 1,000 rule groups. */
const landingZone: LandingZone = (() => {
  const raw = JSON.parse(readFileSync(new URL("../examples/landing-zone.json", import.meta.url), "utf8")) as Record<string, any>;
  raw.network.regions["eu-west-1"].subnetPool = "10.100.0.0/18";
  raw.firewall.maxRuleGroupsPerPolicy = 1_000;
  return LandingZoneSchema.parse(raw);
})();

const gc = (globalThis as { gc?: () => void }).gc;
function heap(): Heap {
  gc?.();
  gc?.();
  const m = process.memoryUsage();
  return { heapUsed: m.heapUsed, rss: m.rss, external: m.external, arrayBuffers: m.arrayBuffers };
}

const ms = (v: unknown): number => (v === null || v === undefined ? Number.NaN : new Date(v as string | Date).getTime());

async function until<T>(what: string, timeoutMs: number, everyMs: number, probe: () => Promise<T | undefined>): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe();
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`${what}: not within ${timeoutMs} ms`);
    await sleep(everyMs);
  }
}

/** POSTs every create (at most ONBOARD_IN_FLIGHT requests at once), then waits until each operation succeeded. */
async function onboard(service: Service, authorization: string, names: readonly string[]): Promise<void> {
  const queue = [...names];
  const post = async () => {
    for (let name = queue.shift(); name !== undefined; name = queue.shift()) {
      const res = await service.app.inject({ method: "POST", url: "/v1/providers", headers: { authorization }, payload: benchSpec(name) });
      if (res.statusCode !== 202) throw new Error(`create ${name}: ${res.statusCode} ${res.body.slice(0, 500)}`);
    }
  };
  await Promise.all(Array.from({ length: ONBOARD_IN_FLIGHT }, post));
  await until("onboarding", ONBOARD_TIMEOUT_MS, 500, async () => {
    const rows = await service.db.query<{ status: string; n: number }>(
      `SELECT status, count(*)::int AS n FROM operations WHERE intent = 'create' AND provider = ANY($1::text[]) GROUP BY status`,
      [names],
    );
    const by = Object.fromEntries(rows.map((r) => [r.status, Number(r.n)]));
    const open = (by["queued"] ?? 0) + (by["running"] ?? 0);
    if (open === 0 && (by["succeeded"] ?? 0) !== names.length) throw new Error(`onboarding did not succeed: ${JSON.stringify(by)}`);
    return open === 0 ? true : undefined;
  });
}

/** Starts a rollout, waits (polling one row, not the 200-stack view) until it has finished, and reads its times. */
async function runRollout(service: Service, authorization: string, body: Record<string, unknown>, timeoutMs: number): Promise<RolloutTimes> {
  const res = await service.app.inject({ method: "POST", url: "/v1/rollouts", headers: { authorization }, payload: body });
  if (res.statusCode !== 201) throw new Error(`POST /v1/rollouts: ${res.statusCode} ${res.body.slice(0, 500)}`);
  const { id } = res.json<{ id: string }>();
  const created = mark();
  let applying: Mark | undefined;
  await until(`rollout ${id}`, timeoutMs, 250, async () => {
    const [row] = await service.db.query<{ applying_at: unknown; finished_at: unknown }>(`SELECT applying_at, finished_at FROM rollouts WHERE id = $1`, [id]);
    if (row?.applying_at && applying === undefined) applying = mark();
    return row?.finished_at ? true : undefined;
  });
  const finished = mark();
  const view = (await service.app.inject({ method: "GET", url: `/v1/rollouts/${id}`, headers: { authorization } })).json<Record<string, any>>();
  const ops = await service.db.query<Record<string, unknown>>(
    `SELECT o.intent, o.status, o.created_at, o.started_at, o.finished_at,
            (SELECT count(*)::int FROM operation_events e WHERE e.operation_id = o.id) AS events
       FROM operations o WHERE o.rollout_id = $1 ORDER BY o.queue_seq`,
    [id],
  );
  return {
    id,
    status: String(view.status),
    reason: (view.reason as string | undefined) ?? null,
    counts: view.counts as Record<string, number>,
    createdAt: ms(view.createdAt),
    applyingAt: ms(view.applyingAt),
    finishedAt: ms(view.finishedAt),
    ops: ops.map((o) => ({ intent: String(o.intent), status: String(o.status), queuedAt: ms(o.created_at), startedAt: ms(o.started_at), finishedAt: ms(o.finished_at), events: Number(o.events) })),
    previewBusy: busy(created, applying ?? finished),
    applyBusy: busy(applying ?? finished, finished),
  };
}

interface Mark {
  readonly at: number;
  readonly elu: EventLoopUtilization;
  readonly cpu: NodeJS.CpuUsage;
}
const mark = (): Mark => ({ at: performance.now(), elu: performance.eventLoopUtilization(), cpu: process.cpuUsage() });
function busy(from: Mark, to: Mark): Busy {
  const cpuMs = (to.cpu.user - from.cpu.user + to.cpu.system - from.cpu.system) / 1000;
  return { eventLoopUtilization: performance.eventLoopUtilization(to.elu, from.elu).utilization, cores: cpuMs / Math.max(1, to.at - from.at) };
}

const dir = await tempDir();
const keys = generateSecurityKeys();
const logger = benchLogger();
let current: Service | undefined;
fromParent(
  () => undefined,
  async () => {
    await current?.close(5_000).catch(() => undefined);
    await dir.remove();
  },
);

async function compose(db: Db, stepMs: number): Promise<Service> {
  const config = { ...baseConfig, SIMULATED_STEP_MS: stepMs, MAX_CONCURRENT_OPERATIONS: WIDTH };
  current = await composeService({ config, landingZone, db, logger, keys });
  await current.start();
  return current;
}

try {
  const fleet = Array.from({ length: STACKS }, (_, i) => `bench-ro-${String(i).padStart(3, "0")}`);
  const singles = Array.from({ length: BASELINE_RUNS }, (_, i) => `bench-ro-base-${i}`);

  // The old release: the fleet, onboarded without step time.
  let started = Date.now();
  const old = await compose(await openDb({ dataDir: dir.path }), 0);
  const authorization = await benchAuthorization(old.db);
  await onboard(old, authorization, [...singles, ...fleet]);
  const onboardSeconds = (Date.now() - started) / 1000;
  const onboardedAfter = heap();
  await old.close(10_000);
  current = undefined;

  // The upgrade: what these stacks ran is now an older version, with one recorded resource changed each.
  started = Date.now();
  const db = await openDb({ dataDir: dir.path });
  await markBehind(db, [...singles, ...fleet], { changedResources: 1 });
  const service = await compose(db, STEP_MS);
  const reopenSeconds = (Date.now() - started) / 1000;

  const baselines: RolloutTimes[] = [];
  for (const name of singles) {
    baselines.push(await runRollout(service, authorization, { providers: [name], canary: 0, batchSize: 1, maxParallel: 1, maxFailures: 0 }, BASELINE_TIMEOUT_MS));
  }
  const before = heap();
  const loadAtStart = loadavg()[0] ?? Number.NaN;
  const rollout = await runRollout(service, authorization, { providers: fleet, canary: CANARY, batchSize: BATCH, maxParallel: WIDTH, maxFailures: 0 }, ROLLOUT_TIMEOUT_MS);
  const after = heap();
  const result = { baselines, rollout, before, after, onboardedAfter, gcExposed: gc !== undefined, onboardSeconds, reopenSeconds, database: db.description, loadAverage: [loadAtStart, loadavg()[0] ?? Number.NaN] as const };
  toParent<RolloutChildMessage>({ type: "done", result });
} catch (err) {
  toParent<RolloutChildMessage>({ type: "done", error: err instanceof Error ? err.message : String(err) });
}
