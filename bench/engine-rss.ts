import { loadavg } from "node:os";
import { FAKE_AWS_DIR_ENV } from "../test/support/fake-aws/cloud.js";
import { realEngineMissing, type RealEngine } from "../test/support/real-engine.js";
import { prepareBenchEngine, startEngineService, stepDurations, STEP_LATENCY_MS, type EngineService, type Submitted } from "./engine-service.js";
import { reapStrays, sampleTrees, type TreePeak } from "./proc-tree.js";
import type { Figure, Skipped } from "./report.js";
import { median, now, percentile, sleep, within } from "./support.js";

/**
 * Figure `engine-rss` (README §10): the memory of one operation's whole process tree with the real engine
 * (engine child + pulumi CLI + plugins), over 10 sequential creates, and how step latency grows with
 * concurrent creates (N = 2, 4, 8, 16; N = 1 is the sequential series).
 */
const SEQUENTIAL = 10;
const CURVE = [2, 4, 8, 16] as const;
const SAMPLE_MS = 100;
const RUN_TIMEOUT_MS = 180_000;
/** A batch's cap: what has not finished by then is cancelled and reported as unfinished. */
const BATCH_CAP_MS = 210_000;
const IDLE_TIMEOUT_MS = 180_000;
/** No batch starts after this (from the figure's start); the curve reports the N it reached. */
const CURVE_DEADLINE_MS = 480_000;
const DOUBLED = 2;

const tag = Date.now().toString(36);
let counter = 0;
const nextName = () => `er-${tag}-${(counter++).toString(36)}`;

interface OperationSample {
  readonly tree: TreePeak | undefined;
  /** result.engineProcess.peakRssBytes: the child's own heartbeat samples (every 5 s) and its last. */
  readonly reportedPeakBytes: number;
  readonly steps: number[];
  readonly status: string;
}

interface Batch {
  readonly n: number;
  readonly ops: OperationSample[];
  readonly finished: number;
  readonly wallMs: number;
  readonly peakTotalBytes: number;
  readonly sampleMs: number;
}

async function sample(s: EngineService, id: string, status: string, trees: ReadonlyMap<string, TreePeak>): Promise<OperationSample> {
  const op = await s.operation(id);
  return {
    tree: trees.get(id),
    reportedPeakBytes: Number(op["result"]?.["engineProcess"]?.["peakRssBytes"] ?? Number.NaN),
    steps: stepDurations(await s.events(id)),
    status,
  };
}

/** Operations this figure submitted (hub updates run in children too, and are not measured). */
function mine(s: EngineService, ids: ReadonlySet<string>): () => ReadonlyMap<string, number> {
  return () => new Map([...s.running()].filter(([id]) => ids.has(id)));
}

/**
 * MAX_CONCURRENT_OPERATIONS=1 and one create always queued behind the running one: creates run one after
 * another, and the hub update each one requests waits while a create of its region is queued (at most
 * HUB_MAX_WAIT_SECONDS; then it runs between two creates, never next to one).
 */
async function sequential(real: RealEngine): Promise<Batch> {
  const s = await startEngineService({ kind: "pulumi", real, warmChildren: 0 }, 1);
  try {
    const ids = new Set<string>();
    const sampler = sampleTrees(mine(s, ids), SAMPLE_MS);
    const started = now();
    const submitted: Submitted[] = [];
    const submit = async () => {
      const sub = await s.submit(nextName());
      ids.add(sub.id);
      submitted.push(sub);
    };
    await submit();
    await submit();
    const ended: { status: string; at: number }[] = [];
    for (let i = 0; i < SEQUENTIAL; i++) {
      ended.push(await within(RUN_TIMEOUT_MS, `create ${i + 1} of ${SEQUENTIAL}`, submitted[i]!.done));
      if (submitted.length < SEQUENTIAL) await submit();
    }
    const { trees, peakTotalBytes, sampleMsMedian } = sampler.stop();
    const ops = await Promise.all(submitted.map((sub, i) => sample(s, sub.id, ended[i]!.status, trees)));
    await s.waitIdle(IDLE_TIMEOUT_MS);
    const last = Math.max(...ended.map((e) => e.at));
    return { n: 1, ops, finished: ended.filter((e) => e.status === "succeeded").length, wallMs: last - started, peakTotalBytes, sampleMs: sampleMsMedian };
  } finally {
    await s.close();
  }
}

