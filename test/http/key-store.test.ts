import { readFileSync } from "node:fs";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createSimulatedEngine } from "../../src/engine/simulated/simulated-engine.js";
import type { KeyStoreConnector, KeyStoreStatus } from "../../src/onboarding/key-store-connector.js";
import { specNamed, startTestService, waitForStatus, type TestService } from "../helpers/service.js";

/**
 * Issue 12, "CloudHSM to the end, through the API", on the simulated engine: phase 1 reports the ceremony
 * steps; PUT /key-store hands over the trust anchor and the kmsuser password; one key-store operation then
 * adds the second HSM and the custom key store, connects it, and creates the HSM-backed key. The password
 * is never in an event, a response, the log, the audit trail or any table in clear.
 */
type Json = Record<string, any>;
const CA = readFileSync(new URL("../support/certs/customer-ca.pem", import.meta.url), "utf8");
const LEAF = readFileSync(new URL("../support/certs/not-a-ca.pem", import.meta.url), "utf8");
const PASSWORD = `Kms-${Math.random().toString(36).slice(2, 12)}!`;
const STORE = "aws:kms/customKeyStore:CustomKeyStore";
const KEY = "aws:kms/key:Key";
const HSM = "aws:cloudhsmv2/hsm:Hsm";

let svc: TestService;
beforeAll(async () => {
  svc = await startTestService();
});
afterAll(() => svc.close(5_000));

async function run(method: "POST" | "PUT" | "DELETE", url: string, payload?: unknown): Promise<Json> {
  const res = await svc.app.inject({ method, url, ...(payload === undefined ? {} : { payload: payload as Json }) });
  expect(res.statusCode, res.body).toBe(202);
  return waitForStatus(svc, (res.json() as Json).operation.id, ["succeeded", "failed"]);
}

async function eventsOf(id: string): Promise<Json[]> {
  return ((await svc.app.inject({ method: "GET", url: `/v1/operations/${id}/events?limit=1000` })).json() as Json).items;
}

const provider = async (name: string): Promise<Json> => (await svc.app.inject({ method: "GET", url: `/v1/providers/${name}` })).json() as Json;
const put = (name: string, payload: Json) => svc.app.inject({ method: "PUT", url: `/v1/providers/${name}/key-store`, payload });
const stateOf = (stack: string, type: string): Promise<Json[]> =>
  svc.db.query(`SELECT name, inputs FROM simulated_resources WHERE stack = $1 AND type = $2 ORDER BY position`, [stack, type]);

/** Every row of every table in the public schema, as text. */
async function everyTable(): Promise<string> {
  const tables = await svc.db.query<{ tablename: string }>(`SELECT tablename FROM pg_tables WHERE schemaname = 'public'`);
  const parts: string[] = [];
  for (const { tablename } of tables) {
    const rows = await svc.db.query(`SELECT t::text AS row FROM "${tablename}" t`);
    parts.push(...rows.map((r) => String(r["row"])));
  }
  return parts.join("\n");
}

