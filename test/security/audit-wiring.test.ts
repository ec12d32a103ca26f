import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createAuditWriter } from "../../src/audit/append.js";
import { specNamed, startTestService, type TestService } from "../helpers/service.js";

/**
 * The audit trail end to end (issue #5): mutations, key events and denials are recorded; the record is
 * in the change's own transaction (an audit failure leaves no change); brute force is limited and audited;
 * verify finds tampering through the API.
 */
type Json = Record<string, any>;
let svc: TestService;

beforeAll(async () => {
  svc = await startTestService({ config: { AUTH_FAILURES_PER_IP_PER_MINUTE: 5 }, start: false });
});
afterAll(() => svc.close(1_000));

const asAdmin = async (url: string) => (await svc.app.inject({ method: "GET", url })).json() as Json;
const records = async (query: string) => (await asAdmin(`/v1/audit?limit=500&${query}`)).items as Json[];

describe("audit wiring", () => {
  it("an accepted change is recorded with who, what, the request id and the operation", async () => {
    const res = await svc.app.inject({ method: "POST", url: "/v1/providers", payload: specNamed("aw-one") });
    expect(res.statusCode).toBe(202);
    const op = (res.json() as Json).operation;
    const [record] = await records("action=provider.create&resourceId=aw-one");
    expect(record).toMatchObject({
      outcome: "allowed",
      principal: { kind: "apikey", name: "test-admin" },
      resource: { kind: "provider", id: "aw-one" },
      requestId: expect.any(String),
      details: { operationId: op.id, intent: "create", specHash: op.specHash, status: "queued" },
    });
    // The spec is in the record, its contact address only as a keyed hash the admin can reproduce.
    const spec = specNamed("aw-one") as { owner: { contact: string }; region: string };
    expect(record!.details.spec.region).toBe(spec.region);
    expect(record!.details.spec.owner.contact).toBe(createAuditWriter({ hmacKey: svc.keys.auditHmac }).hash(spec.owner.contact));
    expect(JSON.stringify(record)).not.toContain(spec.owner.contact);
    // An auditor who knows the address finds the records carrying it; the look-up is recorded, hashed too.
    const lookup = await svc.app.inject({ method: "POST", url: "/v1/audit/hash", payload: { value: spec.owner.contact } });
    const { hash, links } = lookup.json() as Json;
    expect(hash).toBe(record!.details.spec.owner.contact);
    const found = (await asAdmin(links.records)).items as Json[];
    expect(found.map((r) => r.action)).toEqual(["provider.create", "audit.hash"]);
    expect(JSON.stringify(found)).not.toContain(spec.owner.contact);
    expect((await records("hash=hmac-sha256:" + "0".repeat(64))).length).toBe(0);
  });

  it("an audit insert that fails fails the change: 500, and no provider, operation, event or idempotency row", async () => {
    await svc.db.query(`CREATE FUNCTION audit_fails() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN RAISE EXCEPTION 'audit store unavailable'; END $$`);
    await svc.db.query(`CREATE TRIGGER audit_fails BEFORE INSERT ON audit_log FOR EACH ROW EXECUTE FUNCTION audit_fails()`);
    try {
      const res = await svc.app.inject({ method: "POST", url: "/v1/providers", headers: { "idempotency-key": "aw-fail-1" }, payload: specNamed("aw-fail") });
      expect(res.statusCode).toBe(500);
      expect(res.body).not.toMatch(/audit store unavailable/);
      expect(await svc.db.query(`SELECT 1 FROM providers WHERE name = 'aw-fail'`)).toEqual([]);
      expect(await svc.db.query(`SELECT 1 FROM operations WHERE provider = 'aw-fail'`)).toEqual([]);
      expect(await svc.db.query(`SELECT 1 FROM idempotency_keys WHERE key LIKE '%aw-fail-1'`)).toEqual([]);
      const key = await svc.app.inject({ method: "POST", url: "/v1/api-keys", payload: { name: "not-made", role: "viewer", teams: [] } });
      expect(key.statusCode).toBe(500);
      expect(await svc.db.query(`SELECT 1 FROM api_keys WHERE name = 'not-made'`)).toEqual([]);
    } finally {
      await svc.db.query(`DROP TRIGGER audit_fails ON audit_log`);
      await svc.db.query(`DROP FUNCTION audit_fails()`);
    }
    const retried = await svc.app.inject({ method: "POST", url: "/v1/providers", headers: { "idempotency-key": "aw-fail-1" }, payload: specNamed("aw-fail") });
    expect(retried.statusCode).toBe(202);
  });

  it("denials are recorded: anonymous, a role too low, another team's provider", async () => {
    const anonymous = await svc.app.inject({ method: "POST", url: "/v1/providers", headers: { authorization: "", "x-forwarded-for": "6.6.6.6" }, payload: specNamed("aw-denied") });
    expect(anonymous.statusCode).toBe(401);
    const viewer = `Bearer ${await svc.createKey("viewer", ["data-platform"], "vera")}`;
    const low = await svc.app.inject({ method: "DELETE", url: "/v1/providers/aw-one", headers: { authorization: viewer } });
    expect(low.statusCode).toBe(403);
    const outsider = `Bearer ${await svc.createKey("operator", ["elsewhere"], "otto")}`;
    const hidden = await svc.app.inject({ method: "POST", url: "/v1/providers/aw-one/revoke", headers: { authorization: outsider } });
    expect(hidden.statusCode).toBe(404);
    expect(hidden.json()).toMatchObject({ detail: 'No provider named "aw-one".' });

    const denied = await records("outcome=denied");
    expect(denied).toEqual(
      expect.arrayContaining([
        expect.objectContaining({ action: "provider.create", principal: { kind: "anonymous", id: "anonymous" }, details: expect.objectContaining({ reason: "missing", status: 401 }) }),
        expect.objectContaining({ action: "provider.decommission", principal: expect.objectContaining({ name: "vera" }), details: expect.objectContaining({ status: 403 }) }),
        expect.objectContaining({
          action: "provider.revoke",
          principal: expect.objectContaining({ name: "otto" }),
          resource: { kind: "provider", id: "aw-one" },
          details: expect.objectContaining({ reason: "the provider belongs to another team", status: 404 }),
        }),
      ]),
    );
  });

  it("key events are recorded, the secret is in the response only, and a revoked key stops working at once", async () => {
    const made = await svc.app.inject({ method: "POST", url: "/v1/api-keys", payload: { name: "ci-bot", role: "operator", teams: ["data-platform"], expiresInDays: 7 } });
    expect(made.statusCode).toBe(201);
    expect(made.headers["cache-control"]).toBe("no-store");
    const { key, secret } = made.json() as Json;
    expect(secret).toMatch(/^sbk_/);
    const works = await svc.app.inject({ method: "GET", url: "/v1/providers", headers: { authorization: `Bearer ${secret}` } });
    expect(works.statusCode).toBe(200);
    expect((await svc.app.inject({ method: "DELETE", url: `/v1/api-keys/${key.id}` })).json()).toMatchObject({ state: "revoked" });
    const after = await svc.app.inject({ method: "GET", url: "/v1/providers", headers: { authorization: `Bearer ${secret}` } });
    expect(after.statusCode).toBe(401);
    expect((await records(`resourceId=${key.id}`)).map((r) => r.action)).toEqual(["apikey.create", "apikey.revoke"]);
    const trail = JSON.stringify(await records(""));
    expect(trail).not.toContain(secret);
    expect(trail).not.toContain(secret.slice(-43));
  });

  it("brute force: past the limit an address is refused (429) even with a valid key, once audited; other addresses go on", async () => {
    const ip = "203.0.113.9";
    for (let i = 0; i < 5; i++) {
      const res = await svc.app.inject({ method: "GET", url: "/v1/providers", remoteAddress: ip, headers: { authorization: `Bearer sbk_${"0".repeat(12)}_${"x".repeat(43)}` } });
      expect(res.statusCode).toBe(401);
    }
    for (let i = 0; i < 3; i++) {
      const res = await svc.app.inject({ method: "GET", url: "/v1/providers", remoteAddress: ip });
      expect(res.statusCode).toBe(429);
      expect(Number(res.headers["retry-after"])).toBeGreaterThan(0);
      expect((res.json() as Json).code).toBe("RATE_LIMITED");
    }
    const valid = await svc.app.inject({ method: "GET", url: "/v1/providers", remoteAddress: ip, headers: { authorization: `Bearer ${svc.adminKey}` } });
    expect(valid.statusCode).toBe(429);
    const elsewhere = await svc.app.inject({ method: "GET", url: "/v1/providers", remoteAddress: "198.51.100.7" });
    expect(elsewhere.statusCode).toBe(200);
    const fromIp = (await records("outcome=denied")).filter((r) => r.sourceIp === ip);
    expect(fromIp.filter((r) => r.action === "auth.denied")).toHaveLength(5);
    expect(fromIp.filter((r) => r.action === "auth.rate-limited")).toHaveLength(1);
  });

  it("rate limits: a caller past its per-principal limit gets 429, and one auth.rate-limited record per window", async () => {
    const limited = await startTestService({ config: { RATE_LIMIT_PER_PRINCIPAL_PER_MINUTE: 3 }, start: false });
    try {
      const key = `Bearer ${await limited.createKey("viewer", [], "chatty")}`;
      const statuses: number[] = [];
      for (let i = 0; i < 6; i++) statuses.push((await limited.app.inject({ method: "GET", url: "/v1/providers", headers: { authorization: key } })).statusCode);
      expect(statuses).toEqual([200, 200, 200, 429, 429, 429]);
      // Recorded after the 429 is sent (onResponse): poll briefly, bounded.
      const deadline = Date.now() + 5_000;
      let found: Json[] = [];
      while (Date.now() < deadline) {
        found = ((await limited.app.inject({ method: "GET", url: "/v1/audit?action=auth.rate-limited" })).json() as Json).items;
        if (found.length > 0) break;
        await new Promise((r) => setTimeout(r, 50));
      }
      expect(found).toHaveLength(1);
      expect(found[0]).toMatchObject({ outcome: "denied", principal: { name: "chatty" }, details: { scope: "principal" } });
    } finally {
      await limited.close(1_000);
    }
  });

  it("verify: ok, then a changed record is reported as the first broken link; one verification at a time", async () => {
    const [one, two] = await Promise.all([svc.app.inject({ method: "GET", url: "/v1/audit/verify" }), svc.app.inject({ method: "GET", url: "/v1/audit/verify" })]);
    expect([one.statusCode, two.statusCode].sort()).toEqual([200, 429]);
    const ok = await asAdmin("/v1/audit/verify");
    expect(ok).toMatchObject({ ok: true });
    expect(ok.records).toBeGreaterThan(5);
    const auditor = `Bearer ${await svc.createKey("auditor", [], "aud")}`;
    expect((await svc.app.inject({ method: "GET", url: "/v1/audit/verify", headers: { authorization: auditor } })).statusCode).toBe(200);
    expect((await svc.app.inject({ method: "GET", url: "/v1/providers", headers: { authorization: auditor } })).statusCode).toBe(403);

    // An attacker with database access, past the append-only triggers.
    await svc.db.query(`ALTER TABLE audit_log DISABLE TRIGGER USER`);
    await svc.db.query(`UPDATE audit_log SET details = jsonb_set(details, '{intent}', '"update"') WHERE seq = 1`);
    await svc.db.query(`ALTER TABLE audit_log ENABLE TRIGGER USER`);
    const broken = await asAdmin("/v1/audit/verify");
    expect(broken).toMatchObject({ ok: false, firstBroken: { seq: 1, reason: "changed" } });
  });
});
