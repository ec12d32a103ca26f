import { afterAll, afterEach, describe, expect, it } from "vitest";
import { specNamed, startTestService, waitForStatus, type TestService } from "../helpers/service.js";
import { until } from "../helpers/until.js";
import { startReceiver, verifies, verifyWith, type Receiver } from "./receiver.js";
import { commitNotices, deliveriesOf, eventOf, notice, subscribe } from "./support.js";

/**
 * Issue 16, signed notifications: a loopback receiver (allow-listed) verifies every delivery with the
 * official Standard Webhooks package; notices survive a receiver that is down; retries end in `dead` after
 * the maximum age; a dead one is redelivered with the same webhook-id; redirects are not followed.
 */
const open: { close(...a: number[]): Promise<void> }[] = [];
afterEach(async () => {
  for (const o of open.splice(0).reverse()) await o.close(1_000);
});
afterAll(async () => {
  for (const o of open.splice(0).reverse()) await o.close(1_000);
});

async function service(timings: { maxAgeMs?: number } = {}): Promise<TestService> {
  const svc = await startTestService({
    config: { WEBHOOK_ALLOWED_CIDRS: ["127.0.0.1/32"], WEBHOOK_TIMEOUT_SECONDS: 2, LEASE_SECONDS: 5 },
    webhooks: { webhookTimings: { backoffBaseMs: 40, backoffMaxMs: 300, ...timings } },
  });
  open.push(svc);
  return svc;
}

async function receiver(mode: Parameters<typeof startReceiver>[0] = "ok"): Promise<Receiver> {
  const r = await startReceiver(mode);
  open.push(r);
  return r;
}

