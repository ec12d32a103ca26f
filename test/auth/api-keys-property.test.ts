import fc from "fast-check";
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { parseApiKeyToken } from "../../src/auth/api-key-token.js";
import { authenticateApiKey, createApiKey, revokeApiKey } from "../../src/auth/api-keys.js";
import type { PgliteDb } from "../../src/store/pglite.js";
import { createTestDb } from "../helpers/db.js";

/** Whatever is presented: no exception, and only the exact string of a live key authenticates. */
let db: PgliteDb;
let keys: { secret: string; id: string }[];
let revoked: string;

beforeAll(async () => {
  db = await createTestDb();
  const make = async (name: string) => {
    const { key, secret } = await createApiKey(db, { name, role: "viewer", teams: [], maxExpiresInDays: 90, createdBy: "test" });
    return { secret, id: key.id };
  };
  keys = [await make("a"), await make("b")];
  const gone = await make("gone");
  await revokeApiKey(db, gone.id, "test");
  revoked = gone.secret;
});
afterAll(async () => {
  await db.close();
});

const KEY_CHARS = [..."abcdef0123456789ABCDEFxyzXYZ_-=+/. \n\u0000é😀"];

/** Near misses of a real key: one edit, a truncation, a swapped half, a case change, surrounding noise. */
const nearMiss = (key: () => string, other: () => string) =>
  fc.oneof(
    fc.tuple(fc.nat(), fc.constantFrom(...KEY_CHARS)).map(([i, c]) => {
      const k = key();
      const at = i % k.length;
      return k.slice(0, at) + c + k.slice(at + 1);
    }),
    fc.tuple(fc.nat(), fc.constantFrom(...KEY_CHARS)).map(([i, c]) => {
      const k = key();
      const at = i % (k.length + 1);
      return k.slice(0, at) + c + k.slice(at);
    }),
    fc.nat().map((i) => key().slice(0, i % key().length)),
    fc.nat().map((i) => {
      const k = key();
      const at = i % k.length;
      return k.slice(0, at) + k.slice(at + 1);
    }),
    fc.constant(null).map(() => other().slice(0, 17) + key().slice(17)),
    fc.constant(null).map(() => key().toUpperCase()),
    fc.tuple(fc.string({ maxLength: 3 }), fc.string({ maxLength: 3 })).map(([a, b]) => a + key() + b),
  );

const presented = fc.oneof(
  fc.string(),
  fc.string({ unit: "binary", maxLength: 80 }),
  fc.stringMatching(/^sbk_[0-9a-f]{12}_[A-Za-z0-9_-]{43}$/),
  nearMiss(() => keys[0]!.secret, () => keys[1]!.secret),
  nearMiss(() => revoked, () => keys[0]!.secret),
  fc.constant(null).map(() => keys[0]!.secret),
  fc.constant(null).map(() => keys[1]!.secret),
);

describe("authenticateApiKey, any input", () => {
  test("never throws; only a live key's exact string authenticates, as that key", async () => {
    let authenticated = 0;
    await fc.assert(
      fc.asyncProperty(presented, async (s) => {
        const result = await authenticateApiKey(db, s);
        const exact = keys.find((k) => k.secret === s);
        if (exact !== undefined) {
          authenticated++;
          expect(result).toMatchObject({ ok: true, principal: { id: exact.id } });
        } else if (s === revoked) {
          expect(result).toMatchObject({ ok: false, reason: "revoked" });
        } else {
          expect(result.ok).toBe(false);
          expect(result).toHaveProperty("reason", parseApiKeyToken(s) === undefined ? "malformed" : "unknown");
        }
      }),
      { numRuns: 600 },
    );
    // The generator does reach the success branch (else the property says little).
    expect(authenticated).toBeGreaterThan(0);
  });

  test("the parser rejects every non-string and never throws", () => {
    fc.assert(fc.property(fc.anything(), (v) => typeof v === "string" || parseApiKeyToken(v) === undefined));
  });
});
