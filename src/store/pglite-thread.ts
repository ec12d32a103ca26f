import { mkdir } from "node:fs/promises";
import { resolve } from "node:path";
import { Worker } from "node:worker_threads";
import { lockDataDir, type DataDirLock } from "./data-dir-lock.js";
import type { Queryable } from "./db.js";
import { createTransactionGuard, type PgliteDb, type PgliteOptions } from "./pglite.js";
import type { PgliteReply, PgliteRequest, PgliteWorkerData, RemoteError } from "./pglite-thread-worker.js";
import { createSubscriptions } from "./subscriptions.js";
import { DatabaseUnavailableError } from "./unavailable.js";

const WORKER_ENTRY = new URL("./pglite-thread-entry.mjs", import.meta.url);
/** The worker module next to the entry: TypeScript in the source tree (tests, `npm run dev`), JavaScript in dist/. */
const WORKER_MODULE = new URL(`./pglite-thread-worker${import.meta.url.endsWith(".ts") ? ".ts" : ".js"}`, import.meta.url);

/**
 * `openPglite` with PGlite in a worker thread. PGlite runs each query synchronously (WASM) on the
 * thread that calls it, so on the main thread a long query stalls every request; here the main
 * thread only passes messages. Same behaviour otherwise: one connection (PGlite's mutex, in the
 * worker), the data-dir lock, interactive transactions, notifications, errors with their SQLSTATE.
 */
export async function openPgliteThread(options: PgliteOptions): Promise<PgliteDb> {
  return (await startPgliteThread(options)).db;
}

/** `openPgliteThread` and its worker: tests stop the thread with `worker.terminate()`, as a crash would. */
export async function startPgliteThread(options: PgliteOptions): Promise<{ db: PgliteDb; worker: Worker }> {
  let lock: DataDirLock | undefined;
  if (options.dataDir !== undefined) {
    await mkdir(options.dataDir, { recursive: true });
    lock = await lockDataDir(options.dataDir);
  }
  const guard = createTransactionGuard();
  let worker: Worker;
  let conversation: Conversation;
  let version: string;
  try {
    const image = options.loadDataDir === undefined ? undefined : await options.loadDataDir.arrayBuffer();
    const data: PgliteWorkerData = { pgliteWorker: WORKER_MODULE.href, dataDir: options.dataDir, loadDataDir: image };
    worker = new Worker(WORKER_ENTRY, { workerData: data, transferList: image === undefined ? [] : [image] });
    // Notifications come only after a LISTEN, which only `subscriptions` (below) issues.
    conversation = converse(
      worker,
      (channel, payload) => guard.outside(() => subscriptions.dispatch(channel, payload)),
      // A crash (not a close): the service logs it (main.ts), and /readyz's database check fails from now on.
      (err) => options.onError?.(err),
    );
    try {
      version = await conversation.ready;
    } catch (err) {
      await worker.terminate();
      throw err;
    }
  } catch (err) {
    await lock?.release();
    throw err;
  }

  const subscriptions = createSubscriptions({
    listen: (quoted) => conversation.call({ op: "listen", quoted }),
    unlisten: (quoted) => conversation.call({ op: "unlisten", quoted }),
    onError: options.onError,
  });
  const query = <R>(sql: string, params: readonly unknown[] | undefined, tx?: number): Promise<R[]> =>
    conversation.call({ op: "query", sql, params, tx });

  const where = options.dataDir === undefined ? "in memory" : `data dir ${resolve(options.dataDir)}`;
  let nextTransaction = 1;
  let closing: Promise<void> | undefined;
  const db: PgliteDb = {
    kind: "pglite",
    description: `PGlite ${version} (embedded, in a worker thread, ${where}; single connection; not crash-durable: fsync off)`,
    query: async (sql, params) => {
      guard.assertOutside("query");
      return query(sql, params);
    },
    transaction: async (fn) => {
      guard.assertOutside("transaction");
      const id = nextTransaction++;
      await conversation.call({ op: "begin", tx: id });
      const tx: Queryable = { query: (sql, params) => query(sql, params, id) };
      let value: Awaited<ReturnType<typeof fn>>;
      try {
        value = await guard.inside(() => fn(tx));
      } catch (err) {
        await conversation.call({ op: "end", tx: id, commit: false });
        throw err;
      }
      await conversation.call({ op: "end", tx: id, commit: true });
      return value;
    },
    listen: async (channel, onPayload) => {
      guard.assertOutside("listen");
      return subscriptions.subscribe(channel, onPayload);
    },
    dumpDataDir: async () => {
      guard.assertOutside("dumpDataDir");
      return new Blob([await conversation.call<ArrayBuffer>({ op: "dump" })]);
    },
    close: () => (closing ??= closeThread(worker, conversation, lock)),
  };
  return { db, worker };
}

