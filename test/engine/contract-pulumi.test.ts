import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe } from "vitest";
import { loadConfig } from "../../src/config.js";
import { prepareEngine, type EngineFactory } from "../../src/engine/factory.js";
import { createLogger } from "../../src/logger.js";
import { engineContract, killChildOf } from "./contract.js";

/**
 * The engine contract against the real Pulumi engine: the CLI on PATH, a file backend in a temporary
 * data dir, passphrase secrets, and the AWS accounts of examples/landing-zone.json — reachable in AWS
 * or, with ENGINE_AWS_ENDPOINT_URL, in a local emulator; credentials come through ENGINE_ENV_PASSTHROUGH
 * (e.g. ENGINE_ENV_PASSTHROUGH=AWS_ACCESS_KEY_ID,AWS_SECRET_ACCESS_KEY). Opt in with PULUMI_E2E=1.
 */
const enabled = process.env["PULUMI_E2E"] === "1";
if (!enabled) {
  console.log(
    "engine contract (pulumi): SKIPPED — set PULUMI_E2E=1 with the pulumi CLI on PATH and AWS (or an emulator via ENGINE_AWS_ENDPOINT_URL) " +
      "to run it; this build environment has neither, so the Pulumi engine is verified here only through its recorded-event tests",
  );
}

describe.runIf(enabled)("engine contract: pulumi (PULUMI_E2E=1)", () => {
  let dataDir = "";
  let factory: EngineFactory | undefined;
  beforeAll(async () => {
    dataDir = await mkdtemp(join(tmpdir(), "saas-bridge-e2e-"));
    const config = loadConfig({
      ...process.env,
      ENGINE: "pulumi",
      MODE: "development",
      DATA_DIR: dataDir,
      LANDING_ZONE_FILE: "examples/landing-zone.json",
      ENGINE_CANCEL_GRACE_SECONDS: process.env["ENGINE_CANCEL_GRACE_SECONDS"] ?? "300",
    });
    factory = await prepareEngine(config, createLogger("info"));
  }, 15 * 60_000);
  afterAll(() => rm(dataDir, { recursive: true, force: true }));

  engineContract({
    engine: (db, log) => factory!(db, log),
    // The child's whole group: the CLI and its plugins too.
    kill: killChildOf(true),
    timeoutMs: 45 * 60_000,
  });
});
