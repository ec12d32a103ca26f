import { readFileSync } from "node:fs";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { specNamed, startTestService, waitForStatus, type TestService } from "../helpers/service.js";

/**
 * Four eyes (issue #5) with the production rules (decommission, restricted): the operation waits in
 * awaiting_approval; a different approver approves the exact spec hash; every bypass attempt fails and
 * is audited.
 */
type Json = Record<string, any>;
let svc: TestService;
let operator = "";
let approver = "";
let otherApprover = "";
let outsider = "";

beforeAll(async () => {
  svc = await startTestService({ config: { APPROVAL_RULES: ["decommission", "restricted"] } });
  operator = `Bearer ${await svc.createKey("operator", ["alpha"], "ada")}`;
  approver = `Bearer ${await svc.createKey("approver", ["alpha"], "grace")}`;
  otherApprover = `Bearer ${await svc.createKey("approver", ["alpha"], "linus")}`;
  outsider = `Bearer ${await svc.createKey("approver", ["beta"], "mallory")}`;
});
afterAll(() => svc.close(2_000));

const spec = (name: string, extra: Record<string, unknown> = {}) => ({ ...specNamed(name), owner: { team: "alpha", contact: "alpha@example.com" }, ...extra });

async function call(method: "GET" | "POST" | "DELETE" | "PUT", url: string, authorization: string, payload?: unknown) {
  const res = await svc.app.inject({ method, url, headers: { authorization }, ...(payload === undefined ? {} : { payload: payload as Json }) });
  return { status: res.statusCode, body: res.json() as Json };
}

async function onboard(name: string, extra: Record<string, unknown> = {}): Promise<Json> {
  const created = await call("POST", "/v1/providers", operator, spec(name, extra));
  expect(created.status).toBe(202);
  return created.body.operation;
}

async function audit(action: string, resourceId: string): Promise<Json[]> {
  const res = await call("GET", `/v1/audit?action=${action}&resourceId=${resourceId}`, `Bearer ${svc.adminKey}`);
  return res.body.items;
}

