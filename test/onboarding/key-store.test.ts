import { readFileSync } from "node:fs";
import { randomBytes } from "node:crypto";
import { describe, expect, it } from "vitest";
import { createCredentialSealer } from "../../src/auth/credential-seal.js";
import { EngineFailure, type EngineEvent } from "../../src/engine/engine.js";
import { AppError } from "../../src/errors.js";
import { checkTrustAnchor, connectKeyStore } from "../../src/onboarding/key-store.js";
import { KeyStoreConnectorError, type KeyStoreConnector, type KeyStoreStatus } from "../../src/onboarding/key-store-connector.js";

const CA = readFileSync(new URL("../support/certs/customer-ca.pem", import.meta.url), "utf8");
const LEAF = readFileSync(new URL("../support/certs/not-a-ca.pem", import.meta.url), "utf8");
const target = { region: "eu-west-1", roleArn: "arn:aws:iam::333333333333:role/OrganizationAccountAccessRole", customKeyStoreId: "cks-0123456789abcdef0" };

/**
 * TEST DOUBLE of the KMS connector port: answers DescribeCustomKeyStores from a script (one state per
 * call, the last one repeating) and records every call.
 */
function scriptedConnector(script: KeyStoreStatus[], afterConnect: KeyStoreStatus[] = script): KeyStoreConnector & { calls: string[] } {
  const calls: string[] = [];
  let current = script;
  let i = 0;
  return {
    name: "scripted-test-double",
    calls,
    async status() {
      calls.push("status");
      return current[Math.min(i++, current.length - 1)]!;
    },
    async connect() {
      calls.push("connect");
      current = afterConnect;
      i = 0;
    },
    async disconnect() {
      calls.push("disconnect");
      current = [{ state: "DISCONNECTED" }];
      i = 0;
    },
  };
}

function recorder() {
  const events: EngineEvent[] = [];
  return { events, emit: async (e: EngineEvent) => void events.push(e), messages: () => events.map((e) => (e.type === "diagnostic" ? e.message : "")) };
}

const opts = (emit: (e: EngineEvent) => Promise<void>, timeoutMs = 2_000) => ({ emit, signal: new AbortController().signal, pollMs: 5, timeoutMs });

describe("connectKeyStore", () => {
  it("connects a disconnected store and waits through CONNECTING until CONNECTED, reporting each change", async () => {
    const c = scriptedConnector([{ state: "DISCONNECTED" }], [{ state: "CONNECTING" }, { state: "CONNECTING" }, { state: "CONNECTED" }]);
    const r = recorder();
    await connectKeyStore(c, target, opts(r.emit));
    expect(c.calls).toEqual(["status", "connect", "status", "status", "status"]);
    expect(r.messages().filter((m) => m.includes("CONNECTED after"))).toHaveLength(2);
    expect(r.messages().some((m) => m.includes("CONNECTING after"))).toBe(true);
  });

  it("does nothing to a store that is already connected", async () => {
    const c = scriptedConnector([{ state: "CONNECTED" }]);
    await connectKeyStore(c, target, opts(recorder().emit));
    expect(c.calls).toEqual(["status"]);
  });

  it("a store left FAILED is disconnected first (as AWS requires), then connected", async () => {
    const c = scriptedConnector([{ state: "FAILED", errorCode: "NETWORK_ERRORS" }], [{ state: "CONNECTED" }]);
    await connectKeyStore(c, target, opts(recorder().emit));
    expect(c.calls).toEqual(["status", "disconnect", "status", "connect", "status"]);
  });

  it("a failed connection fails with the KMS code and its fix, and leaves the store disconnected for a new password", async () => {
    const c = scriptedConnector([{ state: "DISCONNECTED" }], [{ state: "CONNECTING" }, { state: "FAILED", errorCode: "INVALID_CREDENTIALS" }]);
    const err = await connectKeyStore(c, target, opts(recorder().emit)).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(EngineFailure);
    expect((err as EngineFailure).code).toBe("KEY_STORE_CONNECT_FAILED");
    expect((err as Error).message).toMatch(/INVALID_CREDENTIALS; the kmsuser password is wrong.*PUT \/key-store again/);
    expect(c.calls.at(-1)).toBe("disconnect");
  });

  it("gives up after its timeout with a message saying a retry continues", async () => {
    const c = scriptedConnector([{ state: "DISCONNECTED" }], [{ state: "CONNECTING" }]);
    const started = Date.now();
    const err = await connectKeyStore(c, target, { ...opts(recorder().emit, 60), pollMs: 10 }).catch((e: unknown) => e);
    expect((err as EngineFailure).code).toBe("KEY_STORE_CONNECT_TIMEOUT");
    expect((err as Error).message).toMatch(/last state CONNECTING.*PUT \/key-store again/);
    expect(Date.now() - started).toBeLessThan(1_000);
    expect(c.calls.filter((x) => x === "status").length).toBeLessThan(20);
  });

  it("a cloud refusal becomes an operation failure naming the call and the AWS code", async () => {
    const c = scriptedConnector([{ state: "DISCONNECTED" }]);
    c.connect = async () => {
      throw new KeyStoreConnectorError("CloudHsmClusterNotActiveException", "The cluster is not active");
    };
    const err = await connectKeyStore(c, target, opts(recorder().emit)).catch((e: unknown) => e);
    expect((err as EngineFailure).code).toBe("KEY_STORE_CONNECT_FAILED");
    expect((err as Error).message).toBe(`ConnectCustomKeyStore ${target.customKeyStoreId}: CloudHsmClusterNotActiveException: The cluster is not active`);
  });

  it("stops at once when the operation is cancelled", async () => {
    const c = scriptedConnector([{ state: "DISCONNECTED" }], [{ state: "CONNECTING" }]);
    const controller = new AbortController();
    const run = connectKeyStore(c, target, { emit: recorder().emit, signal: controller.signal, pollMs: 10_000, timeoutMs: 60_000 });
    setTimeout(() => controller.abort("cancel"), 20);
    const started = Date.now();
    await expect(run).rejects.toThrow();
    expect(Date.now() - started).toBeLessThan(2_000);
  });
});

