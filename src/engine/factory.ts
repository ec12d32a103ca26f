import { fileBackendDir } from "./pulumi/file-backend.js";
import { readFileSync } from "node:fs";
import { mkdir } from "node:fs/promises";
import { join, resolve } from "node:path";
import type { Logger } from "pino";
import type { Config } from "../config.js";
import type { Db } from "../store/db.js";
import type { Engine } from "./engine.js";
import { buildChildEnv } from "./process/child-env.js";
import { createChildEngine } from "./process/child-engine.js";
import { AWS_PLUGIN_VERSION, checkPulumiCli, ensureAwsPlugin, PulumiCliError } from "./pulumi/cli.js";
import type { ProgramEvaluator } from "./evaluation-pool.js";
import { createSimulatedEngine } from "./simulated/simulated-engine.js";
import { createDbStateStore } from "./simulated/state-repo.js";

export type EngineConfig = Pick<
  Config,
  | "ENGINE"
  | "MODE"
  | "PATH"
  | "DATA_DIR"
  | "SIMULATED_STEP_MS"
  | "LEASE_SECONDS"
  | "ENGINE_PROCESS"
  | "ENGINE_CANCEL_GRACE_SECONDS"
  | "ENGINE_HEARTBEAT_TIMEOUT_SECONDS"
  | "ENGINE_CHILD_MEMORY_MB"
  | "ENGINE_WARM_CHILDREN"
  | "ENGINE_PASSTHROUGH_ENV"
  | "ENGINE_AWS_ENDPOINT_URL"
  | "PULUMI_BACKEND_URL"
  | "PULUMI_SECRETS_PROVIDER"
  | "PULUMI_CONFIG_PASSPHRASE"
  | "PULUMI_CONFIG_PASSPHRASE_FILE"
  | "PULUMI_HOME"
  | "PULUMI_AWS_PLUGIN_PATH"
  | "PULUMI_PARALLEL"
>;

/** A configuration problem found before anything is touched; main prints it and exits. */
export class EngineSetupError extends Error {
  override name = "EngineSetupError";
}

/** Used in MODE=development when no passphrase is set; refused in production. */
export const DEVELOPMENT_PASSPHRASE = "saas-bridge-development-passphrase-not-secret";
const MIN_PASSPHRASE_LENGTH = 12;

/** `evaluator`: where the simulated engine evaluates programs in the service process (its worker pool). */
export type EngineFactory = (db: Db, log: Logger, evaluator?: ProgramEvaluator) => Engine;

/**
 * Checks what the configured engine needs (ENGINE=pulumi: the passphrase rules, the CLI on PATH and
 * its version) and returns how to build it once the database is open. Throws EngineSetupError with a
 * message naming the fix.
 */
