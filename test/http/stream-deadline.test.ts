import { spawn, type ChildProcess } from "node:child_process";
import { once } from "node:events";
import { readdirSync } from "node:fs";
import { get, type IncomingHttpHeaders } from "node:http";
import { setTimeout as sleep } from "node:timers/promises";
import { setFlagsFromString } from "node:v8";
import { runInNewContext } from "node:vm";
import { afterAll, beforeAll, describe, expect, it, vi } from "vitest";
import { loadConfig } from "../../src/config.js";
import type { Engine } from "../../src/engine/engine.js";
import { createSimulatedEngine } from "../../src/engine/simulated/simulated-engine.js";
import type { Db } from "../../src/store/db.js";
import { specNamed, startTestService, waitForStatus, type TestService } from "../helpers/service.js";

/**
 * Issue 14, part 3: streams with deadlines. A stream whose client takes none of its pending bytes for
 * STREAM_WRITE_DEADLINE_SECONDS is closed and its slot freed; slow readers, and followers of a quiet
 * operation (nothing pending), are not.
 */
type Json = Record<string, any>;
const DEADLINE_S = 2;
const CLIENTS = 200;
const EXPIRED = "within the write deadline";

/** What the engine says before the simulated steps, per provider: `events` diagnostics of `bytes` each. */
interface Chatter {
  readonly events: number;
  readonly bytes: number;
  readonly gapMs: number;
  readonly gate?: Promise<void>;
}
const chatter = new Map<string, Chatter>();

/** The simulated engine, preceded by chatter: real events through the runner, the table and the hub. */
function chattyEngine(db: Db): Engine {
  const sim = createSimulatedEngine({ state: { db }, stepMs: 0 });
  return {
    name: sim.name,
    async run(request, options) {
      const plan = chatter.get(request.stack);
      if (plan) {
        await plan.gate;
        const filler = "x".repeat(plan.bytes);
        for (let i = 1; i <= plan.events; i++) {
          if (plan.gapMs > 0) await sleep(plan.gapMs);
          await options.onEvent({ type: "diagnostic", severity: "info", message: `chatter ${i} ${filler}` });
        }
      }
      return sim.run(request, options);
    },
    outputs: (stack, program) => sim.outputs(stack, program),
    readiness: () => sim.readiness(),
    ready: () => sim.ready(),
    close: () => sim.close(),
  };
}

let svc: TestService;
let port = 0;

beforeAll(async () => {
  svc = await startTestService({
    engine: chattyEngine,
    config: { STREAM_WRITE_DEADLINE_SECONDS: DEADLINE_S, SSE_KEEPALIVE_SECONDS: 1, MAX_STREAMS_PER_PRINCIPAL: CLIENTS },
  });
  await svc.app.listen({ port: 0, host: "127.0.0.1" });
  port = (svc.app.server.address() as { port: number }).port;
});
afterAll(() => svc.close(5_000));

async function create(name: string, plan: Chatter): Promise<string> {
  chatter.set(name, plan);
  const res = await svc.app.inject({ method: "POST", url: "/v1/providers", payload: specNamed(name) as Json });
  expect(res.statusCode, res.body).toBe(202);
  return (res.json() as Json).operation.id as string;
}

function expiredWarnings(): Json[] {
  return svc.logs.filter((l) => l.includes(EXPIRED)).map((l) => JSON.parse(l) as Json);
}

/**
 * GET over a connection of its own (`agent: false`, closed after the response, so no kept-alive socket
 * skews the descriptor count). `pace` makes a slow reader: it pauses after each `bytes` for `gapMs`.
 */
