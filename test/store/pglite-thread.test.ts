import { access, mkdir, mkdtemp, readdir, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { isUniqueViolation } from "../../src/store/db.js";
import { isOutOfSpace, storageCause } from "../../src/store/disk-space.js";
import { openPglite, type PgliteDb } from "../../src/store/pglite.js";
import { openPgliteThread, rebuildError, startPgliteThread } from "../../src/store/pglite-thread.js";
import { serializeError } from "../../src/store/pglite-thread-worker.js";
import { DatabaseUnavailableError } from "../../src/store/unavailable.js";
import { createTestDb } from "../helpers/db.js";
import { deferred, insertEvent, insertOperation, insertProvider, within } from "./seed.js";

/** What is specific to the threaded adapter; the shared behaviour is in db-contract.test.ts. */
const tempDirs: string[] = [];
let image: Blob;
let db: PgliteDb;
beforeAll(async () => {
  // The migrated golden image, copied out of a test database.
  const seed = await createTestDb();
  image = await seed.dumpDataDir().finally(() => seed.close());
  db = await openPgliteThread({ loadDataDir: image });
});
afterAll(async () => {
  await db?.close();
  await Promise.all(tempDirs.map((d) => rm(d, { recursive: true, force: true })));
});

const STOPPED = /^the database is unavailable: the PGlite worker thread stopped: /;

describe("PGlite in a worker thread: transactions", () => {
  it("commits when the callback resolves and returns its value; a tx used afterwards is closed", async () => {
    let leaked: { query(sql: string): Promise<unknown> } | undefined;
    const name = await db.transaction(async (tx) => {
      leaked = tx;
      return insertProvider(tx);
    });
    expect(await db.query("SELECT name FROM providers WHERE name = $1", [name])).toEqual([{ name }]);
    await expect(leaked?.query("SELECT 1")).rejects.toThrow("Transaction is closed");
  });

  it("rolls back when the callback throws, and rethrows that very error", async () => {
    const boom = new Error("boom");
    let name = "";
    const err = await db
      .transaction(async (tx) => {
        name = await insertProvider(tx);
        throw boom;
      })
      .catch((e: unknown) => e);
    expect(err).toBe(boom);
    expect(await db.query("SELECT 1 FROM providers WHERE name = $1", [name])).toEqual([]);
  });

  it("makes a query issued during an open transaction wait for it instead of joining it", async () => {
    const inserted = deferred();
    const finish = deferred();
    const tx = db.transaction(async (t) => {
      await insertProvider(t, "p-thread-wait");
      inserted.resolve();
      await finish.promise;
    });
    await inserted.promise;
    let settled = false;
    const outside = db.query("SELECT count(*) AS n FROM providers WHERE name = 'p-thread-wait'").finally(() => (settled = true));
    await new Promise((resolve) => setTimeout(resolve, 150));
    expect(settled).toBe(false);
    finish.resolve();
    await tx;
    expect(await outside).toEqual([{ n: 1 }]);
  });

  it("fails fast when db.* is called inside db.transaction() (the guard stays on the main thread)", async () => {
    await expect(db.transaction(() => db.query("SELECT 1"))).rejects.toThrow(/use the tx argument/);
    await expect(db.transaction(() => db.transaction(async () => 1))).rejects.toThrow(/use the tx argument/);
    await expect(db.transaction(() => db.listen("c", () => undefined))).rejects.toThrow(/use the tx argument/);
    await expect(db.transaction(() => db.dumpDataDir())).rejects.toThrow(/use the tx argument/);
    expect(await db.query("SELECT 1 AS ok")).toEqual([{ ok: 1 }]);
  });
});

describe("PGlite in a worker thread: values, errors, notifications", () => {
  it("returns and accepts the same values as PGlite on the main thread", async () => {
    const direct = await openPglite({ loadDataDir: image });
    try {
      const sql = `SELECT $1::bytea AS b, $2::timestamptz AS t, $3::int8 AS big, 5::int8 AS small, $4::jsonb AS j,
                          $5::text[] AS a, $6::text AS n, 1.5::numeric AS num`;
      const params = [Buffer.from([0, 1, 255]), new Date("2024-01-02T03:04:05.678Z"), 2n ** 62n, { x: [1, "y"] }, ["a", "b"], null];
      const threaded = await db.query(sql, params);
      expect(threaded).toEqual(await direct.query(sql, params));
      expect(threaded).toEqual([
        { b: new Uint8Array([0, 1, 255]), t: new Date("2024-01-02T03:04:05.678Z"), big: 2n ** 62n, small: 5, j: { x: [1, "y"] }, a: ["a", "b"], n: null, num: "1.5" },
      ]);
    } finally {
      await direct.close();
    }
  });

  it("keeps what callers read from a database error: code, constraint, detail, message, name", async () => {
    const op = await insertOperation(db, await insertProvider(db), "running");
    await insertEvent(db, op, 1);
    const err = (await insertEvent(db, op, 1).catch((e: unknown) => e)) as Error & Record<string, unknown>;
    expect(err).toBeInstanceOf(Error);
    expect(err).toMatchObject({ name: "error", code: "23505", constraint: "operation_events_pkey", table: "operation_events" });
    expect(err.message).toBe('duplicate key value violates unique constraint "operation_events_pkey"');
    expect(err.detail).toMatch(/^Key \(operation_id, seq\)=\(.*, 1\) already exists\.$/);
    expect(isUniqueViolation(err, "operation_events_pkey")).toBe(true);
    await expect(db.query("SELECT 1/0")).rejects.toMatchObject({ code: "22012", message: "division by zero" });
  });

  it("keeps PGlite's file-system errors (ErrnoError, errno only) recognisable as out of space, with their cause", () => {
    const errno = (n: number): object => Object.assign(Object.create(null) as object, { name: "ErrnoError", errno: n });
    const full = rebuildError(structuredClone(serializeError(errno(51))));
    expect(full).toMatchObject({ name: "ErrnoError", errno: 51 });
    expect(storageCause(full)).toMatch(/PGlite\) could not write its files: no space left on device \(ENOSPC\)/);
    const wrapped = rebuildError(structuredClone(serializeError(new Error("initdb failed", { cause: errno(19) }))));
    expect(wrapped.cause).toMatchObject({ name: "ErrnoError", errno: 19 });
    expect(isOutOfSpace(wrapped)).toBe(true);
  });

  it("delivers notifications to the main thread, to listeners of that channel until they unlisten", async () => {
    const received: string[] = [];
    const sentinel = deferred();
    const unlisten = await db.listen("thread_events", (p) => received.push(p));
    const unlistenSentinel = await db.listen("thread_sentinel", () => sentinel.resolve());
    await db.query("SELECT pg_notify('thread_events', 'one')");
    await db.transaction(async (tx) => {
      await tx.query("SELECT pg_notify('thread_events', $1)", ["two"]);
    });
    await unlisten();
    await db.query("SELECT pg_notify('thread_events', 'after unlisten'), pg_notify('thread_sentinel', '')");
    await within(sentinel.promise, 5_000, "the sentinel");
    await unlistenSentinel();
    expect(received).toEqual(["one", "two"]);
  });
});

