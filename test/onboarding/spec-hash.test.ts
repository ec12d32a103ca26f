import { describe, expect, it } from "vitest";
import { canonicalJson, specHash } from "../../src/onboarding/spec.js";
import { acme, schema } from "./spec-fixtures.js";

/** Rebuilds every object with its keys in reverse insertion order. */
function reverseKeys(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(reverseKeys);
  if (value === null || typeof value !== "object") return value;
  return Object.fromEntries(Object.entries(value).reverse().map(([k, v]) => [k, reverseKeys(v)]));
}

describe("canonicalJson", () => {
  it("sorts keys at every depth, keeps array order, writes no whitespace", () => {
    expect(canonicalJson({ b: 1, a: [2, { d: 1, c: null }], "é": "x", A: true })).toBe(
      '{"A":true,"a":[2,{"c":null,"d":1}],"b":1,"é":"x"}',
    );
  });

  it("escapes strings and writes numbers as JSON does", () => {
    expect(canonicalJson({ s: 'q"\n\u2028', n: 1e21, f: 0.1, z: -0 })).toBe('{"f":0.1,"n":1e+21,"s":"q\\"\\n\u2028","z":0}');
  });

  it("drops undefined members and writes undefined array items as null, like JSON.stringify", () => {
    expect(canonicalJson({ a: undefined, b: [undefined] })).toBe('{"b":[null]}');
  });

  it("uses toJSON (dates)", () => {
    expect(canonicalJson({ at: new Date("2027-01-01T00:00:00Z") })).toBe('{"at":"2027-01-01T00:00:00.000Z"}');
  });

  it("keeps an own __proto__ key as data", () => {
    expect(canonicalJson(JSON.parse('{"__proto__":{"x":1},"a":1}'))).toBe('{"__proto__":{"x":1},"a":1}');
  });

  it.each([
    ["NaN", NaN],
    ["Infinity", { n: Infinity }],
    ["bigint", { n: 1n }],
    ["a bare undefined", undefined],
  ])("refuses %s instead of collapsing it into null", (_label, value) => {
    expect(() => canonicalJson(value)).toThrow(TypeError);
  });

  it("refuses cycles but accepts shared (acyclic) references", () => {
    const shared = { x: 1 };
    expect(canonicalJson({ a: shared, b: shared })).toBe('{"a":{"x":1},"b":{"x":1}}');
    const cyclic: Record<string, unknown> = {};
    cyclic.self = cyclic;
    expect(() => canonicalJson(cyclic)).toThrow(/cyclic/);
  });
});

describe("specHash", () => {
  const spec = schema.parse(acme());

  it("is a sha256 hex digest", () => {
    expect(specHash(spec)).toMatch(/^[0-9a-f]{64}$/);
  });

  it("does not depend on key order", () => {
    expect(specHash(schema.parse(reverseKeys(acme())))).toBe(specHash(spec));
  });

  it("changes when any value changes", () => {
    const changed = acme();
    changed.outbound.ports[1].port = 8444;
    expect(specHash(schema.parse(changed))).not.toBe(specHash(spec));
  });

  it("depends on array order (the order of ports, CIDRs and domains is the caller's)", () => {
    const swapped = acme();
    swapped.outbound.allowedSourceCidrs.reverse();
    expect(specHash(schema.parse(swapped))).not.toBe(specHash(spec));
  });

  it("is the same for an omitted default and its explicit value", () => {
    const explicit = acme();
    explicit.outbound.privateDns = true;
    explicit.kms.keyStore = "kms";
    const implicit = acme();
    delete implicit.outbound.privateDns;
    delete implicit.kms.keyStore;
    expect(specHash(schema.parse(implicit))).toBe(specHash(schema.parse(explicit)));
  });
});
