import { isDeepStrictEqual } from "node:util";
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { CanonicalJsonError, canonicalJson, storableString, toJsonValue, toStorableJson } from "../../src/audit/canonical-json.js";

/** JSON values as JSON.parse produces them, with every kind of string (lone surrogates, U+0000, "__proto__" keys). */
const json = fc.jsonValue({ maxDepth: 4, stringUnit: "binary" });

/** The same value with every object's keys inserted in another order. */
function shuffled(value: unknown, seed: number): unknown {
  if (Array.isArray(value)) return value.map((v, i) => shuffled(v, seed + i));
  if (value === null || typeof value !== "object") return value;
  const entries = Object.entries(value);
  const rotated = entries.length === 0 ? entries : [...entries.slice(seed % entries.length), ...entries.slice(0, seed % entries.length)].reverse();
  return Object.fromEntries(rotated.map(([k, v], i) => [k, shuffled(v, seed + i)]));
}

describe("canonicalJson", () => {
  it("is JSON that parses back to an equal value, and is a fixed point", () => {
    fc.assert(
      fc.property(json, (value) => {
        const text = canonicalJson(value);
        expect(JSON.parse(text)).toEqual(JSON.parse(JSON.stringify(value)));
        expect(canonicalJson(JSON.parse(text))).toBe(text);
      }),
    );
  });

  it("does not depend on the order keys were inserted in", () => {
    fc.assert(fc.property(json, fc.nat(), (value, seed) => {
      expect(canonicalJson(shuffled(value, seed))).toBe(canonicalJson(value));
    }));
  });

  it("sorts keys at every depth by UTF-16 code units and writes no whitespace", () => {
    expect(canonicalJson({ b: [3, { z: 1, a: null }], a: "x y", "é": true, B: false, "\ud83d\ude00": 1, "\uffff": 2 })).toBe(
      '{"B":false,"a":"x y","b":[3,{"a":null,"z":1}],"é":true,"\ud83d\ude00":1,"\uffff":2}',
    );
    fc.assert(
      fc.property(json, (value) => {
        // Outside strings there is no whitespace: strip the strings, then look.
        expect(canonicalJson(value).replace(/"(?:[^"\\]|\\.)*"/g, "")).not.toMatch(/\s/);
      }),
    );
  });

  it("writes numbers and strings as JSON.stringify does (RFC 8785 for these values)", () => {
    fc.assert(fc.property(fc.double({ noNaN: true, noDefaultInfinity: true }), (n) => {
      expect(canonicalJson(n)).toBe(JSON.stringify(n));
    }));
    fc.assert(fc.property(fc.string({ unit: "binary" }), (s) => {
      expect(canonicalJson(s)).toBe(JSON.stringify(s));
    }));
    expect(canonicalJson([1e21, 1e-7, -0, 0.1, 5e-324, 2 ** 53 + 2])).toBe("[1e+21,1e-7,0,0.1,5e-324,9007199254740994]");
  });

  it("gives the same text exactly for equal values (only -0 and 0 meet, as in JSON)", () => {
    const zeroed = (v: unknown): unknown => JSON.parse(JSON.stringify(v)) as unknown;
    fc.assert(
      fc.property(json, json, (a, b) => {
        expect(canonicalJson(a) === canonicalJson(b)).toBe(isDeepStrictEqual(zeroed(a), zeroed(b)));
      }),
    );
    const distinct = [{}, { a: null }, [], [null], "1", 1, { a: 1 }, { a: "1" }, { a: [1] }, [[]], [{}], "", null, false, 0];
    expect(new Set(distinct.map((v) => canonicalJson(v))).size).toBe(distinct.length);
  });

  it.each([
    ["undefined", undefined, "(root) is a undefined"],
    ["a function", () => 1, "is a function"],
    ["a symbol", Symbol("s"), "is a symbol"],
    ["a bigint", 1n, "is a bigint"],
    ["NaN", Number.NaN, "is NaN"],
    ["Infinity", Number.POSITIVE_INFINITY, "is Infinity"],
    ["undefined in an object", { a: { b: undefined } }, "/a/b is a undefined"],
    ["undefined in an array", [1, undefined], "/1 is a undefined"],
    ["an array hole", [1, , 3], "/1 is an array hole"],
    ["a Date", { at: new Date(0) }, "/at is a Date"],
    ["a Map", new Map(), "is a Map"],
    ["a Buffer", { b: Buffer.from("x") }, "/b is a Buffer"],
    ["a class instance", { x: new (class Thing {})() }, "/x is a Thing"],
    ["a key with a slash, in the path", { "a/b": { "~": Number.NaN } }, "/a~1b/~0 is NaN"],
  ])("refuses %s", (_, value, message) => {
    expect(() => canonicalJson(value)).toThrow(CanonicalJsonError);
    expect(() => canonicalJson(value)).toThrow(message);
    expect(() => toJsonValue(value)).toThrow(message);
  });

  it("refuses cycles, but not a value that merely appears twice", () => {
    const shared = { x: 1 };
    expect(canonicalJson({ a: shared, b: [shared] })).toBe('{"a":{"x":1},"b":[{"x":1}]}');
    const cyclic: Record<string, unknown> = {};
    cyclic["self"] = { back: cyclic };
    expect(() => canonicalJson(cyclic)).toThrow("/self/back is a cycle");
  });

  it("accepts objects without a prototype and keeps a __proto__ key as a key", () => {
    const bare = Object.assign(Object.create(null) as object, { b: 1, a: 2 });
    expect(canonicalJson(bare)).toBe('{"a":2,"b":1}');
    const parsed = JSON.parse('{"__proto__":{"polluted":true}}') as unknown;
    expect(canonicalJson(parsed)).toBe('{"__proto__":{"polluted":true}}');
    expect(canonicalJson(toJsonValue(parsed))).toBe('{"__proto__":{"polluted":true}}');
    expect(({} as Record<string, unknown>)["polluted"]).toBeUndefined();
  });
});

describe("toStorableJson", () => {
  it("replaces only what PostgreSQL text cannot hold (U+0000, lone surrogates), in keys and values", () => {
    expect(toStorableJson({ "k\u0000": ["a\ud800b", "\udc00", "\ud83d\ude00", "ok"] })).toEqual({ "k\uFFFD": ["a\uFFFDb", "\uFFFD", "\ud83d\ude00", "ok"] });
    fc.assert(
      fc.property(fc.string({ unit: "binary" }), (s) => {
        const out = storableString(s);
        expect(out).not.toContain("\u0000");
        expect(Buffer.from(out, "utf8").toString("utf8")).toBe(out); // well-formed UTF-16
        if (!/\u0000|[\ud800-\udfff]/.test(s)) expect(out).toBe(s);
      }),
    );
  });

  it("is toJsonValue on storable values and applies the same refusals", () => {
    fc.assert(fc.property(json, (value) => {
      expect(canonicalJson(toStorableJson(toStorableJson(value)))).toBe(canonicalJson(toStorableJson(value)));
    }));
    expect(() => toStorableJson({ a: undefined })).toThrow(CanonicalJsonError);
  });
});
