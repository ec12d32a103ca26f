import pg from "pg";
import type { Db, Queryable } from "./db.js";
import { createSubscriptions, quoteIdentifier } from "./subscriptions.js";
import { asUnavailable } from "./unavailable.js";

export interface PostgresOptions {
  connectionString: string;
  /** Pool size (default 10). The LISTEN connection is extra. */
  max?: number;
  /** Errors of idle pool clients, of the LISTEN connection and of notification subscribers. Never thrown. */
  onError?: (err: unknown) => void;
}

const INT8_OID = 20;
const CONNECT_TIMEOUT_MS = 10_000;
/** Back-off of the LISTEN connection's reconnects: 250 ms, doubling, at most 5 s. */
const LISTEN_RETRY_MIN_MS = 250;
const LISTEN_RETRY_MAX_MS = 5_000;

/**
 * `pg` returns int8 (count(*), bigserial) as a string and PGlite as a number. Align on PGlite:
 * a number when it is a safe integer, else a bigint. Per pool, not the global `pg.types`.
 */
function createTypes(): pg.CustomTypesConfig {
  const types = new pg.TypeOverrides();
  types.setTypeParser(INT8_OID, (text: string) => {
    const n = Number(text);
    return Number.isSafeInteger(n) ? n : BigInt(text);
  });
  return types;
}

export async function openPostgres(options: PostgresOptions): Promise<Db> {
  const onError = options.onError ?? (() => undefined);
  const clientConfig: pg.ClientConfig = {
    connectionString: options.connectionString,
    connectionTimeoutMillis: CONNECT_TIMEOUT_MS,
    types: createTypes(),
  };
  const pool = new pg.Pool({ ...clientConfig, max: options.max ?? 10 });
  // Without a listener, an idle client losing its connection emits 'error' and kills the process.
  pool.on("error", onError);

  let version: string;
  try {
    const result = await pool.query<{ server_version: string }>("SHOW server_version");
    version = result.rows[0]?.server_version ?? "?";
  } catch (err) {
    await pool.end().catch(() => undefined);
    throw err;
  }
  const description = `PostgreSQL ${version.split(" ")[0] ?? version} (${describeTarget(options.connectionString)}, pool max ${options.max ?? 10})`;

  let closing = false;
  let listener: Promise<pg.Client> | undefined;
  // The LISTEN connection comes back by itself after a failover or a restart: connect again with back-off,
  // LISTEN again on every channel, then tell subscribers to re-read what they may have missed.
  let reconnect: NodeJS.Timeout | undefined;
  let backoffMs = LISTEN_RETRY_MIN_MS;
  const scheduleReconnect = (): void => {
    if (closing || reconnect !== undefined) return;
    reconnect = setTimeout(() => {
      reconnect = undefined;
      void (async () => {
        try {
          const client = await listenerClient();
          for (const channel of subscriptions.channels()) await client.query(`LISTEN ${quoteIdentifier(channel)}`);
          backoffMs = LISTEN_RETRY_MIN_MS;
          subscriptions.resync();
        } catch (err) {
          onError(err);
          backoffMs = Math.min(backoffMs * 2, LISTEN_RETRY_MAX_MS);
          scheduleReconnect();
        }
      })();
    }, backoffMs);
    reconnect.unref();
  };
  const listenerClient = (): Promise<pg.Client> => {
    if (listener !== undefined) return listener;
    let connecting: Promise<pg.Client> | undefined;
    connecting = (async () => {
      const client = new pg.Client(clientConfig);
      client.on("error", onError);
      client.on("notification", (message) => subscriptions.dispatch(message.channel, message.payload ?? ""));
      client.on("end", () => {
        if (listener === connecting) listener = undefined;
        if (closing) return;
        onError(new Error("the PostgreSQL LISTEN connection ended: reconnecting"));
        if (subscriptions.channels().length > 0) scheduleReconnect();
      });
      try {
        await client.connect();
      } catch (err) {
        if (listener === connecting) listener = undefined;
        throw asUnavailable(err);
      }
      return client;
    })();
    listener = connecting;
    return connecting;
  };
  const subscriptions = createSubscriptions({
    listen: async (quoted) => {
      await (await listenerClient()).query(`LISTEN ${quoted}`);
    },
    unlisten: async (quoted) => {
      await (await listenerClient()).query(`UNLISTEN ${quoted}`);
    },
    onError,
  });

  return {
    kind: "postgres",
    description,
    query: async (sql, params) => runQuery(pool, sql, params),
    transaction: async (fn) => {
      const client = await pool.connect().catch((err: unknown) => {
        throw asUnavailable(err);
      });
      let broken: Error | undefined;
      let open = true;
      // A checked-out client has no pool listener: its connection dropping (failover, restart, a killed
      // backend) would be an unhandled 'error' that ends the process. Here it breaks this transaction only.
      const onClientError = (err: Error): void => {
        broken = err;
        onError(err);
      };
      client.on("error", onClientError);
      const tx: Queryable = {
        query: async (sql, params) => {
          if (!open) throw new Error("Transaction is closed");
          return runQuery(client, sql, params);
        },
      };
      try {
        try {
          await client.query("BEGIN");
        } catch (err) {
          broken = toError(err);
          throw err;
        }
        try {
          const result = await fn(tx);
          const commit = await client.query("COMMIT");
          // Like PGlite: committing a transaction that already failed is an error, not a silent rollback.
          if (commit.command === "ROLLBACK") throw new TransactionAbortedError();
          return result;
        } catch (err) {
          await client.query("ROLLBACK").catch((rollbackError: unknown) => {
            broken = toError(rollbackError);
          });
          throw err;
        }
      } catch (err) {
        // A statement's own error (a unique violation…) stays what it is; a lost connection becomes one error type.
        throw asUnavailable(err);
      } finally {
        open = false;
        client.removeListener("error", onClientError);
        // Releasing with an error destroys the client instead of returning a dubious one to the pool.
        client.release(broken);
      }
    },
    listen: (channel, onPayload, onResync) => subscriptions.subscribe(channel, onPayload, onResync),
    close: async () => {
      if (closing) return;
      closing = true;
      clearTimeout(reconnect);
      const client = await listener?.catch(() => undefined);
      await client?.end().catch(onError);
      await pool.end();
    },
  };
}

