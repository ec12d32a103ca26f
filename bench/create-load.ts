import { spawnChild, type Child } from "./child.js";
import type { LoopServerEvaluator, LoopServerMessage, LoopServerRequest } from "./loop-server.js";
import { bodyTemplate, DATABASE_URL_ENV, now, percentile, sleep, within } from "./support.js";

/**
 * The issue-15 figures' load: creates (POST /v1/providers, each a distinct name) sent at a fixed rate whether
 * or not earlier ones were answered (an open loop: a slow service does not slow the load down), to a service
 * in a `loop-server.ts` child.
 */
export const CREATES_PER_SECOND = 20;
/** SIMULATED_STEP_MS of the service under load: operations run, and their streams have events to carry. */
export const LOAD_STEP_MS = 50;
/** A create not answered in this time counts as an error (the service's own request timeout is longer). */
const REQUEST_TIMEOUT_MS = 30_000;

let counter = 0;
const body = bodyTemplate();

export type LoopServer = Child<LoopServerRequest, LoopServerMessage> & {
  readonly origin: string;
  readonly authorization: string;
  readonly database: string;
};

/** A loop-server child on PGlite, or on `databaseUrl` (a scratch PostgreSQL database the caller creates and drops). */
export async function startLoopServer(evaluator: LoopServerEvaluator, databaseUrl?: string): Promise<LoopServer> {
  // An empty value means PGlite, even when the variable is set in this process's environment.
  const env = { [DATABASE_URL_ENV]: databaseUrl ?? "" };
  const child = spawnChild<LoopServerRequest, LoopServerMessage>("./loop-server.ts", [evaluator, String(LOAD_STEP_MS)], { env });
  try {
    const { port, authorization, database } = await child.next("listening", 60_000);
    return Object.assign(child, { origin: `http://127.0.0.1:${port}`, authorization, database });
  } catch (err) {
    await child.stop(5_000);
    throw err;
  }
}

/** Sends `request` and waits (bounded) for the child's `answer`. */
export async function ask<K extends LoopServerMessage["type"]>(
  server: LoopServer,
  request: LoopServerRequest,
  answer: K,
  timeoutMs = 30_000,
): Promise<Extract<LoopServerMessage, { type: K }>> {
  server.send(request);
  return server.next(answer, timeoutMs);
}

/** One create, awaited: its operation id. */
export async function createOne(server: LoopServer, name: string, timeoutMs = 60_000): Promise<string> {
  const response = await fetch(`${server.origin}/v1/providers`, {
    method: "POST",
    headers: { authorization: server.authorization, "content-type": "application/json" },
    body: body(name),
    signal: AbortSignal.timeout(timeoutMs),
  });
  const text = await response.text();
  if (response.status !== 202) throw new Error(`create ${name}: status ${response.status}: ${text.slice(0, 200)}`);
  return (JSON.parse(text) as { operation: { id: string } }).operation.id;
}

/** The service child's clock minus this process's (`now()`), from the ping with the smallest round trip (as fan-out.ts does for the clients). */
export async function serverClockOffset(server: LoopServer, pings = 20): Promise<{ offsetMs: number; rttMs: number }> {
  let best = { offsetMs: 0, rttMs: Number.POSITIVE_INFINITY };
  for (let id = 0; id < pings; id++) {
    const before = now();
    server.send({ type: "ping", id });
    const pong = await server.next("pong", 5_000);
    const after = now();
    if (after - before < best.rttMs) best = { rttMs: after - before, offsetMs: pong.at - (before + after) / 2 };
  }
  return best;
}

export interface Created {
  readonly operationId: string;
  readonly acceptedAt: number;
}

export interface LoadResult {
  readonly sent: number;
  readonly accepted: number;
  readonly failed: number;
  /** The rate actually sent (sent ÷ the time from the first to the last send). */
  readonly sentPerSecond: number;
  readonly acceptP50Ms: number;
  readonly acceptP99Ms: number;
  readonly acceptMaxMs: number;
  /** Send times that fell more than 10 ms behind schedule (this process was late, not the service). */
  readonly lateSends: number;
  readonly firstErrors: readonly string[];
}

export interface Load {
  /** Accepted creates so far, in the order their 202s arrived. */
  readonly created: readonly Created[];
  /** Stops sending, waits (bounded) for the creates in flight, and summarizes (once; later calls get the same). */
  stop(): Promise<LoadResult>;
}

/** Starts sending `perSecond` creates a second to `server` (at most `maxDurationMs`, even if stop() is never called). */
export function startLoad(server: LoopServer, label: string, perSecond = CREATES_PER_SECOND, maxDurationMs = 120_000): Load {
  const created: Created[] = [];
  const latencies: number[] = [];
  const errors: string[] = [];
  const inFlight = new Set<Promise<void>>();
  const interval = 1000 / perSecond;
  const started = now();
  let sent = 0;
  let lateSends = 0;
  let lastSend = started;
  let stopped = false;

  const send = async (name: string): Promise<void> => {
    const at = now();
    try {
      const operationId = await createOne(server, name, REQUEST_TIMEOUT_MS);
      const acceptedAt = now();
      latencies.push(acceptedAt - at);
      created.push({ operationId, acceptedAt });
    } catch (err) {
      errors.push(err instanceof Error ? err.message : String(err));
    }
  };

  const loop = (async () => {
    while (!stopped && now() - started < maxDurationMs) {
      const due = started + sent * interval;
      const wait = due - now();
      if (wait > 0) await sleep(wait);
      if (stopped) break;
      if (now() - due > 10) lateSends++;
      lastSend = now();
      const request = send(`${label}-${(counter++).toString(36)}`);
      inFlight.add(request);
      void request.finally(() => inFlight.delete(request));
      sent++;
    }
  })();

  const summarize = async (): Promise<LoadResult> => {
    stopped = true;
    await loop;
    await within(REQUEST_TIMEOUT_MS + 5_000, "create load: requests in flight", Promise.all(inFlight));
    const round = (n: number) => Math.round(n * 10) / 10;
    return {
      sent,
      accepted: latencies.length,
      failed: errors.length,
      sentPerSecond: round(sent > 1 ? ((sent - 1) * 1000) / (lastSend - started) : 0),
      acceptP50Ms: round(percentile(latencies, 50)),
      acceptP99Ms: round(percentile(latencies, 99)),
      acceptMaxMs: round(latencies.length > 0 ? Math.max(...latencies) : Number.NaN),
      lateSends,
      firstErrors: errors.slice(0, 3),
    };
  };
  let result: Promise<LoadResult> | undefined;
  return { created, stop: () => (result ??= summarize()) };
}
