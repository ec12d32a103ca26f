import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createSimulatedEngine } from "../../src/engine/simulated/simulated-engine.js";
import { requestAction } from "../../src/onboarding/providers-service.js";
import { specNamed, startTestService, waitForStatus, type TestService } from "../helpers/service.js";

/**
 * Issue 12: a decommission turns the inbound NLB's deletion protection off and disables the BYOK key in
 * an up before its destroy (one operation); the key is retained unless the request asks to shred it; a
 * decommissioned name can be onboarded again (its retained, named resources do not collide).
 */
type Json = Record<string, any>;
let svc: TestService;
beforeAll(async () => {
  svc = await startTestService();
});
afterAll(() => svc.close(5_000));

const NLB = "aws:lb/loadBalancer:LoadBalancer";
const KEY = "aws:kms/key:Key";

async function run(method: "POST" | "DELETE", url: string, payload?: unknown): Promise<Json> {
  const res = await svc.app.inject({ method, url, ...(payload === undefined ? {} : { payload: payload as Json }) });
  expect(res.statusCode, res.body).toBe(202);
  const op = await waitForStatus(svc, (res.json() as Json).operation.id, ["succeeded", "failed"]);
  expect(op.status, JSON.stringify(op.error)).toBe("succeeded");
  return op;
}

async function eventsOf(id: string): Promise<Json[]> {
  return ((await svc.app.inject({ method: "GET", url: `/v1/operations/${id}/events?limit=1000` })).json() as Json).items;
}

async function provider(name: string): Promise<Json> {
  return (await svc.app.inject({ method: "GET", url: `/v1/providers/${name}` })).json() as Json;
}

async function stateOf(stack: string, type: string): Promise<Json[]> {
  return svc.db.query(`SELECT name, inputs FROM simulated_resources WHERE stack = $1 AND type = $2 ORDER BY position`, [stack, type]);
}

/** An inbound exposure (globex's) with a KMS-backed key and an account of its own. */
function inboundSpec(name: string): Json {
  const spec = specNamed(name, "globex.json") as Json;
  return { ...spec, bridgeAccount: { create: { email: `aws-saas-${name}@example.com` } }, kms: { ...spec.kms, keyStore: "kms" } };
}

const ownKey = (e: Json) => e.resourceType === KEY && String(e.urn).includes("ByokKey");

describe("decommission: NLB deletion protection (ELB.6)", () => {
  it("the NLB is created protected; the decommission turns protection off in its first phase, then destroys it", async () => {
    await run("POST", "/v1/providers", inboundSpec("nlb-guard"));
    const [nlb] = await stateOf("nlb-guard", NLB);
    expect(nlb?.inputs.enableDeletionProtection).toBe(true);

    const op = await run("DELETE", "/v1/providers/nlb-guard");
    const events = await eventsOf(op.id);
    const phases = events.filter((e) => e.type === "diagnostic" && /^phase \d of 2/.test(e.message)).map((e) => e.message);
    expect(phases).toEqual([expect.stringMatching(/^phase 1 of 2: an up/), expect.stringMatching(/^phase 2 of 2: the destroy/)]);
    const nlbSteps = events.filter((e) => e.type === "resource.completed" && e.resourceType === NLB).map((e) => e.op);
    expect(nlbSteps).toEqual(["update", "delete"]);
    // Each phase reports its own progress from 0 to its total.
    const starts = events.filter((e) => e.type === "progress" && e.done === 0);
    expect(starts).toHaveLength(2);
    expect(op.result.summary.update).toBeGreaterThan(0);
    expect(op.result.summary.delete).toBeGreaterThan(20);
    expect((await provider("nlb-guard")).lifecycle).toBe("decommissioned");
  });
});