describe("PGlite in a worker thread: data directory", () => {
  it("dumps an image that both adapters load", async () => {
    const name = await insertProvider(db, "p-thread-dump");
    const dumped = await db.dumpDataDir();
    expect(dumped).toBeInstanceOf(Blob);
    const [copy, direct] = await Promise.all([openPgliteThread({ loadDataDir: dumped }), openPglite({ loadDataDir: dumped })]);
    try {
      expect(await copy.query("SELECT name FROM providers WHERE name = $1", [name])).toEqual([{ name }]);
      expect(await direct.query("SELECT name FROM providers WHERE name = $1", [name])).toEqual([{ name }]);
    } finally {
      await Promise.all([copy.close(), direct.close()]);
    }
  });

  it("persists a data dir across close and reopen, holding its lock while open", async () => {
    const parent = await mkdtemp(join(tmpdir(), "saas-bridge-thread-"));
    tempDirs.push(parent);
    const dataDir = join(parent, "pglite");
    const first = await openPgliteThread({ dataDir });
    try {
      expect(first.description).toContain(`in a worker thread, data dir ${dataDir}`);
      await first.query("CREATE TABLE kept (v text)");
      await first.query("INSERT INTO kept VALUES ($1)", ["survives"]);
      await expect(openPgliteThread({ dataDir })).rejects.toThrow(/already open in this process/);
      await expect(openPglite({ dataDir })).rejects.toThrow(/already open in this process/);
      await access(`${dataDir}.lock`);
    } finally {
      await first.close();
    }
    expect(await readdir(parent)).toEqual(["pglite"]);
    const second = await openPgliteThread({ dataDir });
    try {
      expect(await second.query("SELECT v FROM kept")).toEqual([{ v: "survives" }]);
    } finally {
      await second.close();
    }
  });

  it("releases the lock when the worker fails to open the directory, with PGlite's ErrnoError", async () => {
    const parent = await mkdtemp(join(tmpdir(), "saas-bridge-thread-"));
    tempDirs.push(parent);
    const dataDir = join(parent, "pglite");
    await mkdir(dataDir);
    await writeFile(join(dataDir, "base"), "a file where PostgreSQL wants a directory");
    await expect(openPgliteThread({ dataDir })).rejects.toMatchObject({ name: "ErrnoError", errno: 54 }); // ENOTDIR
    expect(await readdir(parent)).toEqual(["pglite"]);
  });
});