async function closeThread(worker: Worker, conversation: Conversation, lock: DataDirLock | undefined): Promise<void> {
  let failure: { error: unknown } | undefined;
  try {
    if (!conversation.stopped) {
      const closed = conversation.call({ op: "close" });
      conversation.refuse("closed");
      await closed.catch((error: unknown) => (failure = { error }));
    }
    await worker.terminate();
  } finally {
    await lock?.release();
  }
  if (failure !== undefined) throw failure.error;
}

interface Conversation {
  /** The server version once PGlite is open; the open's error otherwise. */
  readonly ready: Promise<string>;
  call<T = void>(request: PgliteRequest): Promise<T>;
  /** Refuses later calls with `reason`; pending ones still get their answers (or the thread's end). */
  refuse(reason: string): void;
  /** The thread ended, or later calls are refused. */
  readonly stopped: boolean;
}

interface Pending {
  resolve(value: unknown): void;
  reject(err: unknown): void;
}

/**
 * Requests and answers matched by id. A thread that ends (crash, terminate, close) rejects what is
 * pending and every later call with `the PGlite worker thread stopped: …`: nothing waits for an answer
 * that cannot come.
 */
function converse(worker: Worker, onNotification: (channel: string, payload: string) => void, onUnexpectedStop: (err: Error) => void): Conversation {
  const pending = new Map<number, Pending>();
  let stopped: { reason: string; cause: unknown } | undefined;
  let nextId = 1;
  // The database is gone for this process: a 503 (retry later) for requests, an outage for the runner.
  const stoppedError = (): Error => {
    const reason = stopped ?? { reason: "unknown", cause: undefined };
    return new DatabaseUnavailableError(
      new Error(`the PGlite worker thread stopped: ${reason.reason}`, reason.cause === undefined ? undefined : { cause: reason.cause }),
    );
  };
  // Like PGlite on the main thread, an idle database keeps no process alive; a pending call does.
  const track = (id: number, entry: Pending): void => {
    pending.set(id, entry);
    worker.ref();
  };
  const settle = (id: number): Pending | undefined => {
    const entry = pending.get(id);
    pending.delete(id);
    if (pending.size === 0) worker.unref();
    return entry;
  };

  const ready = new Promise<string>((resolve, reject) => track(0, { resolve: (v) => resolve(v as string), reject }));
  worker.on("message", (reply: PgliteReply) => {
    switch (reply.kind) {
      case "ready":
        return settle(0)?.resolve(reply.version);
      case "failed":
        return settle(0)?.reject(rebuildError(reply.error));
      case "result":
        return settle(reply.id)?.resolve(reply.value);
      case "error":
        return settle(reply.id)?.reject(rebuildError(reply.error));
      case "notification":
        if (stopped === undefined) onNotification(reply.channel, reply.payload);
        return;
    }
  });
  worker.on("error", (err: unknown) => {
    stopped ??= { reason: err instanceof Error ? err.message : String(err), cause: err };
  });
  worker.on("messageerror", (err: Error) => {
    stopped ??= { reason: `an answer could not be deserialized: ${err.message}`, cause: err };
    void worker.terminate();
  });
  worker.on("exit", (code: number) => {
    if (stopped === undefined) onUnexpectedStop(new Error(`the PGlite worker thread exited with code ${code}: the database is unavailable until the service restarts`));
    stopped ??= { reason: `it exited with code ${code}`, cause: undefined };
    for (const id of [...pending.keys()]) settle(id)?.reject(stoppedError());
  });

  return {
    ready,
    call: <T>(request: PgliteRequest) =>
      new Promise<T>((resolve, reject) => {
        if (stopped !== undefined) return reject(stoppedError());
        const id = nextId++;
        track(id, { resolve: (v) => resolve(v as T), reject });
        try {
          worker.postMessage({ ...request, id });
        } catch (err) {
          settle(id);
          reject(err); // a parameter structured clone refuses (a function, a symbol)
        }
      }),
    refuse: (reason) => {
      stopped ??= { reason, cause: undefined };
    },
    get stopped() {
      return stopped !== undefined;
    },
  };
}

/**
 * An Error carrying what callers read (`code`, `constraint`, `detail`, `errno`, `name`, `cause`), from
 * a `serializeError` of the worker. Exported for the tests of errors no query can provoke (a full disk).
 */
export function rebuildError(remote: RemoteError): Error {
  const cause = remote.cause === undefined ? undefined : "error" in remote.cause ? rebuildError(remote.cause.error) : remote.cause.value;
  const err = new Error(remote.message, remote.cause === undefined ? undefined : { cause });
  Object.assign(err, remote.props);
  err.name = remote.name;
  err.stack = remote.stack ?? `${remote.name}: ${remote.message}`;
  return err;
}
