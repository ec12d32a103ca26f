import { describe, expect, it } from "vitest";
import { Webhook } from "standardwebhooks";
import { ConfigError, loadConfig } from "../../src/config.js";
import { checkAddresses, createAddressCheck, urlProblem } from "../../src/notifications/destination.js";
import { retryDelayMs } from "../../src/notifications/delivery-worker.js";
import { guardedLookup } from "../../src/notifications/http-sender.js";
import { generateSecret, secretKey, signedHeaders } from "../../src/notifications/signing.js";

/** The pure parts of issue 16's webhooks: address ranges, the connect-time lookup, back-off, signatures. */
describe("webhook destinations", () => {
  const none = createAddressCheck([]);

  it("refuses loopback, private, link-local, CGNAT, unspecified, multicast, documentation and IPv6 forms that lead to them", () => {
    for (const address of [
      "127.0.0.1", "127.255.0.9", "10.1.2.3", "172.16.0.1", "172.31.255.255", "192.168.0.10", "169.254.169.254", "100.64.0.1",
      "0.0.0.0", "224.0.0.1", "255.255.255.255", "192.0.2.1", "198.18.0.1",
      "::", "::1", "::ffff:127.0.0.1", "::ffff:a9fe:a9fe", "::ffff:10.0.0.1", "64:ff9b::a00:1", "2002:a00:1::1", "2001:0:4136:e378::1",
      "fc00::1", "fd12:3456::1", "fe80::1", "fe80::1%eth0", "ff02::1", "2001:db8::1",
    ]) {
      expect(none.refusal(address), address).toBeDefined();
    }
  });

  it("lets public addresses through, and special ones only when allow-listed (an IPv4-mapped form included)", () => {
    for (const address of ["93.184.215.14", "8.8.8.8", "172.32.0.1", "100.128.0.1", "2606:4700::1111", "::ffff:93.184.215.14"]) {
      expect(none.refusal(address), address).toBeUndefined();
    }
    const allowed = createAddressCheck(["127.0.0.1/32", "10.20.0.0/16", "fd00:1::/64"]);
    for (const address of ["127.0.0.1", "10.20.3.4", "fd00:1::5", "::ffff:127.0.0.1"]) expect(allowed.refusal(address), address).toBeUndefined();
    for (const address of ["127.0.0.2", "10.21.0.1", "fd00:2::1", "::1"]) expect(allowed.refusal(address), address).toBeDefined();
  });

  it("every resolved address must pass; http:// in production only to allow-listed ones", () => {
    const policy = { httpsOnly: true, allowedCidrs: ["127.0.0.1/32"] };
    const check = createAddressCheck(policy.allowedCidrs);
    expect(checkAddresses(check, policy, "https:", [{ address: "93.184.215.14", family: 4 }, { address: "10.0.0.1", family: 4 }]).ok).toBe(false);
    expect(checkAddresses(check, policy, "https:", [{ address: "93.184.215.14", family: 4 }]).ok).toBe(true);
    expect(checkAddresses(check, policy, "http:", [{ address: "93.184.215.14", family: 4 }]).ok).toBe(false);
    expect(checkAddresses(check, policy, "http:", [{ address: "127.0.0.1", family: 4 }]).ok).toBe(true);
    expect(checkAddresses(check, { ...policy, httpsOnly: false }, "http:", [{ address: "93.184.215.14", family: 4 }]).ok).toBe(true);
    expect(checkAddresses(check, policy, "https:", []).ok).toBe(false);
  });

  it("URLs: http(s) only, no credentials, no fragment", () => {
    expect(urlProblem("https://hooks.example.com/a?b=c").url).toBeDefined();
    for (const raw of ["ftp://x.example.com/", "https://u:p@x.example.com/", "https://u@x.example.com/", "https://x.example.com/#f", "not a url", "file:///etc/passwd"]) {
      expect(urlProblem(raw).problem, raw).toBeDefined();
    }
  });

  it("the connect-time lookup answers only with allowed addresses, in both callback shapes", async () => {
    const lookup = guardedLookup({ httpsOnly: false, allowedCidrs: [], resolve: async (h) => (h === "bad.test" ? [{ address: "10.0.0.1", family: 4 }] : [{ address: "93.184.215.14", family: 4 }]) }, "https:");
    const one = await new Promise<unknown[]>((resolve) => lookup("good.test", {}, (...args: unknown[]) => resolve(args)));
    expect(one).toEqual([null, "93.184.215.14", 4]);
    const all = await new Promise<unknown[]>((resolve) => lookup("good.test", { all: true }, (...args: unknown[]) => resolve(args)));
    expect(all).toEqual([null, [{ address: "93.184.215.14", family: 4 }]]);
    const refused = await new Promise<unknown[]>((resolve) => lookup("bad.test", {}, (...args: unknown[]) => resolve(args)));
    expect(String(refused[0])).toMatch(/destination refused: bad\.test 10\.0\.0\.1/);
  });
});

