import pino, { type Logger } from "pino";
import { generateSecurityKeys } from "../src/auth/security-keys.js";
import { composeService, type Service } from "../src/compose.js";
import type { Engine } from "../src/engine/engine.js";
import { prepareEngine } from "../src/engine/factory.js";
import type { ChildEngine } from "../src/engine/process/child-engine.js";
import { TERMINAL_STATUSES } from "../src/operations/operation.js";
import type { Db } from "../src/store/db.js";
import { openDb } from "../src/store/open.js";
// Test-only code (the stand-in AWS plugin, a TEST DOUBLE, and the real-engine factory around it): the engine
// figures need a CLI run against something that is not AWS, and these are the parts the contract suite uses.
import { prepareRealEngine, type RealEngine } from "../test/support/real-engine.js";
import { baseConfig, benchAuthorization, benchLogger, benchSpec, landingZone, now, sleep, tempDir, within } from "./support.js";

/**
 * The whole service for the engine figures (README §9–§11), composed in this process as
 * test/helpers/service.ts's startTestService does: HTTP through `app.inject` → use case → runner → an engine
 * child per operation (the real Pulumi engine: Automation API → CLI → plugins; or the simulated engine in
 * children). PGlite in a temporary data directory, as `main.ts` opens it.
 */
export type EngineChoice =
  | { readonly kind: "pulumi"; readonly real: RealEngine; /** The ENGINE_WARM_CHILDREN `real` was prepared with. */ readonly warmChildren: number }
  | { readonly kind: "simulated"; readonly stepMs: number; readonly warmChildren: number };

/** An AWS resource (not a provider instance, not a component): the steps that take the plugin's latency. */
export const CLOUD_RESOURCE = /^aws:(?!.*providers)/;

/** durationMs of every resource.completed event of an AWS resource (resource.started → resource.completed). */
export function stepDurations(events: readonly Record<string, any>[]): number[] {
  return events.filter((e) => e["type"] === "resource.completed" && CLOUD_RESOURCE.test(String(e["resourceType"]))).map((e) => Number(e["durationMs"]));
}

export interface Submitted {
  readonly id: string;
  /** Just before the POST was injected. */
  readonly postedAt: number;
  /** Resolves when the operation's terminal event is published (a 1 s poll of its row is the backstop). */
  readonly done: Promise<{ readonly status: string; readonly at: number }>;
}

export interface EngineService {
  readonly service: Service;
  submit(name: string): Promise<Submitted>;
  /** GET /v1/operations/<id>. */
  operation(id: string): Promise<Record<string, any>>;
  /** The operation's events (GET /v1/operations/<id>/events, up to 1,000). */
  events(id: string): Promise<Record<string, any>[]>;
  /** Cancels an operation (a figure's time cap). */
  cancel(id: string): Promise<void>;
  /** Until no operation is queued or running (hub updates included), within `timeoutMs`. */
  waitIdle(timeoutMs: number): Promise<void>;
  /** Until a warm engine child has said hello and run nothing (no-op without warm children), within `timeoutMs`. */
  waitSpare(timeoutMs: number): Promise<void>;
  /** Engine children running an operation now, by operation id. */
  running(): ReadonlyMap<string, number>;
  close(): Promise<void>;
}

/** The engine's log at info, so the bench sees each child's hello; warnings and errors go on to stderr. */
function captureHellos(): { log: Logger; hellos: Set<number> } {
  const hellos = new Set<number>();
  const stream = {
    write(line: string): void {
      const entry = JSON.parse(line) as { level?: number; msg?: string; engineChild?: unknown };
      if (entry.msg === "engine child started" && typeof entry.engineChild === "number") hellos.add(entry.engineChild);
      else if ((entry.level ?? 0) >= 40) process.stderr.write(line);
    },
  };
  return { log: pino({ level: "info" }, stream), hellos };
}

export async function startEngineService(choice: EngineChoice, concurrency: number): Promise<EngineService> {
  const dir = await tempDir();
  let service: Service | undefined;
  let db: Db | undefined;
  try {
    db = await openDb({ dataDir: dir.path });
    const { log, hellos } = captureHellos();
    let engine: Engine;
    let warmChildren: number;
    if (choice.kind === "pulumi") {
      engine = choice.real.engine(db, log);
      warmChildren = choice.warmChildren;
    } else {
      const config = { ...baseConfig, DATA_DIR: dir.path, ENGINE: "simulated" as const, ENGINE_PROCESS: "child" as const };
      const factory = await prepareEngine({ ...config, SIMULATED_STEP_MS: choice.stepMs, ENGINE_WARM_CHILDREN: choice.warmChildren }, log);
      engine = factory(db, log);
      warmChildren = choice.warmChildren;
    }
    service = await composeService({
      config: { ...baseConfig, MAX_CONCURRENT_OPERATIONS: concurrency },
      landingZone,
      db,
      logger: benchLogger(),
      keys: generateSecurityKeys(),
      engine,
    });
    await service.start();
    // The Pulumi engine installs the plugin here (offline, from the stand-in's folder); both start their spare.
    await within(120_000, "engine ready", service.engine.ready());
    const authorization = await benchAuthorization(db);
    return wrap(service, authorization, hellos, warmChildren, dir.remove);
  } catch (err) {
    if (service) await service.close(1_000).catch(() => undefined);
    else await db?.close().catch(() => undefined);
    await dir.remove();
    throw err;
  }
}

