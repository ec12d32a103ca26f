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

describe("config: hardening (issue 5)", () => {
  const base = { LANDING_ZONE_FILE: "lz.json" };
  const problemsOf = (env: Record<string, string>): string[] => {
    try {
      loadConfig({ ...base, ...env });
    } catch (err) {
      if (err instanceof ConfigError) return [...err.problems];
      throw err;
    }
    return [];
  };

  it("has safe defaults: limits on, CORS off, no TLS, no trusted proxy", () => {
    expect(loadConfig(base)).toMatchObject({
      RATE_LIMIT_PER_IP_PER_MINUTE: 600,
      RATE_LIMIT_PER_PRINCIPAL_PER_MINUTE: 300,
      MAX_HEADER_BYTES: 16_384,
      REQUEST_TIMEOUT_SECONDS: 30,
      MAX_STREAMS_PER_PRINCIPAL: 20,
      CORS_ORIGINS: [],
      TRUST_PROXY: false,
    });
    const c = loadConfig(base);
    expect(c.TLS_CERT_FILE).toBeUndefined();
    expect(c.TLS_KEY_FILE).toBeUndefined();
  });

  it("parses the numeric limits and refuses values out of range", () => {
    expect(loadConfig({ ...base, RATE_LIMIT_PER_IP_PER_MINUTE: "5", MAX_HEADER_BYTES: "1024", REQUEST_TIMEOUT_SECONDS: "3600", MAX_STREAMS_PER_PRINCIPAL: "1" })).toMatchObject({
      RATE_LIMIT_PER_IP_PER_MINUTE: 5,
      MAX_HEADER_BYTES: 1_024,
      REQUEST_TIMEOUT_SECONDS: 3_600,
      MAX_STREAMS_PER_PRINCIPAL: 1,
    });
    const names = (env: Record<string, string>) => problemsOf(env).map((p) => p.split(":")[0]);
    expect(names({ RATE_LIMIT_PER_IP_PER_MINUTE: "0" })).toEqual(["RATE_LIMIT_PER_IP_PER_MINUTE"]);
    expect(names({ RATE_LIMIT_PER_PRINCIPAL_PER_MINUTE: "1000001" })).toEqual(["RATE_LIMIT_PER_PRINCIPAL_PER_MINUTE"]);
    expect(names({ MAX_HEADER_BYTES: "1023" })).toEqual(["MAX_HEADER_BYTES"]);
    expect(names({ MAX_HEADER_BYTES: "65537" })).toEqual(["MAX_HEADER_BYTES"]);
    expect(names({ REQUEST_TIMEOUT_SECONDS: "0" })).toEqual(["REQUEST_TIMEOUT_SECONDS"]);
    expect(names({ MAX_STREAMS_PER_PRINCIPAL: "10001" })).toEqual(["MAX_STREAMS_PER_PRINCIPAL"]);
  });

  it("CORS_ORIGINS: a comma-separated list of exact origins", () => {
    expect(loadConfig({ ...base, CORS_ORIGINS: "https://console.example.com, http://localhost:3000,http://[::1]:8080" }).CORS_ORIGINS).toEqual([
      "https://console.example.com",
      "http://localhost:3000",
      "http://[::1]:8080",
    ]);
    for (const bad of ["*", "null", "console.example.com", "https://console.example.com/", "https://console.example.com/app", "https://Console.example.com", "https://console.example.com:443", "ftp://files.example.com", "https://user@console.example.com", "https://a.example.com?x=1"]) {
      const problems = problemsOf({ CORS_ORIGINS: `https://ok.example.com,${bad}` });
      expect(problems, bad).toHaveLength(1);
      expect(problems[0], bad).toMatch(/^CORS_ORIGINS\.1: must be a comma-separated list of exact origins/);
    }
  });

  it("TRUST_PROXY: true, false, or the proxies' addresses and CIDRs", () => {
    expect(loadConfig({ ...base, TRUST_PROXY: "true" }).TRUST_PROXY).toBe(true);
    expect(loadConfig({ ...base, TRUST_PROXY: "false" }).TRUST_PROXY).toBe(false);
    expect(loadConfig({ ...base, TRUST_PROXY: "10.0.0.0/8, 127.0.0.1,fd00::/8,::1" }).TRUST_PROXY).toEqual(["10.0.0.0/8", "127.0.0.1", "fd00::/8", "::1"]);
    for (const bad of ["yes", "1", ",", "10.0.0.0/33", "fd00::/129", "10.0.0.0/8/1", "proxy.internal", "10.0.0.0/x"]) {
      expect(problemsOf({ TRUST_PROXY: bad }), bad).toEqual(["TRUST_PROXY: must be true, false or a comma-separated list of IP addresses or CIDRs (e.g. 10.0.0.0/8)"]);
    }
  });

  it("TLS_CERT_FILE and TLS_KEY_FILE: both or neither", () => {
    expect(loadConfig({ ...base, TLS_CERT_FILE: "/tls/cert.pem", TLS_KEY_FILE: "/tls/key.pem" })).toMatchObject({ TLS_CERT_FILE: "/tls/cert.pem", TLS_KEY_FILE: "/tls/key.pem" });
    expect(problemsOf({ TLS_CERT_FILE: "/tls/cert.pem" })).toEqual(["TLS_KEY_FILE: is required when TLS_CERT_FILE is set (HTTPS needs both, plain HTTP neither)"]);
    expect(problemsOf({ TLS_KEY_FILE: "/tls/key.pem" })).toEqual(["TLS_CERT_FILE: is required when TLS_KEY_FILE is set (HTTPS needs both, plain HTTP neither)"]);
  });
});
