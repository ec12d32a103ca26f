import { describe, expect, it } from "vitest";
import { applyMutation, type Mutation } from "./arbitraries.js";

/** The fuzz bodies' mutations themselves must never throw: a throw there fails the fuzz test, not the service. */
describe("fuzz body mutations", () => {
  it("dropping an element of an array that was given an own `constructor` key does not throw (splice would)", () => {
    const steps: Mutation[] = [
      { kind: "replaceRoot", value: ["a", "b", "c"] },
      { kind: "addKey", at: 0, key: "constructor", value: "x" },
      { kind: "drop", at: 1 },
    ];
    const body = steps.reduce((b, m) => applyMutation(b, m), { name: "acme" } as Parameters<typeof applyMutation>[0]);
    expect(Array.isArray(body)).toBe(true);
    expect([...(body as string[])]).toEqual(["b", "c"]);
    expect(Object.getOwnPropertyDescriptor(body, "constructor")?.value).toBe("x");
  });
});
