import { createServer, Agent, request } from "node:http";
import type { AddressInfo } from "node:net";
import { generateSecurityKeys } from "../src/auth/security-keys.js";
import { composeService } from "../src/compose.js";
import { openDb } from "../src/store/open.js";
import type { Figure } from "./report.js";
import { baseConfig, benchAuthorization, benchLogger, landingZone, now, percentile, sleep, tempDir, within } from "./support.js";

/**
 * Figure `webhook-delivery` (issue 16): notices committed at 50 a second for a fixed time, each to one
 * subscription of a loopback receiver in this process; latency = the receiver's arrival − the commit (the
 * notice's transaction resolved). Baseline, in the same run: a bare node:http POST of the same body and
 * headers from this process to the same receiver on the same schedule (keep-alive, like the service's
 * sender); latency = arrival − the request's start. Ratio: p99 ÷ p99. Reported, not judged (no target).
 */
const RATE_PER_SECOND = 50;
const DURATION_MS = 20_000;
/**
 * A fresh process backs up in its first seconds (the first deliveries take 100–300 ms each: JIT, PGlite's
 * WebAssembly warming up) and drains within a few seconds: the warm-up runs at the same rate, is waited out,
 * and is reported apart; the measured notices start after it.
 */
const WARMUP = 150;

interface Arrivals {
  readonly service: Map<number, number>;
  readonly bare: Map<number, number>;
}

async function startBenchReceiver(arrivals: Arrivals) {
  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on("data", (c: Buffer) => chunks.push(c));
    req.on("end", () => {
      const at = now();
      if (req.url === "/bare") arrivals.bare.set(Number(req.headers["x-bench-n"]), at);
      else {
        const n = (JSON.parse(Buffer.concat(chunks).toString("utf8")) as { data: { n: number } }).data.n;
        if (!arrivals.service.has(n)) arrivals.service.set(n, at);
      }
      res.writeHead(204).end();
    });
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  return { port: (server.address() as AddressInfo).port, close: () => new Promise<void>((r) => (server.closeAllConnections(), server.close(() => r()))) };
}

/** Runs `fire(i)` for i = from…to−1 on a fixed schedule (open loop: a slow one does not delay the next). */
async function onSchedule(from: number, to: number, fire: (i: number) => Promise<void>): Promise<void> {
  const start = now() + 50;
  const pending: Promise<void>[] = [];
  for (let i = from; i < to; i++) {
    const wait = start + ((i - from) * 1000) / RATE_PER_SECOND - now();
    if (wait > 0) await sleep(wait);
    pending.push(fire(i));
  }
  await Promise.all(pending);
}

const stats = (ms: readonly number[]) => ({
  p50Ms: Math.round(percentile(ms, 50) * 100) / 100,
  p99Ms: Math.round(percentile(ms, 99) * 100) / 100,
  maxMs: Math.round(Math.max(...ms) * 100) / 100,
});