describe("decommission: the BYOK key (fail-safe)", () => {
  it("by default the key is disabled and retained, and the decommissioned provider shows it", async () => {
    const created = await run("POST", "/v1/providers", specNamed("keeper"));
    const keyArn = created.result.outputs.keyArn as string;
    const op = await run("DELETE", "/v1/providers/keeper");
    expect(op.decommission).toEqual({ key: "retain" });
    const events = await eventsOf(op.id);
    expect(events.filter((e) => e.type === "resource.completed" && ownKey(e)).map((e) => e.op)).toEqual(["update", "delete"]);
    const kept = events.filter((e) => e.type === "diagnostic" && /stays in AWS/.test(e.message) && String(e.urn).includes("ByokKey"));
    expect(kept.map((e) => e.message.split(" ")[0])).toEqual([KEY]);
    const p = await provider("keeper");
    expect(p.lifecycle).toBe("decommissioned");
    // formerIds: the ids the stack had, where a later verification looks (issue 17).
    expect(p.outputs).toEqual({ byokKey: { arn: keyArn, disposition: "retained", state: "disabled" }, formerIds: expect.objectContaining({ subnetIds: expect.any(Array) }) });
  });

  it('{"key": "shred"} schedules the key\'s deletion instead, and says so', async () => {
    const created = await run("POST", "/v1/providers", specNamed("shredder"));
    const op = await run("DELETE", "/v1/providers/shredder", { key: "shred" });
    expect(op.decommission).toEqual({ key: "shred" });
    const events = await eventsOf(op.id);
    expect(events.some((e) => e.type === "diagnostic" && /stays in AWS/.test(e.message) && String(e.urn).includes("ByokKey"))).toBe(false);
    expect(events.filter((e) => e.type === "resource.completed" && ownKey(e)).map((e) => e.op)).toEqual(["update", "delete"]);
    expect((await provider("shredder")).outputs).toEqual({
      byokKey: { arn: created.result.outputs.keyArn, disposition: "shredded", state: "pending-deletion" },
      formerIds: expect.objectContaining({ endpointSecurityGroupId: created.result.outputs.endpointSecurityGroupId }),
    });
  });

  it("an invalid choice is a 400 naming the field; nothing is queued", async () => {
    await run("POST", "/v1/providers", specNamed("picky"));
    for (const [payload, path] of [
      [{ key: "burn" }, "/key"],
      [{ key: "retain", surprise: true }, "/surprise"],
    ] as const) {
      const res = await svc.app.inject({ method: "DELETE", url: "/v1/providers/picky", payload });
      expect(res.statusCode, res.body).toBe(400);
      expect((res.json() as Json).errors).toEqual([expect.objectContaining({ path })]);
    }
    expect((await provider("picky")).lifecycle).toBe("active");
  });

  it("the OpenAPI document shows the option", async () => {
    const doc = (await svc.app.inject({ method: "GET", url: "/openapi.json" })).json() as Json;
    const body = doc.paths["/v1/providers/{name}"].delete.requestBody.content["application/json"].schema;
    expect(JSON.stringify(body)).toContain('"enum":["retain","shred"]');
  });
});

describe("decommission: re-onboarding a decommissioned name", () => {
  it("each onboarding is a generation; retained names of the earlier ones do not collide", async () => {
    const trails = async () => (await stateOf("phoenix", "aws:cloudtrail/trail:Trail")).map((r) => r.inputs.name);
    const logGroups = async () => (await stateOf("phoenix", "aws:cloudwatch/logGroup:LogGroup")).map((r) => r.inputs.name).sort();
    await run("POST", "/v1/providers", specNamed("phoenix"));
    expect((await provider("phoenix")).generation).toBe(1);
    expect(await trails()).toEqual(["saas-bridge-phoenix"]);
    expect(await logGroups()).toEqual(["/saas-bridge/phoenix/cloudtrail", "/saas/phoenix/vpc-flow-logs"]);
    await run("DELETE", "/v1/providers/phoenix");
    const retained = await svc.db.query(`SELECT type, name FROM simulated_retained WHERE stack = 'phoenix' ORDER BY type, name`);
    expect(retained).toEqual(
      expect.arrayContaining([
        { type: "aws:cloudtrail/trail:Trail", name: "saas-bridge-phoenix" },
        { type: "aws:cloudwatch/logGroup:LogGroup", name: "/saas-bridge/phoenix/cloudtrail" },
        { type: "aws:cloudwatch/logGroup:LogGroup", name: "/saas/phoenix/vpc-flow-logs" },
      ]),
    );

    await run("POST", "/v1/providers", specNamed("phoenix"));
    expect((await provider("phoenix")).generation).toBe(2);
    expect(await trails()).toEqual(["saas-bridge-phoenix-g2"]);
    expect(await logGroups()).toEqual(["/saas-bridge/phoenix/cloudtrail-g2", "/saas/phoenix/vpc-flow-logs-g2"]);

    await run("DELETE", "/v1/providers/phoenix", { key: "shred" });
    await run("POST", "/v1/providers", specNamed("phoenix"));
    expect((await provider("phoenix")).generation).toBe(3);
    expect(await trails()).toEqual(["saas-bridge-phoenix-g3"]);
  });
});