describe("CloudHSM key store through the API (simulated engine)", () => {
  const name = "hsm-e2e";

  it("phase 1 builds the cluster and one HSM, and the provider shows every step still owed", async () => {
    const op = await run("POST", "/v1/providers", specNamed(name, "globex.json"));
    expect(op.status, JSON.stringify(op.error)).toBe("succeeded");
    const p = await provider(name);
    expect(p.outputs.keyArn).toBeUndefined();
    expect(p.outputs.cloudHsm.clusterId).toMatch(/^cluster-/);
    expect((await stateOf(name, HSM)).length).toBe(1);
    expect(p.keyStore.state).toBe("awaiting-initialisation");
    expect(p.keyStore.steps.map((s: Json) => [s.by, s.done])).toEqual([
      ["saas-bridge", true],
      ["operator", false],
      ["operator", false],
      ["operator", false],
      ["operator", false],
      ["saas-bridge", false],
      ["saas-bridge", false],
      ["saas-bridge", false],
    ]);
    expect(p.outputs.actionsRequired.join("\n")).toContain(`PUT /v1/providers/${name}/key-store`);
  });

  it("refuses a bad hand-over with a problem naming the field, and changes nothing", async () => {
    const cases: [Json, number, string][] = [
      [{ trustAnchorCertificate: "not a certificate", kmsuserPassword: PASSWORD }, 400, "/trustAnchorCertificate"],
      [{ trustAnchorCertificate: LEAF, kmsuserPassword: PASSWORD }, 400, "/trustAnchorCertificate"],
      [{ trustAnchorCertificate: CA + CA, kmsuserPassword: PASSWORD }, 400, "/trustAnchorCertificate"],
      [{ trustAnchorCertificate: CA, kmsuserPassword: "short" }, 400, "/kmsuserPassword"],
      [{ trustAnchorCertificate: CA, kmsuserPassword: "x".repeat(33) }, 400, "/kmsuserPassword"],
      [{ trustAnchorCertificate: CA, kmsuserPassword: "tab\there!" }, 400, "/kmsuserPassword"],
      [{ trustAnchorCertificate: CA }, 400, "/kmsuserPassword"],
      [{ trustAnchorCertificate: CA, kmsuserPassword: PASSWORD, extra: 1 }, 400, ""],
    ];
    for (const [payload, status, path] of cases) {
      const res = await put(name, payload);
      expect(res.statusCode, res.body).toBe(status);
      expect(res.headers["content-type"]).toContain("application/problem+json");
      if (path) expect((res.json() as Json).errors.map((e: Json) => e.path), res.body).toContain(path);
      expect(res.body).not.toContain(PASSWORD);
    }
    // A provider with a KMS key store has nothing to hand over.
    expect((await run("POST", "/v1/providers", specNamed("hsm-e2e-kms"))).status).toBe("succeeded");
    const kms = await put("hsm-e2e-kms", { trustAnchorCertificate: CA, kmsuserPassword: PASSWORD });
    expect(kms.statusCode, kms.body).toBe(409);
    expect((kms.json() as Json).errors[0].path).toBe("/kms/keyStore");
    expect(await svc.db.query(`SELECT provider FROM key_stores`)).toEqual([]);
    // Unknown provider: 404.
    expect((await put("no-such-provider", { trustAnchorCertificate: CA, kmsuserPassword: PASSWORD })).statusCode).toBe(404);
  });

  let keyStoreOp: Json;
  it("one key-store operation: second HSM and store, connect, then the HSM-backed key", async () => {
    keyStoreOp = await run("PUT", `/v1/providers/${name}/key-store`, { trustAnchorCertificate: CA, kmsuserPassword: PASSWORD });
    expect(keyStoreOp.status, JSON.stringify(keyStoreOp.error)).toBe("succeeded");
    expect(keyStoreOp.intent).toBe("key-store");
    const events = await eventsOf(keyStoreOp.id);
    const messages = events.filter((e) => e.type === "diagnostic").map((e) => e.message as string);
    const phase = (n: number) => messages.findIndex((m) => m.startsWith(`phase ${n} of 3`));
    expect([phase(1), phase(2), phase(3)].every((i) => i >= 0)).toBe(true);
    expect(phase(1)).toBeLessThan(phase(2));
    expect(phase(2)).toBeLessThan(phase(3));
    expect(messages.some((m) => /^key store cks-[0-9a-f]{17}: CONNECTED/.test(m))).toBe(true);
    const created = events.filter((e) => e.type === "resource.completed" && e.op === "create");
    const storeAt = created.findIndex((e) => e.resourceType === STORE);
    const keyAt = created.findIndex((e) => e.resourceType === KEY && String(e.urn).includes("ByokKey"));
    expect(storeAt).toBeGreaterThanOrEqual(0);
    // The key comes after the connect, in the second up.
    expect(keyAt).toBeGreaterThan(storeAt);
    expect(events.findIndex((e) => e === created[keyAt])).toBeGreaterThan(events.findIndex((e) => e.type === "diagnostic" && e.message.startsWith("phase 3 of 3")));
    expect(keyStoreOp.result.summary.create).toBeGreaterThanOrEqual(3);

    const p = await provider(name);
    expect(p.keyStore.state).toBe("connected");
    expect(p.keyStore.steps.every((s: Json) => s.done)).toBe(true);
    const [store] = await stateOf(name, STORE);
    expect(store?.inputs.keyStorePassword).toBe("[secret]");
    expect(p.outputs.cloudHsm.customKeyStoreId).toMatch(/^cks-[0-9a-f]{17}$/);
    expect(p.keyStore.customKeyStoreId).toBe(p.outputs.cloudHsm.customKeyStoreId);
    expect(p.outputs.keyArn).toMatch(/^arn:aws:kms:/);
    expect(p.outputs.actionsRequired.join("\n")).not.toContain("key-store");
    const [key] = (await stateOf(name, KEY)).filter((k) => k.name === `${name}-key`);
    expect(key?.inputs.customKeyStoreId).toBe(p.outputs.cloudHsm.customKeyStoreId);
    expect((await stateOf(name, HSM)).length).toBe(2);
    expect(store?.inputs.trustAnchorCertificate).toBe(CA.trim() + "\n");
  });

  it("the password is never in clear: events, operation, provider, log, audit trail, any table", async () => {
    const everything = [
      JSON.stringify(await eventsOf(keyStoreOp.id)),
      JSON.stringify(keyStoreOp),
      JSON.stringify(await provider(name)),
      svc.logs.join("\n"),
      await everyTable(),
    ].join("\n");
    expect(everything).not.toContain(PASSWORD);
    // Kept sealed only until KMS connected the store (it then rotates kmsuser's password): forgotten now.
    const [row] = await svc.db.query(`SELECT password_sealed, state FROM key_stores WHERE provider = $1`, [name]);
    expect(row).toEqual({ password_sealed: null, state: "connected" });
    const audit = await svc.db.query(`SELECT details FROM audit_log WHERE action = 'provider.key-store'`);
    expect(audit.length).toBe(1);
    expect(JSON.stringify(audit[0])).toMatch(/trustAnchorSha256/);
  });

  it("a connected store is not handed over again (409), and later runs keep the store and the key", async () => {
    const again = await put(name, { trustAnchorCertificate: CA, kmsuserPassword: PASSWORD });
    expect(again.statusCode, again.body).toBe(409);
    const revoke = await run("POST", `/v1/providers/${name}/revoke`);
    expect(revoke.status, JSON.stringify(revoke.error)).toBe("succeeded");
    const events = await eventsOf(revoke.id);
    const touched = events.filter((e) => e.type === "resource.completed" && [STORE, KEY, HSM].includes(e.resourceType) && e.op !== "same" && e.op !== "update");
    expect(touched).toEqual([]);
    expect((await provider(name)).outputs.keyArn).toMatch(/^arn:aws:kms:/);
  });

  it("decommission keeps the cluster and the store (named in outputs and actions) and forgets the password", async () => {
    const op = await run("DELETE", `/v1/providers/${name}`);
    expect(op.status, JSON.stringify(op.error)).toBe("succeeded");
    const p = await provider(name);
    expect(p.lifecycle).toBe("decommissioned");
    expect(p.outputs.cloudHsm).toMatchObject({ clusterId: expect.stringMatching(/^cluster-/), customKeyStoreId: expect.stringMatching(/^cks-/), retained: true });
    expect(p.outputs.actionsRequired.join("\n")).toMatch(/disconnect and delete the store/);
    expect(p.outputs.byokKey.disposition).toBe("retained");
    expect(await svc.db.query(`SELECT provider FROM key_stores WHERE provider = $1`, [name])).toEqual([]);
  });
});