export async function measureWebhookDelivery(): Promise<Figure> {
  const count = (DURATION_MS / 1000) * RATE_PER_SECOND;
  const arrivals: Arrivals = { service: new Map(), bare: new Map() };
  const receiver = await startBenchReceiver(arrivals);
  const dir = await tempDir();
  try {
    const config = { ...baseConfig, SIMULATED_PAUSED: true, WEBHOOK_ALLOWED_CIDRS: ["127.0.0.1/32"] };
    const db = await openDb({ dataDir: dir.path });
    const service = await composeService({ config, landingZone, db, logger: benchLogger(), keys: generateSecurityKeys() });
    try {
      await service.start();
      const created = await service.app.inject({
        method: "POST",
        url: "/v1/webhooks",
        headers: { authorization: await benchAuthorization(db) },
        payload: { url: `http://127.0.0.1:${receiver.port}/service`, types: ["operation.finished"] },
      });
      if (created.statusCode !== 201) throw new Error(`subscription: ${created.statusCode} ${created.body}`);
      const committed = new Map<number, number>();
      const notice = (n: number) => ({ type: "operation.finished" as const, team: "bench", subject: `providers/bench-${n}`, data: { n, status: "succeeded" } });
      const commitMs: number[] = [];
      const commit = async (n: number) => {
        const began = now();
        await db.transaction((tx) => service.notify(tx, notice(n)));
        committed.set(n, now());
        if (n >= WARMUP) commitMs.push(now() - began);
      };
      const delivered = (n: number, what: string) =>
        within(120_000, what, (async () => {
          while (arrivals.service.size < n) await sleep(50);
        })());
      await onSchedule(0, WARMUP, commit);
      await delivered(WARMUP, "the warm-up delivered");
      await onSchedule(WARMUP, WARMUP + count, commit);
      await delivered(WARMUP + count, "every notice delivered");
      // The same bytes the service sent (one delivery's body and signed headers), POSTed bare.
      const sample = await db.query<{ payload: string; webhook_id: string }>("SELECT payload, webhook_id FROM webhook_deliveries ORDER BY seq DESC LIMIT 1");
      const body = sample[0]!.payload;
      const agent = new Agent({ keepAlive: true });
      const headers = {
        "content-type": "application/json",
        "content-length": String(Buffer.byteLength(body)),
        "webhook-id": sample[0]!.webhook_id,
        "webhook-timestamp": String(Math.floor(Date.now() / 1000)),
        "webhook-signature": `v1,${"A".repeat(43)}=`,
      };
      const sent = new Map<number, number>();
      await onSchedule(0, WARMUP + count, (n) => {
        sent.set(n, now());
        return new Promise<void>((resolve, reject) => {
          const req = request({ host: "127.0.0.1", port: receiver.port, path: "/bare", method: "POST", agent, headers: { ...headers, "x-bench-n": String(n) } }, (res) => {
            res.resume();
            res.on("end", resolve);
          });
          req.on("error", reject);
          req.end(body);
        });
      });
      agent.destroy();
      const measured = (from: Map<number, number>, to: Map<number, number>, first = WARMUP, end = WARMUP + count) => {
        const ms: number[] = [];
        for (let n = first; n < end; n++) ms.push(Math.max(0, to.get(n)! - from.get(n)!));
        return ms;
      };
      const subject = stats(measured(committed, arrivals.service));
      const baseline = stats(measured(sent, arrivals.bare));
      const attempts = await db.query<{ n: number }>("SELECT count(*)::int AS n FROM webhook_attempts");
      return {
        id: "webhook-delivery",
        title: `webhook delivery: commit → receiver at ${RATE_PER_SECOND} notices/s for ${DURATION_MS / 1000} s, ÷ a bare HTTP POST of the same body`,
        ratio: Math.round((subject.p99Ms / baseline.p99Ms) * 100) / 100,
        ratioMeaning: "p99 commit → arrival through the outbox ÷ p99 of a bare node:http POST (same body, receiver, schedule)",
        subject: { ...subject, notices: count, attempts: attempts[0]!.n - WARMUP },
        baseline,
        diagnostics: { commitTransaction: stats(commitMs), serviceWarmup: stats(measured(committed, arrivals.service, 0, WARMUP)), bareWarmup: stats(measured(sent, arrivals.bare, 0, WARMUP)) },
        notes: [
          `service in this process (PGlite in its thread, SIMULATED_PAUSED); one subscription; ${WARMUP} warm-up notices (${WARMUP / RATE_PER_SECOND} s at the same rate, waited out before the measured ones; diagnostics: their latencies)`,
          "the path measured: the notice's transaction commits, its NOTIFY wakes the delivery worker, which claims (SKIP LOCKED), signs and POSTs it, then records the attempt",
          "one subscription is delivered in order, one at a time: a notice committed while the previous is in flight waits for it",
        ],
      };
    } finally {
      await service.close(5_000);
    }
  } finally {
    await receiver.close();
    await dir.remove();
  }
}
