import { ask, createOne, CREATES_PER_SECOND, LOAD_STEP_MS, serverClockOffset, startLoad, startLoopServer, type Load, type LoadResult } from "./create-load.js";
import { fanOut, latencies, type FanOut, type Sent } from "./fan-out.js";
import type { LoopDelay, LoopServerEvaluator } from "./loop-server.js";
import type { Figure } from "./report.js";
import { percentile, sleep } from "./support.js";

/**
 * Figure `stream-under-load` (issue 15): figure 2's commit → 100 SSE clients latency (fan-out.ts: clients in a
 * child, a shared clock, `latencies`) for one create operation, while 20 creates a second arrive ÷ the same
 * with no other request, each on a fresh service child (loop-server.ts) composed the same way. See README.
 */
const CLIENTS = 100;
/** Creates accepted before the followed operation's runner starts, so that it runs in a steady load. */
const LOAD_LEAD_MS = 3_000;
const TARGET_RATIO = 1.5;
/** Followed operations per side (pool), each on a fresh child; their samples are pooled. */
const ROUNDS = 2;

interface Followed {
  readonly run: FanOut;
  readonly sent: Sent;
  readonly load: LoadResult | undefined;
  /** The service's loop delay from the runner's start to the end of the followed operation. */
  readonly delay: LoopDelay;
  readonly serverClockRttMs: number;
  readonly spanMs: number;
}

/** Two creates per pool worker, queued and cancelled with SSE clients on one: the accept path, workers and streams are warm. */
async function warmUp(server: Awaited<ReturnType<typeof startLoopServer>>): Promise<void> {
  const ids = await Promise.all([0, 1, 2, 3].map((i) => createOne(server, `sul-warm-${i}-${Date.now().toString(36)}`)));
  const cancel = async () => {
    for (const id of ids) {
      const response = await fetch(`${server.origin}/v1/operations/${id}/cancel`, {
        method: "POST",
        headers: { authorization: server.authorization },
        signal: AbortSignal.timeout(30_000),
      });
      await response.text();
      if (response.status !== 202) throw new Error(`stream-under-load: cancel returned ${response.status}`);
    }
  };
  await fanOut(`${server.origin}/v1/operations/${ids[0]}/events`, CLIENTS, cancel, { authorization: server.authorization });
}

/**
 * One create followed by 100 clients from before it runs: it is created with the runner paused, the clients
 * connect, then (with load: after LOAD_LEAD_MS of creates queued behind it) the runner starts and claims it
 * first. Its events after operation.queued are the sample, as in figure 2.
 */
async function followOne(evaluator: LoopServerEvaluator, withLoad: boolean): Promise<Followed> {
  const server = await startLoopServer(evaluator);
  let load: Load | undefined;
  try {
    await warmUp(server);
    const clock = await serverClockOffset(server);
    const headers = { authorization: server.authorization };
    const operationId = await createOne(server, `sul-${evaluator}-${withLoad ? "load" : "idle"}-${Date.now().toString(36)}`);
    const run = await fanOut(
      `${server.origin}/v1/operations/${operationId}/events`,
      CLIENTS,
      async () => {
        if (withLoad) {
          load = startLoad(server, `sul-${evaluator}`, CREATES_PER_SECOND, 120_000);
          await sleep(LOAD_LEAD_MS);
        }
        await ask(server, { type: "loop-delay", reset: true }, "loop-delay");
        await ask(server, { type: "start-runner" }, "runner-started");
      },
      headers,
    );
    const delay = await ask(server, { type: "loop-delay", reset: false }, "loop-delay");
    const { commits } = await ask(server, { type: "commits", operationIds: [operationId] }, "commits");
    const schedule = (commits[operationId] ?? []).slice(1).map(([seq, at]): [number, number] => [seq, at - clock.offsetMs]);
    return {
      run,
      sent: new Map(schedule),
      load: await load?.stop(),
      delay,
      serverClockRttMs: clock.rttMs,
      spanMs: (schedule.at(-1)?.[1] ?? 0) - (schedule[0]?.[1] ?? 0),
    };
  } finally {
    await load?.stop();
    await server.stop(20_000);
  }
}

const ms = (n: number): number => Math.round(n * 100) / 100;

