import { readdirSync, readFileSync } from "node:fs";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { isUniqueViolation, type Db } from "../../src/store/db.js";
import { migrate } from "../../src/store/migrate.js";
import { openPgliteThread } from "../../src/store/pglite-thread.js";
import { openPostgres } from "../../src/store/postgres.js";
import { createTestDb } from "../helpers/db.js";
import { startPostgresCluster } from "../helpers/postgres-cluster.js";
import { CLAIM_SQL, deferred, insertEvent, insertOperation, insertProvider, within } from "./seed.js";

/**
 * One contract, every adapter: whatever passes on PGlite in tests must hold on PostgreSQL in production,
 * and on PGlite run in a worker thread.
 */
const cluster = await startPostgresCluster();
afterAll(async () => {
  if ("stop" in cluster) await cluster.stop();
});
if ("skipped" in cluster) console.warn(`[test/store] PostgreSQL contract tests skipped: ${cluster.skipped}`);

const MIGRATIONS = readdirSync(new URL("../../src/store/migrations/", import.meta.url))
  .filter((f) => f.endsWith(".sql"))
  .map((f) => f.slice(0, -".sql".length))
  .sort();
const TABLES = ["idempotency_keys", "operation_events", "operations", "providers", "schema_migrations", "simulated_resources"];

interface Target {
  name: "pglite" | "pglite-thread" | "postgres";
  kind: Db["kind"];
  skipped: string | undefined;
  /** `db` under test and `other`, a second connection where the adapter has more than one. */
  open(onError: (err: unknown) => void): Promise<{ db: Db; other: Db }>;
}

const targets: Target[] = [
  {
    name: "pglite",
    kind: "pglite",
    skipped: undefined,
    async open(onError) {
      const db = await createTestDb({ onError });
      return { db, other: db };
    },
  },
  {
    name: "pglite-thread",
    kind: "pglite",
    skipped: undefined,
    async open(onError) {
      // The same migrated golden image, copied out of a test database.
      const seed = await createTestDb();
      const image = await seed.dumpDataDir().finally(() => seed.close());
      const db = await openPgliteThread({ onError, loadDataDir: image });
      return { db, other: db };
    },
  },
  {
    name: "postgres",
    kind: "postgres",
    skipped: "skipped" in cluster ? cluster.skipped : undefined,
    async open(onError) {
      if (!("url" in cluster)) throw new Error("no cluster");
      const db = await openPostgres({ connectionString: cluster.url, max: 4, onError });
      await migrate(db);
      return { db, other: await openPostgres({ connectionString: cluster.url, max: 2, onError }) };
    },
  },
];

