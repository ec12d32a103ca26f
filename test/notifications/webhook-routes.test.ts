import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { Resolve } from "../../src/notifications/destination.js";
import { startTestService, type TestService } from "../helpers/service.js";
import { until } from "../helpers/until.js";
import { startReceiver, type Receiver } from "./receiver.js";
import { commitNotices, deliveriesOf, notice, subscribe } from "./support.js";

/**
 * `/v1/webhooks` at the edge (issue 16): who may do what, problems naming the field, another team's
 * subscription as a 404, and outbound safety (special-purpose destinations refused at create and at
 * connect time, http:// only to allow-listed destinations in production).
 */
const PUBLIC = "93.184.215.14";
const names: Record<string, string> = { "hooks.example.net": PUBLIC, "internal.example.net": "10.1.2.3", "mapped.example.net": "::ffff:192.168.1.1" };
let rebinding = false;
const resolve: Resolve = async (host) => {
  // After the subscription is created the name turns to loopback (DNS rebinding): the connect-time check refuses it.
  if (host === "rebind.example.net") return [{ address: rebinding ? "127.0.0.1" : PUBLIC, family: 4 }];
  const address = names[host];
  if (address === undefined) throw Object.assign(new Error(`getaddrinfo ENOTFOUND ${host}`), { code: "ENOTFOUND" });
  return [{ address, family: address.includes(":") ? 6 : 4 }];
};

let svc: TestService; // production mode, nothing delivered (not started)
let dev: TestService; // development mode, delivering, nothing allow-listed
let rx: Receiver;
let operatorAlpha = "";
let operatorBeta = "";
let viewerAlpha = "";
const post = (s: TestService, payload: unknown, authorization?: string) =>
  s.app.inject({ method: "POST", url: "/v1/webhooks", payload: payload as object, ...(authorization ? { headers: { authorization } } : {}) });

beforeAll(async () => {
  svc = await startTestService({ config: { MODE: "production", WEBHOOK_ALLOWED_CIDRS: ["127.0.0.1/32"] }, start: false, webhooks: { webhookResolve: resolve } });
  dev = await startTestService({ config: { MODE: "development", LEASE_SECONDS: 5 }, webhooks: { webhookResolve: resolve, webhookTimings: { backoffBaseMs: 50, backoffMaxMs: 200 } } });
  rx = await startReceiver();
  operatorAlpha = `Bearer ${await svc.createKey("operator", ["alpha"])}`;
  operatorBeta = `Bearer ${await svc.createKey("operator", ["beta"])}`;
  viewerAlpha = `Bearer ${await svc.createKey("viewer", ["alpha"])}`;
});
afterAll(async () => {
  await svc?.close(1_000);
  await dev?.close(1_000);
  await rx?.close();
});

const hook = { team: "alpha", url: "https://hooks.example.net/saas", types: ["operation.finished"] };