async function read(
  path: string,
  headers: Readonly<Record<string, string>>,
  pace?: { bytes: number; gapMs: number },
): Promise<{ status: number; headers: IncomingHttpHeaders; body: string; ended: boolean }> {
  return new Promise((resolve, reject) => {
    get({ host: "127.0.0.1", port, path, headers, agent: false }, (res) => {
      const chunks: Buffer[] = [];
      let budget = pace?.bytes ?? Infinity;
      res.on("data", (chunk: Buffer) => {
        chunks.push(chunk);
        budget -= chunk.length;
        if (pace && budget <= 0) {
          res.pause();
          setTimeout(() => {
            budget = pace.bytes;
            res.resume();
          }, pace.gapMs);
        }
      });
      const done = (ended: boolean) => () =>
        resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks).toString("utf8"), ended });
      res.on("end", done(true));
      res.on("aborted", done(false));
      res.on("error", done(false));
    }).on("error", reject);
  });
}

function sseEvents(text: string): { id: number; type: string }[] {
  return text
    .split("\n\n")
    .filter((block) => block.startsWith("id:"))
    .map((block) => ({ id: Number(/^id: (\d+)$/m.exec(block)?.[1]), type: /^event: (.+)$/m.exec(block)?.[1] ?? "" }));
}

function expectComplete(text: string): { id: number; type: string }[] {
  const events = sseEvents(text);
  expect(events.map((e) => e.id)).toEqual(events.map((_, i) => i + 1));
  expect(events.at(-1)?.type).toBe("operation.succeeded");
  return events;
}

/**
 * `count` clients in a child process (so their sockets are not this process's descriptors), each sending
 * `request` on a loopback connection of its own once told to, then never reading a byte.
 */
async function startNonReaders(count: number, request: string): Promise<{ child: ChildProcess; connect(): Promise<void> }> {
  const script = `
    const net = require("node:net");
    const count = Number(process.env.COUNT);
    const sockets = [];
    process.stdin.once("data", () => {
      let connected = 0;
      for (let i = 0; i < count; i++) {
        const socket = net.connect({ host: "127.0.0.1", port: Number(process.env.PORT) }, () => {
          socket.write(process.env.REQUEST);
          if (++connected === count) process.stdout.write("connected\\n");
        });
        socket.pause();
        socket.on("error", () => {});
        sockets.push(socket);
      }
    });
    process.stdin.on("end", () => process.exit(0));`;
  const child = spawn(process.execPath, ["-e", script], {
    env: { PATH: process.env.PATH ?? "", COUNT: String(count), PORT: String(port), REQUEST: request },
    stdio: ["pipe", "pipe", "inherit"],
  });
  await once(child, "spawn");
  return {
    child,
    async connect() {
      child.stdin!.write("go\n");
      const [line] = (await Promise.race([once(child.stdout!, "data"), sleep(20_000).then(() => ["timed out"])])) as [Buffer | string];
      expect(String(line).trim(), "the non-reading clients connected").toBe("connected");
    },
  };
}

const openFds = (): number => readdirSync("/proc/self/fd").length;
const MiB = 1024 * 1024;
setFlagsFromString("--expose-gc");
const gc = runInNewContext("gc") as () => void;
/** RSS after a full collection, so what is compared is what is still referenced (or kept by PGlite's WASM heap). */
const settledRss = (): number => {
  gc();
  return process.memoryUsage().rss;
};

