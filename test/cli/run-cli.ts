import { execFile } from "node:child_process";
import { createServer } from "node:net";

/**
 * Runs the CLI as a user would, in a child process: `node --import tsx src/cli/main.ts …` (about a second
 * each, so the suites spawn sparingly). Only the environment given here reaches it (and PATH/HOME), so a
 * developer's own SAAS_BRIDGE_* never leaks into a test.
 */
export const ROOT = new URL("../..", import.meta.url).pathname;
const ENTRY = ["--import", "tsx", "src/cli/main.ts"];

export interface CliRun {
  readonly code: number;
  readonly stdout: string;
  readonly stderr: string;
}

export function runCli(args: readonly string[], env: Readonly<Record<string, string>>, timeoutMs = 30_000): Promise<CliRun> {
  return new Promise((resolve, reject) => {
    const child = execFile(
      process.execPath,
      [...ENTRY, ...args],
      { cwd: ROOT, env: { PATH: process.env.PATH ?? "", HOME: process.env.HOME ?? "/tmp", ...env }, timeout: timeoutMs, maxBuffer: 16 * 1024 * 1024 },
      (err, stdout, stderr) => {
        const code = child.exitCode ?? (err as { code?: unknown } | null)?.code;
        if (typeof code !== "number") reject(new Error(`CLI did not exit (${String(err)}): ${stderr}`));
        else resolve({ code, stdout, stderr });
      },
    );
  });
}

/** The same run under a real pseudo-terminal (util-linux `script`), so stdout.isTTY is true. */
export function runCliInPty(args: readonly string[], env: Readonly<Record<string, string>>, timeoutMs = 30_000): Promise<CliRun> {
  const quote = (s: string) => `'${s.replace(/'/g, `'\\''`)}'`;
  const command = [process.execPath, ...ENTRY, ...args].map(quote).join(" ");
  return new Promise((resolve, reject) => {
    // -e: the command's exit code; -f: flush as it writes; -q: no "Script started" lines; log to /dev/null.
    const child = execFile(
      "script",
      ["-qfec", `stty cols 100 2>/dev/null; exec ${command}`, "/dev/null"],
      { cwd: ROOT, env: { PATH: process.env.PATH ?? "", HOME: process.env.HOME ?? "/tmp", TERM: "xterm", ...env }, timeout: timeoutMs },
      (err, stdout, stderr) => {
        const code = child.exitCode ?? (err as { code?: unknown } | null)?.code;
        if (typeof code !== "number") reject(new Error(`script did not exit (${String(err)}): ${stderr}`));
        else resolve({ code, stdout, stderr });
      },
    );
  });
}

/** A loopback port nothing listens on (bound, then closed), for the "unreachable" case. */
export async function closedPort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const address = server.address();
  await new Promise<void>((resolve) => server.close(() => resolve()));
  if (address === null || typeof address === "string") throw new Error("no port");
  return address.port;
}
