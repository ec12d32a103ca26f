import { afterEach, describe, expect, it } from "vitest";
import { specNamed, startTestService, waitForStatus, type TestService } from "../helpers/service.js";
import { until } from "../helpers/until.js";
import { startReceiver, verifyWith, type Receiver } from "./receiver.js";
import { eventOf, subscribe } from "./support.js";

/**
 * Issue 16: the notices reach subscribers from their causes — an approval requested and decided, an
 * operation finished (succeeded, and cancelled by a rejection), an expiry approaching, access expired and
 * the service's revoke finished — each once, signed, in the order their causes committed.
 */
type Json = Record<string, any>;
const DAY = 24 * 3_600_000;
const open: { close(...a: number[]): Promise<void> }[] = [];
afterEach(async () => {
  for (const o of open.splice(0).reverse()) await o.close(1_000);
});

const iso = (ms: number) => new Date(Math.floor(ms / 1000) * 1000).toISOString().replace(".000Z", "Z");

describe("notices from their causes", () => {
  it("approvals, operations and expiry each notify the provider's team, once, in order", async () => {
    const svc: TestService = await startTestService({
      config: { APPROVAL_RULES: ["all"], WEBHOOK_ALLOWED_CIDRS: ["127.0.0.1/32"], WEBHOOK_TIMEOUT_SECONDS: 2, SIMULATED_STEP_MS: 5 },
    });
    open.push(svc);
    const rx: Receiver = await startReceiver("ok");
    open.push(rx);
    const types = ["operation.finished", "approval.requested", "approval.decided", "drift.found", "expiry.approaching", "access.expired"];
    const sub = await subscribe(svc, { team: "payments", url: rx.url, types });
    // Another team's subscription hears none of it.
    await subscribe(svc, { team: "elsewhere", url: `${rx.url}/other`, types });
    const approver = `Bearer ${await svc.createKey("approver", ["payments"], "second-person")}`;
    const expiresAt = iso(Date.now() + 20 * DAY);
    const spec = { ...specNamed("noticed"), owner: { team: "payments", contact: "payments@example.com" }, expiresAt };

    const created = (await svc.app.inject({ method: "POST", url: "/v1/providers", payload: spec })).json() as Json;
    const createId = created.operation.id as string;
    const approved = await svc.app.inject({
      method: "POST",
      url: `/v1/operations/${createId}/approve`,
      headers: { authorization: approver },
      payload: { specHash: created.operation.specHash, comment: "looks right" },
    });
    expect(approved.statusCode, approved.body).toBe(200);
    await waitForStatus(svc, createId, ["succeeded"], 30_000);

    const update = (await svc.app.inject({ method: "PUT", url: "/v1/providers/noticed", payload: { ...spec, displayName: "Noticed 2" } })).json() as Json;
    const updateId = update.operation.id as string;
    const rejected = await svc.app.inject({ method: "POST", url: `/v1/operations/${updateId}/reject`, headers: { authorization: approver }, payload: { comment: "not now" } });
    expect(rejected.statusCode, rejected.body).toBe(200);

    expect((await svc.sweepExpiry(new Date(Date.parse(expiresAt) - 3 * DAY + 60_000))).warned).toEqual(["noticed"]);
    const { expired } = await svc.sweepExpiry(new Date(Date.parse(expiresAt) + 1_000));
    const revokeId = expired[0]!.operationId!;
    await waitForStatus(svc, revokeId, ["succeeded"], 30_000);

    const got = await until("nine notices", async () => (rx.received.filter((r) => r.path === "/hook").length >= 9 ? rx.received : undefined), 20_000);
    await new Promise((r) => setTimeout(r, 300));
    const mine = got.filter((r) => r.path === "/hook");
    expect(mine).toHaveLength(9);
    const events = mine.map((r) => verifyWith(sub.secret, r) as Json);
    expect(events.map((e) => [e.type.replace("com.saas-bridge.", ""), e.data.operationId ?? null, e.data.status ?? e.data.decision ?? e.data.daysBefore ?? null])).toEqual([
      ["approval.requested", createId, null],
      ["approval.decided", createId, "approved"],
      ["operation.finished", createId, "succeeded"],
      ["approval.requested", updateId, null],
      ["operation.finished", updateId, "cancelled"],
      ["approval.decided", updateId, "rejected"],
      ["expiry.approaching", null, 3],
      ["access.expired", revokeId, null],
      ["operation.finished", revokeId, "succeeded"],
    ]);
    for (const e of events) expect(e).toMatchObject({ specversion: "1.0", subject: "providers/noticed", team: "payments" });
    expect(events[1]!.data).toMatchObject({ decidedBy: "second-person", comment: "looks right", links: { operation: `/v1/operations/${createId}` } });
    expect(events[7]!.data).toMatchObject({ provider: "noticed", expiresAt, lifecycle: "active" });
    // Each notice once: nine distinct webhook-ids, and nothing for the other team.
    expect(new Set(mine.map((r) => r.headers["webhook-id"])).size).toBe(9);
    expect(got.filter((r) => r.path !== "/hook")).toEqual([]);
    expect(eventOf(mine[2]!.body).data["intent"]).toBe("create");
  }, 90_000);
});