describe("stream write deadline", () => {
  it(`${CLIENTS} clients that never read are closed after the deadline; their slots, descriptors and memory come back`, async () => {
    // How many bytes make a non-reading client backpressure the service: measured on this machine's
    // loopback (Linux, tcp_wmem max 4 MiB), one connection whose peer never reads takes ~3.9 MB into the
    // kernel (the server's autotuned send buffer) before Node holds anything. So each stream must carry
    // more than that: one busy operation with 200 diagnostics of 32 KiB (6.6 MB of SSE) that all 200
    // clients follow live, so the events are read from the table once and fanned out by the hub (200
    // replays from seq 0 would read 6.6 MB from the table each). The kernel holds ~200 × 3.9 MB meanwhile.
    const plan = { events: 200, bytes: 32 * 1024, gapMs: 0 };
    // The same work once with a reading client first, followed live and replayed: the baseline then includes
    // what the database (PGlite's WASM memory never shrinks) and V8 grow to for it.
    const warmUp = await create("stalled-warm-up", plan);
    for (const from of ["", "?after=0"]) expectComplete((await read(`/v1/operations/${warmUp}/events${from}`, { ...svc.authHeaders, accept: "text/event-stream" })).body);
    let open!: () => void;
    const operationId = await create("stalled", { ...plan, gate: new Promise<void>((r) => (open = r)) });
    const path = `/v1/operations/${operationId}/events`;
    const clients = await startNonReaders(CLIENTS, `GET ${path} HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer ${svc.adminKey}\r\nAccept: text/event-stream\r\n\r\n`);
    try {
      const fdsBefore = openFds();
      const rssBefore = settledRss();
      await clients.connect();
      await vi.waitFor(() => expect(svc.openStreams.size).toBe(CLIENTS), { timeout: 20_000, interval: 50 });
      expect(openFds(), "one descriptor per open stream").toBeGreaterThanOrEqual(fdsBefore + CLIENTS);
      // The principal's cap is full, so it is refused; another principal follows normally meanwhile.
      const refused = await read(path, { authorization: `Bearer ${svc.adminKey}`, accept: "text/event-stream" });
      expect(refused.status).toBe(429);
      expect((JSON.parse(refused.body) as Json).code).toBe("TOO_MANY_STREAMS");
      const viewer = await svc.createKey("viewer", ["data-platform"]);
      const follower = read(path, { authorization: `Bearer ${viewer}`, accept: "text/event-stream" });
      await vi.waitFor(() => expect(svc.openStreams.size).toBe(CLIENTS + 1), { timeout: 5_000, interval: 20 });

      open();
      await waitForStatus(svc, operationId, ["succeeded"], 60_000);
      const ended = performance.now();
      const followed = await follower;
      expect(followed.ended, "the reading follower's stream ended by itself").toBe(true);
      expectComplete(followed.body);

      await vi.waitFor(() => expect(svc.openStreams.size, "streams still open").toBe(0), { timeout: (DEADLINE_S + 15) * 1000, interval: 50 });
      const closedAfterS = (performance.now() - ended) / 1000;
      const rssAtClose = process.memoryUsage().rss;
      const warnings = expiredWarnings().filter((w) => w.operationId === operationId);
      expect(warnings, "one warning per closed stream").toHaveLength(CLIENTS);
      for (const w of warnings) {
        expect(w.level).toBe(40);
        expect(w.pendingBytes).toBeGreaterThan(0);
        expect(w.writeDeadlineSeconds).toBe(DEADLINE_S);
      }
      expect(JSON.stringify(warnings)).not.toContain(svc.adminKey);

      // The slots are free: the same principal gets a stream again, and it runs to the end.
      const again = await read(`${path}?after=0`, { authorization: `Bearer ${svc.adminKey}`, accept: "text/event-stream" });
      expect(again.status).toBe(200);
      expectComplete(again.body);

      // The server's sockets are closed (the clients still hold theirs, in the child) and the buffers gone.
      const FD_SLACK = 10;
      await vi.waitFor(() => expect(openFds(), `open descriptors: within ${FD_SLACK} of ${fdsBefore} before the clients came`).toBeLessThanOrEqual(fdsBefore + FD_SLACK), {
        timeout: 5_000,
        interval: 50,
      });
      // Most of the unread bytes sat in the kernel, not in RSS; what the service itself held is bounded by
      // backpressure. Measured +45 MiB after the run (V8 and malloc keep some of what they grew); had
      // the service buffered what the clients did not take, it would be 200 × 6.6 MB = 1.3 GB.
      const RSS_SLACK = 128 * MiB;
      const rssAfter = settledRss();
      expect(rssAfter, `RSS ${(rssAfter / MiB).toFixed(0)} MiB: within ${RSS_SLACK / MiB} MiB of ${(rssBefore / MiB).toFixed(0)} MiB before the clients came`).toBeLessThanOrEqual(
        rssBefore + RSS_SLACK,
      );
      console.info(
        `stream-deadline: ${CLIENTS} non-reading streams closed ${closedAfterS.toFixed(1)} s after the operation ended (deadline ${DEADLINE_S} s); ` +
          `fds ${fdsBefore} → ${openFds()}; RSS ${(rssBefore / MiB).toFixed(0)} MiB before, ${(rssAtClose / MiB).toFixed(0)} MiB as they closed, ${(rssAfter / MiB).toFixed(0)} MiB after`,
      );
    } finally {
      clients.child.kill();
    }
  }, 90_000);

  it("a slow reader that reads a little every < deadline is not cut off and gets every event", async () => {
    // 16.8 MB of SSE, read 1 MiB at a time with 600 ms pauses (~1.7 MB/s): after the ~4 MB the kernel
    // holds, the service holds bytes for this client for ~7 s on end, over three deadlines (a deadline
    // that only counted how long bytes were pending would cut it off). Each read is more than the ~1.5 MB
    // the kernel must drain before it takes more (src/http/stream-deadline.ts), so the client is seen
    // taking data about once a second.
    const operationId = await create("slow-reader", { events: 512, bytes: 32 * 1024, gapMs: 0 });
    await waitForStatus(svc, operationId, ["succeeded"], 60_000);
    const started = performance.now();
    const res = await read(`/v1/operations/${operationId}/events?after=0`, { ...svc.authHeaders, accept: "text/event-stream" }, { bytes: MiB, gapMs: 600 });
    const seconds = (performance.now() - started) / 1000;
    expect(res.ended, "the stream ended by itself, not by a reset").toBe(true);
    expect(expectComplete(res.body).length).toBeGreaterThan(512);
    expect(seconds, "the reader was slow: it read for over three deadlines").toBeGreaterThan(3 * DEADLINE_S);
    expect(expiredWarnings().filter((w) => w.operationId === operationId)).toEqual([]);
  }, 60_000);

  it("reading followers of a quiet operation (nothing written for longer than the deadline) get every event and the terminal one", async () => {
    // NDJSON has no keep-alives, so its stream writes nothing at all for 3 s twice: the deadline is about
    // bytes waiting for the client, not an idle timeout. SSE still gets its keep-alives while idle.
    const operationId = await create("quiet-follower", { events: 2, bytes: 100, gapMs: (DEADLINE_S + 1) * 1000 });
    const started = performance.now();
    const [ndjson, sse] = await Promise.all([
      read(`/v1/operations/${operationId}/events`, { ...svc.authHeaders, accept: "application/x-ndjson" }),
      read(`/v1/operations/${operationId}/events`, { ...svc.authHeaders, accept: "text/event-stream" }),
    ]);
    expect((performance.now() - started) / 1000, "the operation was quiet for longer than the deadline").toBeGreaterThan(2 * DEADLINE_S);
    expect([ndjson.ended, sse.ended]).toEqual([true, true]);
    const lines = ndjson.body.trim().split("\n").map((l) => JSON.parse(l) as Json);
    expect(lines.map((e) => e.seq)).toEqual(lines.map((_, i) => i + 1));
    expect(lines.at(-1)?.type).toBe("operation.succeeded");
    expect(sse.body).toContain(": keep-alive\n\n");
    expectComplete(sse.body);
    expect(expiredWarnings().filter((w) => w.operationId === operationId)).toEqual([]);
  }, 30_000);
});

describe("STREAM_WRITE_DEADLINE_SECONDS", () => {
  const base = { LANDING_ZONE_FILE: "examples/landing-zone.json" };
  it("defaults to 60 s and is bounded to 1..3600", () => {
    expect(loadConfig(base).STREAM_WRITE_DEADLINE_SECONDS).toBe(60);
    expect(loadConfig({ ...base, STREAM_WRITE_DEADLINE_SECONDS: "5" }).STREAM_WRITE_DEADLINE_SECONDS).toBe(5);
    for (const bad of ["0", "3601", "1.5", "soon"]) expect(() => loadConfig({ ...base, STREAM_WRITE_DEADLINE_SECONDS: bad }), bad).toThrow(/STREAM_WRITE_DEADLINE_SECONDS/);
  });
});
