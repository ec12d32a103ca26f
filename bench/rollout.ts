import { spawnChild } from "./child.js";
import { notMeasured, type Figure } from "./report.js";
import type { Heap, OpTimes, RolloutChildMessage, RolloutResult, RolloutTimes } from "./rollout-child.js";
import { median, percentile } from "./support.js";

/**
 * Figure `rollout` (issue 15 part 3): a rollout of 200 behind stacks with maxParallel = W, simulated engine at a
 * fixed step time: apply-phase wall time ÷ the ideal 200 × one `up` ÷ W (the `up` measured in the same run, a
 * single-stack rollout's update), target ≤ 1.1; heapUsed after the rollout ÷ before it (forced GC), target ≤ 1.2.
 * Everything runs in a child started with --expose-gc (rollout-child.ts).
 */
export const STACKS = 200;
/** maxParallel; MAX_CONCURRENT_OPERATIONS is set to the same, so the runner has a slot for each. */
export const WIDTH = 8;
export const STEP_MS = 1_000;
export const BASELINE_RUNS = 3;
/**
 * canary = WIDTH, then the other 192 in one batch: two waves, each a multiple of WIDTH. Every further wave
 * adds a barrier where the slowest update of a wave holds the next one (measured 2026-12-05 with batches of
 * 48, five waves: 1.21 against 1.09 with this).
 */
export const CANARY = WIDTH;
export const BATCH = STACKS - CANARY;
const TARGET_TIME = 1.1;
const TARGET_MEMORY = 1.2;
const RUN_TIMEOUT_MS = 420_000;

const mib = (bytes: number): number => Math.round((bytes / 2 ** 20) * 10) / 10;
const round = (v: number, digits = 0): number => Math.round(v * 10 ** digits) / 10 ** digits;
const duration = (o: OpTimes): number => o.finishedAt - o.startedAt;
const of = (r: RolloutTimes, intent: string): OpTimes[] => r.ops.filter((o) => o.intent === intent);

/** The most operations that ran at the same moment (an end at the same instant as a start frees its slot first). */
function maxOverlap(ops: readonly OpTimes[]): number {
  const edges = ops.flatMap((o): [number, number][] => [[o.startedAt, 1], [o.finishedAt, -1]]).sort((a, b) => a[0] - b[0] || a[1] - b[1]);
  let running = 0;
  let max = 0;
  for (const [, d] of edges) max = Math.max(max, (running += d));
  return max;
}

const heapValues = (h: Heap) => ({ heapUsedMiB: mib(h.heapUsed), rssMiB: mib(h.rss), externalMiB: mib(h.external), arrayBuffersMiB: mib(h.arrayBuffers) });

