import { spawnChild, type Child } from "./child.js";
import type { ClientsMessage, ClientsRequest } from "./sse-clients.js";
import { now } from "./support.js";

/** Figure 2's measuring side: SSE clients in a child process, a shared clock, commit → arrival latencies. */
const CLOCK_PINGS = 20;

type Clients = Child<ClientsRequest, ClientsMessage>;

export interface Clock {
  /** Child clock minus this process's clock, from the ping with the smallest round trip (± rttMs / 2). */
  readonly offsetMs: number;
  readonly rttMs: number;
  readonly pings: number;
}

export interface FanOut {
  readonly arrivals: Extract<ClientsMessage, { type: "arrivals" }>;
  readonly clock: Clock;
}

/** seq → when it was committed (service) or emitted (bare), on this process's clock. */
export type Sent = ReadonlyMap<number, number>;

async function clockOffset(clients: Clients): Promise<Clock> {
  let best: Clock = { offsetMs: 0, rttMs: Number.POSITIVE_INFINITY, pings: CLOCK_PINGS };
  for (let id = 0; id < CLOCK_PINGS; id++) {
    const before = now();
    clients.send({ type: "ping", id });
    const pong = await clients.next("pong", 5_000);
    const after = now();
    if (after - before < best.rttMs) best = { rttMs: after - before, offsetMs: pong.at - (before + after) / 2, pings: CLOCK_PINGS };
  }
  return best;
}

/**
 * Starts `count` clients on `url` in a child process, waits until every one of them streams, runs `go`
 * (which makes the events) and collects the arrivals once every stream has ended (all bounded in time).
 * `headers` go with every client's request (the service's `authorization`; the bare server ignores them).
 */
export async function fanOut(url: string, count: number, go: () => Promise<void>, headers: Readonly<Record<string, string>> = {}): Promise<FanOut> {
  const clients = spawnChild<ClientsRequest, ClientsMessage>("./sse-clients.ts", []);
  try {
    const clock = await clockOffset(clients);
    clients.send({ type: "connect", url, count, headers });
    await clients.next("ready", 30_000);
    await go();
    return { arrivals: await clients.next("arrivals", 60_000), clock };
  } finally {
    await clients.stop(5_000);
  }
}

/** commit → arrival of every (client, event) pair, optionally only for some events. */
export function latencies({ run, sent }: { run: FanOut; sent: Sent }, only?: (seq: number) => boolean): number[] {
  const out: number[] = [];
  for (const client of run.arrivals.arrivals) {
    for (const [seq, at] of client) {
      const committed = sent.get(seq);
      if (committed !== undefined && (only?.(seq) ?? true)) out.push(at - run.clock.offsetMs - committed);
    }
  }
  return out;
}
