#!/usr/bin/env node
import { createApi } from "./api.js";
import { parseInvocation, usage, commandUsage } from "./args.js";
import { runCommand } from "./commands.js";
import { loadCliConfig } from "./config.js";
import { CliError, EXIT, EXIT_INTERRUPTED, type ExitCode } from "./exit-codes.js";
import type { RenderMode } from "./render.js";

/**
 * `saas-bridge <command>`: the command-line client (issue 18, DESIGN §13). It speaks only the public API:
 * JSON through the typed client, progress through the NDJSON event stream. This is the only module that
 * reads argv, the environment and the terminal, and the only one that exits.
 */
async function main(): Promise<number> {
  const parsed = parseInvocation(process.argv.slice(2));
  if (parsed.help) {
    process.stdout.write(`${parsed.command ? `usage: ${commandUsage(parsed.command)}` : usage()}\n`);
    return EXIT.ok;
  }
  const config = loadCliConfig(process.env);
  const tty = process.stdout.isTTY === true;
  const mode: RenderMode = parsed.json ? "json" : tty ? "tty" : "plain";
  // https://no-color.org: any non-empty NO_COLOR turns colour off.
  const color = tty && !parsed.json && !process.env.NO_COLOR;
  const abort = new AbortController();
  process.once("SIGINT", () => abort.abort());
  try {
    return await runCommand({
      api: createApi(config, abort.signal),
      config,
      inv: parsed,
      mode,
      color,
      out: { write: (text) => void process.stdout.write(text), get columns() { return process.stdout.columns; } },
      err: { write: (text) => void process.stderr.write(text) },
      signal: abort.signal,
    });
  } catch (err) {
    if (!abort.signal.aborted) throw err;
    // Only the client stops: a change the service accepted goes on without it.
    process.stderr.write(`\ninterrupted; an accepted operation goes on (saas-bridge follow <operation-id> to watch it again)\n`);
    return EXIT_INTERRUPTED;
  }
}

function fail(err: unknown): ExitCode {
  if (err instanceof CliError) {
    const details = err.details.map((d) => `  ${d.path || "(body)"}: ${d.message}\n`).join("");
    process.stderr.write(`error: ${err.message}\n${details}`);
    return err.exitCode;
  }
  // Not a refusal we know: a bug here or an answer we cannot read. Say so, without request headers.
  process.stderr.write(`error: ${err instanceof Error ? err.message : String(err)}\n`);
  return EXIT.unavailable;
}

// process.exitCode, not process.exit(): stdout is a pipe for scripts and must drain first.
main().then(
  (code) => {
    process.exitCode = code;
  },
  (err: unknown) => {
    process.exitCode = fail(err);
  },
);
