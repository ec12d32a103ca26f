import { spawn, type ChildProcess } from "node:child_process";
import { readFile } from "node:fs/promises";
import { join } from "node:path";

/**
 * The real server (src/main.ts) in a process of its own, as an operator runs it: for tests that SIGKILL a
 * replica. Simulated engine, loopback, a port the kernel picks, development mode (the admin key and the
 * audit keys are created under DATA_DIR, so replicas given the same DATA_DIR share them). It is ready when
 * it logs "Server listening" (LOG_LEVEL info or lower).
 */
export interface ServerProcess {
  readonly child: ChildProcess;
  readonly base: string;
  /** `{ authorization: "Bearer <the development admin key>" }` */
  readonly auth: Readonly<Record<string, string>>;
  output(): string;
  /** Resolves when the process has exited (at once if it already has). */
  exited(): Promise<void>;
}

const root = new URL("../../", import.meta.url).pathname;

/** Spawns src/main.ts with the environment an operator would give it (simulated engine, loopback, port 0). */
function spawnServer(dataDir: string, env: Record<string, string>): { child: ChildProcess; output: () => string } {
  const child = spawn(process.execPath, ["--import", "tsx", "src/main.ts"], {
    cwd: root,
    env: {
      PATH: process.env["PATH"] ?? "/usr/bin:/bin",
      ENGINE: "simulated",
      LANDING_ZONE_FILE: "examples/landing-zone.json",
      DATA_DIR: dataDir,
      PORT: "0",
      HOST: "127.0.0.1",
      MODE: "development",
      ...env,
    },
    stdio: ["ignore", "pipe", "pipe"],
  });
  let output = "";
  child.stdout!.on("data", (d: Buffer) => (output += d.toString()));
  child.stderr!.on("data", (d: Buffer) => (output += d.toString()));
  return { child, output: () => output };
}

/** A server expected not to start: resolves with its exit code and output (killed after `timeoutMs`). */
export async function runServerUntilExit(dataDir: string, env: Record<string, string> = {}, timeoutMs = 30_000): Promise<{ code: number | null; output: string }> {
  const { child, output } = spawnServer(dataDir, env);
  const timer = setTimeout(() => child.kill("SIGKILL"), timeoutMs);
  const code = await new Promise<number | null>((resolve) => child.once("exit", (c) => resolve(c)));
  clearTimeout(timer);
  return { code, output: output() };
}

export async function startServerProcess(dataDir: string, env: Record<string, string> = {}, timeoutMs = 30_000): Promise<ServerProcess> {
  const { child, output: text } = spawnServer(dataDir, env);
  const exit = new Promise<void>((resolve) => child.once("exit", () => resolve()));
  const exited = () => (child.exitCode !== null || child.signalCode !== null ? Promise.resolve() : exit);
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const output = text();
    const m = /Server listening at (http:\/\/127\.0\.0\.1:\d+)/.exec(output);
    if (m) {
      const key = (await readFile(join(dataDir, "admin.key"), "utf8")).trim();
      return { child, base: m[1]!, auth: { authorization: `Bearer ${key}` }, output: text, exited };
    }
    if (child.exitCode !== null || Date.now() > deadline) {
      if (child.exitCode === null) child.kill("SIGKILL");
      throw new Error(`server did not start:\n${output}`);
    }
    await new Promise((r) => setTimeout(r, 50));
  }
}