/** SQLSTATE 25P02, as PGlite's TransactionAbortedError. */
class TransactionAbortedError extends Error {
  readonly code = "25P02";
  constructor() {
    super("Transaction was rolled back instead of committed: a statement inside it failed");
    this.name = "TransactionAbortedError";
  }
}

async function runQuery<R extends Record<string, unknown>>(
  executor: pg.Pool | pg.PoolClient,
  sql: string,
  params?: readonly unknown[],
): Promise<R[]> {
  let result: pg.QueryResult<R> | pg.QueryResult<R>[];
  try {
    result = await executor.query<R>(sql, params === undefined ? undefined : [...params]);
  } catch (err) {
    throw asUnavailable(err);
  }
  // Without parameters pg uses the simple protocol; several statements yield one result each.
  return Array.isArray(result) ? (result.at(-1)?.rows ?? []) : result.rows;
}

function toError(err: unknown): Error {
  return err instanceof Error ? err : new Error(String(err));
}

/** user@host:port/database, never the password or other query parameters (sslkey, password=…). */
export function describeTarget(connectionString: string): string {
  let url: URL;
  let hostless = false;
  try {
    url = new URL(connectionString);
  } catch {
    // `postgresql://user@/db?host=/socket/dir` is valid for pg but not for WHATWG URL (as pg-connection-string does).
    try {
      url = new URL(connectionString.replace("@/", "@hostless/"));
      hostless = true;
    } catch {
      return "connection string is not a URL";
    }
  }
  const param = (name: string): string => url.searchParams.get(name) ?? "";
  const user = param("user") || decodeURIComponent(url.username) || "(default user)";
  const host = param("host") || (hostless ? "" : url.hostname) || "localhost";
  const port = param("port") || url.port || "5432";
  const database = decodeURIComponent(url.pathname.replace(/^\//, "")) || user;
  return `${user}@${host}:${port}/${database}`;
}