describe("webhook routes", () => {
  it("an operator creates a subscription for its team: 201 with the secret once; reads never show it", async () => {
    const res = await post(svc, hook, operatorAlpha);
    expect(res.statusCode, res.body).toBe(201);
    const body = res.json() as { webhook: { id: string; team: string; types: string[] }; secret: string };
    expect(body.secret).toMatch(/^whsec_[A-Za-z0-9+/]{43}=$/);
    expect(Buffer.from(body.secret.slice(6), "base64")).toHaveLength(32);
    expect(res.headers["location"]).toBe(`/v1/webhooks/${body.webhook.id}`);
    expect(res.headers["cache-control"]).toBe("no-store");
    expect(body.webhook).toMatchObject({ team: "alpha", types: ["operation.finished"], url: hook.url });
    const got = await svc.app.inject({ method: "GET", url: `/v1/webhooks/${body.webhook.id}`, headers: { authorization: operatorAlpha } });
    expect(got.statusCode).toBe(200);
    expect(got.body).not.toContain("whsec_");
    expect(got.body).not.toContain(body.secret.slice(6, 30));
    const sealed = await svc.db.query<{ sealed: string }>("SELECT sealed FROM webhook_secrets");
    for (const row of sealed) expect(row.sealed).not.toContain(body.secret.slice(6, 30));
    expect(JSON.stringify(await svc.db.query("SELECT details, sensitive FROM audit_log WHERE resource_kind = 'webhook'"))).not.toContain(body.secret.slice(6, 30));
  });

  it("400s name the field", async () => {
    const cases: [unknown, string][] = [
      [{ team: "alpha", types: ["operation.finished"] }, "/url"],
      [{ ...hook, url: "ftp://hooks.example.net/x" }, "/url"],
      [{ ...hook, types: ["operation.started"] }, "/types/0"],
      [{ ...hook, types: [] }, "/types"],
      [{ ...hook, types: ["drift.found", "drift.found"] }, "/types"],
      [{ ...hook, team: "Not A Team" }, "/team"],
      [{ ...hook, extra: 1 }, ""],
    ];
    for (const [payload, path] of cases) {
      const res = await post(svc, payload);
      expect(res.statusCode, JSON.stringify(payload)).toBe(400);
      expect(res.headers["content-type"]).toMatch(/^application\/problem\+json/);
      const errors = (res.json() as { errors: { path: string }[] }).errors;
      if (path !== "") expect(errors.map((e) => e.path), JSON.stringify(payload)).toContain(path);
    }
    const rotate = await svc.app.inject({ method: "POST", url: `/v1/webhooks/${(await subscribe(svc, hook)).id}/rotate-secret`, payload: { overlapHours: 1000 } });
    expect(rotate.statusCode).toBe(400);
    expect((rotate.json() as { errors: { path: string }[] }).errors[0]!.path).toBe("/overlapHours");
  });

  it("destinations in special-purpose ranges are refused at create (400 naming /url), unless allow-listed", async () => {
    for (const url of [
      "https://10.0.0.5/hook",
      "https://169.254.169.254/latest/meta-data",
      "https://[::1]/hook",
      "https://[::ffff:10.0.0.1]/hook",
      "https://[::ffff:a9fe:a9fe]/hook",
      "https://[fd00::1]/hook",
      "https://100.64.0.1/hook",
      "https://0.0.0.0/hook",
      "https://internal.example.net/hook",
      "https://mapped.example.net/hook",
      "https://user:secret@hooks.example.net/hook",
    ]) {
      const res = await post(svc, { ...hook, url });
      expect(res.statusCode, url).toBe(400);
      expect((res.json() as { errors: { path: string }[] }).errors[0]!.path, url).toBe("/url");
    }
    expect((await post(svc, { ...hook, url: "https://127.0.0.1:8443/hook" })).statusCode).toBe(201);
  });

  it("http:// is refused in production unless the destination is allow-listed", async () => {
    const plain = await post(svc, { ...hook, url: "http://hooks.example.net/saas" });
    expect(plain.statusCode).toBe(400);
    expect((plain.json() as { errors: { path: string; message: string }[] }).errors[0]).toMatchObject({ path: "/url", message: expect.stringMatching(/https/) });
    expect((await post(svc, { ...hook, url: "http://not-resolving.example.net/saas" })).statusCode).toBe(400);
    expect((await post(svc, { ...hook, url: "http://127.0.0.1:9/saas" })).statusCode).toBe(201);
    // Development mode takes http:// to public destinations (deleted at once: tests send nothing off this host).
    const devHook = await post(dev, { ...hook, team: "omega", url: "http://hooks.example.net/saas" });
    expect(devHook.statusCode).toBe(201);
    const id = (devHook.json() as { webhook: { id: string } }).webhook.id;
    expect((await dev.app.inject({ method: "DELETE", url: `/v1/webhooks/${id}` })).statusCode).toBe(204);
  });

  it("a name that turns private after create is refused at connect time (DNS rebinding): the receiver is never reached", async () => {
    const sub = await subscribe(dev, { ...hook, url: `http://rebind.example.net:${rx.port}/hook` });
    rebinding = true;
    await commitNotices(dev, [notice("alpha", 1)]);
    const [d] = await until("a refused attempt", async () => {
      const items = await deliveriesOf(dev, sub.id);
      return items[0]?.["lastError"] ? items : undefined;
    });
    expect(d!["lastError"]).toMatch(/destination refused: rebind\.example\.net 127\.0\.0\.1 is a loopback/);
    expect(d!["status"]).toBe("pending");
    expect(rx.received).toHaveLength(0);
  });

  it("who may: viewers 403; operators only for their teams (403), all teams only for admins (403); another team's is a 404", async () => {
    expect((await post(svc, hook, viewerAlpha)).statusCode).toBe(403);
    expect((await svc.app.inject({ method: "GET", url: "/v1/webhooks", headers: { authorization: viewerAlpha } })).statusCode).toBe(403);
    expect((await post(svc, hook, operatorBeta)).statusCode).toBe(403);
    const { team: _team, ...allTeams } = hook;
    expect((await post(svc, allTeams, operatorAlpha)).statusCode).toBe(403);
    const everyone = await subscribe(svc, allTeams);
    const alpha = await subscribe(svc, hook, operatorAlpha);
    for (const url of [`/v1/webhooks/${alpha.id}`, `/v1/webhooks/${alpha.id}/deliveries`, `/v1/webhooks/${everyone.id}`]) {
      const res = await svc.app.inject({ method: "GET", url, headers: { authorization: operatorBeta } });
      expect(res.statusCode, url).toBe(404);
    }
    expect((await svc.app.inject({ method: "DELETE", url: `/v1/webhooks/${alpha.id}`, headers: { authorization: operatorBeta } })).statusCode).toBe(404);
    const missing = await svc.app.inject({ method: "GET", url: "/v1/webhooks/00000000-0000-4000-8000-000000000000", headers: { authorization: operatorBeta } });
    const hidden = await svc.app.inject({ method: "GET", url: `/v1/webhooks/${alpha.id}`, headers: { authorization: operatorBeta } });
    expect((hidden.json() as { detail: string }).detail.replace(alpha.id, "X")).toBe((missing.json() as { detail: string }).detail.replace("00000000-0000-4000-8000-000000000000", "X"));
    const listBeta = (await svc.app.inject({ method: "GET", url: "/v1/webhooks", headers: { authorization: operatorBeta } })).json() as { items: unknown[] };
    expect(listBeta.items).toEqual([]);
    const listAlpha = (await svc.app.inject({ method: "GET", url: "/v1/webhooks", headers: { authorization: operatorAlpha } })).json() as { items: { id: string; team: string }[] };
    expect(listAlpha.items.length).toBeGreaterThan(0);
    expect(listAlpha.items.every((s) => s.team === "alpha")).toBe(true);
    const listAdmin = (await svc.app.inject({ method: "GET", url: "/v1/webhooks" })).json() as { items: { id: string }[] };
    expect(listAdmin.items.map((s) => s.id)).toEqual(expect.arrayContaining([everyone.id, alpha.id]));
    const deleted = await svc.app.inject({ method: "DELETE", url: `/v1/webhooks/${alpha.id}`, headers: { authorization: operatorAlpha } });
    expect(deleted.statusCode).toBe(204);
    expect((await svc.app.inject({ method: "GET", url: `/v1/webhooks/${alpha.id}` })).statusCode).toBe(404);
  });

  it("deliveries are paged and filtered; a pending one cannot be redelivered (409), an unknown one is a 404", async () => {
    const sub = await subscribe(svc, { ...hook, team: "gamma" });
    await commitNotices(svc, [1, 2, 3, 4, 5].map((n) => notice("gamma", n)));
    const page = await svc.app.inject({ method: "GET", url: `/v1/webhooks/${sub.id}/deliveries?limit=2` });
    const body = page.json() as { items: { seq: number; status: string; id: string }[]; links: { next?: string } };
    expect(body.items.map((d) => d.seq)).toEqual([5, 4]);
    const next = (await svc.app.inject({ method: "GET", url: body.links.next! })).json() as { items: { seq: number }[] };
    expect(next.items.map((d) => d.seq)).toEqual([3, 2]);
    expect(await deliveriesOf(svc, sub.id, "&status=dead")).toEqual([]);
    expect((await deliveriesOf(svc, sub.id, "&status=pending")).length).toBe(5);
    const redeliver = await svc.app.inject({ method: "POST", url: `/v1/webhooks/${sub.id}/deliveries/${body.items[0]!.id}/redeliver` });
    expect(redeliver.statusCode).toBe(409);
    expect((redeliver.json() as { code: string }).code).toBe("DELIVERY_PENDING");
    const unknown = await svc.app.inject({ method: "GET", url: `/v1/webhooks/${sub.id}/deliveries/00000000-0000-4000-8000-000000000000` });
    expect(unknown.statusCode).toBe(404);
  });
});