function figureOf(r: RolloutResult): Figure {
  const { rollout } = r;
  const updates = of(rollout, "update");
  const previews = of(rollout, "preview");
  const oneUpMs = median(r.baselines.flatMap((b) => of(b, "update").map(duration)));
  const onePreviewMs = median(r.baselines.flatMap((b) => of(b, "preview").map(duration)));
  const wallMs = rollout.finishedAt - rollout.applyingAt;
  const idealMs = (STACKS * oneUpMs) / WIDTH;
  const ratio = wallMs / idealMs;
  const previewMs = rollout.applyingAt - rollout.createdAt;
  const idealPreviewMs = (STACKS * onePreviewMs) / WIDTH;
  const memory = r.after.heapUsed / r.before.heapUsed;
  const succeededUpdates = updates.filter((o) => o.status === "succeeded").length;
  const complete =
    rollout.status === "succeeded" && rollout.counts["done"] === STACKS && rollout.counts["failed"] === 0 && succeededUpdates === STACKS && r.baselines.every((b) => b.status === "succeeded");
  const busyMs = updates.reduce((sum, o) => sum + duration(o), 0);
  const firstStart = Math.min(...updates.map((o) => o.startedAt));
  const lastEnd = Math.max(...updates.map((o) => o.finishedAt));
  const problems = [
    ...(complete ? [] : [`rollout ${rollout.status}${rollout.reason ? ` (${rollout.reason})` : ""}: counts ${JSON.stringify(rollout.counts)}, ${succeededUpdates} of ${STACKS} updates succeeded; baselines ${r.baselines.map((b) => b.status).join(", ")}`]),
    ...(r.gcExposed ? [] : ["global.gc NOT available: the heap samples include garbage"]),
  ];
  return {
    id: "rollout",
    title: `Rollout of ${STACKS} stacks, maxParallel ${WIDTH}, ${STEP_MS} ms step (simulated engine)`,
    ratio: round(ratio, 3),
    ratioMeaning: `apply phase (rollout applying_at → finished_at) ÷ ideal ${STACKS} × one up ÷ ${WIDTH} (one up = median update operation of ${BASELINE_RUNS} single-stack rollouts, same run)`,
    target: `time ratio ≤ ${TARGET_TIME}, heapUsed after ÷ before ≤ ${TARGET_MEMORY}, all ${STACKS} stacks succeeded`,
    pass: complete && r.gcExposed && ratio <= TARGET_TIME && memory <= TARGET_MEMORY,
    subject: {
      applyMs: wallMs,
      updatesSpanMs: lastEnd - firstStart,
      updateMedianMs: median(updates.map(duration)),
      updateP95Ms: percentile(updates.map(duration), 95),
      updateMaxMs: Math.max(...updates.map(duration)),
      queuedToStartedMedianMs: median(updates.map((o) => o.startedAt - o.queuedAt)),
      maxOverlap: maxOverlap(updates),
      slotsBusyPercent: round((100 * busyMs) / (WIDTH * wallMs), 1),
      eventLoopUtilization: round(rollout.applyBusy.eventLoopUtilization, 2),
      cores: round(rollout.applyBusy.cores, 2),
      done: rollout.counts["done"] ?? Number.NaN,
      failed: rollout.counts["failed"] ?? Number.NaN,
      updatesSucceeded: succeededUpdates,
    },
    baseline: {
      oneUpMs,
      idealMs: round(idealMs),
      onePreviewMs,
      singleApplyPhaseMedianMs: median(r.baselines.map((b) => b.finishedAt - b.applyingAt)),
      runs: r.baselines.length,
    },
    diagnostics: {
      previewPhase: {
        ms: previewMs,
        idealMs: round(idealPreviewMs),
        ratio: round(previewMs / idealPreviewMs, 3),
        previewMedianMs: median(previews.map(duration)),
        previewP95Ms: percentile(previews.map(duration), 95),
        maxOverlap: maxOverlap(previews),
        eventLoopUtilization: round(rollout.previewBusy.eventLoopUtilization, 2),
        cores: round(rollout.previewBusy.cores, 2),
      },
      perUpWork: {
        oneUpMinusStepMs: oneUpMs - STEP_MS,
        [`times${STACKS}Ms`]: STACKS * (oneUpMs - STEP_MS),
        singleUpEventLoopUtilization: round(median(r.baselines.map((b) => b.applyBusy.eventLoopUtilization)), 2),
        eventsPerUpdate: median(updates.map((o) => o.events)),
        eventsPerPreview: median(previews.map((o) => o.events)),
      },
      memory: { heapRatio: round(memory, 3), rssRatio: round(r.after.rss / r.before.rss, 3) },
      memoryBefore: heapValues(r.before),
      memoryAfter: heapValues(r.after),
      memoryOldReleaseAfterOnboarding: heapValues(r.onboardedAfter),
    },
    notes: [
      ...problems.map((p) => `MISS: ${p}`),
      `${rollout.status}: done ${rollout.counts["done"]}, failed ${rollout.counts["failed"]} of ${rollout.counts["total"]}; ${succeededUpdates} update operations succeeded`,
      `fleet onboarded by the "old release" (POST /v1/providers ×${STACKS + BASELINE_RUNS}, SIMULATED_STEP_MS=0) in ${r.onboardSeconds.toFixed(1)} s; closed, then markBehind (older program version, 1 recorded resource changed per stack) and the "new release" composed on the same PGlite directory (SIMULATED_STEP_MS=${STEP_MS}, MAX_CONCURRENT_OPERATIONS=${WIDTH}) in ${r.reopenSeconds.toFixed(1)} s`,
      `options: canary ${CANARY}, batchSize ${BATCH}, maxParallel ${WIDTH}, maxFailures 0 (${1 + Math.ceil((STACKS - CANARY) / BATCH)} waves, each a multiple of ${WIDTH}); each update has exactly one real step of ${STEP_MS} ms, the rest of the stack unchanged`,
      `one up = operations.started_at → finished_at of the update of a single-stack rollout (maxParallel 1), median of ${BASELINE_RUNS}: ${r.baselines.flatMap((b) => of(b, "update").map(duration)).join(", ")} ms`,
      `wall = the rollout's applying_at → finished_at (the final event): it includes every wave barrier and the worker's hand-over from an ended update to the next queued one; updatesSpan = first update started → last finished`,
      `preview phase (created_at → applying_at) is reported apart: the issue's ideal counts the ups only`,
      `eventLoopUtilization / cores: the service process's main thread (where PGlite runs every query) and its CPU time over all threads ÷ wall, over the phase (boundaries ±250 ms); perUpWork = one up's time beyond its ${STEP_MS} ms step, × ${STACKS}: a floor for the apply phase if that work cannot overlap`,
      `load average (1 min) from the whole machine, other work included: ${r.loadAverage[0].toFixed(2)} at the rollout's start, ${r.loadAverage[1].toFixed(2)} at its end`,
      `memory: process.memoryUsage() after global.gc() twice; before = the new release after the ${BASELINE_RUNS} single-stack rollouts, just before the ${STACKS}-stack one; after = once it has finished. PGlite's WASM memory is in external/arrayBuffers, not heapUsed`,
      `database: ${r.database}; times are the database's timestamps (ms)`,
    ],
  };
}

export async function measureRollout(): Promise<Figure> {
  const child = spawnChild<never, RolloutChildMessage>("./rollout-child.ts", [], { nodeFlags: ["--expose-gc"] });
  try {
    const message = await child.next("done", RUN_TIMEOUT_MS);
    return "error" in message ? failed(message.error) : figureOf(message.result);
  } catch (err) {
    return failed(err instanceof Error ? err.message : String(err));
  } finally {
    await child.stop(15_000);
  }
}

/** The run did not get as far as a finished rollout: a MISS with the reason, not a crash of the whole bench. */
function failed(reason: string): Figure {
  return notMeasured(
    {
      id: "rollout",
      title: `Rollout of ${STACKS} stacks, maxParallel ${WIDTH}, ${STEP_MS} ms step (simulated engine)`,
      ratioMeaning: `apply phase ÷ ideal ${STACKS} × one up ÷ ${WIDTH}`,
      target: `time ratio ≤ ${TARGET_TIME}, heapUsed after ÷ before ≤ ${TARGET_MEMORY}, all ${STACKS} stacks succeeded`,
    },
    reason,
  );
}
