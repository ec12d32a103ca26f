import { randomUUID } from "node:crypto";
import { afterEach, describe, expect, it } from "vitest";
import { createCredentialSealer } from "../../src/auth/credential-seal.js";
import { createLogger } from "../../src/logger.js";
import { createDeliveryWorker } from "../../src/notifications/delivery-worker.js";
import type { Send, SendRequest } from "../../src/notifications/http-sender.js";
import { createNotifier } from "../../src/notifications/outbox.js";
import { generateSecret, secretContext } from "../../src/notifications/signing.js";
import { insertSecret, insertSubscription } from "../../src/notifications/subscriptions-repo.js";
import type { PgliteDb } from "../../src/store/pglite.js";
import { createTestDb } from "../helpers/db.js";
import { until } from "../helpers/until.js";

/** The delivery worker alone (issue 16): a clean stop mid-attempt, and a dead replica's lease taken over. */
const sealer = createCredentialSealer(Buffer.alloc(32, 3));
const log = createLogger("silent");
const dbs: PgliteDb[] = [];
afterEach(async () => {
  for (const db of dbs.splice(0)) await db.close();
});

async function setUp(): Promise<{ db: PgliteDb; subscription: string }> {
  const db = await createTestDb();
  dbs.push(db);
  const subscription = randomUUID();
  const secretId = randomUUID();
  await db.transaction(async (tx) => {
    await insertSubscription(tx, { id: subscription, team: "alpha", url: "https://hooks.example.net/x", types: ["operation.finished"], description: "", createdBy: "test" });
    await insertSecret(tx, subscription, secretId, sealer.seal(secretContext(subscription, secretId), generateSecret()));
    await createNotifier({ source: "/test", maxAgeMs: 3_600_000 })(tx, { type: "operation.finished", team: "alpha", subject: "providers/p", data: {} });
  });
  return { db, subscription };
}

const worker = (db: PgliteDb, send: Send) =>
  createDeliveryWorker({ db, log, sealer, send, leaseSeconds: 5, concurrency: 2, backoff: { baseMs: 1_000, maxMs: 1_000 }, pollMs: 50 });

describe("delivery worker", () => {
  it("stops cleanly mid-attempt: the attempt is interrupted, recorded, due again at once, and its lease given back", async () => {
    const { db } = await setUp();
    const seen: SendRequest[] = [];
    const hanging: Send = (request, signal) => {
      seen.push(request);
      return new Promise((resolve) => signal.addEventListener("abort", () => resolve({ ok: false, error: "the service stopped during the attempt", durationMs: 1 })));
    };
    const w = worker(db, hanging);
    await w.start();
    await until("the attempt in flight", async () => (seen.length === 1 ? true : undefined));
    expect(seen[0]!.headers["webhook-signature"]).toMatch(/^v1,[A-Za-z0-9+/]{43}=$/);
    const began = Date.now();
    await w.stop(200);
    expect(Date.now() - began).toBeLessThan(2_000);
    const [row] = await db.query<{ status: string; lease_owner: string | null; due: boolean; attempts: number }>(
      "SELECT status, lease_owner, next_attempt_at <= now() AS due, attempts FROM webhook_deliveries",
    );
    expect(row).toEqual({ status: "pending", lease_owner: null, due: true, attempts: 1 });
    const attempts = await db.query<{ error: string }>("SELECT error FROM webhook_attempts");
    expect(attempts).toEqual([{ error: "the service stopped during the attempt" }]);
  });

  it("a delivery leased by a replica that died is recorded as interrupted and sent by another after the lease", async () => {
    const { db } = await setUp();
    await db.query("UPDATE webhook_deliveries SET lease_owner = 'dead-replica', lease_expires_at = now() + interval '1 second', attempts = 1");
    const sent: number[] = [];
    const w = worker(db, async () => {
      sent.push(Date.now());
      return { ok: true, statusCode: 204, durationMs: 1 };
    });
    const began = Date.now();
    await w.start();
    // Not before the lease has expired: the dead replica might still be sending.
    await until("sent by this replica", async () => (sent.length === 1 ? true : undefined), 10_000);
    expect(sent[0]! - began).toBeGreaterThanOrEqual(900);
    await until("delivered", async () => ((await db.query<{ status: string }>("SELECT status FROM webhook_deliveries"))[0]?.status === "delivered" ? true : undefined));
    const attempts = await db.query<{ number: number; error: string | null; status_code: number | null }>("SELECT number, error, status_code FROM webhook_attempts ORDER BY number");
    expect(attempts).toEqual([
      { number: 1, error: expect.stringMatching(/^interrupted/), status_code: null },
      { number: 2, error: null, status_code: 204 },
    ]);
    await w.stop(200);
  });
});
