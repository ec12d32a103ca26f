import { createScratchDatabase, startPostgresCluster } from "../test/helpers/postgres-cluster.js";
import { spawnChild } from "./child.js";
import { ask, createOne, CREATES_PER_SECOND, LOAD_STEP_MS, startLoad, startLoopServer, type Load, type LoadResult, type LoopServer } from "./create-load.js";
import type { LoopDelay, LoopServerEvaluator } from "./loop-server.js";
import type { Figure } from "./report.js";
import type { ClientsMessage, ClientsRequest } from "./sse-clients.js";
import { now, sleep, within } from "./support.js";

/**
 * Figure `event-loop-delay` (issue 15): the service's own event-loop delay (monitorEventLoopDelay, in its
 * process) while 20 creates a second arrive and 100 SSE clients follow running operations, with program
 * evaluations in the worker pool ÷ on the service's thread, serialized (the "before"). See README.
 */
const CLIENTS = 100;
/** Clients per followed operation: 4 groups, as many as MAX_CONCURRENT_OPERATIONS (4) runs at once. */
const GROUP = 25;
const WARMUP_MS = 3_000;
/** The longest wait, after the warm-up, for the followers to reach CLIENTS before the window opens anyway. */
const FOLLOWERS_WAIT_MS = 15_000;
const WINDOW_MS = 10_000;
const TARGET_P99_MS = 20;
/** How often the followers replace the groups whose operation ended. */
const TOP_UP_MS = 250;
/** Creates sent at once before the load: every pool worker (2 on this machine) loads the program once. */
const WORKERS_WARMUP = 4;

interface FollowerStats {
  /** Clients connected in all (groups × GROUP). */
  readonly clients: number;
  /** Groups whose operation ended (their streams closed by the service), and the SSE events those groups received. */
  readonly groupsEnded: number;
  readonly eventsOfEndedGroups: number;
  readonly errors: number;
  /** The fewest clients open after a top-up, from markWindow() on. */
  readonly minOpenInWindow: number;
}

interface Followers {
  /** Clients open now (connecting or streaming). */
  open(): number;
  /** From the next top-up on, the lowest number of clients open after each top-up is recorded. */
  markWindow(): void;
  /** Once; later calls get the same. */
  stop(): Promise<FollowerStats>;
}

/**
 * Keeps `CLIENTS` SSE clients (in a child process) on the service's running operations, in groups of `GROUP`:
 * a group whose operation ended is replaced by one on the running operation followed by the fewest groups
 * (the newest create of the load while none runs). A connect counts as open until its group reports.
 */
async function startFollowers(server: LoopServer, load: Load): Promise<Followers> {
  const clients = spawnChild<ClientsRequest, ClientsMessage>("./sse-clients.ts", []);
  const headers = { authorization: server.authorization };
  const perOperation = new Map<string, number>();
  let open = 0;
  let clientsTotal = 0;
  let groupsEnded = 0;
  let events = 0;
  let errors = 0;
  let inWindow = false;
  let minOpen = Number.POSITIVE_INFINITY;
  let stopping = false;
  let stopped: ReturnType<Followers["stop"]> | undefined;

  // One reader of "arrivals" at a time (an abandoned wait would take a later message).
  const reader = (async () => {
    while (!stopping) {
      const arrivals = await clients.next("arrivals", 120_000);
      open -= arrivals.arrivals.length;
      groupsEnded++;
      events += arrivals.arrivals.reduce((n, a) => n + a.length, 0);
      errors += arrivals.errors.length;
    }
  })().catch(() => undefined); // ends when the child stops

  const topUp = async () => {
    while (!stopping && open + GROUP <= CLIENTS) {
      const { running } = await ask(server, { type: "status" }, "status");
      const target =
        running.sort((a, b) => (perOperation.get(a) ?? 0) - (perOperation.get(b) ?? 0))[0] ?? load.created.at(-1)?.operationId;
      if (target === undefined || stopping) return;
      perOperation.set(target, (perOperation.get(target) ?? 0) + 1);
      clients.send({ type: "connect", url: `${server.origin}/v1/operations/${target}/events`, count: GROUP, headers });
      open += GROUP;
      clientsTotal += GROUP;
    }
  };
  let failure: unknown;
  const loop = (async () => {
    while (!stopping) {
      await topUp();
      if (inWindow) minOpen = Math.min(minOpen, open);
      await sleep(TOP_UP_MS);
    }
  })().catch((err: unknown) => {
    failure = err;
  });

  return {
    open: () => open,
    markWindow: () => {
      inWindow = true;
    },
    stop: () =>
      (stopped ??= (async () => {
        stopping = true;
        await loop;
        await clients.stop(5_000);
        await reader;
        if (failure !== undefined) throw failure;
        return { clients: clientsTotal, groupsEnded, eventsOfEndedGroups: events, errors, minOpenInWindow: Number.isFinite(minOpen) ? minOpen : 0 };
      })()),
  };
}

