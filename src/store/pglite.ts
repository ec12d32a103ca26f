import { AsyncLocalStorage } from "node:async_hooks";
import { mkdir } from "node:fs/promises";
import { resolve } from "node:path";
import { PGlite, type Results, type Transaction } from "@electric-sql/pglite";
import { lockDataDir, type DataDirLock } from "./data-dir-lock.js";
import type { Db, Queryable } from "./db.js";
import { createSubscriptions } from "./subscriptions.js";

export interface PgliteOptions {
  /** Directory the database lives in; undefined keeps it in memory. */
  dataDir?: string;
  /** Start from a `dumpDataDir()` image instead of running initdb (tests clone a migrated golden image). */
  loadDataDir?: Blob;
  /** Receives errors thrown by notification subscribers; they never reach the caller of NOTIFY. */
  onError?: (err: unknown) => void;
}

export interface PgliteDb extends Db {
  readonly kind: "pglite";
  /** An uncompressed tarball of the data directory, loadable with `openPglite({ loadDataDir })`. */
  dumpDataDir(): Promise<Blob>;
}

/**
 * Embedded PostgreSQL (WASM). One connection: PGlite serializes `query`/`exec` behind the same
 * mutex as `transaction`, so a query issued while a transaction is open waits for it to finish and
 * never runs inside it. Only the `tx` handed to the callback runs inside the transaction.
 * PGlite starts Postgres with fsync off: a commit survives a process crash, not a power loss.
 */
export async function openPglite(options: PgliteOptions): Promise<PgliteDb> {
  let lock: DataDirLock | undefined;
  if (options.dataDir !== undefined) {
    await mkdir(options.dataDir, { recursive: true });
    lock = await lockDataDir(options.dataDir);
  }
  let pglite: PGlite;
  let description: string;
  try {
    pglite = await PGlite.create(options.dataDir, {
      ...(options.loadDataDir === undefined ? {} : { loadDataDir: options.loadDataDir }),
    });
    const [version] = await runQuery(pglite, "SHOW server_version");
    const where = options.dataDir === undefined ? "in memory" : `data dir ${resolve(options.dataDir)}`;
    description =
      `PGlite ${String(version?.["server_version"] ?? "?")} (embedded, ${where}; ` +
      "single connection; not crash-durable: fsync off)";
  } catch (err) {
    await lock?.release();
    throw err;
  }

  const guard = createTransactionGuard();

  const subscriptions = createSubscriptions({
    listen: async (quoted) => {
      await pglite.exec(`LISTEN ${quoted}`);
    },
    unlisten: async (quoted) => {
      await pglite.exec(`UNLISTEN ${quoted}`);
    },
    onError: options.onError,
  });
  const stopNotifications = pglite.onNotification((channel, payload) => {
    guard.outside(() => subscriptions.dispatch(channel, payload));
  });

  let closed = false;
  return {
    kind: "pglite",
    description,
    query: async (sql, params) => {
      guard.assertOutside("query");
      return runQuery(pglite, sql, params);
    },
    transaction: async (fn) => {
      guard.assertOutside("transaction");
      return pglite.transaction((tx) => guard.inside(() => fn(wrapTransaction(tx))));
    },
    listen: async (channel, onPayload) => {
      guard.assertOutside("listen");
      return subscriptions.subscribe(channel, onPayload);
    },
    dumpDataDir: async () => {
      guard.assertOutside("dumpDataDir");
      // Inside a transaction of its own so that it waits for the open one instead of copying it half-done.
      return pglite.transaction(() => pglite.dumpDataDir("none"));
    },
    close: async () => {
      if (closed) return;
      closed = true;
      stopNotifications();
      try {
        await pglite.close();
      } finally {
        await lock?.release();
      }
    },
  };
}

export interface TransactionGuard {
  /** Runs a transaction callback: `db.*` called from it (and from what it awaits) fails fast. */
  inside<T>(fn: () => T): T;
  /** Runs a notification subscriber as outside any transaction, whatever context delivered it. */
  outside<T>(fn: () => T): T;
  assertOutside(what: string): void;
}

/**
 * The single connection is busy for the whole transaction: calling `db.*` from inside the callback
 * would wait for the transaction it is part of, forever. Fail fast instead.
 */
export function createTransactionGuard(): TransactionGuard {
  const insideTransaction = new AsyncLocalStorage<true>();
  return {
    inside: (fn) => insideTransaction.run(true, fn),
    outside: (fn) => insideTransaction.exit(fn),
    assertOutside: (what) => {
      if (insideTransaction.getStore() === true) {
        throw new Error(`db.${what}() called inside db.transaction(): use the tx argument (PGlite has one connection)`);
      }
    },
  };
}

/** What both the PGlite instance and its transaction object offer. */
type Executor = Pick<Transaction, "query" | "exec">;

/**
 * Same rule as `pg`: without parameters the simple protocol runs (several statements allowed,
 * the last one's rows are returned); with parameters the extended protocol runs one statement.
 */
export async function runQuery<R extends Record<string, unknown>>(
  executor: Executor,
  sql: string,
  params?: readonly unknown[],
): Promise<R[]> {
  if (params === undefined || params.length === 0) {
    const results: Results<R>[] = (await executor.exec(sql)) as Results<R>[];
    return results.at(-1)?.rows ?? [];
  }
  const result = await executor.query<R>(sql, [...params]);
  return result.rows;
}

function wrapTransaction(tx: Transaction): Queryable {
  return { query: (sql, params) => runQuery(tx, sql, params) };
}
