import type { FastifyInstance } from "fastify";
import type { Logger } from "pino";
import { PROGRAM_VERSION } from "../programs/version.js";
import { buildApp } from "./app.js";
import { OpenStreams } from "./http/streaming.js";
import type { Config } from "./config.js";
import type { Engine } from "./engine/engine.js";
import { prepareEngine, type EngineConfig } from "./engine/factory.js";
import type { LandingZone } from "./onboarding/landing-zone.js";
import type { ProviderProgram } from "./onboarding/preflight.js";
import { createRunnerHooks } from "./onboarding/runner-hooks.js";
import { buildProviderSpecSchema } from "./onboarding/spec.js";
import { createEventHub, type EventHub } from "./operations/event-hub.js";
import { createRunner, type Runner } from "./operations/runner.js";
import type { Db } from "./store/db.js";

export type ServiceConfig = EngineConfig & Pick<
  Config,
  | "MAX_CONCURRENT_OPERATIONS"
  | "LEASE_SECONDS"
  | "SSE_KEEPALIVE_SECONDS"
  | "BODY_LIMIT_BYTES"
  | "SIMULATED_STEP_MS"
  | "SIMULATED_PAUSED"
>;

export interface ServiceOptions {
  readonly config: ServiceConfig;
  readonly landingZone: LandingZone;
  readonly db: Db;
  readonly logger: Logger;
  /** Tests may supply an engine (e.g. the simulated one with fault injection). */
  readonly engine?: Engine;
  /** Runner poll interval; tests shorten it. */
  readonly pollMs?: number;
  /** Tests only: the program the guardrail gate checks (a faulty one proves the gate end to end). */
  readonly program?: ProviderProgram;
}

export interface Service {
  readonly app: FastifyInstance;
  readonly runner: Runner;
  readonly hub: EventHub;
  readonly engine: Engine;
  readonly db: Db;
  /** Starts the runner (recovering interrupted operations first) unless the engine is paused. */
  start(): Promise<void>;
  /** Drains the runner for up to graceMs, then closes the app, the hub, the engine and the database. */
  close(graceMs: number): Promise<void>;
}

/** Wires config → store → engine → runner → app. The only place that knows every concrete part. */
export async function composeService(options: ServiceOptions): Promise<Service> {
  const { config, db, logger, landingZone } = options;
  const engine = options.engine ?? (await prepareEngine(config, logger))(db, logger);
  const hub = await createEventHub(db, logger);
  const program = options.program === undefined ? {} : { program: options.program };
  const hooks = createRunnerHooks({ db, landingZone, engine: engine.name, ...program });
  const runner = createRunner({
    db,
    engine,
    hub,
    hooks,
    log: logger,
    leaseSeconds: config.LEASE_SECONDS,
    concurrency: config.MAX_CONCURRENT_OPERATIONS,
    ...(options.pollMs === undefined ? {} : { pollMs: options.pollMs }),
  });
  let started = false;
  const stream = { db, hub, keepAliveMs: config.SSE_KEEPALIVE_SECONDS * 1000, open: new OpenStreams() };
  const app = await buildApp({
    logger,
    bodyLimit: config.BODY_LIMIT_BYTES,
    specSchema: buildProviderSpecSchema(landingZone),
    stream,
    providers: { db, hub, kick: runner.kick, engine: engine.name, programVersion: PROGRAM_VERSION, landingZone, ...program },
    operations: { db, hub, onFinish: (tx, op, status) => hooks.onFinish(tx, op, status), cancelLocal: runner.cancelLocal },
    readiness: [
      {
        name: "database",
        check: async () => {
          await db.query("SELECT 1");
          return { ok: true, detail: db.description };
        },
      },
      { name: "engine", check: async () => engine.readiness() },
      {
        name: "runner",
        check: async () => ({ ok: started || config.SIMULATED_PAUSED, detail: started ? `claiming as ${runner.owner}` : "paused" }),
      },
    ],
  });

  return {
    app,
    runner,
    hub,
    engine,
    db,
    async start() {
      if (config.SIMULATED_PAUSED) return;
      await runner.start();
      started = true;
    },
    async close(graceMs) {
      await runner.drain(graceMs);
      await app.close();
      await hub.close();
      await engine.close();
      await db.close();
    },
  };
}
