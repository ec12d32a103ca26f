import { execFileSync } from "node:child_process";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { delimiter, join, resolve } from "node:path";
import type { Logger } from "pino";
import { loadConfig } from "../../src/config.js";
import type { Engine } from "../../src/engine/engine.js";
import { prepareEngine } from "../../src/engine/factory.js";
import { SDK_VERSION } from "../../src/engine/pulumi/cli.js";
import { createLogger } from "../../src/logger.js";
import { loadLandingZone } from "../../src/onboarding/landing-zone.js";
import type { Db } from "../../src/store/db.js";
import { createCloudStore, FAKE_AWS_DIR_ENV, type CloudBehaviour, type CloudStore } from "./fake-aws/cloud.js";
import { writeFakeAwsPlugin } from "./fake-aws/plugin.js";

/**
 * The real Pulumi engine for tests: the CLI built by `npm run engine:install` (or one on PATH at the
 * SDK's version), driven by the service's own engine factory (child processes, explicit environment,
 * offline plugin install), with the stand-in AWS plugin (TEST DOUBLE, ./fake-aws) as `aws`.
 */
export const TOOLCHAIN_BIN = resolve(new URL("../../.tools/pulumi/bin", import.meta.url).pathname);

/** The PATH the engine children get: the built toolchain first, then the service's own. */
export function toolchainPath(): string {
  return [TOOLCHAIN_BIN, process.env["PATH"] ?? "/usr/local/bin:/usr/bin:/bin"].join(delimiter);
}

/** Why the real engine cannot run here, or undefined when it can. */
export function realEngineMissing(): string | undefined {
  try {
    const version = execFileSync("pulumi", ["version"], { env: { ...process.env, PATH: toolchainPath() }, encoding: "utf8", timeout: 30_000 }).trim();
    if (version !== `v${SDK_VERSION}`) return `the pulumi CLI found is ${version}, not v${SDK_VERSION}: run \`npm run engine:install\``;
    return undefined;
  } catch {
    return `no pulumi CLI in .tools/pulumi/bin or on PATH: run \`npm run engine:install\` (builds it from Go modules)`;
  }
}

export interface RealEngine {
  readonly dataDir: string;
  /** The fake cloud: what "AWS" holds, and how it behaves. */
  readonly cloud: CloudStore;
  readonly engine: (db: Db, log: Logger) => Engine;
  close(): Promise<void>;
}

export interface RealEngineOptions {
  readonly behaviour?: CloudBehaviour;
  /** Extra configuration (e.g. ENGINE_CANCEL_GRACE_SECONDS). */
  readonly env?: Readonly<Record<string, string>>;
}

const LANDING_ZONE_FILE = "examples/landing-zone.json";

export async function prepareRealEngine(options: RealEngineOptions = {}): Promise<RealEngine> {
  const root = await mkdtemp(join(tmpdir(), "saas-bridge-real-engine-"));
  const dataDir = join(root, "data");
  const cloud = createCloudStore(join(root, "cloud"));
  cloud.setBehaviour(options.behaviour ?? {});
  // The service runs with the Organizations management account's credentials: the default provider's.
  cloud.setCallerAccountId((await loadLandingZone(LANDING_ZONE_FILE)).organization.managementAccountId);
  const plugin = await writeFakeAwsPlugin(join(root, "plugin"));
  const config = loadConfig({
    ...process.env,
    [FAKE_AWS_DIR_ENV]: cloud.dir,
    ENGINE: "pulumi",
    MODE: "development",
    DATA_DIR: dataDir,
    PATH: toolchainPath(),
    LANDING_ZONE_FILE,
    PULUMI_AWS_PLUGIN_PATH: plugin,
    ENGINE_ENV_PASSTHROUGH: FAKE_AWS_DIR_ENV,
    ENGINE_WARM_CHILDREN: "1",
    ...options.env,
  });
  const factory = await prepareEngine(config, createLogger("warn"));
  return {
    dataDir,
    cloud,
    engine: (db, log) => factory(db, log),
    close: () => rm(root, { recursive: true, force: true }),
  };
}
