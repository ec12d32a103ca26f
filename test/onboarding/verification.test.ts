import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { verificationNotice } from "../../src/onboarding/verification.js";
import type { Operation } from "../../src/operations/operation.js";
import { CHECK_CODES } from "../../src/verification/types.js";
import { specNamed, startTestService, waitForStatus, type TestService } from "../helpers/service.js";
import { changeInCloud, stackResources } from "../support/simulated-drift.js";

/**
 * Access verification through the service (issue 17), with the simulated engine's cloud as what is read: it
 * runs after every revoke and decommission in the same operation, and on request; its verdicts are events,
 * the operation's result, the provider's `verification` and, when a check fails, a security event and an
 * audit record. The AWS reader is tested against moto in test/verification.
 */
type Json = Record<string, any>;
const KEY = "aws:kms/key:Key";
let s: TestService;

beforeAll(async () => {
  s = await startTestService();
}, 60_000);
afterAll(async () => {
  await s?.close(2_000);
});

async function run(method: "POST" | "PUT" | "DELETE", url: string, payload?: Record<string, unknown>): Promise<Json> {
  const res = await s.app.inject({ method, url, ...(payload === undefined ? {} : { payload }) });
  expect(res.statusCode, res.body).toBe(202);
  return waitForStatus(s, (res.json() as Json).operation.id, ["succeeded", "failed", "cancelled", "interrupted"], 30_000);
}
const provider = async (name: string) => (await s.app.inject({ method: "GET", url: `/v1/providers/${name}` })).json() as Json;
const events = async (id: string) => ((await s.app.inject({ method: "GET", url: `/v1/operations/${id}/events?limit=1000` })).json() as Json).items as Json[];
const statuses = (v: Json) => Object.fromEntries((v.checks as Json[]).map((c) => [c.code, c.status]));

