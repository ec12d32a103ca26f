import { mkdtemp, readdir, rm, writeFile } from "node:fs/promises";
import { hostname, tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { lockDataDir } from "../../src/store/data-dir-lock.js";
import { migrate } from "../../src/store/migrate.js";
import { openDb } from "../../src/store/open.js";
import { createTestDb } from "../helpers/db.js";
import { deferred, insertProvider } from "./seed.js";

const tempDirs: string[] = [];
afterAll(async () => {
  await Promise.all(tempDirs.map((d) => rm(d, { recursive: true, force: true })));
});

describe("PGlite adapter: one connection", () => {
  it("makes a query issued during an open transaction wait for it instead of joining it", async () => {
    const db = await createTestDb();
    try {
      const inserted = deferred();
      const finish = deferred();
      const tx = db.transaction(async (t) => {
        const name = await insertProvider(t);
        inserted.resolve();
        await finish.promise;
        return name;
      });
      await inserted.promise;
      let settled = false;
      const outside = db.query<{ n: number }>("SELECT count(*) AS n FROM providers").finally(() => {
        settled = true;
      });
      await new Promise((resolve) => setTimeout(resolve, 150));
      expect(settled).toBe(false); // joining the transaction would have answered at once, with 1
      finish.resolve();
      await tx;
      expect(await outside).toEqual([{ n: 1 }]); // ran after COMMIT
    } finally {
      await db.close();
    }
  });

  it("fails fast instead of deadlocking when db.* is called inside db.transaction()", async () => {
    const db = await createTestDb();
    try {
      await expect(db.transaction(() => db.query("SELECT 1"))).rejects.toThrow(/use the tx argument/);
      await expect(db.transaction(() => db.transaction(async () => 1))).rejects.toThrow(/use the tx argument/);
      await expect(db.transaction(() => db.listen("c", () => undefined))).rejects.toThrow(/use the tx argument/);
      expect(await db.query("SELECT 1 AS ok")).toEqual([{ ok: 1 }]);
    } finally {
      await db.close();
    }
  });

  it("gives each test database its own copy of the migrated image", async () => {
    const [a, b] = await Promise.all([createTestDb(), createTestDb()]);
    try {
      const name = await insertProvider(a);
      expect(await a.query("SELECT name FROM providers")).toEqual([{ name }]);
      expect(await b.query("SELECT name FROM providers")).toEqual([]);
      expect(await migrate(b)).toEqual([]);
    } finally {
      await Promise.all([a.close(), b.close()]);
    }
  });
});

describe("openDb without DATABASE_URL", () => {
  it("persists PGlite in <dataDir>/pglite across close and reopen, migrating only once", async () => {
    const dataDir = await mkdtemp(join(tmpdir(), "saas-bridge-store-"));
    tempDirs.push(dataDir);

    const first = await openDb({ dataDir });
    let name: string;
    try {
      expect(first.kind).toBe("pglite");
      expect(first.description).toContain(join(dataDir, "pglite"));
      expect(first.description).toContain("not crash-durable");
      name = await insertProvider(first);
      await expect(openDb({ dataDir })).rejects.toThrow(/already open in this process/);
    } finally {
      await first.close();
    }
    expect(await readdir(dataDir)).toEqual(["pglite"]);

    const second = await openDb({ dataDir });
    try {
      expect(await second.query("SELECT name FROM providers")).toEqual([{ name }]);
      const versions = await second.query<{ n: number }>("SELECT count(*) AS n FROM schema_migrations");
      const files = (await readdir(new URL("../../src/store/migrations/", import.meta.url))).filter((f) => f.endsWith(".sql"));
      expect(versions).toEqual([{ n: files.length }]);
      expect(await migrate(second)).toEqual([]);
    } finally {
      await second.close();
    }
  });
});

describe("data dir lock (PGlite has no multi-process guard of its own)", () => {
  const freshDir = async (): Promise<string> => {
    const dir = await mkdtemp(join(tmpdir(), "saas-bridge-lock-"));
    tempDirs.push(dir);
    return join(dir, "pglite");
  };

  it("refuses a data dir held by another live process, and says what to do", async () => {
    const dataDir = await freshDir();
    await writeFile(`${dataDir}.lock`, `${process.ppid}@${hostname()}`);
    await expect(lockDataDir(dataDir)).rejects.toThrow(/in use by process .*DATABASE_URL/);
  });

  it("takes over the lock of a process that is gone, and releases it", async () => {
    const dataDir = await freshDir();
    await writeFile(`${dataDir}.lock`, `2147483646@${hostname()}`);
    const lock = await lockDataDir(dataDir);
    await expect(lockDataDir(dataDir)).rejects.toThrow(/already open in this process/);
    await lock.release();
    await (await lockDataDir(dataDir)).release();
    expect(await readdir(join(dataDir, ".."))).toEqual([]);
  });
});
