import type { MessagePort, TransferListItem } from "node:worker_threads";
import { PGlite, type Transaction } from "@electric-sql/pglite";
import { runQuery } from "./pglite.js";

/**
 * The worker side of `openPgliteThread` (src/store/pglite-thread.ts): PGlite runs here, so its
 * synchronous WASM work blocks this thread instead of the service's event loop. It answers one
 * request per message; PGlite's own mutex serializes them exactly as it does on the main thread.
 */
export interface PgliteWorkerData {
  /** The URL of this module (the entry imports it; TypeScript in the source tree, JavaScript in dist/). */
  readonly pgliteWorker: string;
  readonly dataDir: string | undefined;
  /** A `dumpDataDir()` image, transferred. */
  readonly loadDataDir: ArrayBuffer | undefined;
}

export type PgliteRequest =
  | { readonly op: "query"; readonly sql: string; readonly params: readonly unknown[] | undefined; readonly tx: number | undefined }
  | { readonly op: "begin"; readonly tx: number }
  | { readonly op: "end"; readonly tx: number; readonly commit: boolean }
  | { readonly op: "listen" | "unlisten"; readonly quoted: string }
  | { readonly op: "dump" }
  | { readonly op: "close" };

export type PgliteMessage = PgliteRequest & { readonly id: number };

export type PgliteReply =
  | { readonly kind: "ready"; readonly version: string }
  | { readonly kind: "failed"; readonly error: RemoteError }
  | { readonly kind: "result"; readonly id: number; readonly value: unknown }
  | { readonly kind: "error"; readonly id: number; readonly error: RemoteError }
  | { readonly kind: "notification"; readonly channel: string; readonly payload: string };

/**
 * A thrown value as structured clone can carry it: a clone of an Error keeps neither `code` nor
 * `constraint`, and PGlite's file-system ErrnoError is no Error at all (only `name` and `errno`).
 */
export interface RemoteError {
  readonly name: string;
  readonly message: string;
  readonly stack: string | undefined;
  /** Own properties that structured clone keeps: `code`, `constraint`, `detail`, `errno`, `query`… */
  readonly props: Record<string, unknown>;
  readonly cause?: { readonly error: RemoteError } | { readonly value: unknown };
}

interface OpenTransaction {
  tx: Transaction | undefined;
  decide(commit: boolean): void;
  readonly outcome: Promise<void>;
}

/** Thrown into PGlite's transaction callback so that it rolls back; never leaves this module. */
const ROLLED_BACK = new Error("rolled back: the transaction callback threw");
const MAX_CAUSE_DEPTH = 8;

export async function serve(port: MessagePort, data: PgliteWorkerData): Promise<void> {
  const post = (reply: PgliteReply, transfer: readonly TransferListItem[] = []): void => port.postMessage(reply, transfer);
  let pglite: PGlite;
  try {
    pglite = await PGlite.create(data.dataDir, data.loadDataDir === undefined ? {} : { loadDataDir: new Blob([data.loadDataDir]) });
    const [row] = await runQuery(pglite, "SHOW server_version");
    post({ kind: "ready", version: String(row?.["server_version"] ?? "?") });
  } catch (err) {
    post({ kind: "failed", error: serializeError(err) });
    return;
  }
  // Posted before the answer of the query that delivered it, as PGlite calls back before it resolves.
  pglite.onNotification((channel, payload) => post({ kind: "notification", channel, payload }));

  const transactions = new Map<number, OpenTransaction>();
  const openTransaction = (id: number): Transaction => {
    const tx = transactions.get(id)?.tx;
    if (tx === undefined) throw new Error("Transaction is closed");
    return tx;
  };

  // Interactive: the callback holds PGlite's transaction open until the main thread decides.
  const begin = (id: number): Promise<void> => {
    let begun!: () => void;
    const started = new Promise<void>((resolve) => (begun = resolve));
    let decide!: (commit: boolean) => void;
    const decided = new Promise<boolean>((resolve) => (decide = resolve));
    const state: OpenTransaction = {
      tx: undefined,
      decide,
      outcome: pglite.transaction(async (tx) => {
        state.tx = tx;
        begun();
        if (!(await decided)) throw ROLLED_BACK;
      }),
    };
    transactions.set(id, state);
    // BEGIN failed: the outcome rejects before the callback ran.
    return Promise.race([started, state.outcome]).catch((err: unknown) => {
      transactions.delete(id);
      throw err;
    });
  };

  const end = async (id: number, commit: boolean): Promise<void> => {
    const state = transactions.get(id);
    if (state === undefined) throw new Error("Transaction is closed");
    transactions.delete(id);
    state.decide(commit);
    // A COMMIT that PostgreSQL turned into a ROLLBACK (a failed statement) rejects with 25P02.
    await state.outcome.catch((err: unknown) => {
      if (err !== ROLLED_BACK) throw err;
    });
  };

  const handle = async (message: PgliteMessage): Promise<[unknown, TransferListItem[]?]> => {
    switch (message.op) {
      case "query":
        return [await runQuery(message.tx === undefined ? pglite : openTransaction(message.tx), message.sql, message.params)];
      case "begin":
        return [await begin(message.tx)];
      case "end":
        return [await end(message.tx, message.commit)];
      case "listen":
        return [await pglite.exec(`LISTEN ${message.quoted}`).then(() => undefined)];
      case "unlisten":
        return [await pglite.exec(`UNLISTEN ${message.quoted}`).then(() => undefined)];
      case "dump": {
        // Inside a transaction of its own so that it waits for the open one instead of copying it half-done.
        const image = await pglite.transaction(() => pglite.dumpDataDir("none"));
        const buffer = await image.arrayBuffer();
        return [buffer, [buffer]];
      }
      case "close":
        return [await pglite.close()];
    }
  };

  port.on("message", (message: PgliteMessage) => {
    handle(message).then(
      ([value, transfer]) => {
        try {
          post({ kind: "result", id: message.id, value }, transfer);
        } catch (err) {
          post({ kind: "error", id: message.id, error: serializeError(err) }); // a value structured clone refuses
        }
      },
      (err: unknown) => post({ kind: "error", id: message.id, error: serializeError(err) }),
    );
  });
}

export function serializeError(err: unknown, depth = 0): RemoteError {
  if (typeof err !== "object" || err === null) return { name: "Error", message: String(err), stack: undefined, props: {} };
  const e = err as Record<string, unknown>;
  const props: Record<string, unknown> = {};
  for (const key of Object.keys(e)) {
    if (key !== "name" && key !== "message" && key !== "stack" && key !== "cause" && cloneable(e[key])) props[key] = e[key];
  }
  const cause = e["cause"];
  return {
    name: typeof e["name"] === "string" ? e["name"] : "Error",
    message: typeof e["message"] === "string" ? e["message"] : "",
    stack: typeof e["stack"] === "string" ? e["stack"] : undefined,
    props,
    ...(cause === undefined || depth >= MAX_CAUSE_DEPTH
      ? {}
      : { cause: typeof cause === "object" && cause !== null ? { error: serializeError(cause, depth + 1) } : { value: cloneable(cause) ? cause : String(cause) } }),
  };
}

function cloneable(value: unknown): boolean {
  if (typeof value !== "object" || value === null) return typeof value !== "function" && typeof value !== "symbol";
  try {
    structuredClone(value);
    return true;
  } catch {
    return false;
  }
}
