import { createHash } from "node:crypto";
import { afterAll, beforeAll, describe, expect, test, vi } from "vitest";
import { parseApiKeyToken } from "../../src/auth/api-key-token.js";
import {
  authenticateApiKey,
  createApiKey,
  getApiKey,
  listApiKeys,
  revokeApiKey,
  type CreateApiKeyArgs,
} from "../../src/auth/api-keys.js";
import { AppError } from "../../src/errors.js";
import type { Db, Queryable } from "../../src/store/db.js";
import { migrate } from "../../src/store/migrate.js";
import { openPostgres } from "../../src/store/postgres.js";
import { createTestDb } from "../helpers/db.js";
import { startPostgresCluster } from "../helpers/postgres-cluster.js";

// Pass-through spy: proves both lookup paths compare in constant time on equal-length buffers.
vi.mock("node:crypto", async (importOriginal) => {
  const crypto = await importOriginal<typeof import("node:crypto")>();
  return { ...crypto, timingSafeEqual: vi.fn(crypto.timingSafeEqual) };
});
const { timingSafeEqual } = await import("node:crypto");

const DAY = 86_400_000;
const T0 = new Date("2030-01-01T00:00:00.000Z");
const at = (ms: number) => ({ now: new Date(T0.getTime() + ms) });

/** Both adapters: bytea, text[] and timestamptz must come back the same from PGlite and from `pg`. */
const cluster = await startPostgresCluster();
afterAll(async () => {
  if ("stop" in cluster) await cluster.stop();
});
const targets = [
  { name: "pglite", skipped: undefined, open: (): Promise<Db> => createTestDb() },
  {
    name: "postgres",
    skipped: "skipped" in cluster ? cluster.skipped : undefined,
    open: async (): Promise<Db> => {
      if (!("url" in cluster)) throw new Error("no cluster");
      const pgDb = await openPostgres({ connectionString: cluster.url, max: 2 });
      await migrate(pgDb);
      return pgDb;
    },
  },
];
if ("skipped" in cluster) console.warn(`[test/auth] PostgreSQL runs skipped: ${cluster.skipped}`);

/** The target of the describe block running now (blocks run one after the other). */
let db: Db;

const create = (overrides: Partial<CreateApiKeyArgs> = {}) =>
  createApiKey(db, { name: "ci", role: "operator", teams: ["payments"], maxExpiresInDays: 365, createdBy: "test", now: T0, ...overrides });

/** Records every statement, to count reads and writes. */
function recording(q: Queryable): { q: Queryable; sql: string[] } {
  const sql: string[] = [];
  return { sql, q: { query: (text, params) => (sql.push(text.trim().split(/\s+/)[0]!.toUpperCase()), q.query(text, params)) } };
}

