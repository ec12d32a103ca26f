import { createPublicKey, randomUUID } from "node:crypto";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { auditKeyId } from "../../../src/audit/keys.js";
import { getReceipt } from "../../../src/audit/receipts/issue.js";
import { trustedKeysFromJwks } from "../../../src/audit/receipts/jwks.js";
import { verifyReceipt } from "../../../src/audit/receipts/verify.js";
import { generateSecurityKeys } from "../../../src/auth/security-keys.js";
import { specNamed, startTestService, type TestService } from "../../helpers/service.js";
import { finishWithReceipt, RESULT } from "./support.js";

/**
 * GET /v1/keys, GET /v1/operations/:id/receipt (issue 17) on a service whose signing key was rotated: the
 * previous key stays in AUDIT_VERIFY_KEY_FILES (here: SecurityKeys.auditVerify) and keeps verifying.
 */
const previous = generateSecurityKeys();
const current = generateSecurityKeys();
let svc: TestService;
let finished = "";
let finishedByOld = "";
let queued = "";

async function create(name: string, team = "alpha"): Promise<string> {
  const res = await svc.app.inject({ method: "POST", url: "/v1/providers", payload: { ...specNamed(name), owner: { team, contact: `${team}@example.com` } } });
  expect(res.statusCode, res.body).toBe(202);
  return (res.json() as { operation: { id: string } }).operation.id;
}

beforeAll(async () => {
  svc = await startTestService({
    // Nothing runs: each test ends its operations the way the finish transaction does.
    start: false,
    keys: { ...current, auditVerify: [createPublicKey(current.auditSigning), createPublicKey(previous.auditSigning)] },
  });
  finishedByOld = await create("receipts-old");
  await finishWithReceipt(svc.db, { auditHmac: current.auditHmac, auditSigning: previous.auditSigning }, finishedByOld);
  finished = await create("receipts-a");
  await finishWithReceipt(svc.db, current, finished);
  queued = await create("receipts-b");
});
afterAll(() => svc.close(1_000));

describe("GET /v1/keys", () => {
  it("needs no credentials and lists the current key and the previous one (rotation)", async () => {
    const res = await svc.app.inject({ method: "GET", url: "/v1/keys", headers: { authorization: "" } });
    expect(res.statusCode).toBe(200);
    const { keys } = res.json() as { keys: { kid: string; status: string; kty: string; x: string }[] };
    expect(keys.map((k) => [k.kid, k.status])).toEqual([
      [auditKeyId(current.auditSigning), "current"],
      [auditKeyId(previous.auditSigning), "previous"],
    ]);
    // Public halves only: nothing private (`d`) is ever served.
    expect(res.body).not.toMatch(/"d"/);
  });
});

describe("GET /v1/operations/:id/receipt", () => {
  it("200: the signed receipt, which verifies against GET /v1/keys", async () => {
    const jwks = (await svc.app.inject({ method: "GET", url: "/v1/keys", headers: { authorization: "" } })).json();
    const res = await svc.app.inject({ method: "GET", url: `/v1/operations/${finished}/receipt` });
    expect(res.statusCode, res.body).toBe(200);
    const body = res.json() as { receipt: Record<string, any>; signature: { keyId: string } };
    expect(verifyReceipt(body, trustedKeysFromJwks(jwks))).toMatchObject({ ok: true, operationId: finished, provider: "receipts-a" });
    expect(body.signature.keyId).toBe(auditKeyId(current.auditSigning));
    expect(body.receipt).toMatchObject({
      version: "saas-bridge.receipt/v1",
      operation: { id: finished, intent: "create", kind: "up", status: "succeeded", attempt: expect.any(Number) },
      provider: "receipts-a",
      engine: "simulated",
      summary: RESULT.summary,
      verification: RESULT.verification,
      approvals: [],
    });
    // urn, type and id only: a resource's outputs never reach a receipt.
    expect(body.receipt["resources"]).toEqual(RESULT.resources.map(({ urn, type, id }) => ({ urn, type, id })));
    const [finish] = await svc.db.query<{ seq: number; hash: string }>(
      `SELECT seq, hash FROM audit_log WHERE action = 'operation.finish' AND resource_id = $1`,
      [finished],
    );
    expect(body.receipt["audit"]).toEqual({ seq: Number(finish!.seq), hash: finish!.hash });
  });

  it("a receipt signed by the previous key still verifies after the rotation", async () => {
    const jwks = (await svc.app.inject({ method: "GET", url: "/v1/keys", headers: { authorization: "" } })).json();
    const res = await svc.app.inject({ method: "GET", url: `/v1/operations/${finishedByOld}/receipt` });
    expect(res.statusCode).toBe(200);
    const result = verifyReceipt(res.json(), trustedKeysFromJwks(jwks));
    expect(result).toMatchObject({ ok: true, keyId: auditKeyId(previous.auditSigning) });
    // …and not with the current key alone.
    expect(verifyReceipt(res.json(), new Map([[auditKeyId(current.auditSigning), createPublicKey(current.auditSigning)]])).ok).toBe(false);
  });

  it("issuing is idempotent: a second call returns the stored receipt and stores nothing new", async () => {
    const stored = await getReceipt(svc.db, finished);
    const again = await finishWithReceipt(svc.db, current, finished);
    expect(again).toEqual(stored);
    const [count] = await svc.db.query<{ n: number }>(`SELECT count(*)::int AS n FROM receipts WHERE operation_id = $1`, [finished]);
    expect(count?.n).toBe(1);
  });

  it("409 while the operation has not finished; 404 for an unknown one; 400 naming the param for a bad id", async () => {
    const pending = await svc.app.inject({ method: "GET", url: `/v1/operations/${queued}/receipt` });
    expect(pending.statusCode).toBe(409);
    expect(pending.headers["content-type"]).toMatch(/application\/problem\+json/);
    expect(pending.json()).toMatchObject({ code: "RECEIPT_NOT_READY" });

    const unknown = await svc.app.inject({ method: "GET", url: `/v1/operations/${randomUUID()}/receipt` });
    expect(unknown.statusCode).toBe(404);
    expect(unknown.headers["content-type"]).toMatch(/application\/problem\+json/);

    const bad = await svc.app.inject({ method: "GET", url: "/v1/operations/not-a-uuid/receipt" });
    expect(bad.statusCode).toBe(400);
    expect(bad.json()).toMatchObject({ code: "VALIDATION_FAILED", errors: [{ path: "path:/id" }] });
  });

  it("roles: a viewer of the team and an auditor get it; a viewer of another team does not see it", async () => {
    const viewer = await svc.createKey("viewer", ["alpha"]);
    const outsider = await svc.createKey("viewer", ["beta"]);
    const auditor = await svc.createKey("auditor", []);
    const url = `/v1/operations/${finished}/receipt`;
    expect((await svc.app.inject({ method: "GET", url, headers: { authorization: `Bearer ${viewer}` } })).statusCode).toBe(200);
    expect((await svc.app.inject({ method: "GET", url, headers: { authorization: `Bearer ${auditor}` } })).statusCode).toBe(200);
    expect((await svc.app.inject({ method: "GET", url, headers: { authorization: `Bearer ${outsider}` } })).statusCode).toBe(404);
    expect((await svc.app.inject({ method: "GET", url, headers: { authorization: "" } })).statusCode).toBe(401);
  });
});