describe.each(targets)("store contract: $name", (target) => {
  describe.skipIf(target.skipped !== undefined)(target.skipped ?? "runs", () => {
    let db: Db;
    let other: Db;
    const backgroundErrors: unknown[] = [];

    beforeAll(async () => {
      ({ db, other } = await target.open((err) => backgroundErrors.push(err)));
    });
    afterAll(async () => {
      if (other !== db) await other?.close();
      await db?.close();
    });

    it("reports its kind and a description", () => {
      expect(db.kind).toBe(target.kind);
      expect(db.description).toMatch(target.kind === "pglite" ? /^PGlite .*fsync off/ : /^PostgreSQL \d+/);
    });

    it("applies each migration once: a second run applies nothing, and every table exists", async () => {
      expect(await migrate(db)).toEqual([]);
      const versions = await db.query<{ version: string }>("SELECT version FROM schema_migrations ORDER BY version");
      expect(versions.map((r) => r.version)).toEqual(MIGRATIONS);
      const tables = await db.query<{ table_name: string }>(
        "SELECT table_name FROM information_schema.tables WHERE table_schema = 'public' ORDER BY table_name",
      );
      expect(tables.map((r) => r.table_name)).toEqual(expect.arrayContaining(TABLES));
    });

    it("the decommission CHECK constraints on operations exist, are validated and hold (migrations 010, 011)", async () => {
      const rows = await db.query<{ conname: string; convalidated: boolean }>(
        `SELECT conname, convalidated FROM pg_constraint
          WHERE conrelid = 'operations'::regclass AND conname LIKE 'operations_key_disposition%' ORDER BY conname`,
      );
      expect(rows).toEqual([
        { conname: "operations_key_disposition_check", convalidated: true },
        { conname: "operations_key_disposition_decommission_only", convalidated: true },
      ]);
    });

    it("commits a transaction that resolves and returns its value", async () => {
      const name = await db.transaction((tx) => insertProvider(tx));
      expect(await db.query("SELECT name FROM providers WHERE name = $1", [name])).toEqual([{ name }]);
    });

    it("rolls back a transaction that throws: no rows remain", async () => {
      let name = "";
      await expect(
        db.transaction(async (tx) => {
          name = await insertProvider(tx);
          await insertOperation(tx, name, "queued");
          throw new Error("boom");
        }),
      ).rejects.toThrow("boom");
      expect(await db.query("SELECT 1 FROM providers WHERE name = $1", [name])).toEqual([]);
      expect(await db.query("SELECT 1 FROM operations WHERE provider = $1", [name])).toEqual([]);
    });

    it("refuses to commit a transaction whose statement failed, even if the error was swallowed", async () => {
      const name = `p-aborted-${target.name}`;
      await expect(
        db.transaction(async (tx) => {
          await insertProvider(tx, name);
          await tx.query("SELECT 1/0").catch(() => undefined);
        }),
      ).rejects.toMatchObject({ code: "25P02" });
      expect(await db.query("SELECT 1 FROM providers WHERE name = $1", [name])).toEqual([]);
    });

    it("keeps an open transaction's writes invisible to a concurrent query outside it", async () => {
      const inserted = deferred();
      const finish = deferred();
      const name = `p-isolated-${target.name}`;
      const tx = db.transaction(async (t) => {
        await insertProvider(t, name);
        inserted.resolve();
        await finish.promise;
        throw new Error("roll back");
      });
      await inserted.promise;
      const outside = db.query<{ n: number }>("SELECT count(*) AS n FROM providers WHERE name = $1", [name]);
      finish.resolve();
      await expect(tx).rejects.toThrow("roll back");
      expect(await outside).toEqual([{ n: 0 }]);
    });

    it("allows one running operation per provider, many queued, and running on different providers", async () => {
      const a = await insertProvider(db);
      const b = await insertProvider(db);
      await insertOperation(db, a, "queued");
      await insertOperation(db, a, "queued");
      await insertOperation(db, a, "running");
      await insertOperation(db, b, "running");
      const err = await insertOperation(db, a, "running").catch((e: unknown) => e);
      expect(isUniqueViolation(err, "operations_one_running_per_provider")).toBe(true);
      const rows = await db.query("SELECT status, count(*) AS n FROM operations WHERE provider = $1 GROUP BY status ORDER BY status", [a]);
      expect(rows).toEqual([
        { status: "queued", n: 2 },
        { status: "running", n: 1 },
      ]);
    });

    it("rejects a duplicate (operation_id, seq) event as a unique violation, and only that", async () => {
      const op = await insertOperation(db, await insertProvider(db), "running");
      await insertEvent(db, op, 1);
      const duplicate = await insertEvent(db, op, 1).catch((e: unknown) => e);
      expect(isUniqueViolation(duplicate)).toBe(true);
      expect(isUniqueViolation(duplicate, "operation_events_pkey")).toBe(true);
      expect(isUniqueViolation(duplicate, "some_other_constraint")).toBe(false);
      const orphan = await insertEvent(db, "00000000-0000-4000-8000-000000000000", 1).catch((e: unknown) => e);
      expect(orphan).toMatchObject({ code: "23503" });
      expect(isUniqueViolation(orphan)).toBe(false);
    });

    it("claims queued operations oldest first, each at most once, also when claims run concurrently", async () => {
      const providers = [await insertProvider(db), await insertProvider(db), await insertProvider(db)];
      const ids: string[] = [];
      for (const p of providers) ids.push(await insertOperation(db, p, "queued"));
      const claim = (): Promise<string | undefined> =>
        db.transaction(async (tx) => (await tx.query<{ id: string }>(CLAIM_SQL, [providers]))[0]?.id);
      expect(await claim()).toBe(ids[0]);
      const [x, y] = await Promise.all([claim(), claim()]);
      expect([x, y].sort()).toEqual([ids[1], ids[2]].sort());
      expect(await claim()).toBeUndefined();
    });

    it("delivers pg_notify from another connection to listeners of that exact channel, after commit only", async () => {
      const channel = `Ops-${target.name}.Events`; // mixed case and a dot: LISTEN must quote it
      const received: string[] = [];
      const sentinels = new Map([["first", deferred()], ["second", deferred()]]);
      const unlisten = await db.listen(channel, (p) => received.push(p));
      const unlistenSentinel = await db.listen("sentinel", (p) => sentinels.get(p)?.resolve());
      // Delivery is asynchronous, but in commit order on one connection: once a sentinel sent last
      // has arrived, everything committed before it has too.
      const sentinel = async (payload: string): Promise<void> => {
        await other.query("SELECT pg_notify('sentinel', $1)", [payload]);
        await within(sentinels.get(payload)?.promise ?? Promise.resolve(), 5_000, `the ${payload} sentinel`);
      };

      await other.query("SELECT pg_notify($1, $2)", [channel, "plain"]);
      await other.transaction(async (tx) => {
        await tx.query("SELECT pg_notify($1, 'committed')", [channel]);
      });
      await other
        .transaction(async (tx) => {
          await tx.query("SELECT pg_notify($1, 'rolled back')", [channel]);
          throw new Error("abort");
        })
        .catch(() => undefined);
      await other.query("SELECT pg_notify($1, $2)", [channel.toLowerCase(), "other channel"]);
      await sentinel("first");
      await unlisten();
      await other.query("SELECT pg_notify($1, 'after unlisten')", [channel]);
      await sentinel("second");
      await unlistenSentinel();
      expect(received).toEqual(["plain", "committed"]);
    });

    it("keeps a throwing subscriber away from the connection and from other subscribers", async () => {
      const got = deferred<string>();
      const unlistenBad = await db.listen("contract_throw", () => {
        throw new Error("subscriber bug");
      });
      const unlistenGood = await db.listen("contract_throw", (p) => got.resolve(p));
      await other.query("SELECT pg_notify('contract_throw', 'x')");
      expect(await within(got.promise, 5_000, "the notification")).toBe("x");
      expect(backgroundErrors).toContainEqual(new Error("subscriber bug"));
      await Promise.all([unlistenBad(), unlistenGood()]);
      expect(await db.query("SELECT 1 AS ok")).toEqual([{ ok: 1 }]);
    });

    it("rejects channel names that PostgreSQL could never match", async () => {
      await expect(db.listen("x".repeat(64), () => undefined)).rejects.toThrow(/invalid notification channel/);
      await expect(db.listen("", () => undefined)).rejects.toThrow(/invalid notification channel/);
    });

    it("returns the same JavaScript types: int8 as number, jsonb parsed, timestamptz as Date", async () => {
      const op = await insertOperation(db, await insertProvider(db), "queued");
      const [row] = await db.query("SELECT queue_seq, spec, created_at, count(*) OVER () AS n FROM operations WHERE id = $1", [op]);
      expect(typeof row?.["queue_seq"]).toBe("number");
      expect(row?.["n"]).toBe(1);
      expect(row?.["spec"]).toEqual({ provider: expect.any(String) });
      expect(row?.["created_at"]).toBeInstanceOf(Date);
      // jsonb parameters: pass JSON.stringify(value); pg would turn a JS array into a Postgres array.
      expect(await db.query("SELECT $1::jsonb AS j", [JSON.stringify([1, { a: "b" }])])).toEqual([{ j: [1, { a: "b" }] }]);
    });

    it("runs several statements when there are no parameters and returns the last one's rows", async () => {
      expect(await db.query("SELECT 1 AS a; SELECT 2 AS b")).toEqual([{ b: 2 }]);
      await expect(db.query("SELECT $1::int AS a; SELECT 2 AS b", [1])).rejects.toThrow();
    });
  });
});

