import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { generateSecurityKeys } from "../../src/auth/security-keys.js";
import { openDb } from "../../src/store/open.js";
import { createScratchDatabase, startPostgresCluster, type PostgresCluster } from "../helpers/postgres-cluster.js";
import { startTestService, warningsOf, type TestService } from "../helpers/service.js";
import { until } from "../helpers/until.js";
import { startReceiver, verifies, type Receiver } from "./receiver.js";
import { commitNotices, eventOf, notice, subscribe } from "./support.js";

/**
 * Issue 16: two services on one PostgreSQL deliver every notice exactly once in the normal case (claims
 * FOR UPDATE SKIP LOCKED under a lease), each subscription's in order, whichever replica committed it.
 */
let cluster: PostgresCluster;
let scratch: { url: string; stop(): Promise<void> } | undefined;
const replicas: TestService[] = [];
let rx: Receiver | undefined;

beforeAll(async () => {
  cluster = await startPostgresCluster();
  if ("skipped" in cluster) console.warn(`[test/notifications/webhook-replicas] skipped: ${cluster.skipped}`);
  else scratch = await createScratchDatabase(cluster.url);
}, 60_000);

afterAll(async () => {
  for (const r of replicas) await r.close(1_000);
  await rx?.close();
  await scratch?.stop().catch(() => undefined);
  if (cluster && !("skipped" in cluster)) await cluster.stop();
});

describe("webhooks with two replicas on one PostgreSQL", () => {
  it("N notices, committed on either replica, arrive exactly N times per subscription, in order", async (ctx) => {
    if (!scratch) return ctx.skip();
    // Replicas share the audit HMAC key, which the signing secrets are sealed under.
    const keys = generateSecurityKeys();
    for (let i = 0; i < 2; i++) {
      const db = await openDb({ databaseUrl: scratch.url, dataDir: "unused" });
      replicas.push(await startTestService({ db, keys, config: { WEBHOOK_ALLOWED_CIDRS: ["127.0.0.1/32"], WEBHOOK_CONCURRENCY: 4 } }));
    }
    const [a, b] = replicas as [TestService, TestService];
    rx = await startReceiver();
    const subs = [
      { path: "/alpha", ...(await subscribe(a, { team: "alpha", url: rx.url.replace("/hook", "/alpha"), types: ["operation.finished"] })) },
      { path: "/beta", ...(await subscribe(b, { team: "beta", url: rx.url.replace("/hook", "/beta"), types: ["operation.finished"] })) },
      { path: "/all", ...(await subscribe(a, { url: rx.url.replace("/hook", "/all"), types: ["operation.finished"] })) },
    ];
    const N = 60;
    const expected: Record<string, number[]> = { "/alpha": [], "/beta": [], "/all": [] };
    // Committed concurrently from both replicas, one notice per transaction.
    await Promise.all(
      [a, b].map(async (svc, r) => {
        for (let n = r; n < N; n += 2) await commitNotices(svc, [notice(n % 3 === 0 ? "beta" : "alpha", n)]);
      }),
    );
    for (let n = 0; n < N; n++) {
      expected[n % 3 === 0 ? "/beta" : "/alpha"]!.push(n);
      expected["/all"]!.push(n);
    }
    const total = 2 * N;
    await until(`${total} deliveries`, async () => (rx!.accepted().length >= total ? true : undefined), 30_000).catch(async (err: unknown) => {
      const rows = await a.db.query("SELECT status, attempts, last_error, lease_owner IS NOT NULL AS leased, count(*)::int AS n FROM webhook_deliveries GROUP BY 1, 2, 3, 4");
      throw new Error(`${String(err)}: received ${rx!.received.length}; ${JSON.stringify(rows)}\n${warningsOf(a.logs)}\n${warningsOf(b.logs)}`);
    });
    // Nothing more is on its way: a second send would show up now.
    await new Promise((r) => setTimeout(r, 1_000));
    expect(rx.received).toHaveLength(total);
    const ids = rx.received.map((r) => r.headers["webhook-id"]);
    expect(new Set(ids).size).toBe(total);
    for (const s of subs) {
      const got = rx.received.filter((r) => r.path === s.path);
      for (const r of got) expect(verifies(s.secret, r)).toBe(true);
      // In commit order: the order the subscription's row lock numbered them in.
      const numbered = await a.db.query<{ n: number }>(
        "SELECT (payload::jsonb->'data'->>'n')::int AS n FROM webhook_deliveries WHERE subscription_id = $1 ORDER BY seq",
        [s.id],
      );
      expect(got.map((r) => eventOf(r.body).data.n), s.path).toEqual(numbered.map((x) => x.n));
      expect([...got.map((r) => eventOf(r.body).data.n!)].sort((x, y) => x - y), s.path).toEqual(expected[s.path]);
    }
    const status = await a.db.query<{ status: string; n: number }>("SELECT status, count(*)::int AS n FROM webhook_deliveries GROUP BY status");
    expect(status).toEqual([{ status: "delivered", n: total }]);
  }, 120_000);
});
