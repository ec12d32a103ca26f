import { afterAll, beforeAll, describe } from "vitest";
import { prepareRealEngine, realEngineMissing, type RealEngine } from "../support/real-engine.js";
import { engineContract, killChildOf } from "./contract.js";

/**
 * The engine contract against the real Pulumi engine: the CLI built from Go modules
 * (`npm run engine:install`), the service's engine children and Automation API adapter, a file backend
 * and passphrase secrets in a temporary data dir, and the stand-in AWS plugin (TEST DOUBLE) with a
 * latency per resource, so that cancel and kill land mid-operation.
 */
const KMS_KEY = "aws:kms/key:Key";
const missing = realEngineMissing();
if (missing) console.log(`engine contract (pulumi): SKIPPED — ${missing}`);

describe.skipIf(missing !== undefined)("engine contract: the real Pulumi engine", () => {
  let real: RealEngine | undefined;
  beforeAll(async () => {
    // The BYOK key is slow to create, so the kill test's SIGKILL lands while it is in flight.
    real = await prepareRealEngine({ behaviour: { latencyMs: { default: 40, [KMS_KEY]: 2_000 } }, env: { ENGINE_CANCEL_GRACE_SECONDS: "60" } });
  }, 120_000);
  afterAll(() => real?.close());

  engineContract({
    engine: (db, log) => real!.engine(db, log),
    kill: killChildOf(true),
    killDuring: /^aws:kms\/key:Key$/,
    timeoutMs: 240_000,
  });
});
