import { execFile, execFileSync } from "node:child_process";
import { randomBytes } from "node:crypto";
import { existsSync } from "node:fs";
import { chown, mkdtemp, readFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import pg from "pg";

/**
 * A real PostgreSQL for tests: a fresh database in DATABASE_URL when set (CI service container),
 * else a throwaway cluster (initdb + pg_ctl) reachable only through a unix socket in its own temp dir.
 */
export type PostgresCluster = { url: string; stop(): Promise<void>; restart?: Restart } | { skipped: string };

/**
 * Stops the server the way a crash or a failover does (`pg_ctl -m immediate`: every connection drops at
 * once), runs `whileDown`, then starts it again on the same data and socket and waits until it accepts.
 * Only a throwaway cluster can; a DATABASE_URL server cannot be restarted by a test.
 */
export type Restart = (options?: { readonly whileDown?: () => Promise<void> }) => Promise<void>;

const run = promisify(execFile);
const DEFAULT_BINDIR = "/usr/lib/postgresql/15/bin";
const START_TIMEOUT_S = 20;
const COMMAND_TIMEOUT_MS = 30_000;

export async function startPostgresCluster(): Promise<PostgresCluster> {
  const external = process.env["DATABASE_URL"];
  if (external !== undefined && external !== "") return createScratchDatabase(external);

  const bindir = await findBindir();
  if (bindir === undefined) {
    return { skipped: `no PostgreSQL binaries (neither ${DEFAULT_BINDIR}/initdb nor \`pg_config --bindir\`) and DATABASE_URL is not set` };
  }
  // initdb refuses to run as root: run the server tools as the `postgres` OS user then.
  const owner = process.getuid?.() === 0 ? await lookupUser("postgres") : undefined;
  if (owner === null) return { skipped: "running as root and there is no `postgres` OS user to run initdb as" };
  return startLocalCluster(bindir, owner);
}

/** A new, uniquely named database on the server of `serverUrl`; `stop()` drops it. */
export async function createScratchDatabase(serverUrl: string): Promise<{ url: string; stop(): Promise<void> }> {
  const name = `saas_bridge_test_${randomBytes(6).toString("hex")}`;
  await withClient(serverUrl, (c) => c.query(`CREATE DATABASE ${pg.escapeIdentifier(name)}`));
  let stopped = false;
  return {
    url: withDatabase(serverUrl, name),
    async stop() {
      if (stopped) return;
      stopped = true;
      await withClient(serverUrl, (c) => c.query(`DROP DATABASE IF EXISTS ${pg.escapeIdentifier(name)} WITH (FORCE)`));
    },
  };
}

/** The same URL with another database (string surgery: `postgresql://u@/db?host=/dir` is no WHATWG URL). */
export function withDatabase(url: string, database: string): string {
  const match = /^(postgres(?:ql)?:\/\/[^/?#]*)(?:\/[^?#]*)?(.*)$/.exec(url);
  if (match === null) throw new Error("expected a postgres:// or postgresql:// URL");
  return `${match[1] ?? ""}/${encodeURIComponent(database)}${match[2] ?? ""}`;
}

interface OsUser {
  uid: number;
  gid: number;
}

async function startLocalCluster(bindir: string, owner: OsUser | undefined): Promise<PostgresCluster> {
  const dir = await mkdtemp(join(tmpdir(), "saas-bridge-pg-"));
  const dataDir = join(dir, "data");
  const logFile = join(dir, "server.log");
  if (owner !== undefined) await chown(dir, owner.uid, owner.gid);
  const asOwner = (tool: string, args: string[]): [string, string[]] =>
    owner === undefined ? [join(bindir, tool), args] : ["runuser", ["-u", "postgres", "--", join(bindir, tool), ...args]];

  const stopCommand = asOwner("pg_ctl", ["-D", dataDir, "-m", "immediate", "-w", "-t", "10", "stop"]);
  let started = false;
  // Safety net when the test process exits without reaching afterAll (the worker is torn down).
  const onExit = (): void => {
    if (started) {
      try {
        execFileSync(stopCommand[0], stopCommand[1], { stdio: "ignore", timeout: 10_000 });
      } catch {
        // Already stopped; the directory removal below is what matters.
      }
    }
    try {
      execFileSync("rm", ["-rf", dir], { stdio: "ignore", timeout: 10_000 });
    } catch {
      // Best effort at exit.
    }
  };
  process.once("exit", onExit);

  const stop = async (): Promise<void> => {
    process.removeListener("exit", onExit);
    if (started) {
      started = false;
      await run(stopCommand[0], stopCommand[1], { timeout: COMMAND_TIMEOUT_MS }).catch(() => undefined);
    }
    await rm(dir, { recursive: true, force: true, maxRetries: 3 });
  };

  try {
    await run(
      ...asOwner("initdb", ["-D", dataDir, "-U", "postgres", "--auth=trust", "-E", "UTF8", "--no-sync", "--no-instructions"]),
      { timeout: COMMAND_TIMEOUT_MS },
    );
    const serverOptions = [
      "-c listen_addresses=''",
      `-c unix_socket_directories='${dir}'`,
      "-c fsync=off",
      "-c synchronous_commit=off",
      "-c full_page_writes=off",
    ].join(" ");
    // pg_ctl -w waits for readiness itself, bounded by -t.
    const startCommand = asOwner("pg_ctl", ["-D", dataDir, "-l", logFile, "-o", serverOptions, "-w", "-t", String(START_TIMEOUT_S), "start"]);
    await run(...startCommand, { timeout: (START_TIMEOUT_S + 5) * 1000 });
    started = true;
    const url = `postgresql://postgres@/postgres?host=${encodeURIComponent(dir)}`;
    await waitUntilAccepting(url);
    const restart: Restart = async (options = {}) => {
      await run(stopCommand[0], stopCommand[1], { timeout: COMMAND_TIMEOUT_MS });
      try {
        await options.whileDown?.();
      } finally {
        await run(...startCommand, { timeout: (START_TIMEOUT_S + 5) * 1000 });
        await waitUntilAccepting(url);
      }
    };
    return { url, stop, restart };
  } catch (err) {
    const log = await readFile(logFile, "utf8").catch(() => "(no server log)");
    await stop();
    throw new Error(`could not start a throwaway PostgreSQL cluster: ${String(err)}\n--- server log ---\n${log.slice(-4000)}`, {
      cause: err,
    });
  }
}

async function waitUntilAccepting(url: string): Promise<void> {
  const deadline = Date.now() + START_TIMEOUT_S * 1000;
  let lastError: unknown;
  for (let attempt = 0; attempt < 200 && Date.now() < deadline; attempt++) {
    try {
      await withClient(url, (c) => c.query("SELECT 1"));
      return;
    } catch (err) {
      lastError = err;
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
  }
  throw new Error(`PostgreSQL did not accept connections within ${START_TIMEOUT_S} s`, { cause: lastError });
}

async function withClient<T>(url: string, fn: (client: pg.Client) => Promise<T>): Promise<T> {
  const client = new pg.Client({ connectionString: url, connectionTimeoutMillis: 5_000 });
  await client.connect();
  try {
    return await fn(client);
  } finally {
    await client.end();
  }
}

async function findBindir(): Promise<string | undefined> {
  if (existsSync(join(DEFAULT_BINDIR, "initdb"))) return DEFAULT_BINDIR;
  try {
    const { stdout } = await run("pg_config", ["--bindir"], { timeout: 5_000 });
    const bindir = stdout.trim();
    return existsSync(join(bindir, "initdb")) ? bindir : undefined;
  } catch {
    return undefined;
  }
}

async function lookupUser(name: string): Promise<OsUser | null> {
  try {
    const [uid, gid] = await Promise.all([
      run("id", ["-u", name], { timeout: 5_000 }),
      run("id", ["-g", name], { timeout: 5_000 }),
    ]);
    return { uid: Number(uid.stdout.trim()), gid: Number(gid.stdout.trim()) };
  } catch {
    return null;
  }
}
