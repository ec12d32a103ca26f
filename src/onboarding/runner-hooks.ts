import { EngineFailure } from "../engine/engine.js";
import type { RunnerHooks } from "../operations/runner.js";
import type { LandingZone } from "./landing-zone.js";
import { onFinish, onStart } from "./lifecycle.js";
import * as providers from "./providers-repo.js";
import { buildProviderSpecSchema } from "./spec.js";
import { toProviderStackArgs } from "./stack-args.js";

/** How the runner learns what to run and how an operation moves its provider's lifecycle. */
export function createRunnerHooks(landingZone: LandingZone): RunnerHooks {
  const schema = buildProviderSpecSchema(landingZone);
  return {
    argsFor(op) {
      // The spec was valid when accepted; the landing zone may have changed since (a region removed).
      const parsed = schema.safeParse(op.spec);
      if (!parsed.success) {
        const first = parsed.error.issues[0];
        throw new EngineFailure(
          "SPEC_NO_LONGER_VALID",
          `the spec is no longer valid against the landing zone: ${first?.path.join(".") ?? ""} ${first?.message ?? ""}`.trim(),
        );
      }
      return toProviderStackArgs(parsed.data, landingZone, op.access_state);
    },
    async onStart(tx, op) {
      const p = await providers.getProvider(tx, op.provider, true);
      if (!p) return;
      const next = onStart(op.intent, p.lifecycle);
      if (next !== p.lifecycle) await providers.setLifecycle(tx, op.provider, next);
    },
    async onFinish(tx, op, status, outputs) {
      const p = await providers.getProvider(tx, op.provider, true);
      if (!p) return;
      const next = onFinish(op.intent, status, op.access_state, p.lifecycle);
      const clear = next === "decommissioned" ? {} : undefined;
      const nextOutputs = status === "succeeded" && outputs ? outputs : clear;
      if (next !== p.lifecycle || nextOutputs !== undefined) await providers.setLifecycle(tx, op.provider, next, nextOutputs);
    },
  };
}