describe("PGlite in a worker thread: the thread's end", () => {
  it("rejects pending and later calls with a clear error once the thread is gone (a 503, not a 500), reports the crash once, and closes", async () => {
    const reported: Error[] = [];
    const { db: doomed, worker } = await startPgliteThread({ loadDataDir: image, onError: (err) => reported.push(err as Error) });
    const long = doomed.query("SELECT count(*) FROM generate_series(1, 5e8)").catch((e: unknown) => e);
    await new Promise((resolve) => setTimeout(resolve, 200));
    await worker.terminate();
    const error = await within(long, 5_000, "the pending query");
    expect(error).toMatchObject({ message: expect.stringMatching(STOPPED) });
    expect(error).toBeInstanceOf(DatabaseUnavailableError);
    expect(reported.map((e) => e.message)).toEqual([expect.stringMatching(/^the PGlite worker thread exited with code \d+: the database is unavailable until the service restarts$/)]);
    await expect(doomed.query("SELECT 1")).rejects.toThrow(STOPPED);
    await expect(doomed.transaction(async () => 1)).rejects.toThrow(STOPPED);
    await within(doomed.close(), 5_000, "close");
    await doomed.close();
  });

  it("refuses calls after close(), which is idempotent (and no crash is reported)", async () => {
    const reported: unknown[] = [];
    const closing = await openPgliteThread({ loadDataDir: image, onError: (err) => reported.push(err) });
    await Promise.all([closing.close(), closing.close()]);
    await expect(closing.query("SELECT 1")).rejects.toThrow("the PGlite worker thread stopped: closed");
    expect(reported).toEqual([]);
  });
});

describe("PGlite in a worker thread: the point of it", () => {
  /** The longest the event loop went without running a 5 ms timer while `run` was running. */
  const longestLoopGap = async (run: () => Promise<unknown>): Promise<{ gap: number; took: number }> => {
    let last = performance.now();
    let gap = 0;
    const tick = (): void => {
      const now = performance.now();
      gap = Math.max(gap, now - last);
      last = now;
    };
    const timer = setInterval(tick, 5);
    const start = performance.now();
    try {
      await run();
    } finally {
      clearInterval(timer);
    }
    tick();
    return { gap, took: performance.now() - start };
  };

  it("keeps the main thread's event loop free during a long query, where PGlite on it stalls for the whole query", async () => {
    const direct = await openPglite({});
    try {
      const sql = "SELECT count(*) AS n FROM generate_series(1, 5e6)";
      const onMain = await longestLoopGap(() => direct.query(sql));
      const inThread = await longestLoopGap(() => db.query(sql));
      console.info(
        `[pglite-thread] longest event-loop gap during a ${Math.round(onMain.took)} ms query: ` +
          `${Math.round(onMain.gap)} ms on the main thread, ${Math.round(inThread.gap)} ms in a worker thread ` +
          `(ratio ${(inThread.gap / onMain.gap).toFixed(3)})`,
      );
      expect(onMain.gap / onMain.took).toBeGreaterThan(0.8);
      expect(inThread.gap / onMain.gap).toBeLessThan(0.2);
    } finally {
      await direct.close();
    }
  });
});