describe("decommission: the key's fate is part of the approval and the audit record", () => {
  let approvals: TestService;
  let operator = "";
  let approver = "";
  beforeAll(async () => {
    approvals = await startTestService({ config: { APPROVAL_RULES: ["decommission"] } });
    operator = `Bearer ${await approvals.createKey("operator", ["alpha"], "ada")}`;
    approver = `Bearer ${await approvals.createKey("approver", ["alpha"], "grace")}`;
  });
  afterAll(() => approvals.close(5_000));

  const call = async (method: "GET" | "POST" | "DELETE", url: string, authorization: string, payload?: unknown) => {
    const res = await approvals.app.inject({ method, url, headers: { authorization }, ...(payload === undefined ? {} : { payload: payload as Json }) });
    return { status: res.statusCode, body: res.json() as Json };
  };

  it("GET /v1/approvals, the approval.requested event and the audit records name it", async () => {
    const spec = { ...specNamed("shown"), owner: { team: "alpha", contact: "alpha@example.com" } };
    const created = await call("POST", "/v1/providers", operator, spec);
    expect(created.status).toBe(202);
    await waitForStatus(approvals, created.body.operation.id, ["succeeded"]);

    const asked = await call("DELETE", "/v1/providers/shown", operator, { key: "shred" });
    expect(asked.status).toBe(202);
    const op = asked.body.operation;
    expect(op).toMatchObject({ status: "awaiting_approval", decommission: { key: "shred" } });

    const listed = await call("GET", "/v1/approvals", approver);
    expect(listed.body.items.find((i: Json) => i.operationId === op.id)).toMatchObject({ intent: "decommission", decommission: { key: "shred" } });
    const events = (await call("GET", `/v1/operations/${op.id}/events`, approver)).body.items as Json[];
    expect(events.find((e) => e.type === "approval.requested")).toMatchObject({ decommission: { key: "shred" } });

    const admin = `Bearer ${approvals.adminKey}`;
    const requested = (await call("GET", `/v1/audit?action=provider.decommission&resourceId=shown`, admin)).body.items as Json[];
    expect(requested.map((r) => r.details.decommission)).toEqual([{ key: "shred" }]);

    const approved = await call("POST", `/v1/operations/${op.id}/approve`, approver, { specHash: op.specHash });
    expect(approved.status, JSON.stringify(approved.body)).toBe(200);
    const decided = (await call("GET", `/v1/audit?action=approval.approve&resourceId=${op.id}`, admin)).body.items as Json[];
    expect(decided.map((r) => r.details.decommission)).toEqual([{ key: "shred" }]);
    const done = await waitForStatus(approvals, op.id, ["succeeded", "failed"]);
    expect(done.status, JSON.stringify(done.error)).toBe("succeeded");
  });

  it("a rejected or expired decommission's audit record names the key choice too (review finding 6)", async () => {
    const admin = `Bearer ${approvals.adminKey}`;
    const spec = { ...specNamed("undecided"), owner: { team: "alpha", contact: "alpha@example.com" } };
    const created = await call("POST", "/v1/providers", operator, spec);
    await waitForStatus(approvals, created.body.operation.id, ["succeeded"]);

    const rejected = (await call("DELETE", "/v1/providers/undecided", operator, { key: "shred" })).body.operation;
    expect((await call("POST", `/v1/operations/${rejected.id}/reject`, approver, { comment: "not yet" })).status).toBe(200);
    const rejects = (await call("GET", `/v1/audit?action=approval.reject&resourceId=${rejected.id}`, admin)).body.items as Json[];
    expect(rejects.map((r) => r.details.decommission)).toEqual([{ key: "shred" }]);

    const expired = (await call("DELETE", "/v1/providers/undecided", operator)).body.operation;
    await approvals.db.query(`UPDATE approvals SET expires_at = requested_at + interval '1 millisecond' WHERE operation_id = $1`, [expired.id]);
    expect(await approvals.sweepApprovals()).toBe(1);
    const expires = (await call("GET", `/v1/audit?action=approval.expire&resourceId=${expired.id}`, admin)).body.items as Json[];
    expect(expires.map((r) => r.details.decommission)).toEqual([{ key: "retain" }]);
  });
});

