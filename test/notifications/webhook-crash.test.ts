import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { specNamed } from "../helpers/service.js";
import { startServerProcess, type ServerProcess } from "../helpers/server-process.js";
import { until } from "../helpers/until.js";
import { startReceiver, verifies, type Receiver } from "./receiver.js";
import { eventOf } from "./support.js";

/**
 * Issue 16: the real server (src/main.ts, PGlite in DATA_DIR) is SIGKILLed after the notice of a finished
 * operation committed and while its delivery is in flight (the receiver holds the request); restarted on
 * the same data, it delivers the notice with the same webhook-id.
 */
type Json = Record<string, any>;
const servers: ServerProcess[] = [];
const dirs: string[] = [];
let rx: Receiver | undefined;

afterAll(async () => {
  for (const s of servers) if (s.child.exitCode === null) s.child.kill("SIGKILL");
  await rx?.close();
  for (const dir of dirs) await rm(dir, { recursive: true, force: true });
});

async function start(dataDir: string): Promise<ServerProcess> {
  const server = await startServerProcess(dataDir, { LEASE_SECONDS: "5", WEBHOOK_ALLOWED_CIDRS: "127.0.0.1/32", WEBHOOK_TIMEOUT_SECONDS: "60", WEBHOOK_BACKOFF_SECONDS: "1" });
  servers.push(server);
  return server;
}

async function call(server: ServerProcess, method: string, path: string, body?: unknown): Promise<{ status: number; json: Json }> {
  const res = await fetch(`${server.base}${path}`, {
    method,
    headers: { ...server.auth, ...(body === undefined ? {} : { "content-type": "application/json" }) },
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
  });
  return { status: res.status, json: (await res.json()) as Json };
}

describe("webhooks across a crash", () => {
  it("SIGKILL between the commit of a notice and its delivery: delivered after the restart, same webhook-id, the lost attempt recorded", async () => {
    const dataDir = await mkdtemp(join(tmpdir(), "saas-bridge-webhook-crash-"));
    dirs.push(dataDir);
    rx = await startReceiver("hang");
    const first = await start(dataDir);
    const created = await call(first, "POST", "/v1/webhooks", { url: rx.url, types: ["operation.finished"] });
    expect(created.status, JSON.stringify(created.json)).toBe(201);
    const { webhook, secret } = created.json as { webhook: { id: string }; secret: string };
    const op = await call(first, "POST", "/v1/providers", specNamed("crash-hook"));
    expect(op.status).toBe(202);
    const opId = String(op.json["operation"].id);
    await until("the operation to succeed", async () => ((await call(first, "GET", `/v1/operations/${opId}`)).json["status"] === "succeeded" ? true : undefined), 30_000);
    // Committed, and now being sent: the receiver holds the request without answering.
    const held = await until("the delivery in flight", async () => rx!.received.find((r) => eventOf(r.body).data["operationId"] === opId), 15_000);
    first.child.kill("SIGKILL");
    await first.exited();
    rx.mode = "ok";

    const second = await start(dataDir);
    const got = await until("the delivery after the restart", async () => rx!.accepted().find((r) => eventOf(r.body).data["operationId"] === opId), 30_000);
    expect(got.headers["webhook-id"]).toBe(held.headers["webhook-id"]);
    expect(got.body).toBe(held.body);
    expect(verifies(secret, got)).toBe(true);
    const list = await call(second, "GET", `/v1/webhooks/${webhook.id}/deliveries?status=delivered`);
    const delivery = (list.json["items"] as Json[]).find((d) => d["webhookId"] === held.headers["webhook-id"])!;
    const detail = await call(second, "GET", delivery["links"].self);
    const attempts = detail.json["attemptList"] as Json[];
    expect(attempts[0]).toMatchObject({ number: 1, statusCode: null, error: expect.stringMatching(/^interrupted/) });
    expect(attempts.at(-1)).toMatchObject({ statusCode: 200, error: null });
    second.child.kill("SIGTERM");
    await second.exited();
  }, 90_000);
});
