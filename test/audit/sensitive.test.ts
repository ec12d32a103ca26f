import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { canonicalJson, type JsonObject } from "../../src/audit/canonical-json.js";
import { auditHash, hashLeaves, hashSensitivePaths } from "../../src/audit/sensitive.js";
import { testKeys } from "./support.js";

const { hmacKey } = testKeys();
const h = (v: string | number | boolean): string => auditHash(hmacKey, v);

describe("hashSensitivePaths", () => {
  const details: JsonObject = {
    spec: { name: "acme", "a/b": "slash", "t~": "tilde", tags: [{ k: "x", v: "1" }, { k: "y", v: "2" }] },
    token: { value: "t", nested: [true, 3, null] },
  };

  it.each([
    ["a leaf", ["/spec/name"], { ...details, spec: { ...(details["spec"] as JsonObject), name: h("acme") } }],
    ["escaped segments (~1 is /, ~0 is ~)", ["/spec/a~1b", "/spec/t~0"], { ...details, spec: { ...(details["spec"] as JsonObject), "a/b": h("slash"), "t~": h("tilde") } }],
    [
      "a wildcard over an array",
      ["/spec/tags/*/v"],
      { ...details, spec: { ...(details["spec"] as JsonObject), tags: [{ k: "x", v: h("1") }, { k: "y", v: h("2") }] } },
    ],
    ["an index", ["/spec/tags/1/k"], { ...details, spec: { ...(details["spec"] as JsonObject), tags: [{ k: "x", v: "1" }, { k: h("y"), v: "2" }] } }],
    ["a subtree: every leaf, null kept", ["/token"], { ...details, token: { value: h("t"), nested: [h(true), h(3), null] } }],
    ["nothing, for a path that is not there", ["/spec/name/deeper", "/absent", "/spec/tags/9"], details],
  ])("hashes %s", (_, pointers, expected) => {
    expect(hashSensitivePaths(details, pointers, hmacKey)).toEqual(expected);
  });

  it("hashes everything for the root pointer, and refuses a pointer without a leading slash", () => {
    expect(canonicalJson(hashSensitivePaths(details, [""], hmacKey))).toBe(canonicalJson(hashLeaves(details, hmacKey)));
    expect(() => hashSensitivePaths(details, ["spec"], hmacKey)).toThrow(/not a JSON pointer/);
  });

  it("leaves no leaf but a hash or null under `*`", () => {
    const leaves = (v: unknown): unknown[] =>
      v !== null && typeof v === "object" ? Object.values(v).flatMap(leaves) : [v];
    fc.assert(
      fc.property(fc.dictionary(fc.string(), fc.jsonValue({ maxDepth: 3 })), (value) => {
        for (const leaf of leaves(hashSensitivePaths(value as JsonObject, ["/*"], hmacKey))) {
          expect(leaf === null || (typeof leaf === "string" && /^hmac-sha256:[0-9a-f]{64}$/.test(leaf))).toBe(true);
        }
      }),
    );
  });

  it("gives hashes that depend on the value and the key only", () => {
    expect(h("a")).toBe(h("a"));
    expect(h("a")).not.toBe(h("b"));
    expect(h("a")).toMatch(/^hmac-sha256:[0-9a-f]{64}$/);
    expect(auditHash(testKeys().hmacKey, "a")).not.toBe(h("a"));
  });
});
