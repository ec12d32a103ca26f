import { mkdtemp, readdir, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { Db } from "../../src/store/db.js";
import { migrate } from "../../src/store/migrate.js";
import { openDb } from "../../src/store/open.js";
import { describeTarget, openPostgres } from "../../src/store/postgres.js";
import { createScratchDatabase, startPostgresCluster } from "../helpers/postgres-cluster.js";
import { CLAIM_SQL, deferred, insertOperation, insertProvider, within } from "./seed.js";

describe("describeTarget", () => {
  it.each([
    ["postgres://app:s3cret@db.internal:6543/bridge?sslmode=require&sslpassword=x", "app@db.internal:6543/bridge"],
    ["postgresql://app@/bridge?host=/var/run/postgresql", "app@/var/run/postgresql:5432/bridge"],
    ["postgresql://db.internal/bridge?user=app&password=s3cret", "app@db.internal:5432/bridge"],
    ["host=db password=s3cret", "connection string is not a URL"],
  ])("%s → %s", (url, expected) => {
    expect(describeTarget(url)).toBe(expected);
  });
});

const cluster = await startPostgresCluster();
afterAll(async () => {
  if ("stop" in cluster) await cluster.stop();
});
if ("skipped" in cluster) console.warn(`[test/store] PostgreSQL adapter tests skipped: ${cluster.skipped}`);
const url = "url" in cluster ? cluster.url : "";

describe.skipIf("skipped" in cluster)("PostgreSQL adapter", () => {
  const opened: Db[] = [];
  const errors: unknown[] = [];
  const open = async (connectionString = url, max = 2): Promise<Db> => {
    const db = await openPostgres({ connectionString, max, onError: (err) => errors.push(err) });
    opened.push(db);
    return db;
  };
  let db: Db;
  beforeAll(async () => {
    db = await open(url, 4);
    await migrate(db);
  });
  afterAll(async () => {
    await Promise.all(opened.map((d) => d.close()));
  });

  it("migrates an empty database exactly once when two replicas start at the same moment", async () => {
    const scratch = await createScratchDatabase(url);
    try {
      const [a, b] = [await open(scratch.url), await open(scratch.url)];
      const [fromA, fromB] = await Promise.all([migrate(a), migrate(b)]);
      const files = (await readdir(new URL("../../src/store/migrations/", import.meta.url))).filter((f) => f.endsWith(".sql"));
      expect([...fromA, ...fromB].sort()).toEqual(files.map((f) => f.slice(0, -".sql".length)).sort());
      expect(await a.query("SELECT count(*) AS n FROM schema_migrations")).toEqual([{ n: files.length }]);
      await Promise.all([a.close(), b.close()]);
    } finally {
      await scratch.stop();
    }
  });

  it("skips a row another transaction holds: FOR UPDATE SKIP LOCKED across two connections", async () => {
    const other = await open();
    const providers = [await insertProvider(db), await insertProvider(db)];
    const first = await insertOperation(db, providers[0] ?? "", "queued");
    const second = await insertOperation(db, providers[1] ?? "", "queued");
    const claimed = deferred<string | undefined>();
    const release = deferred();
    const holder = db.transaction(async (tx) => {
      claimed.resolve((await tx.query<{ id: string }>(CLAIM_SQL, [providers]))[0]?.id);
      await release.promise; // keep the row lock while the other connection claims
    });
    expect(await claimed.promise).toBe(first);
    const competitor = await within(
      other.transaction(async (tx) => (await tx.query<{ id: string }>(CLAIM_SQL, [providers]))[0]?.id),
      5_000,
      "the competing claim (it must skip the locked row, not wait for it)",
    );
    release.resolve();
    await holder;
    expect(competitor).toBe(second);
  });

  it("never puts credentials in the description", async () => {
    const withPassword = url.replace("postgres@", "postgres:s3cret-pw@"); // trust auth ignores it
    const described = await open(withPassword);
    expect(described.description).toMatch(/^PostgreSQL 1\d\.\d+ \(postgres@\/.+:5432\/\w+, pool max 2\)$/);
    expect(described.description).not.toContain("s3cret-pw");
  });

  it("returns a client to the pool after a failed transaction (pool of one)", async () => {
    const single = await open(url, 1);
    await expect(single.transaction(async () => Promise.reject(new Error("boom")))).rejects.toThrow("boom");
    await expect(single.transaction((tx) => tx.query("SELECT 1/0"))).rejects.toMatchObject({ code: "22012" });
    expect(await within(single.query("SELECT 1 AS ok"), 5_000, "a pooled client")).toEqual([{ ok: 1 }]);
  });

  it("reports, without crashing, a LISTEN connection or idle pool client that the server kills", async () => {
    const scratch = await createScratchDatabase(url);
    try {
      const victim = await open(scratch.url);
      await victim.query("SELECT 1"); // leaves an idle pooled client
      await victim.listen("victim_channel", () => undefined);
      const before = errors.length;
      const [{ database } = { database: "" }] = [{ database: scratch.url.split("/").at(-1)?.split("?")[0] ?? "" }];
      await db.query("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = $1", [database]);
      await within(
        (async () => {
          while (errors.length < before + 3) await new Promise((resolve) => setTimeout(resolve, 20));
        })(),
        5_000,
        "the error reports",
      );
      const reported = errors.slice(before).map((e) => String(e));
      expect(reported).toContainEqual(expect.stringContaining("terminating connection due to administrator command"));
      expect(reported).toContainEqual(expect.stringContaining("LISTEN connection ended"));
      expect(await victim.query("SELECT 2 AS ok")).toEqual([{ ok: 2 }]); // the pool replaces the client
      await victim.close();
    } finally {
      await scratch.stop();
    }
  });

  it("fails to open, without leaking, when the server is unreachable", async () => {
    await expect(openPostgres({ connectionString: "postgresql://postgres@/postgres?host=/nonexistent-dir" })).rejects.toThrow();
  });

  it("openDb uses DATABASE_URL when set and migrates it", async () => {
    const scratch = await createScratchDatabase(url);
    const dataDir = await mkdtemp(join(tmpdir(), "saas-bridge-store-"));
    try {
      const opened = await openDb({ databaseUrl: scratch.url, dataDir });
      expect(opened.kind).toBe("postgres");
      expect(await opened.query("SELECT count(*) AS n FROM providers")).toEqual([{ n: 0 }]);
      await opened.close();
      expect(await readdir(dataDir)).toEqual([]);
    } finally {
      await rm(dataDir, { recursive: true, force: true });
      await scratch.stop();
    }
  });
});
