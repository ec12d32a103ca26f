import type { Config } from "./config.js";
import type { EngineName } from "./engine/engine.js";
import { createDbStateStore } from "./engine/simulated/state-repo.js";
import type { VerificationDeps } from "./onboarding/verification.js";
import type { Queryable } from "./store/db.js";
import { createAwsAccessReader } from "./verification/aws-reader.js";
import { createSimulatedAccessReader, type CloudResource, type SimulatedCloud } from "./verification/simulated-reader.js";

/**
 * Which cloud verification reads (issue 17): AWS itself behind the Pulumi engine (SDK v3, read calls only);
 * the simulated engine's own cloud behind the simulated engine, which creates nothing in AWS. Never a mix:
 * a simulated stack's ids do not exist in AWS.
 */
export function createVerificationDeps(engine: EngineName, config: Pick<Config, "VERIFY_ACCESS">, db: Queryable): VerificationDeps {
  const afterOffboarding = config.VERIFY_ACCESS === "after-offboarding";
  // By the engine that runs (a composition may be handed one), not by ENGINE: the reader must read its cloud.
  if (engine === "pulumi") {
    const reader = createAwsAccessReader();
    return { readerFor: () => reader, afterOffboarding };
  }
  const store = createDbStateStore(db);
  // The stack's state with the changes made behind its back applied: what its cloud holds now.
  const cloud: SimulatedCloud = async (stack) => {
    const [resources, drifted] = await Promise.all([store.load(stack), store.drifted(stack)]);
    const changes = new Map(drifted.map((d) => [d.urn, d]));
    return resources.flatMap((r): CloudResource[] => {
      const change = changes.get(r.urn);
      if (change?.change === "delete") return [];
      return [{ type: r.type, outputs: change ? { ...r.outputs, ...change.inputs } : r.outputs }];
    });
  };
  return { readerFor: (stack) => createSimulatedAccessReader(cloud, stack), afterOffboarding };
}