describe("checkTrustAnchor", () => {
  const pathOf = (f: () => unknown) => {
    try {
      f();
    } catch (err) {
      return { code: (err as AppError).code, details: JSON.stringify((err as AppError).errors) };
    }
    return undefined;
  };
  it("accepts one CA certificate valid now and returns its SHA-256 fingerprint", () => {
    expect(checkTrustAnchor(CA)).toMatch(/^([0-9A-F]{2}:){31}[0-9A-F]{2}$/);
  });
  it("refuses a leaf, two certificates, garbage, a key, a truncated certificate, and one not valid at the time", () => {
    for (const bad of [LEAF, CA + CA, "garbage", "-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n", CA.split("\n").slice(0, 4).join("\n") + "\n-----END CERTIFICATE-----\n"]) {
      const refusal = pathOf(() => checkTrustAnchor(bad));
      expect(refusal?.code, bad.slice(0, 60)).toBe("VALIDATION_FAILED");
      expect(refusal?.details).toContain("/trustAnchorCertificate");
    }
    expect(pathOf(() => checkTrustAnchor(CA, new Date("2300-01-01T00:00:00Z")))?.details).toMatch(/expired/);
    expect(pathOf(() => checkTrustAnchor(CA, new Date("2000-01-01T00:00:00Z")))?.details).toMatch(/not valid before/);
  });
});

describe("credential sealer", () => {
  const sealer = createCredentialSealer(randomBytes(32));
  it("round-trips, and a value sealed twice differs (random IV)", () => {
    const a = sealer.seal("key-store|acme|1", "Secret-pw-1");
    expect(a).not.toContain("Secret-pw-1");
    expect(sealer.open("key-store|acme|1", a)).toBe("Secret-pw-1");
    expect(sealer.seal("key-store|acme|1", "Secret-pw-1")).not.toBe(a);
  });
  it("does not open for another context, under another key, or tampered", () => {
    const a = sealer.seal("key-store|acme|1", "Secret-pw-1");
    expect(() => sealer.open("key-store|acme|2", a)).toThrow(/does not open/);
    expect(() => createCredentialSealer(randomBytes(32)).open("key-store|acme|1", a)).toThrow(/does not open/);
    const raw = Buffer.from(a.slice(3), "base64");
    raw[raw.length - 1] = (raw[raw.length - 1] ?? 0) ^ 1;
    expect(() => sealer.open("key-store|acme|1", `v1:${raw.toString("base64")}`)).toThrow(/does not open/);
  });
  it("fingerprints are keyed: stable for one key, different under another", () => {
    expect(sealer.fingerprint("c", "pw")).toBe(sealer.fingerprint("c", "pw"));
    expect(createCredentialSealer(randomBytes(32)).fingerprint("c", "pw")).not.toBe(sealer.fingerprint("c", "pw"));
  });
});
