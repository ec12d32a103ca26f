import { spawn, type ChildProcess } from "node:child_process";
import { existsSync } from "node:fs";
import { createServer } from "node:net";
import { delimiter, join } from "node:path";
import { fileURLToPath } from "node:url";

/**
 * moto in server mode (PyPI `moto[server]`, pinned in requirements-moto.txt, installed by .ci/run into
 * .venv-moto): an AWS API emulator on loopback for the access verifier's tests and bench (issue 17). Each
 * caller starts its own server on a free port, so test files and the bench never share emulated state.
 */

const REPO = fileURLToPath(new URL("../..", import.meta.url));
const START_TIMEOUT_MS = 30_000;
const STOP_TIMEOUT_MS = 5_000;

export interface MotoServer {
  /** http://127.0.0.1:<port> */
  readonly endpoint: string;
  /** Stops the server: SIGTERM, then SIGKILL after a bound; resolves once it exited. */
  stop(): Promise<void>;
}

/** The moto_server binary: env MOTO_SERVER, else the repo's .venv-moto, else PATH; undefined when none. */
export function motoServerBinary(): string | undefined {
  const fromEnv = process.env["MOTO_SERVER"];
  if (fromEnv) return existsSync(fromEnv) ? fromEnv : undefined;
  const venv = join(REPO, ".venv-moto", "bin", "moto_server");
  if (existsSync(venv)) return venv;
  for (const dir of (process.env["PATH"] ?? "").split(delimiter)) {
    if (dir && existsSync(join(dir, "moto_server"))) return join(dir, "moto_server");
  }
  return undefined;
}

/** Why moto tests cannot run here, or undefined when they can (shown when a suite skips). */
export function motoMissing(): string | undefined {
  if (motoServerBinary() !== undefined) return undefined;
  return "moto_server not found (env MOTO_SERVER, .venv-moto/bin/moto_server or PATH): python3 -m venv .venv-moto && .venv-moto/bin/pip install -r requirements-moto.txt (.ci/run does it)";
}

async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once("error", reject);
    server.listen(0, "127.0.0.1", () => {
      const address = server.address();
      const port = typeof address === "object" && address ? address.port : 0;
      server.close(() => resolve(port));
    });
  });
}

function exited(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
  return new Promise((resolve) => child.once("exit", () => resolve()));
}

/** Starts moto_server on 127.0.0.1 and waits (at most 30 s) until it answers HTTP. */
export async function startMoto(): Promise<MotoServer> {
  const binary = motoServerBinary();
  if (binary === undefined) throw new Error(motoMissing());
  const port = await freePort();
  const endpoint = `http://127.0.0.1:${port}`;
  const child = spawn(binary, ["-H", "127.0.0.1", "-p", String(port)], { stdio: ["ignore", "ignore", "pipe"] });
  // The last lines of its log explain a failed start; the rest (one line per request) is dropped.
  let tail = "";
  child.stderr?.on("data", (chunk: Buffer) => {
    tail = (tail + chunk.toString("utf8")).slice(-2_000);
  });
  const stop = async (): Promise<void> => {
    if (child.exitCode !== null || child.signalCode !== null) return;
    child.kill("SIGTERM");
    const killed = setTimeout(() => child.kill("SIGKILL"), STOP_TIMEOUT_MS);
    await exited(child);
    clearTimeout(killed);
  };
  const deadline = Date.now() + START_TIMEOUT_MS;
  for (;;) {
    if (child.exitCode !== null) throw new Error(`moto_server exited with ${child.exitCode} before answering: ${tail.trim()}`);
    try {
      const res = await fetch(`${endpoint}/moto-api/`, { signal: AbortSignal.timeout(1_000) });
      await res.arrayBuffer();
      return { endpoint, stop };
    } catch {
      if (Date.now() > deadline) {
        await stop();
        throw new Error(`moto_server did not answer on ${endpoint} within ${START_TIMEOUT_MS} ms: ${tail.trim()}`);
      }
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
  }
}

/** Forgets every emulated resource (moto's reset API), so a test starts from an empty account. */
export async function resetMoto(endpoint: string): Promise<void> {
  const res = await fetch(`${endpoint}/moto-api/reset`, { method: "POST", signal: AbortSignal.timeout(10_000) });
  if (!res.ok) throw new Error(`moto reset answered ${res.status}`);
  await res.arrayBuffer();
}
