import { describe, expect, it } from "vitest";
import { BASE_CHILD_ENV_KEYS, buildChildEnv, redact, redactWhileRunning, secretValuesOf } from "../../src/engine/process/child-env.js";

describe("engine child environment", () => {
  it("is exactly the base keys, the engine's and the passthrough ones — the engine's win over a passthrough of the same name", () => {
    const env = buildChildEnv({
      homeDir: "/data/engine/home",
      tmpDir: "/data/engine/tmp",
      path: "/usr/bin",
      engine: { PULUMI_HOME: "/data/pulumi-home", PULUMI_BACKEND_URL: "file:///data/state" },
      passthrough: { AWS_ROLE_ARN: "arn:aws:iam::111111111111:role/r", PULUMI_HOME: "/elsewhere" },
    });
    expect(Object.keys(env).sort()).toEqual([...BASE_CHILD_ENV_KEYS, "AWS_ROLE_ARN", "PULUMI_BACKEND_URL", "PULUMI_HOME"].sort());
    expect(env["PULUMI_HOME"]).toBe("/data/pulumi-home");
    expect(env["HOME"]).toBe("/data/engine/home");
  });

  it("knows which values are secret (passphrase, keys, tokens, the backend URL and its password) and redacts them", () => {
    const env = {
      PULUMI_CONFIG_PASSPHRASE: "correct horse battery",
      PULUMI_BACKEND_URL: "postgres://pulumi:s3cr%21t-pw@db:5432/state",
      AWS_SECRET_ACCESS_KEY: "wJalrXUtnFEMI/K7MDENG",
      AWS_SESSION_TOKEN: "FwoGZXIvYXdzEJr",
      AWS_ROLE_ARN: "arn:aws:iam::111111111111:role/r",
      PULUMI_HOME: "/data/pulumi-home",
    };
    const secrets = secretValuesOf(env);
    expect(secrets).toEqual(expect.arrayContaining(["correct horse battery", env.PULUMI_BACKEND_URL, "s3cr!t-pw", env.AWS_SECRET_ACCESS_KEY, env.AWS_SESSION_TOKEN]));
    expect(secrets).not.toContain(env.AWS_ROLE_ARN);
    expect(secrets).not.toContain(env.PULUMI_HOME);
    const line = `error: connecting to ${env.PULUMI_BACKEND_URL} failed; password s3cr!t-pw; passphrase correct horse battery`;
    const out = redact(line, secrets);
    for (const s of secrets) expect(out).not.toContain(s);
    expect(out).toBe("error: connecting to [redacted] failed; password [redacted]; passphrase [redacted]");
  });
});

describe("redactWhileRunning", () => {
  it("adds a run's secret config to the redaction list while it runs, redacts events (also JSON-escaped) and failures, and takes it out again", () => {
    const secrets = ["env-secret"];
    const scrub = redactWhileRunning({ "saas-bridge:kmsuserPassword": 'pw"with\\quote', "x:short": "abc" }, secrets);
    expect(secrets).toEqual(["env-secret", 'pw"with\\quote']);
    expect(scrub.value({ type: "diagnostic", message: 'saw pw"with\\quote here' })).toEqual({ type: "diagnostic", message: "saw [redacted] here" });
    expect(scrub.text('failed: pw"with\\quote')).toBe("failed: [redacted]");
    scrub.release();
    expect(secrets).toEqual(["env-secret"]);
    const none = redactWhileRunning(undefined, secrets);
    const event = { type: "progress", done: 1, total: 2 };
    expect(none.value(event)).toBe(event);
  });
});
