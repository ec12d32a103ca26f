import { spawnSync } from "node:child_process";
import { chmod, mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { existsSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ConfigError, loadConfig } from "../../src/config.js";
import { DEVELOPMENT_PASSPHRASE, EngineSetupError, prepareEngine, stateSecrets, type EngineConfig } from "../../src/engine/factory.js";
import { AWS_PLUGIN_VERSION, MIN_CLI_VERSION, SDK_VERSION } from "../../src/engine/pulumi/cli.js";
import { createLogger } from "../../src/logger.js";
import { createTestDb } from "../helpers/db.js";
import { startTestService, testConfig } from "../helpers/service.js";

/**
 * Start-up checks of ENGINE=pulumi (issue #4). The real CLI cannot be installed here, so the version
 * and plugin checks run against a stand-in `pulumi` script that only prints a version and a plugin
 * list and records what it was asked: this tests OUR checks and messages, not the Pulumi CLI.
 */
const root = new URL("../../", import.meta.url).pathname;
let dir = "";
const silent = createLogger("silent");
const base = (env: Record<string, string>): EngineConfig => loadConfig({ LANDING_ZONE_FILE: "examples/landing-zone.json", ...env });

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), "saas-bridge-setup-"));
});
afterAll(() => rm(dir, { recursive: true, force: true }));

/** A stand-in CLI: `version` prints `version`; `plugin ls --json` prints `plugins`; every call is appended to calls.log. */
async function fakePulumi(name: string, version: string, plugins = "[]", installExit = 0, installSeconds = 0): Promise<string> {
  const bin = join(dir, name);
  await rm(bin, { recursive: true, force: true });
  await import("node:fs/promises").then((fs) => fs.mkdir(bin, { recursive: true }));
  const script = `#!/bin/sh
echo "$@" >> "${bin}/calls.log"
env | cut -d= -f1 | sort > "${bin}/env.log"
case "$1 $2" in
  "version "*) echo "${version}" ;;
  "plugin ls") echo '${plugins}' ;;
  "plugin install") sleep ${installSeconds}; exit ${installExit} ;;
esac
`;
  await writeFile(join(bin, "pulumi"), script);
  await chmod(join(bin, "pulumi"), 0o755);
  return bin;
}

function runMain(env: Record<string, string>): { status: number | null; stderr: string } {
  const r = spawnSync(process.execPath, ["--import", "tsx", "src/main.ts"], {
    cwd: root,
    env: { LANDING_ZONE_FILE: "examples/landing-zone.json", ...env },
    encoding: "utf8",
    timeout: 30_000,
  });
  return { status: r.status, stderr: r.stderr };
}

