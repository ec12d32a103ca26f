import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { specHash, zodIssuesToFieldErrors } from "../../src/onboarding/spec.js";
import { mutatedBodyArb, validSpecArb } from "../helpers/arbitraries.js";
import { lz, schema } from "./spec-fixtures.js";

/** RFC 6901: does the pointer name an existing member of `doc`? */
function resolves(doc: unknown, pointer: string): boolean {
  if (pointer === "") return true;
  let node = doc;
  for (const raw of pointer.slice(1).split("/")) {
    const key = raw.replace(/~1/g, "/").replace(/~0/g, "~");
    if (node === null || typeof node !== "object" || !Object.hasOwn(node, key)) return false;
    node = (node as Record<string, unknown>)[key];
  }
  return true;
}

const parentOf = (pointer: string) => pointer.slice(0, Math.max(0, pointer.lastIndexOf("/")));

describe("validSpecArb", () => {
  it("only generates specs the schema accepts", () => {
    fc.assert(
      fc.property(validSpecArb(lz), (body) => {
        const result = schema.safeParse(body);
        if (!result.success) expect.fail(JSON.stringify(zodIssuesToFieldErrors(result.error.issues)));
      }),
      { numRuns: 300 },
    );
  });

  it("parses to a fixed point with a stable hash", () => {
    fc.assert(
      fc.property(validSpecArb(lz), (body) => {
        const once = schema.parse(body);
        const twice = schema.parse(JSON.parse(JSON.stringify(once)));
        expect(twice).toEqual(once);
        expect(specHash(twice)).toBe(specHash(once));
      }),
      { numRuns: 100 },
    );
  });
});

describe("mutatedBodyArb", () => {
  it("never makes the schema or the error mapping throw, and every error points into the body", () => {
    fc.assert(
      fc.property(mutatedBodyArb(lz), (body) => {
        // What the HTTP layer sees: the body after a JSON round trip (own __proto__ keys included).
        for (const candidate of [body, JSON.parse(JSON.stringify(body)) as unknown]) {
          const result = schema.safeParse(candidate);
          if (result.success) {
            expect(specHash(result.data)).toMatch(/^[0-9a-f]{64}$/);
            continue;
          }
          const errors = zodIssuesToFieldErrors(result.error.issues);
          expect(errors.length).toBeGreaterThan(0);
          for (const e of errors) {
            expect(e.message.length).toBeGreaterThan(0);
            expect(resolves(candidate, parentOf(e.path)), `${e.path}: ${e.message}`).toBe(true);
          }
        }
        expect(({} as Record<string, unknown>).isAdmin).toBeUndefined();
      }),
      { numRuns: 1000 },
    );
  });
});