/** Figure 2's numbers (stream.ts) over the samples of all rounds pooled, plus the service's loop delay (worst round). */
function stats(rounds: readonly Followed[]): Record<string, number> {
  const all = rounds.flatMap((r) => latencies(r));
  const sum = (f: (r: Followed) => number): number => rounds.reduce((n, r) => n + f(r), 0);
  const worst = (f: (r: Followed) => number): number => Math.max(...rounds.map(f));
  return {
    p50Ms: ms(percentile(all, 50)),
    p99Ms: ms(percentile(all, 99)),
    maxMs: ms(all.length > 0 ? Math.max(...all) : Number.NaN),
    // Below −clockRttMs would mean a clock error (an arrival before its commit).
    minMs: ms(all.length > 0 ? Math.min(...all) : Number.NaN),
    samples: all.length,
    expectedSamples: sum((r) => CLIENTS * r.sent.size),
    clientsEnded: sum((r) => r.run.arrivals.ended),
    clientErrors: sum((r) => r.run.arrivals.errors.length),
    operationSpanMs: Math.round(worst((r) => r.spanMs)),
    loopDelayP99Ms: worst((r) => r.delay.p99Ms),
    loopDelayMaxMs: worst((r) => r.delay.maxMs),
    createsSent: sum((r) => r.load?.sent ?? 0),
    createsAccepted: sum((r) => r.load?.accepted ?? 0),
    createsFailed: sum((r) => r.load?.failed ?? 0),
    clockRttMs: ms(worst((r) => Math.max(r.run.clock.rttMs, r.serverClockRttMs))),
  };
}

/** Each round's own p99, to show how much one operation's bursts move it. */
const p99PerRound = (rounds: readonly Followed[]): Record<string, number> =>
  Object.fromEntries(rounds.map((r, i) => [`round${i + 1}P99Ms`, ms(percentile(latencies(r), 99))]));

const complete = (s: Record<string, number>): boolean => s["samples"] === s["expectedSamples"] && s["clientErrors"] === 0 && s["createsFailed"] === 0;

export async function measureStreamUnderLoad(): Promise<Figure> {
  // Pool: ROUNDS of each, alternating which goes first (idle, load, load, idle); serialized: one of each (a diagnostic).
  const idleRuns: Followed[] = [];
  const loadRuns: Followed[] = [];
  for (let round = 0; round < ROUNDS; round++) {
    for (const withLoad of round % 2 === 0 ? [false, true] : [true, false]) (withLoad ? loadRuns : idleRuns).push(await followOne("pool", withLoad));
  }
  const idle = stats(idleRuns);
  const loaded = stats(loadRuns);
  const serializedIdle = stats([await followOne("serialized", false)]);
  const serializedLoaded = stats([await followOne("serialized", true)]);
  const ratio = (loaded["p99Ms"] ?? Number.NaN) / (idle["p99Ms"] ?? Number.NaN);
  const serializedRatio = (serializedLoaded["p99Ms"] ?? Number.NaN) / (serializedIdle["p99Ms"] ?? Number.NaN);
  return {
    id: "stream-under-load",
    title: `Stream under load: commit → ${CLIENTS} SSE clients p99, ${CREATES_PER_SECOND} creates/s vs none`,
    ratio,
    ratioMeaning: `p99 with ${CREATES_PER_SECOND} creates/s arriving ÷ p99 with no other request, worker pool (lower is better)`,
    target: `ratio ≤ ${TARGET_RATIO}, every client got every event`,
    pass: ratio <= TARGET_RATIO && complete(idle) && complete(loaded),
    subject: loaded,
    baseline: idle,
    diagnostics: {
      "pool p99 per round, under load": p99PerRound(loadRuns),
      "pool p99 per round, no load": p99PerRound(idleRuns),
      "serialized evaluation, under load": serializedLoaded,
      "serialized evaluation, no load": serializedIdle,
      "serialized evaluation, ratio (one round each)": { ratio: ms(serializedRatio) },
    },
    notes: [
      `pool: ${ROUNDS} followed operations per side (idle, load, load, idle), their samples pooled; serialized: one each. ` +
        `Each a fresh service child (loop-server.ts: composeService on PGlite, simulated engine, SIMULATED_STEP_MS=${LOAD_STEP_MS}, ` +
        "MAX_CONCURRENT_OPERATIONS=4): subject and baseline the default pool, the diagnostics createInProcessEvaluator()",
      "warm-up in each child: 4 creates (gate evaluations in both workers), 100 clients on one of them, all cancelled while queued",
      "followed: one create, made with the runner paused; 100 clients (sse-clients.ts, node:http) connect, then the runner starts and claims it first; " +
        "its events after operation.queued are the sample (clients × events), as in figure 2",
      `under load: POST /v1/providers at ${CREATES_PER_SECOND}/s (open loop, distinct names) from ${LOAD_LEAD_MS / 1000} s before the runner starts until the followed ` +
        "operation ended; those creates queue behind it and run 3 at a time beside it",
      "sent = hub.publish right after the commit, in the service child; arrival = the chunk reaching the client's JS; both on the parent's clock through offsets " +
        "measured by 20 IPC pings per child (± half the worse round trip, clockRttMs)",
      "loopDelay*: the service's monitorEventLoopDelay (sample − 10 ms) from the runner's start to the operation's end",
    ],
  };
}