export async function prepareEngine(config: EngineConfig, log: Logger): Promise<EngineFactory> {
  const inChild = (config.ENGINE_PROCESS ?? (config.ENGINE === "pulumi" ? "child" : "inline")) === "child";
  if (config.ENGINE === "simulated") {
    if (!inChild) {
      return (db, _log, evaluator) => createSimulatedEngine({ state: { db }, stepMs: config.SIMULATED_STEP_MS, ...(evaluator ? { evaluator } : {}) });
    }
    const dirs = await engineDirs(config);
    return (db, engineLog) =>
      createChildEngine({
        ...processOptions(config, engineLog),
        name: "simulated",
        settings: { engine: "simulated", stepMs: config.SIMULATED_STEP_MS, ...timing(config) },
        env: buildChildEnv({ ...dirs, path: config.PATH, engine: {}, passthrough: config.ENGINE_PASSTHROUGH_ENV }),
        state: createDbStateStore(db),
      });
  }
  if (!inChild) throw new EngineSetupError("ENGINE=pulumi runs every operation in its own process: remove ENGINE_PROCESS=inline");
  const secrets = stateSecrets(config);
  if (secrets.warning) log.warn(secrets.warning);
  const dataDir = resolve(config.DATA_DIR);
  const pulumiHome = resolve(config.PULUMI_HOME ?? join(dataDir, "pulumi-home"));
  const stateDir = join(dataDir, "pulumi-state");
  const engineEnv: Record<string, string> = {
    PULUMI_HOME: pulumiHome,
    PULUMI_BACKEND_URL: config.PULUMI_BACKEND_URL ?? `file://${stateDir}`,
    PULUMI_SKIP_UPDATE_CHECK: "true",
    // Replicas with their own data dir share a backend: the secrets manager recorded in the state wins (research §3.4).
    PULUMI_FALLBACK_TO_STATE_SECRETS_MANAGER: "true",
    // The pinned plugin is installed at start-up; nothing is downloaded in the middle of an operation.
    PULUMI_DISABLE_AUTOMATIC_PLUGIN_ACQUISITION: "true",
    ...secrets.env,
    ...(config.ENGINE_AWS_ENDPOINT_URL ? { AWS_ENDPOINT_URL: config.ENGINE_AWS_ENDPOINT_URL } : {}),
  };
  // The CLI check runs with the same environment the children get (PATH included), before anything is written.
  const path = config.PATH;
  const probeEnv = buildChildEnv({ homeDir: dataDir, tmpDir: dataDir, path, engine: engineEnv, passthrough: {} });
  let cli;
  try {
    cli = await checkPulumiCli(probeEnv);
  } catch (err) {
    if (err instanceof PulumiCliError) throw new EngineSetupError(err.message);
    throw err;
  }
  if (cli.warning) log.warn(cli.warning);
  const dirs = await engineDirs(config);
  await mkdir(pulumiHome, { recursive: true });
  if (!config.PULUMI_BACKEND_URL) await mkdir(stateDir, { recursive: true });
  const env = buildChildEnv({ ...dirs, path, engine: engineEnv, passthrough: config.ENGINE_PASSTHROUGH_ENV });

  return (_db, engineLog) =>
    createChildEngine({
      ...processOptions(config, engineLog),
      name: "pulumi",
      settings: {
        engine: "pulumi",
        ...timing(config),
        workRoot: join(dirs.homeDir, "..", "stacks"),
        pulumiHome,
        secretsProvider: config.PULUMI_SECRETS_PROVIDER,
        ...(config.PULUMI_PARALLEL === undefined ? {} : { parallel: config.PULUMI_PARALLEL }),
        ...(fileBackendDir(engineEnv["PULUMI_BACKEND_URL"]) === undefined ? {} : { stateDir: fileBackendDir(engineEnv["PULUMI_BACKEND_URL"]) }),
      },
      env,
      redact: secrets.redact,
      prepare: async () => {
        const how = await ensureAwsPlugin(env, config.PULUMI_AWS_PLUGIN_PATH);
        return `pulumi CLI ${cli.version}, aws plugin v${AWS_PLUGIN_VERSION} ${how}`;
      },
    });
}

function timing(config: EngineConfig): { heartbeatMs: number; orphanGraceMs: number } {
  return {
    heartbeatMs: Math.max(500, Math.floor((config.ENGINE_HEARTBEAT_TIMEOUT_SECONDS * 1000) / 6)),
    // An orphan ends (group killed) before its operation's lease expires and another replica recovers the stack.
    orphanGraceMs: Math.max(1_000, Math.floor(config.LEASE_SECONDS * 1000 * 0.6)),
  };
}

function processOptions(config: EngineConfig, log: Logger) {
  return {
    memoryMb: config.ENGINE_CHILD_MEMORY_MB,
    cancelGraceMs: config.ENGINE_CANCEL_GRACE_SECONDS * 1000,
    // The service is given SHUTDOWN_GRACE_SECONDS + 5 to exit (main.ts): the children must be gone by then.
    shutdownGraceMs: 4_000,
    heartbeatTimeoutMs: config.ENGINE_HEARTBEAT_TIMEOUT_SECONDS * 1000,
    warmChildren: config.ENGINE_WARM_CHILDREN,
    log: log.child({ component: "engine" }),
  };
}

