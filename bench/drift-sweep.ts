import { readFileSync } from "node:fs";
import { loadavg } from "node:os";
import { createAuditWriter } from "../src/audit/append.js";
import { generateSecurityKeys } from "../src/auth/security-keys.js";
import { composeService, type Service } from "../src/compose.js";
import { createDriftSchedulePort } from "../src/onboarding/drift-schedule-port.js";
import { LandingZoneSchema, type LandingZone } from "../src/onboarding/landing-zone.js";
import { createDriftSchedule } from "../src/operations/schedules/drift-schedule.js";
import { openDb } from "../src/store/open.js";
import { notMeasured, type Figure } from "./report.js";
import { baseConfig, benchAuthorization, benchLogger, benchSpec, median, percentile, sleep, tempDir } from "./support.js";

/**
 * Figure `drift-sweep` (issue 16): a scheduled drift check of 200 providers (simulated engine, a fixed step
 * time: each check reads the cloud for one step) with W workers for scheduled work (DRIFT_CHECK_MAX_RUNNING =
 * W; MAX_CONCURRENT_OPERATIONS = W + 1, the slot kept for people): wall time of the sweep ÷ the ideal 200 × one
 * check ÷ W, target ≤ 1.2; and people's operations (previews) queued during the sweep wait for a slot no more
 * than 1.5 × as long as without it (median created → started). Both in the same run, on one PGlite service.
 */
const STACKS = 200;
const WIDTH = 8;
const STEP_MS = 1_000;
const USERS = 4;
const USER_OPS = 30;
const USER_SPACING_MS = 500;
const BASELINE_CHECKS = 3;
const TARGET_TIME = 1.2;
const TARGET_WAIT = 1.5;
const HOUR = 3_600_000;
const TIMEOUT_MS = 600_000;

const landingZone: LandingZone = (() => {
  const raw = JSON.parse(readFileSync(new URL("../examples/landing-zone.json", import.meta.url), "utf8")) as Record<string, any>;
  raw.network.regions["eu-west-1"].subnetPool = "10.100.0.0/18";
  raw.firewall.maxRuleGroupsPerPolicy = 1_000;
  return LandingZoneSchema.parse(raw);
})();

const ms = (v: unknown): number => new Date(v as string).getTime();
const round = (v: number, digits = 0): number => Math.round(v * 10 ** digits) / 10 ** digits;

async function until(what: string, probe: () => Promise<boolean>): Promise<void> {
  const deadline = Date.now() + TIMEOUT_MS;
  while (!(await probe())) {
    if (Date.now() > deadline) throw new Error(`${what}: not within ${TIMEOUT_MS} ms`);
    await sleep(200);
  }
}

const idle = (svc: Service) => async () => ((await svc.db.query<{ n: number }>(`SELECT count(*)::int AS n FROM operations WHERE status IN ('queued', 'running')`))[0]?.n ?? 1) === 0;

async function accept(svc: Service, authorization: string, url: string, payload?: Record<string, unknown>): Promise<string> {
  const res = await svc.app.inject({ method: "POST", url, headers: { authorization }, ...(payload ? { payload } : {}) });
  if (res.statusCode !== 202) throw new Error(`${url}: ${res.statusCode} ${res.body.slice(0, 300)}`);
  return res.json<{ operation: { id: string } }>().operation.id;
}

type Times = { created: number; started: number; finished: number; status: string };
async function timesOf(svc: Service, ids: readonly string[]): Promise<Times[]> {
  const rows = await svc.db.query<Record<string, unknown>>(`SELECT status, created_at, started_at, finished_at FROM operations WHERE id = ANY($1::uuid[])`, [ids]);
  return rows.map((r) => ({ created: ms(r.created_at), started: ms(r.started_at), finished: ms(r.finished_at), status: String(r.status) }));
}

/** People's previews, one every USER_SPACING_MS, round robin over the user providers; returns their ids. */
async function userOps(svc: Service, authorization: string, users: readonly string[]): Promise<string[]> {
  const ids: string[] = [];
  for (let i = 0; i < USER_OPS; i++) {
    ids.push(await accept(svc, authorization, `/v1/providers/${users[i % users.length]}/preview`));
    await sleep(USER_SPACING_MS);
  }
  return ids;
}