describe("decommission: a retry keeps the key choice of the attempt that ran (review finding 1)", () => {
  let s: TestService;
  let failing = true;
  beforeAll(async () => {
    s = await startTestService({
      engine: (db) =>
        createSimulatedEngine({
          state: { db },
          stepMs: 0,
          // Phase 2 fails on the subnets' deletes.
          faultOf: (step) => (failing && step.op === "delete" && step.type === "aws:ec2/subnet:Subnet" ? "DependencyViolation (injected)" : undefined),
        }),
    });
  });
  afterAll(() => s.close(5_000));

  it("a bare retry inherits shred; a retry asking for retain is a 409 naming the earlier operation", async () => {
    const created = await s.app.inject({ method: "POST", url: "/v1/providers", payload: specNamed("second-try") as Json });
    const keyArn = (await waitForStatus(s, (created.json() as Json).operation.id, ["succeeded"])).result.outputs.keyArn as string;
    const first = await s.app.inject({ method: "DELETE", url: "/v1/providers/second-try", payload: { key: "shred" } });
    const failed = await waitForStatus(s, (first.json() as Json).operation.id, ["succeeded", "failed"]);
    expect(failed.status).toBe("failed");
    expect(((await s.app.inject({ method: "GET", url: "/v1/providers/second-try" })).json() as Json).lifecycle).toBe("decommissioning");

    const other = await s.app.inject({ method: "DELETE", url: "/v1/providers/second-try", payload: { key: "retain" } });
    expect(other.statusCode, other.body).toBe(409);
    expect((other.json() as Json).code).toBe("INVALID_STATE");
    expect((other.json() as Json).detail).toContain(failed.id);

    failing = false;
    const retry = await s.app.inject({ method: "DELETE", url: "/v1/providers/second-try" });
    expect(retry.statusCode, retry.body).toBe(202);
    expect((retry.json() as Json).operation.decommission).toEqual({ key: "shred" });
    const done = await waitForStatus(s, (retry.json() as Json).operation.id, ["succeeded", "failed"]);
    expect(done.status, JSON.stringify(done.error)).toBe("succeeded");
    expect(((await s.app.inject({ method: "GET", url: "/v1/providers/second-try" })).json() as Json).outputs).toEqual({
      byokKey: { arn: keyArn, disposition: "shredded", state: "pending-deletion" },
      formerIds: expect.objectContaining({ subnetIds: expect.any(Array) }),
    });
  });
});

describe("decommission: inbound exposure cannot be dropped by an update (review finding 3)", () => {
  it("a PUT without inbound for a provider that has it is a 409 naming /inbound; nothing is queued", async () => {
    const spec = inboundSpec("keep-inbound");
    await run("POST", "/v1/providers", spec);
    const { inbound: _dropped, ...without } = spec;
    const res = await svc.app.inject({ method: "PUT", url: "/v1/providers/keep-inbound", payload: without });
    expect(res.statusCode, res.body).toBe(409);
    const body = res.json() as Json;
    expect(body.code).toBe("INVALID_STATE");
    expect(body.errors).toEqual([{ path: "/inbound", message: expect.stringMatching(/deletion protection \(ELB\.6\).*decommission/) }]);
    expect((await provider("keep-inbound")).activeOperations).toEqual([]);
  });
});

