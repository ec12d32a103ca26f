import { afterAll, describe, expect, it } from "vitest";
import type { EvaluationTask } from "../../programs/evaluation-task.js";
import { createInProcessEvaluator, EvaluationUnavailableError, type ProgramEvaluator } from "../../src/engine/evaluation-pool.js";
import { createGuardrailCheck, landingZoneHashOf, verdictKey } from "../../src/onboarding/guardrail-check.js";
import { buildProviderSpecSchema, type ProviderSpec } from "../../src/onboarding/spec.js";
import { provisionalSubnets, toProviderStackArgs } from "../../src/onboarding/stack-args.js";
import { landingZone, specNamed, startTestService, type TestService } from "../helpers/service.js";

/**
 * Issue 15, part 2: a guardrail verdict is computed once per distinct input (spec, access state, stack args,
 * program version, landing zone) and kept in a bounded LRU; concurrent checks share one evaluation; a failure
 * to evaluate is not kept.
 */
type Json = Record<string, any>;
const schema = buildProviderSpecSchema(landingZone);
const services: TestService[] = [];
afterAll(async () => {
  for (const s of services) await s.close(2_000);
});

/** A real in-process evaluator that counts what it is asked, and can be told to fail the next ones. */
function counting(): ProgramEvaluator & { calls: EvaluationTask[]; failNext: number } {
  const inner = createInProcessEvaluator();
  const counter = {
    calls: [] as EvaluationTask[],
    failNext: 0,
    description: "counting",
    stats: () => inner.stats(),
    close: () => inner.close(),
    async evaluate(task: EvaluationTask) {
      counter.calls.push(task);
      if (counter.failNext > 0) {
        counter.failNext--;
        throw new EvaluationUnavailableError("the program evaluation worker stopped before answering (test)");
      }
      return inner.evaluate(task);
    },
  };
  return counter;
}

function argsOf(spec: ProviderSpec, accessState: "active" | "revoked") {
  const region = landingZone.network.regions[spec.region]!;
  const subnets = provisionalSubnets(region.subnetPool, region.subnetPrefixLength, region.availabilityZoneIds);
  return toProviderStackArgs(spec, landingZone, accessState, { subnets, connectionAccepted: false });
}

describe("guardrail verdict cache", () => {
  it("evaluates once per distinct input; access state, spec, args, program version and landing zone are part of the key", async () => {
    const evaluator = counting();
    const gate = createGuardrailCheck({ evaluator, programVersion: "v1", landingZone, maxEntries: 100 });
    const spec = schema.parse(specNamed("cache-a"));
    const first = await gate.check(spec, argsOf(spec, "active"), "active");
    const again = await gate.check(spec, argsOf(spec, "active"), "active");
    expect(again).toEqual(first);
    expect(evaluator.calls).toHaveLength(1);
    await gate.check(spec, argsOf(spec, "revoked"), "revoked");
    expect(evaluator.calls).toHaveLength(2);
    const other = schema.parse({ ...specNamed("cache-a"), displayName: "Another name" });
    await gate.check(other, argsOf(other, "active"), "active");
    expect(evaluator.calls).toHaveLength(3);
    expect(gate.stats()).toEqual({ hits: 1, misses: 3, entries: 3 });

    // The program version and the landing zone are part of the key too.
    const input = { spec, args: argsOf(spec, "active"), accessState: "active" as const };
    const lz = landingZoneHashOf(landingZone);
    const changedLz = landingZoneHashOf({ ...landingZone, kms: { ...landingZone.kms, deletionWindowInDays: landingZone.kms.deletionWindowInDays + 1 } });
    expect(verdictKey(input, "v1", lz)).toBe(verdictKey({ ...input, spec: schema.parse(specNamed("cache-a")) }, "v1", landingZoneHashOf(structuredClone(landingZone))));
    expect(new Set([verdictKey(input, "v1", lz), verdictKey(input, "v2", lz), verdictKey(input, "v1", changedLz)]).size).toBe(3);
  });

  it("concurrent checks of one input share one evaluation; a failed evaluation is not kept", async () => {
    const evaluator = counting();
    const gate = createGuardrailCheck({ evaluator, programVersion: "v1", landingZone, maxEntries: 100 });
    const spec = schema.parse(specNamed("cache-b"));
    const verdicts = await Promise.all(Array.from({ length: 5 }, () => gate.check(spec, argsOf(spec, "active"), "active")));
    expect(evaluator.calls).toHaveLength(1);
    expect(new Set(verdicts.map((v) => JSON.stringify(v))).size).toBe(1);

    const failing = schema.parse(specNamed("cache-c"));
    evaluator.failNext = 1;
    await expect(gate.check(failing, argsOf(failing, "active"), "active")).rejects.toBeInstanceOf(EvaluationUnavailableError);
    const verdict = await gate.check(failing, argsOf(failing, "active"), "active");
    expect(verdict.violations).toEqual([]);
    expect(evaluator.calls).toHaveLength(3);
  });

  it("is bounded: past maxEntries the least recently used verdict is evaluated again", async () => {
    const evaluator = counting();
    const gate = createGuardrailCheck({ evaluator, programVersion: "v1", landingZone, maxEntries: 2 });
    const specs = ["lru-a", "lru-b", "lru-c"].map((n) => schema.parse(specNamed(n)));
    for (const s of specs) await gate.check(s, argsOf(s, "active"), "active");
    expect(gate.stats().entries).toBe(2);
    await gate.check(specs[2]!, argsOf(specs[2]!, "active"), "active"); // kept
    await gate.check(specs[0]!, argsOf(specs[0]!, "active"), "active"); // evicted: evaluated again
    expect(evaluator.calls.map((c) => c.stack)).toEqual(["lru-a", "lru-b", "lru-c", "lru-a"]);
  });

  it("through the service: a preview of a proposed spec, the same update, and its idempotent replay evaluate the program once", async () => {
    const evaluator = counting();
    const svc = await startTestService({ evaluator, config: { SIMULATED_PAUSED: true } });
    services.push(svc);
    const created = await svc.app.inject({ method: "POST", url: "/v1/providers", payload: specNamed("cache-http") });
    expect(created.statusCode, created.body).toBe(202);
    expect(evaluator.calls).toHaveLength(1);
    const proposed = { ...specNamed("cache-http"), displayName: "Cache HTTP, renamed" };
    const preview = await svc.app.inject({ method: "POST", url: "/v1/providers/cache-http/preview", payload: proposed });
    const update = await svc.app.inject({ method: "PUT", url: "/v1/providers/cache-http", payload: proposed, headers: { "idempotency-key": "cache-http-1" } });
    const replay = await svc.app.inject({ method: "PUT", url: "/v1/providers/cache-http", payload: proposed, headers: { "idempotency-key": "cache-http-1" } });
    expect([preview.statusCode, update.statusCode, replay.statusCode], `${preview.body}\n${update.body}`).toEqual([202, 202, 202]);
    expect((replay.json() as Json).replayed).toBe(true);
    expect(evaluator.calls).toHaveLength(2);
  });

});