describe("webhook delivery", () => {
  it("a loopback receiver verifies the signature with the standardwebhooks package; only matching subscriptions receive", async () => {
    const svc = await service();
    const rx = await receiver();
    const alpha = await subscribe(svc, { team: "alpha", url: rx.url, types: ["operation.finished", "drift.found"], description: "portal" });
    await commitNotices(svc, [notice("alpha", 1), notice("beta", 2), notice("alpha", 3, "approval.requested"), notice(null, 4)]);
    await until("the delivery", async () => (rx.received.length >= 1 ? true : undefined));
    // Nothing else is on its way: the other notices matched no subscription.
    await new Promise((r) => setTimeout(r, 300));
    expect(rx.received).toHaveLength(1);
    const got = rx.received[0]!;
    const verified = verifyWith(alpha.secret, got) as Record<string, unknown>;
    expect(verified).toMatchObject({ specversion: "1.0", type: "com.saas-bridge.operation.finished", subject: "providers/p-1", data: { n: 1 } });
    expect(got.headers["content-type"]).toBe("application/json");
    expect(got.headers["webhook-id"]).toMatch(/^msg_[0-9a-f]{32}$/);
    expect(Number(got.headers["webhook-timestamp"])).toBeCloseTo(Date.now() / 1000, -2);
    const event = eventOf(got.body);
    expect(event).toMatchObject({ source: "/saas-bridge", datacontenttype: "application/json", team: "alpha" });
    expect(Date.parse(String(event["time"]))).toBeGreaterThan(Date.now() - 60_000);
    // A tampered body, or another secret, does not verify.
    expect(verifies(alpha.secret, { ...got, body: got.body.replace('"n":1', '"n":2') })).toBe(false);
    expect(verifies("whsec_" + Buffer.alloc(32, 7).toString("base64"), got)).toBe(false);

    const [delivery] = await until("delivered", async () => {
      const items = await deliveriesOf(svc, alpha.id, "&status=delivered");
      return items.length === 1 ? items : undefined;
    });
    expect(delivery).toMatchObject({ webhookId: got.headers["webhook-id"], status: "delivered", attempts: 1, type: "operation.finished" });
    const one = (await svc.app.inject({ method: "GET", url: delivery!["links"].self })).json() as Record<string, any>;
    expect(one["attemptList"]).toEqual([expect.objectContaining({ number: 1, statusCode: 200, error: null, responseExcerpt: "thanks" })]);
    // Neither the secret nor a signature is ever logged.
    const logs = svc.logs.join("");
    expect(logs).not.toContain(alpha.secret.slice(6));
    expect(logs).not.toContain(String(got.headers["webhook-signature"]).slice(3, 30));
  });

  it("an operation that finishes notifies its team's subscription (operation.finished from the runner's transaction)", async () => {
    const svc = await service();
    const rx = await receiver();
    const sub = await subscribe(svc, { team: "payments", url: rx.url, types: ["operation.finished"] });
    const spec = { ...specNamed("hooked"), owner: { team: "payments", contact: "payments@example.com" } };
    const created = await svc.app.inject({ method: "POST", url: "/v1/providers", payload: spec });
    expect(created.statusCode, created.body).toBe(202);
    const opId = (created.json() as { operation: { id: string } }).operation.id;
    await waitForStatus(svc, opId, ["succeeded"]);
    const got = await until("the operation.finished notice", async () => rx.received.find((r) => eventOf(r.body).data["operationId"] === opId));
    expect(verifyWith(sub.secret, got)).toMatchObject({ type: "com.saas-bridge.operation.finished", subject: "providers/hooked", data: { status: "succeeded" } });
  });

  it("the receiver down for a while, then up: every notice arrives, in order per subscription, none lost", async () => {
    const svc = await service();
    const rx = await receiver("error");
    const team = await subscribe(svc, { team: "alpha", url: rx.url, types: ["operation.finished"] });
    const all = await subscribe(svc, { url: rx.url.replace("/hook", "/all"), types: ["operation.finished"] });
    const N = 20;
    for (let n = 1; n <= N; n++) await commitNotices(svc, [notice("alpha", n)]);
    // Down: failing answers, then connections reset.
    await until("failed attempts", async () => (rx.received.length >= 6 ? true : undefined));
    rx.mode = "reset";
    await until("more failed attempts", async () => (rx.received.filter((r) => r.answered === 0).length >= 4 ? true : undefined));
    expect(rx.accepted()).toHaveLength(0);
    // Only the first of each subscription was tried while it failed: the later ones wait behind it.
    expect(new Set(rx.received.map((r) => eventOf(r.body).data.n))).toEqual(new Set([1]));
    rx.mode = "ok";
    await until("every notice accepted", async () => (rx.accepted().length >= 2 * N ? true : undefined), 20_000);
    for (const path of ["/hook", "/all"]) {
      const order = rx.accepted().filter((r) => r.path === path).map((r) => eventOf(r.body).data.n);
      expect(order, path).toEqual(Array.from({ length: N }, (_, i) => i + 1));
    }
    for (const r of rx.accepted()) expect(verifies(r.path === "/hook" ? team.secret : all.secret, r)).toBe(true);
    // Every retry of one notice carried the same webhook-id.
    const firstIds = new Set(rx.received.filter((r) => eventOf(r.body).data.n === 1 && r.path === "/hook").map((r) => r.headers["webhook-id"]));
    expect(firstIds.size).toBe(1);
    const first = (await deliveriesOf(svc, team.id)).find((d) => d["event"].data.n === 1)!;
    expect(first["attempts"]).toBeGreaterThan(2);
    expect(first["status"]).toBe("delivered");
  }, 40_000);

  it("retried until the maximum age, then dead (a dead one no longer holds the next back); redelivered with the same webhook-id", async () => {
    const svc = await service({ maxAgeMs: 1_500 });
    const rx = await receiver("error");
    const sub = await subscribe(svc, { team: "alpha", url: rx.url, types: ["operation.finished"] });
    await commitNotices(svc, [notice("alpha", 1)]);
    const [dead] = await until("dead", async () => {
      const items = await deliveriesOf(svc, sub.id, "&status=dead");
      return items.length === 1 ? items : undefined;
    }, 10_000);
    expect(dead!["attempts"]).toBeGreaterThan(1);
    expect(dead!["lastError"]).toBe("HTTP 500");
    expect(Date.parse(dead!["deadAt"]) - Date.parse(dead!["createdAt"])).toBeGreaterThanOrEqual(1_400);
    const detail = (await svc.app.inject({ method: "GET", url: dead!["links"].self })).json() as Record<string, any>;
    expect(detail["attemptList"].length).toBe(dead!["attempts"]);
    for (const a of detail["attemptList"]) {
      expect(a.statusCode).toBe(500);
      expect(a.responseExcerpt.length).toBeLessThanOrEqual(256);
      expect(a.responseExcerpt).toMatch(/^failing on purpose x+$/);
    }
    // The next notice is not held back by the dead one.
    rx.mode = "ok";
    await commitNotices(svc, [notice("alpha", 2)]);
    await until("the next notice", async () => rx.accepted().find((r) => eventOf(r.body).data.n === 2));
    const redeliver = await svc.app.inject({ method: "POST", url: dead!["links"].redeliver });
    expect(redeliver.statusCode, redeliver.body).toBe(202);
    expect(redeliver.json()).toMatchObject({ status: "pending", webhookId: dead!["webhookId"] });
    const again = await until("the redelivery", async () => rx.accepted().find((r) => eventOf(r.body).data.n === 1));
    expect(again.headers["webhook-id"]).toBe(dead!["webhookId"]);
    expect(verifies(sub.secret, again)).toBe(true);
    await until("delivered after redelivery", async () => ((await deliveriesOf(svc, sub.id, "&status=delivered")).length === 2 ? true : undefined));
    const audit = await svc.db.query<{ n: number }>("SELECT count(*)::int AS n FROM audit_log WHERE action = 'webhook.redeliver'");
    expect(audit[0]!.n).toBe(1);
  }, 30_000);

  it("a redirect is a failed attempt naming it, and is not followed", async () => {
    const svc = await service();
    const rx = await receiver("redirect");
    const sub = await subscribe(svc, { team: "alpha", url: rx.url, types: ["operation.finished"] });
    await commitNotices(svc, [notice("alpha", 1)]);
    const [d] = await until("a failed attempt", async () => {
      const items = await deliveriesOf(svc, sub.id);
      return items[0]?.["lastError"] ? items : undefined;
    });
    expect(d!["lastError"]).toBe("HTTP 302: redirects are not followed");
    expect(rx.received.every((r) => r.path === "/hook")).toBe(true);
  });

  it("secret rotation: during the overlap both secrets verify; after it, only the new one", async () => {
    const svc = await service();
    const rx = await receiver();
    const sub = await subscribe(svc, { team: "alpha", url: rx.url, types: ["operation.finished"] });
    const rotated = await svc.app.inject({ method: "POST", url: `/v1/webhooks/${sub.id}/rotate-secret`, payload: { overlapHours: 2 } });
    expect(rotated.statusCode, rotated.body).toBe(200);
    const { secret: next, webhook } = rotated.json() as { secret: string; webhook: { previousSecretValidUntil: string } };
    expect(next).not.toBe(sub.secret);
    expect(Date.parse(webhook.previousSecretValidUntil) - Date.now()).toBeGreaterThan(7_000_000);
    await commitNotices(svc, [notice("alpha", 1)]);
    const during = await until("during the overlap", async () => rx.received.find((r) => eventOf(r.body).data.n === 1));
    expect(String(during.headers["webhook-signature"]).split(" ")).toHaveLength(2);
    expect(verifies(sub.secret, during)).toBe(true);
    expect(verifies(next, during)).toBe(true);
    // The overlap ends (moved into the past rather than waited for).
    await svc.db.query("UPDATE webhook_secrets SET expires_at = now() - interval '1 second' WHERE expires_at IS NOT NULL");
    await commitNotices(svc, [notice("alpha", 2)]);
    const after = await until("after the overlap", async () => rx.received.find((r) => eventOf(r.body).data.n === 2));
    expect(String(after.headers["webhook-signature"]).split(" ")).toHaveLength(1);
    expect(verifies(next, after)).toBe(true);
    expect(verifies(sub.secret, after)).toBe(false);
    // overlapHours 0: the previous secret stops at once.
    const third = (await svc.app.inject({ method: "POST", url: `/v1/webhooks/${sub.id}/rotate-secret`, payload: { overlapHours: 0 } })).json() as { secret: string };
    await commitNotices(svc, [notice("alpha", 3)]);
    const last = await until("after a rotation without overlap", async () => rx.received.find((r) => eventOf(r.body).data.n === 3));
    expect(verifies(third.secret, last)).toBe(true);
    expect(verifies(next, last)).toBe(false);
    // The audit trail records the rotations, never a secret.
    const rows = await svc.db.query<{ details: unknown }>("SELECT details FROM audit_log WHERE resource_kind = 'webhook'");
    expect(rows.length).toBe(3);
    expect(JSON.stringify(rows)).not.toMatch(/whsec_/);
  });
});