/**
 * TEST DOUBLE of the KMS connector port whose answers the test sets: what KMS says after a connect, and
 * the calls it got.
 */
function controllableConnector() {
  const calls: string[] = [];
  let afterConnect: KeyStoreStatus = { state: "CONNECTED" };
  const states = new Map<string, KeyStoreStatus>();
  const connector: KeyStoreConnector = {
    name: "controllable-test-double",
    async status(t) {
      calls.push(`status ${t.roleArn}`);
      return states.get(t.customKeyStoreId) ?? { state: "DISCONNECTED" };
    },
    async connect(t) {
      calls.push("connect");
      states.set(t.customKeyStoreId, afterConnect);
    },
    async disconnect(t) {
      calls.push("disconnect");
      states.set(t.customKeyStoreId, { state: "DISCONNECTED" });
    },
  };
  return { connector, calls, then: (s: KeyStoreStatus) => void (afterConnect = s) };
}

describe("CloudHSM key store: failures and retries through the API", () => {
  const kms = controllableConnector();
  let failing: TestService;
  beforeAll(async () => {
    failing = await startTestService({ keyStoreConnector: kms.connector, config: { KEY_STORE_POLL_SECONDS: 1, KEY_STORE_CONNECT_TIMEOUT_SECONDS: 10 } });
  });
  afterAll(() => failing.close(5_000));

  const go = async (method: "POST" | "PUT", url: string, payload?: Json): Promise<Json> => {
    const res = await failing.app.inject({ method, url, ...(payload ? { payload } : {}) });
    expect(res.statusCode, res.body).toBe(202);
    return waitForStatus(failing, (res.json() as Json).operation.id, ["succeeded", "failed", "cancelled"], 30_000);
  };
  const get = async (name: string): Promise<Json> => (await failing.app.inject({ method: "GET", url: `/v1/providers/${name}` })).json() as Json;

  it("a wrong kmsuser password fails with KMS's code and the fix; the store stays, disconnected; a new password then connects it", async () => {
    // (The simulated state masks secret inputs, so the new password shows no diff here; the real engine applies it.)
    expect((await go("POST", "/v1/providers", specNamed("hsm-retry", "globex.json"))).status).toBe("succeeded");
    kms.then({ state: "FAILED", errorCode: "INVALID_CREDENTIALS" });
    const failed = await go("PUT", "/v1/providers/hsm-retry/key-store", { trustAnchorCertificate: CA, kmsuserPassword: "wrong-password-1" });
    expect(failed.status).toBe("failed");
    expect(failed.error.code).toBe("KEY_STORE_CONNECT_FAILED");
    expect(failed.error.message).toMatch(/INVALID_CREDENTIALS; the kmsuser password is wrong: PUT \/key-store again/);
    expect(kms.calls.at(-1)).toBe("disconnect");
    // The call was made as the bridge account's deploy role (the account the stack created).
    expect(kms.calls[0]).toMatch(/^status arn:aws:iam::\d{12}:role\/OrganizationAccountAccessRole$/);
    let p = await get("hsm-retry");
    expect(p.lifecycle).toBe("active");
    expect(p.keyStore.state).toBe("created");
    expect(p.keyStore.steps.filter((s: Json) => !s.done).map((s: Json) => s.step)).toEqual(["custom key store connected", "HSM-backed BYOK key created"]);

    kms.then({ state: "CONNECTED" });
    const retried = await go("PUT", "/v1/providers/hsm-retry/key-store", { trustAnchorCertificate: CA, kmsuserPassword: PASSWORD });
    expect(retried.status, JSON.stringify(retried.error)).toBe("succeeded");
    p = await get("hsm-retry");
    expect(p.keyStore.state).toBe("connected");
    expect(p.outputs.keyArn).toMatch(/^arn:aws:kms:/);
  });

  it("a store that never connects fails after the configured time, saying a retry continues", async () => {
    expect((await go("POST", "/v1/providers", specNamed("hsm-slow", "globex.json"))).status).toBe("succeeded");
    kms.then({ state: "CONNECTING" });
    const started = Date.now();
    const op = await go("PUT", "/v1/providers/hsm-slow/key-store", { trustAnchorCertificate: CA, kmsuserPassword: PASSWORD });
    expect(op.status).toBe("failed");
    expect(op.error.code).toBe("KEY_STORE_CONNECT_TIMEOUT");
    expect(op.error.message).toMatch(/within 10s \(last state CONNECTING\).*PUT \/key-store again/);
    expect(Date.now() - started).toBeLessThan(25_000);
  });

  it("a cancel while KMS is connecting stops the operation at once", async () => {
    expect((await go("POST", "/v1/providers", specNamed("hsm-cancel", "globex.json"))).status).toBe("succeeded");
    kms.then({ state: "CONNECTING" });
    const res = await failing.app.inject({ method: "PUT", url: "/v1/providers/hsm-cancel/key-store", payload: { trustAnchorCertificate: CA, kmsuserPassword: PASSWORD } });
    const id = (res.json() as Json).operation.id as string;
    const deadline = Date.now() + 20_000;
    while (!(await eventsOf2(id)).some((e) => e.type === "diagnostic" && /ConnectCustomKeyStore sent/.test(e.message))) {
      if (Date.now() > deadline) throw new Error("the connect step never started");
      await new Promise((r) => setTimeout(r, 50));
    }
    const cancelledAt = Date.now();
    expect((await failing.app.inject({ method: "POST", url: `/v1/operations/${id}/cancel` })).statusCode).toBe(202);
    const op = await waitForStatus(failing, id, ["cancelled", "failed", "succeeded"], 10_000);
    expect(op.status).toBe("cancelled");
    expect(Date.now() - cancelledAt).toBeLessThan(5_000);
  });

  it("stopped between the connect and the key's up: the hand-over is refused with the way on, and the next run creates the key", async () => {
    kms.then({ state: "CONNECTED" });
    expect((await go("POST", "/v1/providers", specNamed("hsm-gap", "globex.json"))).status).toBe("succeeded");
    const ok = await go("PUT", "/v1/providers/hsm-gap/key-store", { trustAnchorCertificate: CA, kmsuserPassword: PASSWORD });
    expect(ok.status).toBe("succeeded");
    // As if the key-store operation had been interrupted after the connect: connected, no key in the outputs.
    await failing.db.query(`UPDATE providers SET outputs = outputs - 'keyArn' - 'keyAlias' WHERE name = 'hsm-gap'`);
    const refused = await put("hsm-gap", { trustAnchorCertificate: CA, kmsuserPassword: PASSWORD });
    expect(refused.statusCode).toBe(409);
    expect((refused.json() as Json).detail).toMatch(/already connected\. Its key is created by the provider's next run: PUT the same spec\./);
    const update = await go("PUT", "/v1/providers/hsm-gap", specNamed("hsm-gap", "globex.json"));
    expect(update.status, JSON.stringify(update.error)).toBe("succeeded");
    expect((await get("hsm-gap")).outputs.keyArn).toMatch(/^arn:aws:kms:/);
  });

  const put = (name: string, payload: Json) => failing.app.inject({ method: "PUT", url: `/v1/providers/${name}/key-store`, payload });

  async function eventsOf2(id: string): Promise<Json[]> {
    return ((await failing.app.inject({ method: "GET", url: `/v1/operations/${id}/events?limit=1000` })).json() as Json).items;
  }
});

describe("CloudHSM key store: a key-store run that stops halfway", () => {
  let faulty: TestService;
  let failStoreCreate = true;
  beforeAll(async () => {
    faulty = await startTestService({
      engine: (db) =>
        createSimulatedEngine({ state: { db }, stepMs: 0, faultOf: (step) => (failStoreCreate && step.type === STORE && step.op === "create" ? "CloudHsmClusterInvalidConfigurationException" : undefined) }),
    });
  });
  afterAll(() => faulty.close(5_000));

  it("later runs keep building phase 2, so they never delete the second HSM it made (nor drop the store)", async () => {
    const go = async (method: "POST" | "PUT", url: string, payload: Json): Promise<Json> => {
      const res = await faulty.app.inject({ method, url, payload });
      expect(res.statusCode, res.body).toBe(202);
      return waitForStatus(faulty, (res.json() as Json).operation.id, ["succeeded", "failed"]);
    };
    const spec = specNamed("hsm-half", "globex.json");
    expect((await go("POST", "/v1/providers", spec)).status).toBe("succeeded");
    const half = await go("PUT", "/v1/providers/hsm-half/key-store", { trustAnchorCertificate: CA, kmsuserPassword: PASSWORD });
    expect(half.status).toBe("failed");
    expect(half.error.code).toBe("RESOURCE_FAILED");
    const hsms = await faulty.db.query(`SELECT name FROM simulated_resources WHERE stack = 'hsm-half' AND type = $1`, [HSM]);
    expect(hsms.length).toBe(2);

    // An ordinary update in between: it must not undo the half-built phase 2.
    const update = await go("PUT", "/v1/providers/hsm-half", spec);
    expect(update.status, JSON.stringify(update.error)).toBe("failed");
    const events = ((await faulty.app.inject({ method: "GET", url: `/v1/operations/${update.id}/events?limit=1000` })).json() as Json).items as Json[];
    expect(events.filter((e) => e.type === "resource.completed" && e.resourceType === HSM && e.op === "delete")).toEqual([]);
    expect((await faulty.db.query(`SELECT name FROM simulated_resources WHERE stack = 'hsm-half' AND type = $1`, [HSM])).length).toBe(2);

    failStoreCreate = false;
    const done = await go("PUT", "/v1/providers/hsm-half/key-store", { trustAnchorCertificate: CA, kmsuserPassword: PASSWORD });
    expect(done.status, JSON.stringify(done.error)).toBe("succeeded");
    expect(((await faulty.app.inject({ method: "GET", url: "/v1/providers/hsm-half" })).json() as Json).keyStore.state).toBe("connected");
  });
});
