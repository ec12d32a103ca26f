import { describe, expect, it } from "vitest";
import { executeSteps } from "../../src/engine/simulated/execute.js";
import { planDestroy, planUp, summarize, type SimResource, type Step } from "../../src/engine/simulated/plan.js";
import { EngineCancelledError, EngineFailure } from "../../src/engine/engine.js";

const res = (name: string, deps: string[] = [], inputs: Record<string, unknown> = {}, type = "aws:test/thing:Thing"): SimResource => ({
  urn: `urn:${name}`,
  type,
  name,
  parent: null,
  custom: true,
  retainOnDelete: false,
  inputs,
  outputs: {},
  dependencies: deps.map((d) => `urn:${d}`),
});

describe("planUp", () => {
  it("creates everything on an empty state, in registration order", () => {
    const steps = planUp([], [res("a"), res("b", ["a"])]);
    expect(steps.map((s) => [s.name, s.op])).toEqual([["a", "create"], ["b", "create"]]);
    expect(steps[1]!.after).toEqual(["urn:a"]);
  });

  it("reports same, update, replace and delete against the previous state", () => {
    const prev = [
      res("same", [], { x: 1 }),
      res("upd", [], { x: 1 }),
      res("rg", [], { capacity: 100, rules: "a" }, "aws:networkfirewall/ruleGroup:RuleGroup"),
      res("gone", ["same"]),
    ];
    const next = [
      res("same", [], { x: 1 }),
      res("upd", [], { x: 2 }),
      res("rg", [], { capacity: 200, rules: "a" }, "aws:networkfirewall/ruleGroup:RuleGroup"),
    ];
    const steps = planUp(prev, next);
    expect(Object.fromEntries(steps.map((s) => [s.name, s.op]))).toEqual({ same: "same", upd: "update", rg: "replace", gone: "delete" });
    expect(summarize(steps)).toEqual({ create: 0, update: 1, delete: 1, replace: 1, same: 1 });
  });

  it("treats a change to a non-ForceNew property of a ForceNew type as an in-place update", () => {
    const type = "aws:networkfirewall/ruleGroup:RuleGroup";
    const steps = planUp([res("rg", [], { capacity: 100, rules: "a" }, type)], [res("rg", [], { capacity: 100, rules: "b" }, type)]);
    expect(steps[0]!.op).toBe("update");
  });
});

describe("planDestroy", () => {
  it("deletes dependents before what they depend on", () => {
    const steps = planDestroy([res("key"), res("alias", ["key"]), res("grant", ["key"])]);
    expect(steps.every((s) => s.op === "delete")).toBe(true);
    const key = steps.find((s) => s.name === "key")!;
    expect([...key.after].sort()).toEqual(["urn:alias", "urn:grant"]);
  });

  it("marks the deletes of retainOnDelete resources as retained, and only those", () => {
    const steps = planDestroy([{ ...res("bucket"), retainOnDelete: true }, res("policy", ["bucket"])]);
    expect(steps.map((s) => [s.name, s.retain === true])).toEqual([
      ["policy", false],
      ["bucket", true],
    ]);
  });
});

describe("executeSteps", () => {
  const noop = async () => {};
  const base = { durationOf: () => 5, onStarted: noop, onFailed: noop };

  it("never starts a step before its dependencies completed", async () => {
    const steps: Step[] = planUp([], [res("a"), res("b", ["a"]), res("c", ["b"]), res("d")]);
    const completed: string[] = [];
    const startedWith: Record<string, string[]> = {};
    await executeSteps(steps, {
      ...base,
      signal: new AbortController().signal,
      onStarted: async (s) => void (startedWith[s.name] = [...completed]),
      onCompleted: async (s) => void completed.push(s.name),
    });
    expect(completed).toHaveLength(4);
    expect(startedWith.b).toContain("a");
    expect(startedWith.c).toEqual(expect.arrayContaining(["a", "b"]));
    // Independent steps run in parallel: d starts before anything completed.
    expect(startedWith.d).toEqual([]);
  });

  it("stops starting steps after a failure and reports it", async () => {
    const steps = planUp([], [res("a"), res("b", ["a"])]);
    const completed: string[] = [];
    await expect(
      executeSteps(steps, {
        ...base,
        signal: new AbortController().signal,
        faultOf: (s) => (s.name === "a" ? "boom" : undefined),
        onCompleted: async (s) => void completed.push(s.name),
      }),
    ).rejects.toBeInstanceOf(EngineFailure);
    expect(completed).toEqual([]);
  });

  it("lets in-flight steps settle on cancel, starts nothing new, and throws EngineCancelledError", async () => {
    const controller = new AbortController();
    const steps = planUp([], [res("a"), res("b", ["a"])]);
    const completed: string[] = [];
    await expect(
      executeSteps(steps, {
        ...base,
        signal: controller.signal,
        onStarted: async () => controller.abort(),
        onCompleted: async (s) => void completed.push(s.name),
      }),
    ).rejects.toBeInstanceOf(EngineCancelledError);
    expect(completed).toEqual(["a"]);
  });
});