describe("approvals", () => {
  it("decommission waits for a second person; the provider keeps running until then", async () => {
    const created = await onboard("ap-decom");
    await waitForStatus(svc, created.id, ["succeeded"]);
    const asked = await call("DELETE", "/v1/providers/ap-decom", operator);
    expect(asked.status).toBe(202);
    const op = asked.body.operation;
    expect(op.status).toBe("awaiting_approval");
    expect(op.links.approve).toBe(`/v1/operations/${op.id}/approve`);

    const seen = await call("GET", `/v1/operations/${op.id}`, operator);
    expect(seen.body.approval).toMatchObject({ rule: "decommission", status: "pending", requestedBy: "ada", specHash: op.specHash });
    const events = await call("GET", `/v1/operations/${op.id}/events`, operator);
    expect(events.body.items.map((e: Json) => e.type)).toEqual(["operation.queued", "approval.requested"]);
    // Nothing ran, the provider is still active, and its rule group stays in the central policy: the hub
    // update that drops it is asked for only once the decommission is approved.
    await new Promise((r) => setTimeout(r, 300));
    const waiting = (await call("GET", `/v1/operations/${op.id}`, operator)).body;
    expect(waiting.status).toBe("awaiting_approval");
    expect(waiting.links.blockedBy).toBeUndefined();
    expect((await call("GET", "/v1/providers/ap-decom", operator)).body.lifecycle).toBe("active");

    // The approver finds it in its teams' pending requests; another team's approver does not.
    const pending = await call("GET", "/v1/approvals", approver);
    expect(pending.body.items).toEqual(
      expect.arrayContaining([expect.objectContaining({ operationId: op.id, provider: "ap-decom", intent: "decommission", links: expect.objectContaining({ approve: `/v1/operations/${op.id}/approve` }) })]),
    );
    expect((await call("GET", "/v1/approvals", outsider)).body.items.map((i: Json) => i.operationId)).not.toContain(op.id);

    const approved = await call("POST", `/v1/operations/${op.id}/approve`, approver, { specHash: op.specHash, comment: "checked with the vendor" });
    expect(approved.status).toBe(200);
    expect(approved.body.approval).toMatchObject({ status: "approved", decidedBy: "grace", comment: "checked with the vendor" });
    expect(approved.body.links.blockedBy).toMatch(/^\/v1\/operations\//);
    const done = await waitForStatus(svc, op.id, ["succeeded", "failed"], 30_000);
    expect(done.status).toBe("succeeded");
    expect((await call("GET", "/v1/providers/ap-decom", operator)).body.lifecycle).toBe("decommissioned");
    const records = await audit("approval.approve", op.id);
    expect(records).toHaveLength(1);
    expect(records[0]).toMatchObject({ outcome: "allowed", principal: { kind: "apikey", name: "grace" } });
    expect((await audit("approval.request", op.id))[0]).toMatchObject({ outcome: "allowed", principal: { name: "ada" } });
    const decided = (await call("GET", "/v1/approvals?status=approved", approver)).body.items;
    expect(decided.map((i: Json) => i.operationId)).toContain(op.id);
  });

  it("bypass attempts fail and are audited: the operator role, self-approval, another spec hash, another team, after expiry", async () => {
    const created = await onboard("ap-bypass");
    await waitForStatus(svc, created.id, ["succeeded"]);
    // The approver asks itself this time (approvers hold the operator role).
    const asked = await call("DELETE", "/v1/providers/ap-bypass", approver);
    const op = asked.body.operation;
    expect(op.status).toBe("awaiting_approval");

    const byOperator = await call("POST", `/v1/operations/${op.id}/approve`, operator, { specHash: op.specHash });
    expect(byOperator.status).toBe(403);
    const self = await call("POST", `/v1/operations/${op.id}/approve`, approver, { specHash: op.specHash });
    expect(self).toMatchObject({ status: 403, body: { code: "SELF_APPROVAL" } });
    expect(self.body.detail).toMatch(/second person/);
    const otherHash = await call("POST", `/v1/operations/${op.id}/approve`, otherApprover, { specHash: "f".repeat(64) });
    expect(otherHash).toMatchObject({ status: 409, body: { code: "APPROVAL_INVALID" } });
    const otherTeam = await call("POST", `/v1/operations/${op.id}/approve`, outsider, { specHash: op.specHash });
    expect(otherTeam.status).toBe(404);

    // The request expires (its clock is moved, not waited for): approving fails, and the operation ends
    // (an approve or reject sweeps expired requests first).
    await svc.db.query(`UPDATE approvals SET expires_at = requested_at + interval '1 millisecond' WHERE operation_id = $1`, [op.id]);
    const late = await call("POST", `/v1/operations/${op.id}/approve`, otherApprover, { specHash: op.specHash });
    expect(late).toMatchObject({ status: 409, body: { code: "APPROVAL_INVALID" } });
    expect(late.body.detail).toMatch(/it is expired/);
    const ended = await call("GET", `/v1/operations/${op.id}`, approver);
    expect(ended.body.status).toBe("cancelled");
    expect(ended.body.approval.status).toBe("expired");
    expect((await call("GET", "/v1/providers/ap-bypass", approver)).body.lifecycle).toBe("active");

    const denied = (await audit("approval.approve", op.id)).filter((r) => r.outcome === "denied");
    expect(denied.map((r) => r.details.reason)).toEqual(
      expect.arrayContaining(["self-approval", "a different spec hash", "the operation belongs to another team"]),
    );
    expect(await audit("approval.expire", op.id)).toHaveLength(1);
  });

  it("the periodic sweep ends an expired request that nobody touched", async () => {
    const op = await onboard("ap-sweep", { dataClassification: "restricted" });
    expect(await svc.sweepApprovals()).toBe(0);
    await svc.db.query(`UPDATE approvals SET expires_at = requested_at + interval '1 millisecond' WHERE operation_id = $1`, [op.id]);
    expect(await svc.sweepApprovals()).toBe(1);
    const ended = (await call("GET", `/v1/operations/${op.id}`, operator)).body;
    expect(ended).toMatchObject({ status: "cancelled", approval: { status: "expired" } });
    const events = (await call("GET", `/v1/operations/${op.id}/events`, operator)).body.items;
    expect(events.at(-1)).toMatchObject({ type: "operation.cancelled", reason: expect.stringMatching(/^the approval request expired at /) });
    expect((await audit("approval.expire", op.id))[0]).toMatchObject({ principal: { kind: "system" } });
  });

  it("an approval is bound to the program version it was requested with", async () => {
    const created = await onboard("ap-version");
    await waitForStatus(svc, created.id, ["succeeded"]);
    const op = (await call("DELETE", "/v1/providers/ap-version", operator)).body.operation;
    // As if the request had been made before a deploy that changed the programs.
    await svc.db.query(`UPDATE operations SET program_version = 'older' WHERE id = $1`, [op.id]);
    await svc.db.query(`UPDATE approvals SET program_version = 'older' WHERE operation_id = $1`, [op.id]);
    const refused = await call("POST", `/v1/operations/${op.id}/approve`, approver, { specHash: op.specHash });
    expect(refused).toMatchObject({ status: 409, body: { code: "APPROVAL_INVALID" } });
    expect(refused.body.detail).toMatch(/program older/);
  });

  it("restricted data: creating waits for approval; a reject cancels it; the database refuses a self-approval row", async () => {
    const op = await onboard("ap-restricted", { dataClassification: "restricted" });
    expect(op.status).toBe("awaiting_approval");
    const rejected = await call("POST", `/v1/operations/${op.id}/reject`, approver, { comment: "no DPA signed yet" });
    expect(rejected.status).toBe(200);
    expect(rejected.body).toMatchObject({ status: "cancelled", approval: { status: "rejected", decidedBy: "grace", comment: "no DPA signed yet" } });
    const events = (await call("GET", `/v1/operations/${op.id}/events`, operator)).body.items;
    expect(events.at(-1)).toMatchObject({ type: "operation.cancelled", reason: "rejected by grace: no DPA signed yet" });

    const again = await onboard("ap-restricted2", { dataClassification: "restricted" });
    const [row] = await svc.db.query<{ requested_by: string }>(`SELECT requested_by FROM approvals WHERE operation_id = $1`, [again.id]);
    await expect(
      svc.db.query(`UPDATE approvals SET status = 'approved', decided_by = requested_by, decided_by_name = 'x', decided_at = now() WHERE operation_id = $1`, [again.id]),
    ).rejects.toThrow(/approvals_not_self/);
    expect(row?.requested_by).toMatch(/^apikey:/);
  });

  it("an approved operation whose replica is lost mid-run resumes with exactly the approved spec, without asking again (issue 14)", async () => {
    // Its own service: steps slow enough to cut the run, a short lease so the sweep comes soon.
    const slow = await startTestService({ config: { APPROVAL_RULES: ["restricted"], SIMULATED_STEP_MS: 100, LEASE_SECONDS: 5 } });
    try {
      const as = async (authorization: string, method: "GET" | "POST", url: string, payload?: unknown) => {
        const res = await slow.app.inject({ method, url, headers: { authorization }, ...(payload === undefined ? {} : { payload: payload as Json }) });
        return res.json() as Json;
      };
      const ada = `Bearer ${await slow.createKey("operator", ["alpha"], "ada")}`;
      const grace = `Bearer ${await slow.createKey("approver", ["alpha"], "grace")}`;
      const op = (await as(ada, "POST", "/v1/providers", spec("ap-resume", { dataClassification: "restricted" }))).operation as Json;
      expect(op.status).toBe("awaiting_approval");
      expect((await as(grace, "POST", `/v1/operations/${op.id}/approve`, { specHash: op.specHash })).approval.status).toBe("approved");
      const deadline = Date.now() + 30_000;
      while ((await as(ada, "GET", `/v1/operations/${op.id}`)).progress.done < 2 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
      // Its replica is lost: nobody renews the lease any more, and it has run out.
      await slow.db.query(`UPDATE operations SET lease_owner = 'lost-replica', lease_expires_at = now() - interval '1 second' WHERE id = $1`, [op.id]);

      const done = await waitForStatus(slow, op.id, ["succeeded", "failed", "interrupted", "cancelled"], 60_000);
      expect([done.status, done.attempt, done.specHash]).toEqual(["succeeded", 2, op.specHash]);
      expect(done.approval).toMatchObject({ status: "approved", decidedBy: "grace", specHash: op.specHash });
      const types = ((await as(ada, "GET", `/v1/operations/${op.id}/events?limit=1000`)).items as Json[]).map((e) => e.type as string);
      // Asked and approved once, before attempt 1; attempt 2 ran on that approval.
      expect(types.filter((t) => t.startsWith("approval."))).toEqual(["approval.requested", "approval.approved"]);
      expect(types.indexOf("approval.approved")).toBeLessThan(types.indexOf("operation.resuming"));
      const provider = await as(ada, "GET", "/v1/providers/ap-resume");
      expect([provider.lifecycle, provider.specHash, provider.spec.dataClassification]).toEqual(["active", op.specHash, "restricted"]);
    } finally {
      await slow.close(2_000);
    }
  }, 90_000);

  it("an unapproved change cannot be reached around: its spec is not the provider's until approved, and nothing queues behind it", async () => {
    const created = await onboard("ap-around", { dataClassification: "restricted" });
    await call("POST", `/v1/operations/${created.id}/approve`, approver, { specHash: created.specHash });
    await waitForStatus(svc, created.id, ["succeeded"]);
    // Declassifying a restricted provider needs an approval as much as the reverse.
    const declassify = await call("PUT", "/v1/providers/ap-around", operator, spec("ap-around", { dataClassification: "confidential" }));
    expect(declassify.body.operation.status).toBe("awaiting_approval");
    const provider = (await call("GET", "/v1/providers/ap-around", operator)).body;
    expect(provider.spec.dataClassification).toBe("restricted");
    expect(provider.specHash).toBe(created.specHash);
    // A revoke would otherwise act on the unapproved (now unrestricted) spec without an approval of its own.
    const around = await call("POST", "/v1/providers/ap-around/revoke", operator);
    expect(around).toMatchObject({ status: 409, body: { code: "INVALID_STATE" } });
    expect(around.body.detail).toMatch(/awaits approval/);
    expect((await call("PUT", "/v1/providers/ap-around", operator, spec("ap-around"))).status).toBe(409);

    await call("POST", `/v1/operations/${declassify.body.operation.id}/reject`, approver, { comment: "stays restricted" });
    expect((await call("GET", "/v1/providers/ap-around", operator)).body.spec.dataClassification).toBe("restricted");
    const revoke = await call("POST", "/v1/providers/ap-around/revoke", operator);
    expect(revoke.body.operation).toMatchObject({ status: "awaiting_approval", specHash: created.specHash });

    // Approved, an update does become the provider's spec.
    await call("POST", `/v1/operations/${revoke.body.operation.id}/cancel`, operator);
    const again = (await call("PUT", "/v1/providers/ap-around", operator, spec("ap-around", { dataClassification: "confidential" }))).body.operation;
    expect((await call("POST", `/v1/operations/${again.id}/approve`, approver, { specHash: again.specHash })).status).toBe(200);
    expect((await call("GET", "/v1/providers/ap-around", operator)).body).toMatchObject({ specHash: again.specHash, spec: { dataClassification: "confidential" } });
  });

  it("what the approver reads (issue 18): the requested spec in the list, a preview of it that passes the waiting change, the provider's history", async () => {
    const created = await onboard("ap-read", { dataClassification: "restricted" });
    await call("POST", `/v1/operations/${created.id}/approve`, approver, { specHash: created.specHash });
    await waitForStatus(svc, created.id, ["succeeded"]);
    const wanted = spec("ap-read", { dataClassification: "restricted", displayName: "Read Me Inc" });
    const update = (await call("PUT", "/v1/providers/ap-read", operator, wanted)).body.operation;
    expect(update.status).toBe("awaiting_approval");
    const item = (await call("GET", "/v1/approvals", approver)).body.items.find((i: Json) => i.operationId === update.id);
    expect(item).toMatchObject({ intent: "update", spec: { displayName: "Read Me Inc" }, links: { provider: "/v1/providers/ap-read" } });
    expect((await call("GET", "/v1/providers/ap-read", operator)).body.spec.displayName).not.toBe("Read Me Inc");

    // A preview of the requested spec runs while the change waits (it changes nothing); other intents still may not queue.
    const preview = await call("POST", "/v1/providers/ap-read/preview", approver, item.spec);
    expect(preview.status).toBe(202);
    const previewed = await waitForStatus(svc, preview.body.operation.id, ["succeeded", "failed"], 30_000);
    expect(previewed.status).toBe("succeeded");
    expect((await call("GET", `/v1/operations/${update.id}`, operator)).body.status).toBe("awaiting_approval");
    expect((await call("POST", "/v1/providers/ap-read/revoke", operator)).status).toBe(409);

    // The history: newest first, paged with links.next; another team's provider is a 404.
    const first = await call("GET", "/v1/providers/ap-read/operations?limit=2", operator);
    expect(first.status).toBe(200);
    expect(first.body.items.map((o: Json) => o.id)).toEqual([preview.body.operation.id, update.id]);
    const second = await call("GET", first.body.links.next, operator);
    expect(second.body.items.map((o: Json) => o.id)).toEqual([created.id]);
    expect(second.body.links.next).toBeUndefined();
    expect((await call("GET", "/v1/providers/ap-read/operations", outsider)).status).toBe(404);
    expect((await call("GET", "/v1/providers/ap-read/operations?before=0", operator)).status).toBe(400);
    await call("POST", `/v1/operations/${update.id}/reject`, approver);
  });

  it("cancelling an operation that awaits approval withdraws the request", async () => {
    const op = await onboard("ap-withdraw", { dataClassification: "restricted" });
    const cancelled = await call("POST", `/v1/operations/${op.id}/cancel`, operator);
    expect(cancelled.status).toBe(202);
    const seen = await call("GET", `/v1/operations/${op.id}`, operator);
    expect(seen.body).toMatchObject({ status: "cancelled", approval: { status: "withdrawn" } });
    const late = await call("POST", `/v1/operations/${op.id}/approve`, approver, { specHash: op.specHash });
    expect(late.status).toBe(409);
  });
  it("a CloudHSM key-store hand-over for restricted data waits for a second person, then runs (issue 12)", async () => {
    const globex = specNamed("ap-hsm", "globex.json");
    const created = await onboard("ap-hsm", { ...globex, name: "ap-hsm", dataClassification: "restricted", owner: { team: "alpha", contact: "alpha@example.com" } });
    expect((await call("POST", `/v1/operations/${created.id}/approve`, approver, { specHash: created.specHash })).status).toBe(200);
    await waitForStatus(svc, created.id, ["succeeded"]);
    const ca = readFileSync(new URL("../support/certs/customer-ca.pem", import.meta.url), "utf8");
    const asked = await call("PUT", "/v1/providers/ap-hsm/key-store", operator, { trustAnchorCertificate: ca, kmsuserPassword: "Approve-me-1" });
    expect(asked.status).toBe(202);
    const op = asked.body.operation;
    expect(op).toMatchObject({ intent: "key-store", status: "awaiting_approval" });
    expect((await call("GET", "/v1/providers/ap-hsm", operator)).body.keyStore.state).toBe("submitted");
    const approved = await call("POST", `/v1/operations/${op.id}/approve`, approver, { specHash: op.specHash });
    expect(approved.status).toBe(200);
    expect((await waitForStatus(svc, op.id, ["succeeded", "failed"])).status).toBe("succeeded");
    expect((await call("GET", "/v1/providers/ap-hsm", operator)).body.keyStore.state).toBe("connected");
    const records = await audit("approval.request", op.id);
    expect(JSON.stringify(records)).toMatch(/trustAnchorSha256/);
    expect(JSON.stringify(records)).not.toContain("Approve-me-1");
  });
});