function wrap(service: Service, authorization: string, hellos: ReadonlySet<number>, warmChildren: number, remove: () => Promise<void>): EngineService {
  const headers = { authorization };
  const get = async (url: string) => (await service.app.inject({ method: "GET", url, headers })).json() as Record<string, any>;
  const childEngine = service.engine as ChildEngine;

  const terminal = (id: string): Submitted["done"] =>
    new Promise((resolve) => {
      let settled = false;
      const finish = (status: string) => {
        if (settled) return;
        settled = true;
        unsubscribe();
        clearInterval(poll);
        resolve({ status, at: now() });
      };
      const unsubscribe = service.hub.subscribe(id, (signal) => {
        if ("event" in signal && signal.event.type.startsWith("operation.")) {
          const status = signal.event.type.slice("operation.".length);
          if (TERMINAL_STATUSES.has(status as never)) finish(status);
        }
      });
      const poll = setInterval(() => {
        void service.db.query<{ status: string }>("SELECT status FROM operations WHERE id = $1", [id]).then(
          ([row]) => row && TERMINAL_STATUSES.has(row.status as never) && finish(row.status),
          () => undefined,
        );
      }, 1_000);
      poll.unref();
    });

  return {
    service,
    async submit(name) {
      const postedAt = now();
      const res = await service.app.inject({ method: "POST", url: "/v1/providers", payload: benchSpec(name), headers });
      if (res.statusCode !== 202) throw new Error(`POST /v1/providers (${name}): ${res.statusCode} ${res.body}`);
      const id = String((res.json() as { operation: { id: string } }).operation.id);
      return { id, postedAt, done: terminal(id) };
    },
    operation: (id) => get(`/v1/operations/${id}`),
    events: async (id) => (await get(`/v1/operations/${id}/events?limit=1000`))["items"] as Record<string, any>[],
    async cancel(id) {
      await service.app.inject({ method: "POST", url: `/v1/operations/${id}/cancel`, headers });
    },
    async waitIdle(timeoutMs) {
      const deadline = Date.now() + timeoutMs;
      for (;;) {
        const [row] = await service.db.query<{ n: number }>("SELECT count(*)::int AS n FROM operations WHERE status IN ('queued', 'running')");
        if ((row?.n ?? 0) === 0) return;
        if (Date.now() > deadline) throw new Error(`operations still queued or running after ${timeoutMs} ms`);
        await sleep(100);
      }
    },
    async waitSpare(timeoutMs) {
      if (warmChildren === 0) return;
      const deadline = Date.now() + timeoutMs;
      for (;;) {
        const rows = await service.db.query<{ pid: string | null }>("SELECT result->'engineProcess'->>'pid' AS pid FROM operations");
        const used = new Set([...rows.map((r) => Number(r.pid)), ...childEngine.running().values()]);
        if ([...hellos].some((pid) => !used.has(pid))) return;
        if (Date.now() > deadline) throw new Error(`no warm engine child said hello within ${timeoutMs} ms`);
        await sleep(50);
      }
    },
    running: () => childEngine.running(),
    async close() {
      try {
        await service.close(5_000);
      } finally {
        await remove();
      }
    },
  };
}

/** The stand-in plugin's latency per create/update/delete, and the simulated step time compared with it. */
export const STEP_LATENCY_MS = 100;
/** The state passphrase of the engine figures' throwaway stacks (MODE=development would warn about its default). */
export const BENCH_PASSPHRASE = "saas-bridge-bench-passphrase-not-secret";

/**
 * The service's real-engine factory (test/support/real-engine.ts): the built CLI, the stand-in plugin with
 * STEP_LATENCY_MS per resource, a file backend and this passphrase, in a temporary directory.
 */
export function prepareBenchEngine(warmChildren: number, env: Readonly<Record<string, string>> = {}): Promise<RealEngine> {
  return prepareRealEngine({
    behaviour: { latencyMs: { default: STEP_LATENCY_MS } },
    env: { PULUMI_CONFIG_PASSPHRASE: BENCH_PASSPHRASE, ENGINE_WARM_CHILDREN: String(warmChildren), ...env },
  });
}