/** N creates submitted at once; what has not ended within BATCH_CAP_MS is cancelled (its finished steps still count). */
async function concurrent(s: EngineService, n: number): Promise<Batch> {
  await s.waitIdle(IDLE_TIMEOUT_MS);
  const ids = new Set<string>();
  const sampler = sampleTrees(mine(s, ids), SAMPLE_MS);
  const started = now();
  const submitted = await Promise.all(
    Array.from({ length: n }, async () => {
      const sub = await s.submit(nextName());
      ids.add(sub.id);
      return sub;
    }),
  );
  const ended = new Map<string, { status: string; at: number }>();
  for (const sub of submitted) void sub.done.then((e) => ended.set(sub.id, e));
  const deadline = started + BATCH_CAP_MS;
  while (ended.size < n && now() < deadline) await sleep(100);
  const onTime = [...ended.values()];
  const late = submitted.filter((sub) => !ended.has(sub.id));
  for (const sub of late) await s.cancel(sub.id);
  const { trees, peakTotalBytes, sampleMsMedian } = sampler.stop();
  // Cancelled ones end after their in-flight steps (ENGINE_CANCEL_GRACE_SECONDS=10, then killed).
  await within(60_000, `cancelled creates of the N=${n} batch`, Promise.all(late.map((sub) => sub.done)));
  const ops = await Promise.all(submitted.map(async (sub) => sample(s, sub.id, (await sub.done).status, trees)));
  return {
    n,
    ops,
    finished: onTime.filter((e) => e.status === "succeeded").length,
    wallMs: Math.max(...onTime.map((e) => e.at), started) - started,
    peakTotalBytes,
    sampleMs: sampleMsMedian,
  };
}

interface Session {
  readonly series: Batch;
  readonly curve: Batch[];
  readonly skippedN: number[];
  readonly seconds: number;
  /** Processes of this figure found alive after its services closed (and killed): should be 0. */
  readonly strays: number;
  readonly load: number[];
}

async function measureSession(): Promise<Session> {
  const started = Date.now();
  const load = [loadavg()[0] ?? 0];
  // No warm spare: one would start next to the operations it replaces (see README §10); children start cold.
  const real = await prepareBenchEngine(0, { ENGINE_HEARTBEAT_TIMEOUT_SECONDS: "120", ENGINE_CANCEL_GRACE_SECONDS: "10" });
  let strays = 0;
  let measured: Omit<Session, "seconds" | "strays" | "load">;
  try {
    const series = await sequential(real);
    load.push(loadavg()[0] ?? 0);
    const curve: Batch[] = [];
    const skippedN: number[] = [];
    const s = await startEngineService({ kind: "pulumi", real, warmChildren: 0 }, Math.max(...CURVE));
    try {
      for (const n of CURVE) {
        if (Date.now() - started > CURVE_DEADLINE_MS) skippedN.push(n);
        else curve.push(await concurrent(s, n));
      }
      load.push(loadavg()[0] ?? 0);
      await s.waitIdle(IDLE_TIMEOUT_MS).catch(() => undefined);
    } finally {
      await s.close();
    }
    measured = { series, curve, skippedN };
  } finally {
    strays = reapStrays(`${FAKE_AWS_DIR_ENV}=${real.cloud.dir}`);
    await real.close();
  }
  return { ...measured, seconds: Math.round((Date.now() - started) / 1000), strays, load };
}

const mib = (bytes: number): number => Math.round((bytes / 2 ** 20) * 10) / 10;
const round = (n: number, digits = 0): number => Math.round(n * 10 ** digits) / 10 ** digits;

function trees(batch: Batch): TreePeak[] {
  return batch.ops.flatMap((o) => (o.tree ? [o.tree] : []));
}

function stepStats(batch: Batch, n1Median: number): Record<string, number> {
  const steps = batch.ops.flatMap((o) => o.steps);
  const peaks = trees(batch).map((t) => t.peakBytes);
  return {
    stepMedianMs: round(median(steps)),
    stepP90Ms: round(percentile(steps, 90)),
    ratioToN1: round(median(steps) / n1Median, 2),
    steps: steps.length,
    creates: batch.n,
    succeeded: batch.finished,
    wallMs: round(batch.wallMs),
    treePeakMedianMiB: mib(median(peaks)),
    allTreesPeakMiB: mib(batch.peakTotalBytes),
  };
}

