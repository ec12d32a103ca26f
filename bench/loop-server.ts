import { monitorEventLoopDelay } from "node:perf_hooks";
import { generateSecurityKeys } from "../src/auth/security-keys.js";
import { composeService } from "../src/compose.js";
import { createInProcessEvaluator } from "../src/engine/evaluation-pool.js";
import { openDb } from "../src/store/open.js";
import { fromParent, toParent } from "./child.js";
import { baseConfig, benchAuthorization, benchLogger, DATABASE_URL_ENV, landingZone, now, tempDir } from "./support.js";

/**
 * Child process for the issue-15 figures (`event-loop-delay`, `stream-under-load`): the real service, whose
 * runner the parent starts ("start-runner": a followed operation can be created and streamed to before it
 * runs), with the simulated engine sleeping `<stepMs>` per AWS step, so that creates are evaluated, run and
 * streamed while its own event-loop delay is measured here, in its own process, where neither the load
 * generator nor the SSE clients run.
 * Usage: `loop-server.ts <pool|serialized> <stepMs>`: `pool` is the service as composed by default (its own
 * pool of worker threads); `serialized` composes it with `createInProcessEvaluator()`, every evaluation on this
 * thread, one at a time, as before issue 15. PGlite in a temporary data directory, or, with `BENCH_DATABASE_URL`
 * in the environment (a scratch database the parent creates and drops), PostgreSQL, as accept-server.ts does.
 * Answers: "loop-delay" (the event-loop delay histogram since the last reset; optionally reset it), "ping"
 * (this process's clock, for the parent's offset), "commits" (when each event of the named operations was
 * committed: hub.publish runs right after the commit, as figure 2 measures it) and "status" (operations by
 * status, and the running operations' ids). Removes its temporary data directory on "stop".
 * Import its types only: importing the module starts a server.
 */
export const LOOP_SERVER_EVALUATORS = ["pool", "serialized"] as const;
export type LoopServerEvaluator = (typeof LOOP_SERVER_EVALUATORS)[number];

/** monitorEventLoopDelay's timer interval. Each sample is the whole interval, so delay = sample − this. */
const LOOP_RESOLUTION_MS = 10;

export interface LoopDelay {
  /** Lateness of the histogram's timer (sample − resolution), ms. */
  readonly p50Ms: number;
  readonly p99Ms: number;
  readonly maxMs: number;
  readonly meanMs: number;
  readonly samples: number;
}

export type LoopServerRequest =
  | { type: "loop-delay"; reset: boolean }
  | { type: "ping"; id: number }
  | { type: "commits"; operationIds: readonly string[] }
  | { type: "status" }
  | { type: "start-runner" };
export type LoopServerMessage =
  | { type: "listening"; port: number; authorization: string; database: string }
  | ({ type: "loop-delay" } & LoopDelay)
  | { type: "pong"; id: number; at: number }
  /** Per operation id: [seq, commit time on this process's now()] in commit order. */
  | { type: "commits"; commits: Record<string, [number, number][]> }
  | { type: "status"; operations: Record<string, number>; running: string[] }
  | { type: "runner-started" };

const [evaluatorArg, stepArg] = process.argv.slice(2);
const stepMs = Number(stepArg);
if (!LOOP_SERVER_EVALUATORS.includes(evaluatorArg as LoopServerEvaluator) || !Number.isInteger(stepMs) || stepMs < 0) {
  throw new Error(`usage: loop-server.ts ${LOOP_SERVER_EVALUATORS.join("|")} <stepMs>`);
}

const dir = await tempDir();
const db = await openDb({ databaseUrl: process.env[DATABASE_URL_ENV] || undefined, dataDir: dir.path });
const service = await composeService({
  config: { ...baseConfig, SIMULATED_PAUSED: true, SIMULATED_STEP_MS: stepMs },
  landingZone,
  db,
  logger: benchLogger(),
  keys: generateSecurityKeys(),
  ...(evaluatorArg === "serialized" ? { evaluator: createInProcessEvaluator() } : {}),
});

// Every event's commit time, kept until the parent asks for its operation (bounded by the figure's run).
const committed = new Map<string, [number, number][]>();
const publish = service.hub.publish;
service.hub.publish = (operationId, event) => {
  const list = committed.get(operationId) ?? [];
  if (list.length === 0) committed.set(operationId, list);
  list.push([event.seq, now()]);
  return publish.call(service.hub, operationId, event);
};

const histogram = monitorEventLoopDelay({ resolution: LOOP_RESOLUTION_MS });
histogram.enable();
const lateness = (ns: number): number => Math.round(Math.max(0, ns / 1e6 - LOOP_RESOLUTION_MS) * 100) / 100;

function loopDelay(reset: boolean): LoopDelay {
  const delay = {
    p50Ms: lateness(histogram.percentile(50)),
    p99Ms: lateness(histogram.percentile(99)),
    maxMs: lateness(histogram.max),
    meanMs: lateness(histogram.mean),
    samples: histogram.count,
  };
  if (reset) histogram.reset();
  return delay;
}

async function status(): Promise<Extract<LoopServerMessage, { type: "status" }>> {
  const rows = await db.query<{ status: string; n: number }>("SELECT status, count(*)::int AS n FROM operations GROUP BY status");
  const running = await db.query<{ id: string }>("SELECT id FROM operations WHERE status = 'running' ORDER BY queue_seq");
  return { type: "status", operations: Object.fromEntries(rows.map((r) => [r.status, r.n])), running: running.map((r) => r.id) };
}

/** On failure the cause goes to stderr, and the fallback (if any) to the parent; without one, the parent's bounded wait fails. */
function answer(work: Promise<LoopServerMessage>, fallback?: LoopServerMessage): void {
  work.then(toParent, (err: unknown) => {
    console.error(err);
    if (fallback) toParent(fallback);
  });
}

fromParent<LoopServerRequest>(
  (message) => {
    if (message.type === "loop-delay") toParent<LoopServerMessage>({ type: "loop-delay", ...loopDelay(message.reset) });
    else if (message.type === "ping") toParent<LoopServerMessage>({ type: "pong", id: message.id, at: now() });
    else if (message.type === "commits") {
      const commits = Object.fromEntries(message.operationIds.map((id) => [id, committed.get(id) ?? []]));
      toParent<LoopServerMessage>({ type: "commits", commits });
    } else if (message.type === "status") answer(status(), { type: "status", operations: {}, running: [] });
    else answer(service.runner.start().then((): LoopServerMessage => ({ type: "runner-started" })));
  },
  async () => {
    histogram.disable();
    await service.close(2_000);
    await dir.remove();
  },
);
await service.start();
const url = await service.app.listen({ host: "127.0.0.1", port: 0 });
const authorization = await benchAuthorization(db);
toParent<LoopServerMessage>({ type: "listening", port: Number(new URL(url).port), authorization, database: db.description });