describe("webhook configuration", () => {
  const base = { LANDING_ZONE_FILE: "examples/landing-zone.json" };

  it("has the documented defaults, and refuses what is not an address or CIDR, or out of bounds", () => {
    const c = loadConfig(base);
    expect([c.WEBHOOK_ALLOWED_CIDRS, c.WEBHOOK_TIMEOUT_SECONDS, c.WEBHOOK_MAX_AGE_HOURS, c.WEBHOOK_BACKOFF_SECONDS, c.WEBHOOK_BACKOFF_MAX_SECONDS, c.WEBHOOK_SOURCE]).toEqual([[], 10, 24, 5, 3600, "/saas-bridge"]);
    expect(loadConfig({ ...base, WEBHOOK_ALLOWED_CIDRS: "127.0.0.1/32, ::1/128,10.20.0.0/16" }).WEBHOOK_ALLOWED_CIDRS).toEqual(["127.0.0.1/32", "::1/128", "10.20.0.0/16"]);
    for (const [name, value] of [["WEBHOOK_ALLOWED_CIDRS", "localhost"], ["WEBHOOK_ALLOWED_CIDRS", "10.0.0.0/33"], ["WEBHOOK_MAX_AGE_HOURS", "0"], ["WEBHOOK_TIMEOUT_SECONDS", "600"], ["WEBHOOK_SOURCE", "has space"]] as const) {
      expect(() => loadConfig({ ...base, [name]: value }), `${name}=${value}`).toThrow(ConfigError);
    }
  });
});

describe("back-off and signatures", () => {
  it("full jitter: uniform below min(max, base·2^(n−1))", () => {
    const backoff = { baseMs: 1_000, maxMs: 60_000 };
    expect(retryDelayMs(backoff, 1, () => 0.999)).toBe(999);
    expect(retryDelayMs(backoff, 4, () => 0.5)).toBe(4_000);
    expect(retryDelayMs(backoff, 30, () => 0.999)).toBe(59_940);
    expect(retryDelayMs(backoff, 3, () => 0)).toBe(0);
  });

  it("our signature is what the standardwebhooks package computes, and one per secret during an overlap", () => {
    const [a, b] = [generateSecret(), generateSecret()];
    expect(secretKey(a)).toHaveLength(32);
    const at = new Date();
    const ts = Math.floor(at.getTime() / 1000);
    const body = JSON.stringify({ hello: "world" });
    const headers = signedHeaders([secretKey(a), secretKey(b)], "msg_1", ts, body);
    const [sigA, sigB] = headers["webhook-signature"].split(" ");
    expect(sigA).toBe(new Webhook(a).sign("msg_1", new Date(ts * 1000), body));
    expect(sigB).toBe(new Webhook(b).sign("msg_1", new Date(ts * 1000), body));
    expect(() => secretKey("sk_nope")).toThrow();
  });
});