export async function measureEngineRss(): Promise<Figure | Skipped> {
  const missing = realEngineMissing();
  if (missing) return { id: "engine-rss", skipped: missing };
  const s = await measureSession();
  const series = trees(s.series);
  const peaks = series.map((t) => t.peakBytes);
  const own = series.map((t) => t.ownPeakBytes);
  const reported = s.series.ops.map((o) => o.reportedPeakBytes);
  const ratio = median(peaks) / median(own);
  const n1 = median(s.series.ops.flatMap((o) => o.steps));
  const split = (pick: (t: TreePeak) => number) => mib(median(series.map(pick)));
  const doubled = s.curve.find((b) => median(b.ops.flatMap((o) => o.steps)) >= DOUBLED * n1);
  const unfinished = s.curve.filter((b) => b.finished < b.n);
  return {
    id: "engine-rss",
    title: "Memory per operation: whole process tree (real engine)",
    ratio,
    ratioMeaning: `median peak VmRSS of an operation's whole tree ÷ median peak VmRSS of its engine child alone, same 100 ms samples, ${series.length} sequential creates`,
    subject: {
      treePeakMedianMiB: mib(median(peaks)),
      treePeakMaxMiB: mib(Math.max(...peaks)),
      processesMax: Math.max(...series.map((t) => t.maxProcesses)),
      operations: series.length,
    },
    baseline: { childPeakMedianMiB: mib(median(own)), childPeakMaxMiB: mib(Math.max(...own)) },
    diagnostics: {
      "tree at its peak (medians)": {
        engineChildMiB: split((t) => t.atPeak.child),
        pulumiCliMiB: split((t) => t.atPeak.cli),
        pluginsMiB: split((t) => t.atPeak.plugins),
        otherMiB: split((t) => t.atPeak.other),
        processes: round(median(series.map((t) => t.atPeak.processes))),
      },
      "engine child's own report (result.engineProcess.peakRssBytes)": {
        medianMiB: mib(median(reported)),
        maxMiB: mib(Math.max(...reported)),
        treeRatio: round(median(peaks) / median(reported), 3),
      },
      "N=1 (the sequential series)": stepStats(s.series, n1),
      ...Object.fromEntries(s.curve.map((b) => [`N=${b.n}`, stepStats(b, n1)])),
    },
    notes: [
      "no target: reported only",
      `tree = the engine child and every descendant (the pulumi CLI, one stand-in aws plugin per explicit provider — node each, TEST DOUBLE), ` +
        `found through /proc/*/stat every ${SAMPLE_MS} ms while the operation's child runs (ChildEngine.running()); ` +
        `one sample costs ${s.series.sampleMs} ms (median) of the bench process, which also hosts the service`,
      "a sum of VmRSS counts pages shared between processes (the node binary and its libraries in the child and each plugin) once per process: " +
        "an upper bound of what the tree adds to the machine; the engine child alone is the baseline (same sampler), what figure child-rss measures for the simulated engine",
      `engine child's own report: its heartbeats' process.memoryUsage().rss (every 5 s) and last sample; tree ÷ that = ${round(median(peaks) / median(reported), 2)}`,
      `series: ${SEQUENTIAL} creates of new providers (examples/acme.json, ${STEP_LATENCY_MS} ms per resource), MAX_CONCURRENT_OPERATIONS=1 with one create always queued, ` +
        "so they run one at a time and the hub updates they request run between them, never next to one; ENGINE_WARM_CHILDREN=0 (children start cold, after their hello they are measured)",
      `curve: N creates POSTed at once to a service with MAX_CONCURRENT_OPERATIONS=${Math.max(...CURVE)}, ENGINE_WARM_CHILDREN=0 (no replacement spare starts next to the ` +
        `operations: with N spares, N replacements would start during the batch), ENGINE_HEARTBEAT_TIMEOUT_SECONDS=120 (a starved child is not killed as hung); ` +
        `step = durationMs of resource.completed of AWS resources (resource.started → resource.completed as the engine child maps the CLI's events), pooled over the batch; ` +
        `each batch capped at ${BATCH_CAP_MS / 1000} s (later creates are cancelled, their finished steps still count), the hub update awaited between batches`,
      doubled
        ? `median step time first doubled (≥ ${DOUBLED} × N=1's ${round(n1)} ms) at N=${doubled.n}: ${round(median(doubled.ops.flatMap((o) => o.steps)))} ms`
        : `median step time did not double up to N=${s.curve.at(-1)?.n ?? 1} (N=1: ${round(n1)} ms)`,
      ...unfinished.map((b) => `N=${b.n}: ${b.finished} of ${b.n} creates succeeded within ${BATCH_CAP_MS / 1000} s; the rest were cancelled`),
      ...(s.skippedN.length > 0 ? [`not run (figure over ${CURVE_DEADLINE_MS / 1000} s): N=${s.skippedN.join(", ")}`] : []),
      `2 vCPUs: every create runs its engine child, the CLI twice (preview, then up) and, for each, one plugin process per explicit aws provider ` +
        `(node: the TEST DOUBLE's memory, not the Go AWS provider's); figure run time ${s.seconds} s, ` +
        `load average (1 min) ${s.load.map((l) => l.toFixed(1)).join(" → ")} (start, after the series, after the curve); ` +
        `${s.strays} process(es) of the figure still alive after its services closed (killed)`,
    ],
  };
}