describe("verification after offboarding and on request", () => {
  it("a revoke verifies in the same operation that access is gone: every check is read, none fails, the provider shows it", async () => {
    expect((await run("POST", "/v1/providers", specNamed("verify-a"))).status).toBe("succeeded");
    expect((await provider("verify-a")).verification).toBeNull();

    const revoke = await run("POST", "/v1/providers/verify-a/revoke");
    expect(revoke.status).toBe("succeeded");
    const list = await events(revoke.id);
    const types = list.map((e) => e.type);
    // After the engine's steps, before the terminal event.
    expect(types.indexOf("verification.started")).toBeGreaterThan(types.lastIndexOf("resource.completed"));
    expect(types.indexOf("verification.finished")).toBe(types.length - 2);
    expect(list.filter((e) => e.type === "verification.checked").map((e) => e.code)).toEqual([...CHECK_CODES]);
    expect(types).not.toContain("security.access-verification-failed");

    const verification = (await provider("verify-a")).verification as Json;
    expect(verification).toMatchObject({ operationId: revoke.id, status: "passed", expectation: "revoked", reader: "simulated" });
    expect(statuses(verification)).toEqual({
      KMS_GRANTS: "pass",
      KMS_KEY_POLICY: "pass",
      SG_INGRESS: "pass",
      NACL_DENY: "pass",
      ENDPOINT_CONNECTIONS: "not-applicable",
      FIREWALL_RULES: "pass",
      QUARANTINE_POLICY: "pass",
    });
    expect(verification.calls).toBeGreaterThan(0);
    expect((revoke.result as Json).verification).toMatchObject({ status: "passed" });

    // The revoke's signed receipt carries the verification and names the operation's final audit record.
    const receipt = (await s.app.inject({ method: "GET", url: `/v1/operations/${revoke.id}/receipt` })).json() as Json;
    expect(receipt.receipt).toMatchObject({ provider: "verify-a", verification: { status: "passed", expectation: "revoked" } });
    const finish = (await s.app.inject({ method: "GET", url: "/v1/audit?action=operation.finish&limit=500" })).json() as Json;
    const record = (finish.items as Json[]).find((r) => r.resource.id === revoke.id);
    expect(record).toMatchObject({ details: { provider: "verify-a", intent: "revoke", status: "succeeded", verification: "passed" } });
    expect(receipt.receipt.audit).toEqual({ seq: record!.seq, hash: record!.hash });
    expect((receipt.receipt.resources as Json[]).length).toBeGreaterThan(10);
  });

  it("an active provider verifies against its spec: the grants, ingress and rules the program made, nothing else", async () => {
    expect((await run("POST", "/v1/providers", specNamed("verify-b"))).status).toBe("succeeded");
    expect((await run("POST", "/v1/providers/verify-b/drift-checks")).status).toBe("succeeded");
    const verify = await run("POST", "/v1/providers/verify-b/verifications");
    expect(verify).toMatchObject({ status: "succeeded", intent: "verify", kind: "verify" });
    const verification = (await provider("verify-b")).verification as Json;
    expect(verification).toMatchObject({ status: "passed", expectation: "active", operationId: verify.id });
    expect(Object.values(statuses(verification))).not.toContain("fail");
    // Nothing ran in the engine: no resource step, no change.
    expect((await events(verify.id)).some((e) => e.type.startsWith("resource."))).toBe(false);
    // Nor does it make the last drift check's result stale: nothing was changed.
    expect(await provider("verify-b")).toMatchObject({ lifecycle: "active", drift: { status: "in_sync" } });
  });

  it("a key policy edited outside the stack after a revoke fails exactly KMS_KEY_POLICY: a security event and an audit record", async () => {
    expect((await run("POST", "/v1/providers", specNamed("verify-c"))).status).toBe("succeeded");
    expect((await run("POST", "/v1/providers/verify-c/revoke")).status).toBe("succeeded");
    // The BYOK key (the audit trail's logging key is a KMS key too).
    const key = (await stackResources(s.db, "verify-c")).find((r) => r.type === KEY && String(r.inputs["policy"]).includes("ProviderRevoked"))!;
    const policy = JSON.parse(String(key.inputs["policy"])) as { Statement: Json[] };
    // Someone removed the deny of the provider's account in the console.
    const edited = { ...policy, Statement: policy.Statement.filter((st) => st.Sid !== "ProviderRevoked") };
    await changeInCloud(s.db, "verify-c", key.urn, { policy: JSON.stringify(edited) });

    const verify = await run("POST", "/v1/providers/verify-c/verifications");
    expect(verify.status).toBe("succeeded");
    const verification = (await provider("verify-c")).verification as Json;
    expect(verification).toMatchObject({ status: "failed", expectation: "revoked" });
    const failed = (verification.checks as Json[]).filter((c) => c.status === "fail").map((c) => c.code);
    expect(failed).toEqual(["KMS_KEY_POLICY"]);
    const security = (await events(verify.id)).find((e) => e.type === "security.access-verification-failed");
    expect(security).toMatchObject({ severity: "critical", expectation: "revoked", failed: ["KMS_KEY_POLICY"] });

    // Subscribers hear of it: the notice names the operation, the expectation and the failed checks.
    const op = (await s.db.query(`SELECT * FROM operations WHERE id = $1`, [verify.id]))[0] as unknown as Operation;
    expect(verificationNotice({ ...op, result: verify.result }, "succeeded")).toMatchObject({
      type: "access.verification-failed",
      subject: "providers/verify-c",
      data: { operationId: verify.id, expectation: "revoked", failed: ["KMS_KEY_POLICY"] },
    });
    expect(verificationNotice({ ...op, result: verify.result }, "cancelled")).toBeUndefined();

    const audit = (await s.app.inject({ method: "GET", url: "/v1/audit?action=provider.verification-failed" })).json() as Json;
    expect(audit.items).toEqual([
      expect.objectContaining({ action: "provider.verification-failed", resource: { kind: "provider", id: "verify-c" }, details: expect.objectContaining({ operationId: verify.id, failed: ["KMS_KEY_POLICY"] }) }),
    ]);
  });

  it("a decommission verifies access is gone; asked again later, the verification still knows where to look", async () => {
    expect((await run("POST", "/v1/providers", specNamed("verify-d"))).status).toBe("succeeded");
    const decommission = await run("DELETE", "/v1/providers/verify-d");
    expect(decommission.status).toBe("succeeded");
    expect((decommission.result as Json).verification).toMatchObject({ status: "passed", expectation: "decommissioned" });

    const again = await run("POST", "/v1/providers/verify-d/verifications");
    expect(again.status).toBe("succeeded");
    const verification = (await provider("verify-d")).verification as Json;
    expect(verification).toMatchObject({ status: "passed", expectation: "decommissioned", operationId: again.id });
    // The network checks looked at the ids the stack had (its subnets and group are gone: a pass, with evidence).
    expect(statuses(verification)).toMatchObject({ SG_INGRESS: "pass", NACL_DENY: "pass", KMS_GRANTS: "pass" });
  });

  it("refuses a verification of an unknown provider with a 404 problem", async () => {
    const unknown = await s.app.inject({ method: "POST", url: "/v1/providers/verify-nobody/verifications" });
    expect(unknown.statusCode).toBe(404);
    expect(unknown.headers["content-type"]).toMatch(/problem\+json/);
  });
});