interface Run {
  readonly database: string;
  readonly delay: LoopDelay;
  readonly load: LoadResult;
  readonly followers: FollowerStats;
  readonly succeededInWindow: number;
  readonly queuedAtEnd: number;
  readonly windowMs: number;
}

/**
 * A fresh service child: WORKERS_WARMUP creates at once (every pool worker evaluates once), the runner
 * started, the load and followers for WARMUP_MS (and until 100 clients follow), then the measured window.
 */
async function measureOnce(evaluator: LoopServerEvaluator, databaseUrl?: string): Promise<Run> {
  const server = await startLoopServer(evaluator, databaseUrl);
  try {
    await Promise.all(Array.from({ length: WORKERS_WARMUP }, (_, i) => createOne(server, `eld-warm-${evaluator}-${i}`)));
    await ask(server, { type: "start-runner" }, "runner-started");
    const load = startLoad(server, `eld-${evaluator}`, CREATES_PER_SECOND, WARMUP_MS + FOLLOWERS_WAIT_MS + WINDOW_MS + 30_000);
    const followers = await startFollowers(server, load);
    try {
      await sleep(WARMUP_MS);
      const waitUntil = now() + FOLLOWERS_WAIT_MS;
      while (followers.open() < CLIENTS && now() < waitUntil) await sleep(TOP_UP_MS);
      const before = await ask(server, { type: "status" }, "status");
      await ask(server, { type: "loop-delay", reset: true }, "loop-delay");
      followers.markWindow();
      const started = now();
      await sleep(WINDOW_MS);
      const delay = await ask(server, { type: "loop-delay", reset: true }, "loop-delay");
      const windowMs = now() - started;
      const after = await ask(server, { type: "status" }, "status");
      return {
        database: server.database,
        delay,
        windowMs,
        succeededInWindow: (after.operations["succeeded"] ?? 0) - (before.operations["succeeded"] ?? 0),
        queuedAtEnd: after.operations["queued"] ?? 0,
        load: await load.stop(),
        followers: await followers.stop(),
      };
    } finally {
      await Promise.allSettled([load.stop(), followers.stop()]);
    }
  } finally {
    await server.stop(20_000);
  }
}

/**
 * Diagnostic: the pool on PostgreSQL (a throwaway cluster, or DATABASE_URL's server; a scratch database dropped
 * after), the same run with the database in another process instead of PGlite's worker thread.
 */
async function poolOnPostgres(): Promise<Run | { skipped: string }> {
  const cluster = await within(90_000, "start PostgreSQL", startPostgresCluster());
  if ("skipped" in cluster) return cluster;
  try {
    const scratch = await within(30_000, "create scratch database", createScratchDatabase(cluster.url));
    try {
      return await measureOnce("pool", scratch.url);
    } finally {
      await within(30_000, "drop scratch database", scratch.stop());
    }
  } finally {
    await within(90_000, "stop PostgreSQL", cluster.stop());
  }
}

