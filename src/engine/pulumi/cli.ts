import { execFile } from "node:child_process";
import { createRequire } from "node:module";

/**
 * Start-up checks of the Pulumi CLI and the AWS plugin, run with the engine children's explicit
 * environment. Plain CLI calls (version, `plugin ls --json`, `plugin install`), not the Automation API.
 */
const require = createRequire(import.meta.url);
const packageVersion = (name: string): string => (require(`${name}/package.json`) as { version: string }).version;

/** Inline destroy/refresh need `--client` (3.181.0): the SDK throws below it (automation/stack.js checkInlineSupport). */
export const MIN_CLI_VERSION = "3.181.0";
export const SDK_VERSION = packageVersion("@pulumi/pulumi");
/** The plugin version `@pulumi/aws` registers resources with: installed up front, so the engine never downloads it mid-run. */
export const AWS_PLUGIN_VERSION = packageVersion("@pulumi/aws");

export class PulumiCliError extends Error {
  override name = "PulumiCliError";
}

const INSTALL_HINT =
  `install Pulumi CLI v${SDK_VERSION} (the @pulumi/pulumi version this build uses), e.g. ` +
  `\`curl -fsSL https://get.pulumi.com | sh -s -- --version ${SDK_VERSION}\`, and put it on PATH, or run the container image, ` +
  "which has it; ENGINE=simulated runs without it (nothing is then created in AWS)";

interface Run {
  readonly stdout: string;
  readonly stderr: string;
}

function pulumi(args: readonly string[], env: Readonly<Record<string, string>>, timeoutMs: number): Promise<Run> {
  return new Promise((resolve, reject) => {
    execFile("pulumi", [...args], { env: { ...env }, timeout: timeoutMs, maxBuffer: 16 * 1024 * 1024 }, (err, stdout, stderr) => {
      if (err) reject(Object.assign(err, { stdout, stderr }));
      else resolve({ stdout, stderr });
    });
  });
}

export function compareVersions(a: string, b: string): number {
  const parse = (v: string) => (/^v?(\d+)\.(\d+)\.(\d+)/.exec(v.trim()) ?? []).slice(1, 4).map(Number);
  const [x, y] = [parse(a), parse(b)];
  for (let i = 0; i < 3; i++) {
    const d = (x[i] ?? 0) - (y[i] ?? 0);
    if (d !== 0) return Math.sign(d);
  }
  return 0;
}

export interface CliCheck {
  readonly version: string;
  /** Set when the CLI works but differs from the SDK's version (pin them equal: research §8.11). */
  readonly warning?: string;
}

/** The `pulumi` CLI is on PATH and new enough; otherwise a message that names the fix. */
export async function checkPulumiCli(env: Readonly<Record<string, string>>): Promise<CliCheck> {
  let out: Run;
  try {
    out = await pulumi(["version"], env, 30_000);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === "ENOENT") throw new PulumiCliError(`ENGINE=pulumi needs the pulumi CLI, and none is on PATH: ${INSTALL_HINT}`);
    throw new PulumiCliError(`ENGINE=pulumi: \`pulumi version\` failed (${code ?? "error"}): ${INSTALL_HINT}`);
  }
  const version = out.stdout.trim().split("\n")[0] ?? "";
  if (!/^v?\d+\.\d+\.\d+/.test(version)) throw new PulumiCliError(`ENGINE=pulumi: \`pulumi version\` printed no version: ${INSTALL_HINT}`);
  if (compareVersions(version, MIN_CLI_VERSION) < 0) {
    throw new PulumiCliError(
      `ENGINE=pulumi: the pulumi CLI on PATH is ${version}; inline refresh and destroy need ≥ ${MIN_CLI_VERSION}: ${INSTALL_HINT}`,
    );
  }
  if (compareVersions(version, SDK_VERSION) !== 0) {
    return { version, warning: `the pulumi CLI is ${version} and the SDK ${SDK_VERSION}: pin them to the same version` };
  }
  return { version };
}

/** Installs the pinned AWS plugin into PULUMI_HOME unless it is there (from a local folder/tarball when given). */
export async function ensureAwsPlugin(env: Readonly<Record<string, string>>, fromPath?: string): Promise<"present" | "installed"> {
  const listed = await pulumi(["plugin", "ls", "--json"], env, 60_000);
  const plugins = JSON.parse(listed.stdout || "[]") as { name?: string; kind?: string; version?: string }[];
  if (plugins.some((p) => p.name === "aws" && p.kind === "resource" && compareVersions(p.version ?? "", AWS_PLUGIN_VERSION) === 0)) {
    return "present";
  }
  try {
    await pulumi(
      ["plugin", "install", "resource", "aws", `v${AWS_PLUGIN_VERSION}`, ...(fromPath ? ["--file", fromPath] : [])],
      env,
      10 * 60_000,
    );
  } catch (err) {
    const where = fromPath ? `from ${fromPath}` : "from get.pulumi.com (set PULUMI_AWS_PLUGIN_PATH to install it offline)";
    throw new PulumiCliError(`the AWS plugin v${AWS_PLUGIN_VERSION} could not be installed ${where}: ${firstLine((err as Run).stderr)}`);
  }
  return "installed";
}

function firstLine(text: string | undefined): string {
  return (text ?? "").trim().split("\n")[0]?.slice(0, 300) || "no error output";
}
