import { spawn, type ChildProcess } from "node:child_process";
import { afterAll, describe, expect, it } from "vitest";
import { startTestService, type TestService } from "../helpers/service.js";
import { until } from "../helpers/until.js";
import { commitNotices, notice, subscribe } from "./support.js";

/** The README's receiver (examples/webhook-receiver.mjs, node:crypto only) verifies what the service sends, and refuses a forgery. */
let svc: TestService | undefined;
let child: ChildProcess | undefined;
afterAll(async () => {
  child?.kill("SIGKILL");
  await svc?.close(1_000);
});

describe("the example receiver", () => {
  it("accepts the service's deliveries (each webhook-id once) and refuses a forged signature", async () => {
    svc = await startTestService({ config: { WEBHOOK_ALLOWED_CIDRS: ["127.0.0.1/32"] } });
    let out = "";
    // The secret comes with the subscription and the receiver needs it: subscribed first, its URL set once the receiver listens.
    const sub = await subscribe(svc, { team: "alpha", url: "http://127.0.0.1:1/placeholder", types: ["drift.found"] });
    child = spawn(process.execPath, ["examples/webhook-receiver.mjs"], { env: { PATH: process.env["PATH"] ?? "", WEBHOOK_SECRET: sub.secret, PORT: "0" }, stdio: ["ignore", "pipe", "pipe"] });
    child.stdout!.on("data", (d: Buffer) => (out += d.toString()));
    child.stderr!.on("data", (d: Buffer) => (out += d.toString()));
    const port = await until("the receiver to listen", async () => /listening on (\d+)/.exec(out)?.[1]);
    await svc.db.query("UPDATE webhook_subscriptions SET url = $1 WHERE id = $2", [`http://127.0.0.1:${port}/hook`, sub.id]);
    await commitNotices(svc, [notice("alpha", 1, "drift.found")]);
    const line = await until("the receiver's line", async () => /^(msg_\w+) com\.saas-bridge\.drift\.found providers\/p-1$/m.exec(out)?.[1]);
    const [d] = (await svc.app.inject({ method: "GET", url: `/v1/webhooks/${sub.id}/deliveries` })).json().items as { webhookId: string; status: string }[];
    expect(d).toMatchObject({ webhookId: line, status: "delivered" });
    const forged = await fetch(`http://127.0.0.1:${port}/hook`, {
      method: "POST",
      headers: { "webhook-id": "msg_x", "webhook-timestamp": String(Math.floor(Date.now() / 1000)), "webhook-signature": `v1,${Buffer.alloc(32).toString("base64")}` },
      body: "{}",
    });
    expect(forged.status).toBe(401);
  });
});
