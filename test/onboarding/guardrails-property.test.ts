import fc from "fast-check";
import { describe, expect, test } from "vitest";
import { preflight } from "../../src/onboarding/preflight.js";
import { createInProcessEvaluator } from "../../src/engine/evaluation-pool.js";
import { buildProviderSpecSchema } from "../../src/onboarding/spec.js";
import { provisionalSubnets, toProviderStackArgs } from "../../src/onboarding/stack-args.js";
import { validSpecArb } from "../helpers/arbitraries.js";
import { landingZone } from "../helpers/service.js";

/** Evaluations in this thread, as before the pool: what is checked here is the program and the rules, not where they run. */
const evaluator = createInProcessEvaluator();

/**
 * The promise behind the guardrail gate: for ANY valid spec, in either access state, the provider
 * program builds a graph that passes every guardrail (so a 422 from the gate always means a bug, never
 * a caller's mistake the schema let through). Each run evaluates the real program under the mock cloud.
 */
const schema = buildProviderSpecSchema(landingZone);

describe("guardrails over generated valid specs", () => {
  test("the program's graph passes every guardrail, active and revoked", async () => {
    const seen = { inbound: 0, cloudhsm: 0, revoked: 0 };
    await fc.assert(
      fc.asyncProperty(validSpecArb(landingZone), fc.constantFrom("active" as const, "revoked" as const), async (input, accessState) => {
        const spec = schema.parse(input);
        const region = landingZone.network.regions[spec.region]!;
        const subnets = provisionalSubnets(region.subnetPool, region.subnetPrefixLength, region.availabilityZoneIds);
        const args = toProviderStackArgs(spec, landingZone, accessState, { subnets, connectionAccepted: accessState === "active" });
        const checked = await preflight(spec, args, accessState, evaluator);
        expect(checked.rejected).toBeUndefined();
        expect(checked.violations).toEqual([]);
        if (spec.inbound) seen.inbound += 1;
        if (spec.kms.keyStore === "cloudhsm") seen.cloudhsm += 1;
        if (accessState === "revoked") seen.revoked += 1;
      }),
      { numRuns: 40 },
    );
    // The generator really covers the optional patterns.
    expect(seen.inbound).toBeGreaterThan(0);
    expect(seen.cloudhsm).toBeGreaterThan(0);
    expect(seen.revoked).toBeGreaterThan(0);
  }, 120_000);
});