export async function measureDriftSweep(): Promise<Figure> {
  const dir = await tempDir();
  const keys = generateSecurityKeys();
  const logger = benchLogger();
  let svc: Service | undefined;
  const compose = async (stepMs: number) => {
    const db = await openDb({ dataDir: dir.path });
    const config = { ...baseConfig, SIMULATED_STEP_MS: stepMs, MAX_CONCURRENT_OPERATIONS: WIDTH + 1, DRIFT_CHECK_MAX_RUNNING: WIDTH, DRIFT_CHECK_INTERVAL: null };
    svc = await composeService({ config, landingZone, db, logger, keys });
    await svc.start();
    return svc;
  };
  try {
    // 200 providers in all: the sweep checks every active one, the four that people preview meanwhile too.
    const fleet = Array.from({ length: STACKS - USERS }, (_, i) => `bench-dr-${String(i).padStart(3, "0")}`);
    const users = Array.from({ length: USERS }, (_, i) => `bench-dr-user-${i}`);
    // Onboarded with no step time, then the same database with the fixed step.
    const onboardStart = Date.now();
    const first = await compose(0);
    const authorization = await benchAuthorization(first.db);
    for (const name of [...fleet, ...users]) await accept(first, authorization, "/v1/providers", benchSpec(name));
    await until("onboarding", idle(first));
    const onboardSeconds = (Date.now() - onboardStart) / 1000;
    await first.close(5_000);
    const service = await compose(STEP_MS);

    // One check: a person's drift check of one stack at a time.
    const single: string[] = [];
    for (let i = 0; i < BASELINE_CHECKS; i++) {
      single.push(await accept(service, authorization, `/v1/providers/${users[i % USERS]}/drift-checks`));
      await until("single check", idle(service));
    }
    const oneCheckMs = median((await timesOf(service, single)).map((t) => t.finished - t.started));

    // People's operations without a sweep.
    const quietIds = await userOps(service, authorization, users);
    await until("quiet user operations", idle(service));
    const quiet = await timesOf(service, quietIds);

    // The sweep: every stack due at once (the schedule's clock moved past a whole interval).
    const clock = { t: Date.now() };
    const schedule = createDriftSchedule({
      db: service.db,
      hub: service.hub,
      log: logger,
      port: createDriftSchedulePort({ audit: createAuditWriter({ hmacKey: keys.auditHmac }), engine: service.engine.name, programVersion: "bench" }),
      intervalMs: HOUR,
      kickRunner: service.runner.kick,
      now: () => clock.t,
    });
    await schedule.sweep();
    clock.t += HOUR + 1;
    const load0 = loadavg()[0] ?? 0;
    const [swept, busyIds] = await Promise.all([schedule.sweep(), sleep(2_000).then(() => userOps(service, authorization, users))]);
    await until("sweep", idle(service));
    const checks = await service.db.query<Record<string, unknown>>(
      `SELECT status, created_at, started_at, finished_at FROM operations WHERE intent = 'drift-check' AND priority = 2`,
    );
    const busy = await timesOf(service, busyIds);
    const wallMs = Math.max(...checks.map((c) => ms(c.finished_at))) - Math.min(...checks.map((c) => ms(c.created_at)));
    const idealMs = (STACKS * oneCheckMs) / WIDTH;
    const wait = (ts: Times[]) => ts.map((t) => t.started - t.created);
    const waitQuiet = median(wait(quiet));
    const waitBusy = median(wait(busy));
    const waitRatio = waitBusy / Math.max(1, waitQuiet);
    const ratio = wallMs / idealMs;
    const succeeded = checks.filter((c) => c.status === "succeeded").length;
    const complete = swept.queued === STACKS && succeeded === STACKS && [...quiet, ...busy].every((t) => t.status === "succeeded");
    return {
      id: "drift-sweep",
      title: `Drift sweep of ${STACKS} providers, ${WIDTH} workers for scheduled checks, ${STEP_MS} ms step (simulated engine)`,
      ratio: round(ratio, 3),
      ratioMeaning: `sweep wall (first check queued → last finished) ÷ ideal ${STACKS} × one check ÷ ${WIDTH}`,
      target: `time ratio ≤ ${TARGET_TIME}; people's queue wait during ÷ without ≤ ${TARGET_WAIT}; every check succeeded`,
      pass: complete && ratio <= TARGET_TIME && waitRatio <= TARGET_WAIT,
      subject: {
        wallMs,
        checksSucceeded: succeeded,
        checkMedianMs: median(checks.map((c) => ms(c.finished_at) - ms(c.started_at))),
        checkQueuedToStartedP95Ms: percentile(checks.map((c) => ms(c.started_at) - ms(c.created_at)), 95),
        userWaitMedianMs: waitBusy,
        userWaitP95Ms: percentile(wait(busy), 95),
        waitRatio: round(waitRatio, 3),
      },
      baseline: {
        oneCheckMs,
        idealMs: round(idealMs),
        userWaitMedianMs: waitQuiet,
        userWaitP95Ms: percentile(wait(quiet), 95),
      },
      notes: [
        ...(complete ? [] : [`MISS: ${swept.queued} queued, ${succeeded} of ${STACKS} checks succeeded; user operations not succeeded: ${[...quiet, ...busy].filter((t) => t.status !== "succeeded").length}`]),
        `people's queue wait during the sweep ÷ without it: ${round(waitRatio, 3)} (median created → started of ${USER_OPS} previews each, one every ${USER_SPACING_MS} ms; target ≤ ${TARGET_WAIT})`,
        `MAX_CONCURRENT_OPERATIONS=${WIDTH + 1}, DRIFT_CHECK_MAX_RUNNING=${WIDTH}: the sweep gets ${WIDTH} workers, one slot stays for people`,
        ...(percentile(wait(busy), 95) > oneCheckMs / 2
          ? [
              `the p95 during the sweep (${percentile(wait(busy), 95)} ms) is a preview that arrived while its own provider's check was running: it waits for that one check (up to one check's time), since nothing overlaps an operation of the same stack; a person's operation never waits for the sweep as such`,
            ]
          : []),
        `one check = a person's drift check alone (started → finished), median of ${BASELINE_CHECKS}; each check reads the simulated cloud for one ${STEP_MS} ms step`,
        `${STACKS} providers (${USERS} of them previewed by people during the sweep) onboarded with SIMULATED_STEP_MS=0 in ${onboardSeconds.toFixed(1)} s, then the service composed again on the same PGlite directory with ${STEP_MS} ms`,
        `load average (1 min) at the sweep's start ${load0.toFixed(2)}, at its end ${(loadavg()[0] ?? 0).toFixed(2)}`,
      ],
    };
  } catch (err) {
    return notMeasured(
      {
        id: "drift-sweep",
        title: `Drift sweep of ${STACKS} providers`,
        ratioMeaning: `sweep wall ÷ ideal ${STACKS} × one check ÷ ${WIDTH}`,
        target: `time ratio ≤ ${TARGET_TIME}; queue wait ratio ≤ ${TARGET_WAIT}`,
      },
      err,
    );
  } finally {
    await svc?.close(5_000).catch(() => undefined);
    await dir.remove();
  }
}