function summary(run: Run): Record<string, number> {
  const { delay, load, followers } = run;
  return {
    p50Ms: delay.p50Ms,
    p99Ms: delay.p99Ms,
    maxMs: delay.maxMs,
    meanMs: delay.meanMs,
    loopSamples: delay.samples,
    createsSent: load.sent,
    createsAccepted: load.accepted,
    createsFailed: load.failed,
    sentPerSecond: load.sentPerSecond,
    lateSends: load.lateSends,
    acceptP50Ms: load.acceptP50Ms,
    acceptP99Ms: load.acceptP99Ms,
    operationsSucceededInWindow: run.succeededInWindow,
    queuedAtEnd: run.queuedAtEnd,
    sseClientsMinOpenInWindow: followers.minOpenInWindow,
    sseClientsConnected: followers.clients,
    sseGroupsEnded: followers.groupsEnded,
    sseEventsOfEndedGroups: followers.eventsOfEndedGroups,
    sseClientErrors: followers.errors,
  };
}

/** Every create was sent on time and answered, and 100 clients followed throughout the window. */
function valid(run: Run): boolean {
  return run.load.failed === 0 && run.load.sentPerSecond >= CREATES_PER_SECOND * 0.95 && run.followers.minOpenInWindow >= CLIENTS && run.followers.errors === 0;
}

export async function measureEventLoopDelay(): Promise<Figure> {
  const pool = await measureOnce("pool");
  const serialized = await measureOnce("serialized");
  const postgres = await poolOnPostgres();
  const subject = summary(pool);
  const baseline = summary(serialized);
  const runs = { pool, serialized, ...("skipped" in postgres ? {} : { "pool on PostgreSQL": postgres }) };
  const invalid = Object.entries(runs).flatMap(([name, run]) =>
    valid(run) ? [] : [`INVALID RUN (${name}): ${JSON.stringify({ load: run.load, followers: run.followers })}`],
  );
  return {
    id: "event-loop-delay",
    title: `Event-loop delay, ${CREATES_PER_SECOND} creates/s + ${CLIENTS} SSE clients, p99`,
    ratio: pool.delay.p99Ms / serialized.delay.p99Ms,
    ratioMeaning: "service loop delay p99 with the worker pool ÷ with evaluations serialized on its thread (lower is better)",
    target: `pool p99 ≤ ${TARGET_P99_MS} ms`,
    pass: pool.delay.p99Ms <= TARGET_P99_MS && valid(pool) && valid(serialized),
    subject,
    baseline,
    diagnostics: "skipped" in postgres ? {} : { "pool on PostgreSQL": summary(postgres) },
    notes: [
      ...invalid,
      "skipped" in postgres
        ? `pool on PostgreSQL: skipped (${postgres.skipped})`
        : `pool on PostgreSQL (${postgres.database}): the database server runs on the same 2 CPUs; PGlite runs in a worker thread of the service process`,
      `each side a fresh service child (loop-server.ts: composeService on PGlite, simulated engine, SIMULATED_STEP_MS=${LOAD_STEP_MS}, ` +
        `MAX_CONCURRENT_OPERATIONS=4): pool = the default (EVALUATION_WORKERS = available parallelism), serialized = createInProcessEvaluator()`,
      `delay = monitorEventLoopDelay (resolution 10 ms) sample − 10 ms, in the service's process, over a ${Math.round(pool.windowMs / 1000)} s window; ` +
        `before it: ${WORKERS_WARMUP} creates at once (every pool worker evaluates once), then ${WARMUP_MS / 1000} s of the same load and followers (JIT, backlog)`,
      `load: POST /v1/providers at ${CREATES_PER_SECOND}/s on a fixed schedule (open loop, distinct names: verdict-cache misses), from the warm-up to the end ` +
        "of the window; accept latencies and counts cover that whole time",
      `followers: ${CLIENTS} SSE clients in a child (sse-clients.ts), ${CLIENTS / GROUP} groups of ${GROUP}, each on a running operation; ` +
        `a group whose operation ended is replaced within ${TOP_UP_MS} ms`,
      "operations queue (queuedAtEnd): 4 run at a time and 20 a second do not finish on this machine, so the window is the loop's responsiveness in overload; " +
        "acceptP50Ms shows whether the guardrail gate kept up",
    ],
  };
}
