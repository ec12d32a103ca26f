import { readFileSync, statSync } from "node:fs";
import { CliError, EXIT } from "./exit-codes.js";

/**
 * Where the service is and who we are, read once from the environment `main` hands in. The token comes
 * from SAAS_BRIDGE_TOKEN or a file named by SAAS_BRIDGE_TOKEN_FILE, never from argv: arguments show in
 * shell history and in every user's `ps`.
 */
export const DEFAULT_URL = "http://127.0.0.1:8080";

export interface CliConfig {
  readonly baseUrl: string;
  readonly token: string;
}

export type Env = Readonly<Record<string, string | undefined>>;

export function loadCliConfig(env: Env, platform: NodeJS.Platform = process.platform): CliConfig {
  return { baseUrl: baseUrlOf(env.SAAS_BRIDGE_URL), token: tokenOf(env, platform) };
}

function baseUrlOf(raw: string | undefined): string {
  const text = raw === undefined || raw === "" ? DEFAULT_URL : raw;
  let url: URL;
  try {
    url = new URL(text);
  } catch {
    throw new CliError(EXIT.usage, `SAAS_BRIDGE_URL is not a URL: ${text}`);
  }
  if (url.protocol !== "http:" && url.protocol !== "https:") throw new CliError(EXIT.usage, `SAAS_BRIDGE_URL must be http(s): ${text}`);
  // Paths in the API carry /v1 themselves; a trailing slash would double it.
  return url.toString().replace(/\/+$/, "");
}

function tokenOf(env: Env, platform: NodeJS.Platform): string {
  const inline = env.SAAS_BRIDGE_TOKEN;
  const file = env.SAAS_BRIDGE_TOKEN_FILE;
  if (inline && file) {
    throw new CliError(EXIT.usage, "both SAAS_BRIDGE_TOKEN and SAAS_BRIDGE_TOKEN_FILE are set: set one, so it is clear which key acts");
  }
  if (inline) return checked(inline.trim(), "SAAS_BRIDGE_TOKEN");
  if (file) return checked(readTokenFile(file, platform), `SAAS_BRIDGE_TOKEN_FILE (${file})`);
  throw new CliError(EXIT.usage, "no credentials: set SAAS_BRIDGE_TOKEN to an API key, or SAAS_BRIDGE_TOKEN_FILE to a file holding one (mode 0600)");
}

function readTokenFile(path: string, platform: NodeJS.Platform): string {
  let mode: number;
  let text: string;
  try {
    mode = statSync(path).mode;
    text = readFileSync(path, "utf8");
  } catch (err) {
    throw new CliError(EXIT.usage, `cannot read SAAS_BRIDGE_TOKEN_FILE ${path}: ${(err as NodeJS.ErrnoException).code ?? String(err)}`);
  }
  // Like ssh with a private key: a key others on the machine can read is no longer only ours. Windows
  // has no such mode bits.
  if (platform !== "win32" && (mode & 0o077) !== 0) {
    throw new CliError(
      EXIT.usage,
      `SAAS_BRIDGE_TOKEN_FILE ${path} is accessible by group or others (mode ${(mode & 0o777).toString(8)}); ` +
        `it holds a credential: chmod 600 ${path}`,
    );
  }
  return text.trim();
}

function checked(token: string, source: string): string {
  // A header value cannot hold control characters; say where the bad key came from, never what it is.
  if (token === "" || /[\u0000-\u001f\u007f\s]/.test(token)) throw new CliError(EXIT.usage, `${source} does not hold a single API key or token`);
  return token;
}