describe("ENGINE=pulumi start-up", () => {
  it("without a pulumi CLI on PATH, exits 1 naming the fix, before the data dir is touched", () => {
    const dataDir = join(dir, "never-created-1");
    const r = runMain({ PATH: `${process.execPath.replace(/\/node$/, "")}:/usr/bin:/bin`, ENGINE: "pulumi", MODE: "development", DATA_DIR: dataDir });
    expect(r.status).toBe(1);
    expect(r.stderr).toContain("needs the pulumi CLI, and none is on PATH");
    expect(r.stderr).toContain(`--version ${SDK_VERSION}`);
    expect(r.stderr).toContain("ENGINE=simulated");
    expect(r.stderr).not.toMatch(/\n\s+at /);
    expect(existsSync(dataDir)).toBe(false);
  });

  it("in production without a passphrase, exits 1 naming the fix, before the data dir is touched", () => {
    const dataDir = join(dir, "never-created-2");
    const r = runMain({ PATH: process.env["PATH"] ?? "", ENGINE: "pulumi", DATA_DIR: dataDir });
    expect(r.status).toBe(1);
    expect(r.stderr).toContain("MODE=production: the state passphrase is empty");
    expect(r.stderr).toContain("PULUMI_CONFIG_PASSPHRASE_FILE");
    expect(existsSync(dataDir)).toBe(false);
  });

  it("refuses a CLI older than the SDK's minimum for inline refresh/destroy", async () => {
    const bin = await fakePulumi("old", "v3.100.0");
    const config = base({ ENGINE: "pulumi", MODE: "development", DATA_DIR: join(dir, "d-old"), PATH: `${bin}:/usr/bin:/bin` });
    await expect(prepareEngine(config, silent)).rejects.toThrow(new RegExp(`is v3\\.100\\.0; inline refresh and destroy need ≥ ${MIN_CLI_VERSION.replace(/\./g, "\\.")}`));
    await expect(prepareEngine(config, silent)).rejects.toBeInstanceOf(EngineSetupError);
  });

  it("refuses ENGINE_PROCESS=inline for the Pulumi engine", async () => {
    const config = base({ ENGINE: "pulumi", MODE: "development", ENGINE_PROCESS: "inline", DATA_DIR: join(dir, "d-inline") });
    await expect(prepareEngine(config, silent)).rejects.toThrow("runs every operation in its own process");
  });

  it("installs the pinned AWS plugin in the background; /readyz-style readiness is false until it is installed", async () => {
    const bin = await fakePulumi("ok", `v${SDK_VERSION}`);
    const dataDir = join(dir, "d-ok");
    const config = base({ ENGINE: "pulumi", MODE: "development", DATA_DIR: dataDir, PATH: `${bin}:/usr/bin:/bin`, PULUMI_AWS_PLUGIN_PATH: "/opt/plugins/aws" });
    const factory = await prepareEngine(config, silent);
    const db = await createTestDb();
    const engine = factory(db, silent);
    try {
      expect(engine.readiness().ok).toBe(false);
      await engine.ready();
      expect(engine.readiness()).toEqual({ ok: true, detail: `pulumi CLI v${SDK_VERSION}, aws plugin v${AWS_PLUGIN_VERSION} installed` });
      const calls = (await readFile(join(bin, "calls.log"), "utf8")).trim().split("\n");
      expect(calls).toEqual(["version", "plugin ls --json", `plugin install resource aws v${AWS_PLUGIN_VERSION} --file /opt/plugins/aws`]);
      // The CLI ran with the explicit environment: Pulumi home and backend under the data dir, no ambient keys.
      const envKeys = (await readFile(join(bin, "env.log"), "utf8")).trim().split("\n");
      expect(envKeys).toEqual(expect.arrayContaining(["PULUMI_HOME", "PULUMI_BACKEND_URL", "PULUMI_CONFIG_PASSPHRASE", "PULUMI_SKIP_UPDATE_CHECK"]));
      expect(envKeys.filter((k) => !/^(PULUMI_|PATH$|HOME$|TMPDIR$|LANG$|PWD$|SHLVL$|_$)/.test(k))).toEqual([]);
    } finally {
      await engine.close();
      await db.close();
    }
  });

  it("a plugin already installed is not installed again; a failed install keeps readiness false with the reason", async () => {
    const present = await fakePulumi("present", `v${SDK_VERSION}`, `[{"name":"aws","kind":"resource","version":"${AWS_PLUGIN_VERSION}"}]`);
    const db = await createTestDb();
    try {
      const ok = (await prepareEngine(base({ ENGINE: "pulumi", MODE: "development", DATA_DIR: join(dir, "d-p"), PATH: `${present}:/usr/bin:/bin` }), silent))(db, silent);
      await ok.ready();
      expect(ok.readiness().detail).toMatch(/aws plugin v[\d.]+ present$/);
      expect((await readFile(join(present, "calls.log"), "utf8")).trim().split("\n")).toEqual(["version", "plugin ls --json"]);
      await ok.close();

      const failing = await fakePulumi("failing", `v${SDK_VERSION}`, "[]", 1);
      const bad = (await prepareEngine(base({ ENGINE: "pulumi", MODE: "development", DATA_DIR: join(dir, "d-f"), PATH: `${failing}:/usr/bin:/bin` }), silent))(db, silent);
      await expect(bad.ready()).rejects.toThrow(/could not be installed from get\.pulumi\.com \(set PULUMI_AWS_PLUGIN_PATH/);
      expect(bad.readiness().ok).toBe(false);
      expect(bad.readiness().detail).toContain("PULUMI_AWS_PLUGIN_PATH");
      // Not remembered as failed: the runner's next try installs again.
      await expect(bad.ready()).rejects.toThrow(/could not be installed/);
      const installs = (await readFile(join(failing, "calls.log"), "utf8")).split("\n").filter((l) => l.startsWith("plugin install"));
      expect(installs).toHaveLength(2);
      await bad.close();
    } finally {
      await db.close();
    }
  });
});

describe("/readyz with ENGINE=pulumi", () => {
  it("is 503 while the AWS plugin installs, then 200 with the CLI and plugin versions", async () => {
    const bin = await fakePulumi("slow", `v${SDK_VERSION}`, "[]", 0, 1);
    const config = { ...testConfig, ...base({ ENGINE: "pulumi", MODE: "development", DATA_DIR: join(dir, "d-ready"), PATH: `${bin}:/usr/bin:/bin` }) };
    const factory = await prepareEngine(config, silent);
    const s = await startTestService({ config, engine: (db, log) => factory(db, log) });
    try {
      const early = await s.app.inject({ method: "GET", url: "/readyz" });
      expect(early.statusCode).toBe(503);
      expect(early.json().checks.engine.ok).toBe(false);
      await s.engine.ready();
      const later = await s.app.inject({ method: "GET", url: "/readyz" });
      expect(later.statusCode, later.body).toBe(200);
      expect(later.json().checks.engine.detail).toBe(`pulumi CLI v${SDK_VERSION}, aws plugin v${AWS_PLUGIN_VERSION} installed`);
    } finally {
      await s.close(2_000);
    }
  });
});

describe("state passphrase rules", () => {
  const cfg = (env: Record<string, string>) => base({ ENGINE: "pulumi", ...env });

  it("production refuses an empty, default or short passphrase, and both a value and a file", async () => {
    expect(() => stateSecrets(cfg({}))).toThrow("MODE=production: the state passphrase is empty");
    expect(() => stateSecrets(cfg({ PULUMI_CONFIG_PASSPHRASE: DEVELOPMENT_PASSPHRASE }))).toThrow("the development default");
    expect(() => stateSecrets(cfg({ PULUMI_CONFIG_PASSPHRASE: "short" }))).toThrow("shorter than 12");
    expect(() => stateSecrets(cfg({ PULUMI_CONFIG_PASSPHRASE: "long enough passphrase", PULUMI_CONFIG_PASSPHRASE_FILE: "/x" }))).toThrow("not both");
    const empty = join(dir, "empty-passphrase");
    await writeFile(empty, "\n");
    expect(() => stateSecrets(cfg({ PULUMI_CONFIG_PASSPHRASE_FILE: empty }))).toThrow("is empty");
    expect(() => stateSecrets(cfg({ PULUMI_CONFIG_PASSPHRASE_FILE: join(dir, "missing") }))).toThrow("cannot be read (ENOENT)");
  });

  it("a passphrase file is passed as a file (the value is in no environment) and redacted", async () => {
    const file = join(dir, "passphrase");
    await writeFile(file, "correct horse battery staple\n");
    const secrets = stateSecrets(cfg({ PULUMI_CONFIG_PASSPHRASE_FILE: file }));
    expect(secrets.env).toEqual({ PULUMI_CONFIG_PASSPHRASE_FILE: file });
    expect(secrets.redact).toEqual(["correct horse battery staple"]);
  });

  it("development falls back to the built-in passphrase with a warning; a KMS provider needs none", () => {
    const dev = stateSecrets(cfg({ MODE: "development" }));
    expect(dev.env).toEqual({ PULUMI_CONFIG_PASSPHRASE: DEVELOPMENT_PASSPHRASE });
    expect(dev.warning).toContain("development passphrase");
    expect(stateSecrets(cfg({ PULUMI_SECRETS_PROVIDER: "awskms://alias/saas-bridge?region=eu-west-1" })).env).toEqual({});
  });
});

describe("ENGINE_ENV_PASSTHROUGH", () => {
  it("passes named variables only, refuses unset and reserved names", () => {
    const c = loadConfig({ LANDING_ZONE_FILE: "x", ENGINE_ENV_PASSTHROUGH: "AWS_ROLE_ARN, AWS_WEB_IDENTITY_TOKEN_FILE", AWS_ROLE_ARN: "arn:aws:iam::111111111111:role/r", AWS_WEB_IDENTITY_TOKEN_FILE: "/t", AWS_SECRET_ACCESS_KEY: "ambient" });
    expect(c.ENGINE_PASSTHROUGH_ENV).toEqual({ AWS_ROLE_ARN: "arn:aws:iam::111111111111:role/r", AWS_WEB_IDENTITY_TOKEN_FILE: "/t" });
    const problems = (env: Record<string, string>) => {
      try {
        loadConfig({ LANDING_ZONE_FILE: "x", ...env });
        return [];
      } catch (err) {
        return (err as ConfigError).problems;
      }
    };
    expect(problems({ ENGINE_ENV_PASSTHROUGH: "AWS_PROFILE" })).toEqual(["ENGINE_ENV_PASSTHROUGH: AWS_PROFILE is not set"]);
    expect(problems({ ENGINE_ENV_PASSTHROUGH: "PULUMI_CONFIG_PASSPHRASE,NODE_OPTIONS", PULUMI_CONFIG_PASSPHRASE: "x", NODE_OPTIONS: "y" })).toHaveLength(2);
    expect(problems({ ENGINE_ENV_PASSTHROUGH: "not a name" })[0]).toContain("comma-separated list of environment variable names");
  });
});