describe("migrations: a CHECK constraint on operations", () => {
  // A CHECK added in one step holds an ACCESS EXCLUSIVE lock on operations (every request and the runner
  // wait) while it scans the table. NOT VALID adds it without the scan; VALIDATE CONSTRAINT scans under a
  // lock that lets reads and writes go on, and only does so in its own transaction: a later migration
  // (each migration is one transaction, src/store/migrate.ts).
  it("is added NOT VALID (from 010 on, none inline on an added column) and validated by a later migration", () => {
    const dir = new URL("../../src/store/migrations/", import.meta.url);
    const files = MIGRATIONS.filter((v) => v >= "010").map((v) => ({ version: v, sql: readFileSync(new URL(`${v}.sql`, dir), "utf8").replace(/--.*$/gm, "") }));
    for (const { version, sql } of files) {
      expect(sql, version).not.toMatch(/ALTER TABLE operations ADD COLUMN [^;]*CHECK/i);
      for (const [, name, rest] of sql.matchAll(/ALTER TABLE operations\s+ADD CONSTRAINT (\w+)\s+CHECK([^;]*);/gi)) {
        expect(rest, `${version}: ${name}`).toMatch(/NOT VALID\s*$/i);
        const validated = files.some((f) => f.version > version && new RegExp(`VALIDATE CONSTRAINT ${name}\\b`, "i").test(f.sql));
        expect(validated, `${name} (${version}) is validated by a later migration`).toBe(true);
      }
    }
  });
});
