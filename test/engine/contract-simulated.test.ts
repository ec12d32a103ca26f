import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe } from "vitest";
import { prepareEngine, type EngineFactory } from "../../src/engine/factory.js";
import { createSimulatedEngine } from "../../src/engine/simulated/simulated-engine.js";
import { createLogger } from "../../src/logger.js";
import { testConfig } from "../helpers/service.js";
import { engineContract, killChildOf } from "./contract.js";

/** The engine contract against the simulated engine, in the service process and in child processes. */
describe("engine contract: simulated, in-process", () => {
  engineContract({ engine: (db) => createSimulatedEngine({ state: { db }, stepMs: 40 }), timeoutMs: 30_000 });
});

describe("engine contract: simulated, one child process per operation", () => {
  let dataDir = "";
  let factory: EngineFactory | undefined;
  beforeAll(async () => {
    dataDir = await mkdtemp(join(tmpdir(), "saas-bridge-contract-"));
    factory = await prepareEngine(
      { ...testConfig, DATA_DIR: dataDir, ENGINE_PROCESS: "child", SIMULATED_STEP_MS: 150, ENGINE_CANCEL_GRACE_SECONDS: 10 },
      createLogger("silent"),
    );
  });
  afterAll(() => rm(dataDir, { recursive: true, force: true }));

  engineContract({
    engine: (db, log) => factory!(db, log),
    kill: killChildOf(false),
    timeoutMs: 60_000,
  });
});