describe("update: the key store, the bridge account and the region are fixed for a provider's lifetime", () => {
  it("a PUT that changes any of them is a 409 naming each field; nothing is queued", async () => {
    const spec = specNamed("fixed-fields") as Json;
    await run("POST", "/v1/providers", spec);
    const changed: Json = {
      ...spec,
      region: spec.region === "eu-west-1" ? "eu-central-1" : "eu-west-1",
      bridgeAccount: { accountId: "777777777777" },
      kms: { ...spec.kms, keyStore: spec.kms.keyStore === "cloudhsm" ? "kms" : "cloudhsm" },
    };
    // The endpoint service is regional: keep it valid in the new region so only the fixed fields are judged.
    changed.outbound = { ...spec.outbound, endpointServiceName: String(spec.outbound.endpointServiceName).replace(spec.region, changed.region) };
    const res = await svc.app.inject({ method: "PUT", url: "/v1/providers/fixed-fields", payload: changed });
    expect(res.statusCode, res.body).toBe(409);
    const body = res.json() as Json;
    expect(body.code).toBe("INVALID_STATE");
    expect((body.errors as Json[]).map((e) => e.path)).toEqual(["/kms/keyStore", "/bridgeAccount", "/region"]);
    expect((body.errors as Json[]).every((e) => /cannot change on update: .*decommission the provider and onboard it again/.test(e.message))).toBe(true);
    expect((await provider("fixed-fields")).activeOperations).toEqual([]);
    // The same spec is still a valid update.
    expect((await svc.app.inject({ method: "PUT", url: "/v1/providers/fixed-fields", payload: spec })).statusCode).toBe(202);
  });
});

describe("decommission: the request body (review findings 8 and 9)", () => {
  const del = (name: string, headers: Record<string, string>, payload?: string) =>
    svc.app.inject({ method: "DELETE", url: `/v1/providers/${name}`, headers, ...(payload === undefined ? {} : { payload }) });

  it("no body, an empty JSON body and a JSON null are all 'no options'; text/plain is a 415; an unknown field a 400", async () => {
    for (const [name, headers, payload] of [
      ["body-none", {}, undefined],
      ["body-empty-json", { "content-type": "application/json" }, ""],
      ["body-null", { "content-type": "application/json" }, "null"],
    ] as const) {
      await run("POST", "/v1/providers", specNamed(name));
      const res = await del(name, headers, payload);
      expect(res.statusCode, `${name}: ${res.body}`).toBe(202);
      expect((res.json() as Json).operation.decommission).toEqual({ key: "retain" });
    }
    await run("POST", "/v1/providers", specNamed("body-odd"));
    const text = await del("body-odd", { "content-type": "text/plain" }, "shred");
    expect(text.statusCode, text.body).toBe(415);
    const unknown = await del("body-odd", { "content-type": "application/json" }, JSON.stringify({ colour: "red" }));
    expect(unknown.statusCode, unknown.body).toBe(400);
    expect((unknown.json() as Json).errors).toEqual([expect.objectContaining({ path: "/colour" })]);
  });

  it("the idempotency fingerprint of a DELETE without a key is that of no body: an explicit key is a different request", async () => {
    await run("POST", "/v1/providers", specNamed("fingerprint"));
    const headers = { "idempotency-key": "decommission-fingerprint" };
    const bare = await svc.app.inject({ method: "DELETE", url: "/v1/providers/fingerprint", headers });
    expect(bare.statusCode, bare.body).toBe(202);
    const explicit = await svc.app.inject({ method: "DELETE", url: "/v1/providers/fingerprint", headers, payload: { key: "retain" } });
    expect(explicit.statusCode, explicit.body).toBe(422);
    expect((explicit.json() as Json).code).toBe("IDEMPOTENCY_KEY_REUSED");
  });
});

describe("decommission: only through the path that carries the key choice (review finding 7)", () => {
  it("requestAction does not take a decommission (checked by the type checker: npm run typecheck)", () => {
    // @ts-expect-error a decommission must go through decommissionProvider, which carries the key choice
    const intent: Parameters<typeof requestAction>[3] = "decommission";
    expect(intent).toBe("decommission");
  });
});