/** HOME and TMPDIR of the children: under the data dir, never the service user's (no ~/.aws, no ~/.pulumi). */
async function engineDirs(config: EngineConfig): Promise<{ homeDir: string; tmpDir: string }> {
  const root = join(resolve(config.DATA_DIR), "engine");
  const dirs = { homeDir: join(root, "home"), tmpDir: join(root, "tmp") };
  await mkdir(dirs.homeDir, { recursive: true, mode: 0o700 });
  await mkdir(dirs.tmpDir, { recursive: true, mode: 0o700 });
  await mkdir(join(root, "stacks"), { recursive: true, mode: 0o700 });
  return dirs;
}

interface StateSecrets {
  readonly env: Record<string, string>;
  /** Values to redact that are not in the environment (a passphrase read from its file). */
  readonly redact: string[];
  readonly warning?: string;
}

/** The passphrase rules: production refuses an empty, default or short passphrase; development falls back to a known one. */
export function stateSecrets(config: EngineConfig): StateSecrets {
  if (config.PULUMI_SECRETS_PROVIDER !== "passphrase") return { env: {}, redact: [] };
  if (config.PULUMI_CONFIG_PASSPHRASE !== undefined && config.PULUMI_CONFIG_PASSPHRASE_FILE !== undefined) {
    throw new EngineSetupError("set PULUMI_CONFIG_PASSPHRASE or PULUMI_CONFIG_PASSPHRASE_FILE, not both");
  }
  let passphrase = config.PULUMI_CONFIG_PASSPHRASE;
  if (config.PULUMI_CONFIG_PASSPHRASE_FILE !== undefined) {
    try {
      passphrase = readFileSync(config.PULUMI_CONFIG_PASSPHRASE_FILE, "utf8").replace(/\r?\n$/, "");
    } catch (err) {
      throw new EngineSetupError(`PULUMI_CONFIG_PASSPHRASE_FILE cannot be read (${(err as NodeJS.ErrnoException).code ?? "error"})`);
    }
  }
  const fix =
    "set PULUMI_CONFIG_PASSPHRASE_FILE (a mounted secret) or PULUMI_CONFIG_PASSPHRASE, or use a KMS secrets provider " +
    "(PULUMI_SECRETS_PROVIDER=awskms://alias/…?region=…)";
  if (config.MODE === "production") {
    if (passphrase === undefined || passphrase.trim() === "") throw new EngineSetupError(`MODE=production: the state passphrase is empty: ${fix}`);
    if (passphrase === DEVELOPMENT_PASSPHRASE) throw new EngineSetupError(`MODE=production: the state passphrase is the development default: ${fix}`);
    if (passphrase.length < MIN_PASSPHRASE_LENGTH) {
      throw new EngineSetupError(`MODE=production: the state passphrase is shorter than ${MIN_PASSPHRASE_LENGTH} characters: ${fix}`);
    }
  }
  if (passphrase === undefined || passphrase === "") {
    return {
      env: { PULUMI_CONFIG_PASSPHRASE: DEVELOPMENT_PASSPHRASE },
      redact: [],
      warning: "MODE=development: stack secrets use the built-in development passphrase; never use this state for real accounts",
    };
  }
  // From a file, the CLI reads the file itself: the passphrase is not in any process environment.
  return config.PULUMI_CONFIG_PASSPHRASE_FILE !== undefined
    ? { env: { PULUMI_CONFIG_PASSPHRASE_FILE: resolve(config.PULUMI_CONFIG_PASSPHRASE_FILE) }, redact: [passphrase] }
    : { env: { PULUMI_CONFIG_PASSPHRASE: passphrase }, redact: [] };
}