describe.each(targets)("API keys on $name", (target) => {
  beforeAll(async () => {
    if (target.skipped === undefined) db = await target.open();
  });
  afterAll(async () => {
    if (target.skipped === undefined) await db.close();
  });
  describe.skipIf(target.skipped !== undefined)(target.skipped ?? "runs", () => {
    test("a created key authenticates as its principal; the secret is shown once in the sbk_<prefix>_<secret> form", async () => {
      const { key, secret } = await create({ name: "deploy-bot", role: "approver", teams: ["payments", "risk"] });
      expect(secret).toMatch(/^sbk_[0-9a-f]{12}_[A-Za-z0-9_-]{43}$/);
      expect(parseApiKeyToken(secret)?.prefix).toBe(key.prefix);
      expect(Buffer.from(secret.slice(-43), "base64url")).toHaveLength(32);
      expect(key).toEqual({
        id: expect.stringMatching(/^[0-9a-f-]{36}$/),
        prefix: key.prefix,
        name: "deploy-bot",
        role: "approver",
        teams: ["payments", "risk"],
        createdBy: "test",
        createdAt: T0.toISOString(),
        expiresAt: new Date(T0.getTime() + 90 * DAY).toISOString(),
        revokedAt: null,
        revokedBy: null,
        lastUsedAt: null,
      });
      expect(await authenticateApiKey(db, secret, at(1000))).toEqual({
        ok: true,
        principal: { kind: "apikey", id: key.id, name: "deploy-bot", role: "approver", teams: ["payments", "risk"] },
      });
    });

    test("two keys never share a prefix or a secret", async () => {
      const a = await create();
      const b = await create();
      expect(a.key.prefix).not.toBe(b.key.prefix);
      expect(a.secret.slice(17)).not.toBe(b.secret.slice(17));
    });

    test("a wrong secret is indistinguishable from an unknown prefix, and both paths compare in constant time", async () => {
      const { key, secret } = await create();
      const wrongSecret = `sbk_${key.prefix}_${"A".repeat(43)}`;
      const unknownPrefix = `sbk_${key.prefix === "000000000000" ? "111111111111" : "000000000000"}${secret.slice(16)}`;
      for (const presented of [wrongSecret, unknownPrefix]) {
        const spy = vi.mocked(timingSafeEqual);
        spy.mockClear();
        const { q, sql } = recording(db);
        expect(await authenticateApiKey(q, presented, at(1000))).toEqual({ ok: false, reason: "unknown" });
        expect(sql).toEqual(["SELECT"]);
        expect(spy).toHaveBeenCalledTimes(1);
        const [a, b] = spy.mock.calls[0]! as [Buffer, Buffer];
        expect([a.length, b.length]).toEqual([32, 32]);
      }
    });

    test.each([
      ["empty", ""],
      ["a JWT", "eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJ4In0.c2ln"],
      ["the scheme only", "sbk_"],
      ["a Bearer header value", "Bearer sbk_0123456789ab_" + "A".repeat(43)],
      ["an upper-case prefix", "sbk_0123456789AB_" + "A".repeat(43)],
      ["a short secret", "sbk_0123456789ab_" + "A".repeat(42)],
      ["a long secret", "sbk_0123456789ab_" + "A".repeat(44)],
      ["a padded secret", "sbk_0123456789ab_" + "A".repeat(42) + "="],
      ["trailing whitespace", "sbk_0123456789ab_" + "A".repeat(43) + "\n"],
    ])("%s is malformed, without a database read", async (_, presented) => {
      const { q, sql } = recording(db);
      expect(await authenticateApiKey(q, presented)).toEqual({ ok: false, reason: "malformed" });
      expect(sql).toEqual([]);
    });

    test("a key stops authenticating at its expiry instant", async () => {
      const { key, secret } = await create({ expiresInDays: 1 });
      expect((await authenticateApiKey(db, secret, at(DAY - 1))).ok).toBe(true);
      expect(await authenticateApiKey(db, secret, at(DAY))).toEqual({ ok: false, reason: "expired", keyId: key.id });
    });

    test("a revoked key is refused from then on; revoking is idempotent and keeps the first revocation", async () => {
      const { key, secret } = await create();
      expect(await revokeApiKey(db, key.id, "alice", at(10))).toMatchObject({
        alreadyRevoked: false,
        key: { id: key.id, revokedBy: "alice", revokedAt: new Date(T0.getTime() + 10).toISOString() },
      });
      expect(await authenticateApiKey(db, secret, at(20))).toEqual({ ok: false, reason: "revoked", keyId: key.id });
      // Revoked wins over expired: it is the more deliberate fact.
      expect(await authenticateApiKey(db, secret, at(400 * DAY))).toEqual({ ok: false, reason: "revoked", keyId: key.id });
      expect(await revokeApiKey(db, key.id, "bob", at(30))).toMatchObject({ alreadyRevoked: true, key: { revokedBy: "alice" } });
    });

    test("revoking or getting a key that does not exist answers undefined, whatever the id looks like", async () => {
      for (const id of ["6a1f0f0e-0000-4000-8000-000000000000", "not-a-uuid", "", "'; DROP TABLE api_keys; --"]) {
        expect(await revokeApiKey(db, id, "alice")).toBeUndefined();
        expect(await getApiKey(db, id)).toBeUndefined();
      }
    });

    test("expiry: 90 days by default, the configured maximum when lower, refused above it", async () => {
      const days = async (args: Partial<CreateApiKeyArgs>) => {
        const { key } = await create(args);
        return (Date.parse(key.expiresAt) - Date.parse(key.createdAt)) / DAY;
      };
      expect(await days({})).toBe(90);
      expect(await days({ maxExpiresInDays: 30 })).toBe(30);
      expect(await days({ expiresInDays: 365, maxExpiresInDays: 365 })).toBe(365);
      expect(await days({ expiresInDays: 1 })).toBe(1);

      const refused = await create({ expiresInDays: 366, maxExpiresInDays: 365 }).catch((e: unknown) => e);
      expect(refused).toBeInstanceOf(AppError);
      expect(refused).toMatchObject({
        code: "VALIDATION_FAILED",
        errors: [{ path: "/expiresInDays", message: "must be at most 365 days (the configured maximum)" }],
      });
      for (const expiresInDays of [0, -1, 1.5, Number.NaN, 4000]) {
        await expect(create({ expiresInDays })).rejects.toMatchObject({ code: "VALIDATION_FAILED", errors: [{ path: "/expiresInDays" }] });
      }
      await expect(create({ maxExpiresInDays: 0 })).rejects.toThrow(/maxExpiresInDays/);
    });

    test("name, role and teams are validated, each problem at its field", async () => {
      const err = (await create({ name: "", role: "root" as never, teams: ["payments", "Bad Team", "payments"] }).catch((e: unknown) => e)) as AppError;
      expect(err).toBeInstanceOf(AppError);
      expect(err.errors?.map((e) => e.path).sort()).toEqual(["/name", "/role", "/teams/1", "/teams/2"]);
      expect(err.message).not.toContain("\n");
    });

    test("only the hash is stored: the secret is in no column, in no encoding", async () => {
      const { key, secret } = await create({ name: "canary" });
      const secretPart = secret.slice("sbk_".length + 13);
      const needles = [secret, secretPart, Buffer.from(secretPart, "base64url").toString("hex"), Buffer.from(secretPart, "base64url").toString("base64")];
      const columns = await db.query<{ column_name: string }>(
        "SELECT column_name FROM information_schema.columns WHERE table_name = 'api_keys' ORDER BY ordinal_position",
      );
      expect(columns.length).toBeGreaterThanOrEqual(12);
      for (const { column_name } of columns) {
        const [row] = await db.query<{ v: string | null }>(`SELECT "${column_name}"::text AS v FROM api_keys WHERE id = $1`, [key.id]);
        for (const needle of needles) expect(row?.v ?? "", column_name).not.toContain(needle);
      }
      const [stored] = await db.query<{ hash: string }>("SELECT encode(secret_hash, 'hex') AS hash FROM api_keys WHERE id = $1", [key.id]);
      expect(stored?.hash).toBe(createHash("sha256").update(secret).digest("hex"));
      // …and never leaves the store module.
      const returned = JSON.stringify([key, await getApiKey(db, key.id), await listApiKeys(db), await revokeApiKey(db, key.id, "t")]);
      expect(returned).not.toContain(stored!.hash);
      expect(returned).not.toMatch(/hash/i);
    });

    test("last_used_at is written on first use, then at most once a minute", async () => {
      const { key, secret } = await create();
      const { q, sql } = recording(db);
      for (const ms of [1_000, 2_000, 30_000, 60_999]) expect((await authenticateApiKey(q, secret, at(ms))).ok).toBe(true);
      expect(sql.filter((s) => s === "UPDATE")).toHaveLength(1);
      expect((await getApiKey(db, key.id))?.lastUsedAt).toBe(at(1_000).now.toISOString());

      expect((await authenticateApiKey(q, secret, at(61_000))).ok).toBe(true);
      expect(sql.filter((s) => s === "UPDATE")).toHaveLength(2);
      expect((await getApiKey(db, key.id))?.lastUsedAt).toBe(at(61_000).now.toISOString());
    });

    test("failed attempts do not touch last_used_at", async () => {
      const { key, secret } = await create({ expiresInDays: 1 });
      await authenticateApiKey(db, secret, at(2 * DAY));
      await authenticateApiKey(db, `${secret.slice(0, -1)}${secret.endsWith("A") ? "B" : "A"}`, at(1000));
      expect((await getApiKey(db, key.id))?.lastUsedAt).toBeNull();
    });

    test("list and get return the same keys, oldest first, without secrets", async () => {
      const first = await create({ name: "first", now: new Date(T0.getTime() - 2 * DAY) });
      const second = await create({ name: "second", now: new Date(T0.getTime() - DAY) });
      const all = await listApiKeys(db);
      const ids = all.map((k) => k.id);
      expect(ids.indexOf(first.key.id)).toBeLessThan(ids.indexOf(second.key.id));
      expect(await getApiKey(db, second.key.id)).toEqual(all.find((k) => k.id === second.key.id));
      expect(JSON.stringify(all)).not.toContain(first.secret.slice(17));
    });

    test("the table enforces what the code promises", async () => {
      const { key } = await create();
      const insert = (over: Record<string, unknown>) => {
        const row = { id: "7b5e6a5c-1d1e-4c3b-9a7e-000000000001", prefix: "abcdefabcdef", secret_hash: Buffer.alloc(32), name: "x", role: "viewer", created_by: "t", created_at: T0, expires_at: new Date(T0.getTime() + DAY), ...over };
        const cols = Object.keys(row);
        return db.query(`INSERT INTO api_keys (${cols.join(", ")}) VALUES (${cols.map((_, i) => `$${i + 1}`).join(", ")})`, Object.values(row));
      };
      await expect(insert({ prefix: key.prefix })).rejects.toMatchObject({ code: "23505" });
      await expect(insert({ role: "root" })).rejects.toThrow(/api_keys_role/);
      await expect(insert({ expires_at: T0 })).rejects.toThrow(/api_keys_expires_after_creation/);
      await expect(insert({ prefix: "ABCDEFABCDEF" })).rejects.toThrow(/api_keys_prefix_format/);
      await expect(insert({ secret_hash: Buffer.alloc(16) })).rejects.toThrow(/api_keys_secret_hash_length/);
      await expect(insert({ revoked_at: T0 })).rejects.toThrow(/api_keys_revocation_complete/);
    });
  });
});
