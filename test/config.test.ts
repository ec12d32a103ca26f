import { spawnSync } from "node:child_process";
import { describe, expect, it } from "vitest";
import { ConfigError, loadConfig } from "../src/config.js";

const root = new URL("../", import.meta.url).pathname;

function runMain(env: Record<string, string>): { status: number | null; stderr: string } {
  const r = spawnSync(process.execPath, ["--import", "tsx", "src/main.ts"], {
    cwd: root,
    env: { PATH: process.env.PATH ?? "", ...env },
    encoding: "utf8",
    timeout: 30_000,
  });
  return { status: r.status, stderr: r.stderr };
}

describe("config", () => {
  it("parses defaults; ENGINE defaults to pulumi", () => {
    const c = loadConfig({ LANDING_ZONE_FILE: "lz.json" });
    expect(c).toMatchObject({ PORT: 8080, ENGINE: "pulumi", MAX_CONCURRENT_OPERATIONS: 4, LEASE_SECONDS: 30, SSE_KEEPALIVE_SECONDS: 15 });
    expect(Object.isFrozen(c)).toBe(true);
  });

  it("reports one line per problem", () => {
    try {
      loadConfig({ PORT: "99999", ENGINE: "terraform", LEASE_SECONDS: "x", DATABASE_URL: "mysql://x" });
      expect.unreachable();
    } catch (err) {
      expect(err).toBeInstanceOf(ConfigError);
      const problems = (err as ConfigError).problems;
      expect(problems.map((p) => p.split(":")[0]).sort()).toEqual(["DATABASE_URL", "ENGINE", "LANDING_ZONE_FILE", "LEASE_SECONDS", "PORT"]);
    }
  });

  it("the process exits non-zero with one line per problem, no stack trace", () => {
    const r = runMain({ PORT: "-1", ENGINE: "nope" });
    expect(r.status).toBe(1);
    const lines = r.stderr.trim().split("\n");
    expect(lines).toHaveLength(3);
    expect(lines.every((l) => l.startsWith("saas-bridge: "))).toBe(true);
    expect(r.stderr).not.toMatch(/\n\s+at /);
  });

  it("a bad landing-zone file is reported by field", () => {
    const r = runMain({ ENGINE: "simulated", LANDING_ZONE_FILE: "examples/acme.json" });
    expect(r.status).toBe(1);
    expect(r.stderr).toContain("LANDING_ZONE_FILE examples/acme.json");
  });
});
