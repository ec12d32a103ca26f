import { generateSecurityKeys } from "../src/auth/security-keys.js";
import { composeService, type Service } from "../src/compose.js";
import type { OperationEvent } from "../src/operations/events.js";
import { openDb } from "../src/store/open.js";
import { startBareSse } from "./bare-sse.js";
import { fanOut, latencies, type FanOut, type Sent } from "./fan-out.js";
import type { Figure } from "./report.js";
import { baseConfig, benchAuthorization, benchLogger, benchSpec, landingZone, now, percentile, sleep, tempDir } from "./support.js";

/**
 * Figure 2: commit → arrival latency of one operation's events at 100 SSE clients, real service ÷ a bare
 * node:http fan-out replaying the same events on the same schedule (see README §2). The server under
 * test runs in this process; the clients run in a child process.
 */
const CLIENTS = 100;
const STEP_MS = 20;
const TARGET_P99_MS = 20;

interface Published {
  readonly event: OperationEvent;
  readonly at: number;
}
interface ServiceRun {
  readonly run: FanOut;
  readonly sent: Sent;
  /** operation.queued, committed before the clients connected. */
  readonly first: OperationEvent;
  /** The events committed while the clients followed, in commit order. */
  readonly schedule: readonly Published[];
}

/** A fresh service on a fresh data directory, closed and removed afterwards. */
async function serviceRun(): Promise<ServiceRun> {
  const dir = await tempDir();
  try {
    const config = { ...baseConfig, SIMULATED_PAUSED: true, SIMULATED_STEP_MS: STEP_MS };
    const db = await openDb({ dataDir: dir.path });
    const service = await composeService({ config, landingZone, db, logger: benchLogger(), keys: generateSecurityKeys() });
    try {
      return await followOneOperation(service);
    } finally {
      await service.close(5_000);
    }
  } finally {
    await dir.remove();
  }
}

/**
 * One provider created while the runner is paused; the runner starts once all clients follow its operation.
 * The create and all 100 streams present one admin API key (MAX_STREAMS_PER_PRINCIPAL is raised for them).
 */
async function followOneOperation(service: Service): Promise<ServiceRun> {
  const headers = { authorization: await benchAuthorization(service.db) };
  // hub.publish runs right after each event's transaction committed: the commit time, on this clock.
  // Keyed by operation: the hub also carries other operations' events (the region's hub update), whose seqs
  // would collide with the followed one's (and gave negative latencies when they did).
  const publishedBy: { operationId: string; published: Published }[] = [];
  const publish = service.hub.publish;
  service.hub.publish = (operationId, event) => {
    publishedBy.push({ operationId, published: { event, at: now() } });
    return publish.call(service.hub, operationId, event);
  };
  const created = await service.app.inject({ method: "POST", url: "/v1/providers", payload: benchSpec("bench-stream"), headers });
  if (created.statusCode !== 202) throw new Error(`stream: create returned ${created.statusCode} ${created.body}`);
  const operationId = created.json<{ operation: { id: string } }>().operation.id;
  const ofOperation = (): Published[] => publishedBy.filter((p) => p.operationId === operationId).map((p) => p.published);
  const first = ofOperation()[0]?.event;
  if (!first) throw new Error("stream: the accepted operation published no event");
  const url = `${await service.app.listen({ host: "127.0.0.1", port: 0 })}/v1/operations/${operationId}/events`;
  const run = await fanOut(url, CLIENTS, () => service.runner.start(), headers);
  const schedule = ofOperation().slice(1);
  return { run, sent: new Map(schedule.map((p) => [p.event.seq, p.at])), first, schedule };
}

/** The baseline: the same events, emitted with the same spacing as they were committed. */
async function bareRun(first: OperationEvent, schedule: readonly Published[]): Promise<{ run: FanOut; sent: Sent }> {
  const bare = await startBareSse(first);
  const emitted = new Map<number, number>();
  try {
    const run = await fanOut(bare.url, CLIENTS, async () => {
      const origin = now();
      const start = schedule[0]?.at ?? 0;
      for (const { event, at } of schedule) {
        const wait = origin + (at - start) - now();
        if (wait > 0) await sleep(wait);
        emitted.set(event.seq, now());
        bare.publish(event);
      }
    });
    return { run, sent: emitted };
  } finally {
    await bare.close();
  }
}

const ms = (n: number): number => Math.round(n * 100) / 100;

function stats(measured: { run: FanOut; sent: Sent }) {
  const all = latencies(measured);
  const { arrivals, clock } = measured.run;
  return {
    p50Ms: ms(percentile(all, 50)),
    p99Ms: ms(percentile(all, 99)),
    maxMs: ms(Math.max(...all)),
    minMs: ms(Math.min(...all)),
    samples: all.length,
    expectedSamples: CLIENTS * measured.sent.size,
    clientsEnded: arrivals.ended,
    clientErrors: arrivals.errors.length,
    clockRttMs: ms(clock.rttMs),
  };
}

/** The service's p99 per event type: shows which events wait (e.g. bursts committed back to back). */
function p99ByType(service: ServiceRun): Record<string, number> {
  const typeOf = new Map(service.schedule.map((p) => [p.event.seq, p.event.type]));
  const types = [...new Set(typeOf.values())];
  return Object.fromEntries(types.map((type) => [type, ms(percentile(latencies(service, (seq) => typeOf.get(seq) === type), 99))]));
}

export async function measureStream(): Promise<Figure> {
  // One discarded warm-up run each (same process, fresh database): the first program evaluation and the
  // first streams of a process pay for module loading and JIT, which a running service paid long ago.
  await serviceRun();
  const service = await serviceRun();
  await bareRun(service.first, service.schedule);
  const bare = await bareRun(service.first, service.schedule);
  const subject = stats(service);
  const baseline = stats(bare);
  const complete = (s: typeof subject) => s.samples === s.expectedSamples && s.clientErrors === 0;
  const span = (service.schedule.at(-1)?.at ?? 0) - (service.schedule[0]?.at ?? 0);
  return {
    id: "stream",
    title: `Stream: commit → ${CLIENTS} SSE clients, p99`,
    ratio: subject.p99Ms / baseline.p99Ms,
    ratioMeaning: "service p99 ÷ bare node:http fan-out p99 (lower is better)",
    target: `service p99 ≤ ${TARGET_P99_MS} ms, every client got every event`,
    pass: subject.p99Ms <= TARGET_P99_MS && complete(subject) && complete(baseline),
    subject,
    baseline,
    diagnostics: { "service p99 ms by event type": p99ByType(service) },
    notes: [
      `one create operation (after a discarded warm-up run), SIMULATED_STEP_MS=${STEP_MS}: ${service.schedule.length} events after operation.queued over ${Math.round(span)} ms, ` +
        `each to ${CLIENTS} clients (operation.queued itself came from history on connect and is not counted)`,
      "server (service or bare) in the benchmark's main process; the clients in a child process (node:http, agent: false)",
      "sent = when hub.publish ran right after the event's commit (service) or the emit (bare); arrival = the chunk reaching the client's JS",
      `clocks: performance.timeOrigin + performance.now() in both processes, child offset measured by ${service.run.clock.pings} IPC pings ` +
        `(best round trip ${subject.clockRttMs} / ${baseline.clockRttMs} ms, so ± half that)`,
    ],
  };
}
