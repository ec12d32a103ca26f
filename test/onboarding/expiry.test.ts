import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { openDb } from "../../src/store/open.js";
import { createScratchDatabase, startPostgresCluster, type PostgresCluster } from "../helpers/postgres-cluster.js";
import { specNamed, startTestService, waitForStatus, type TestService } from "../helpers/service.js";
import { until } from "../helpers/until.js";

/**
 * Access that expires (issue 16): warnings at the configured offsets, each once; at `expiresAt` a revoke
 * queued by the service (audited as the system, no approval), exactly once even with replicas racing; the
 * revoke keeps every data-bearing resource; a reinstate waits for an extension.
 */
type Json = Record<string, any>;
const DAY = 24 * 3_600_000;
const services: TestService[] = [];

afterEach(async () => {
  while (services.length > 0) await services.pop()!.close(1_000);
});

async function start(config: Json = {}): Promise<TestService> {
  const svc = await startTestService({ config: { SIMULATED_STEP_MS: 5, ...config } });
  services.push(svc);
  return svc;
}

/** An ISO date-time without milliseconds, as a portal would send it. */
const iso = (ms: number) => new Date(Math.floor(ms / 1000) * 1000).toISOString().replace(".000Z", "Z");

async function onboard(svc: TestService, name: string, expiresAt: string): Promise<void> {
  const res = await svc.app.inject({ method: "POST", url: "/v1/providers", payload: { ...specNamed(name), expiresAt } });
  expect(res.statusCode, res.body).toBe(202);
  await waitForStatus(svc, (res.json() as Json).operation.id, ["succeeded"], 30_000);
}

async function steps(svc: TestService, name: string): Promise<string[]> {
  const rows = await svc.db.query<{ step: string }>(`SELECT step FROM expiry_steps WHERE provider = $1 ORDER BY step`, [name]);
  return rows.map((r) => r.step);
}

async function audited(svc: TestService, name: string): Promise<Json[]> {
  return svc.db.query<Json>(`SELECT principal_kind, details FROM audit_log WHERE action = 'provider.expire' AND resource_id = $1`, [name]);
}

describe("expiry: warnings, then a revoke by the service", () => {
  it("warns at 14 and 3 days once each, revokes once at expiresAt, keeps every data-bearing resource", async () => {
    const svc = await start();
    const expiresAt = iso(Date.now() + 20 * DAY);
    const at = Date.parse(expiresAt);
    await onboard(svc, "exp-offsets", expiresAt);

    const fresh = (await svc.app.inject({ method: "GET", url: "/v1/providers/exp-offsets" })).json() as Json;
    expect(fresh.expiry).toEqual({ expiresAt, warnings: [] });
    expect((await svc.sweepExpiry(new Date(at - 14 * DAY - 60_000))).warned).toEqual([]);
    expect((await svc.sweepExpiry(new Date(at - 14 * DAY + 60_000))).warned).toEqual(["exp-offsets"]);
    expect((await svc.sweepExpiry(new Date(at - 14 * DAY + 120_000))).warned).toEqual([]);
    expect(await steps(svc, "exp-offsets")).toEqual(["warn-14d"]);
    expect((await svc.sweepExpiry(new Date(at - 3 * DAY - 60_000))).warned).toEqual([]);
    expect((await svc.sweepExpiry(new Date(at - 3 * DAY + 60_000))).warned).toEqual(["exp-offsets"]);
    expect(await steps(svc, "exp-offsets")).toEqual(["warn-14d", "warn-3d"]);

    const before = await svc.db.query<{ urn: string; type: string }>(`SELECT urn, type FROM simulated_resources WHERE stack = 'exp-offsets'`);
    const expired = await svc.sweepExpiry(new Date(at + 1_000));
    expect(expired.expired).toHaveLength(1);
    const operationId = expired.expired[0]!.operationId!;
    expect(expired.expired[0]).toEqual({ provider: "exp-offsets", operationId });
    // Exactly once: later sweeps find nothing to do.
    expect(await svc.sweepExpiry(new Date(at + 2_000))).toEqual({ warned: [], expired: [] });
    const op = await waitForStatus(svc, operationId, ["succeeded"], 30_000);
    expect(op).toMatchObject({ intent: "revoke", status: "succeeded" });
    const provider = (await svc.app.inject({ method: "GET", url: "/v1/providers/exp-offsets" })).json() as Json;
    expect(provider.lifecycle).toBe("revoked");
    expect(await steps(svc, "exp-offsets")).toEqual(["expired", "warn-14d", "warn-3d"]);
    // The provider shows it: the warnings sent, then the service's revoke.
    expect(provider.expiry).toEqual({
      expiresAt,
      warnings: [
        { daysBefore: 14, sentAt: expect.any(String) },
        { daysBefore: 3, sentAt: expect.any(String) },
      ],
      expiredAt: expect.any(String),
      revokeOperationId: operationId,
    });

    const records = await audited(svc, "exp-offsets");
    expect(records).toHaveLength(1);
    expect(records[0]).toMatchObject({ principal_kind: "system", details: { operationId, intent: "revoke", expiresAt } });

    // Nothing destroyed: the key, the buckets and the log groups are all still in the stack.
    const after = await svc.db.query<{ urn: string; type: string }>(`SELECT urn, type FROM simulated_resources WHERE stack = 'exp-offsets'`);
    const dataBearing = (rows: { urn: string; type: string }[]) =>
      rows.filter((r) => /^aws:(kms\/key:Key|s3\/bucket(V2)?:Bucket(V2)?|cloudwatch\/logGroup:LogGroup)$/.test(r.type)).map((r) => r.urn).sort();
    expect(dataBearing(before).length).toBeGreaterThan(0);
    expect(dataBearing(after)).toEqual(dataBearing(before));
  });

  it("a short expiry warns once (the nearest offset), and nothing at all with EXPIRY_WARNING_DAYS=none", async () => {
    const svc = await start();
    await onboard(svc, "exp-short", iso(Date.now() + 2 * DAY));
    expect((await svc.sweepExpiry()).warned).toEqual(["exp-short"]);
    expect(await steps(svc, "exp-short")).toEqual(["warn-14d", "warn-3d"]);
    expect((await svc.sweepExpiry()).warned).toEqual([]);

    const quiet = await start({ EXPIRY_WARNING_DAYS: [] });
    await onboard(quiet, "exp-quiet", iso(Date.now() + 2 * DAY));
    expect((await quiet.sweepExpiry()).warned).toEqual([]);
    expect(await steps(quiet, "exp-quiet")).toEqual([]);
  });

  it("revokes by itself on schedule; a reinstate waits for a later expiresAt (an update), then works", async () => {
    const svc = await start({ EXPIRY_CHECK_SECONDS: 1 });
    const spec = { ...specNamed("exp-real"), expiresAt: iso(Date.now() + 4_000) };
    const created = await svc.app.inject({ method: "POST", url: "/v1/providers", payload: spec });
    expect(created.statusCode, created.body).toBe(202);
    await waitForStatus(svc, (created.json() as Json).operation.id, ["succeeded"], 30_000);
    // Nobody calls the sweep: the service's own schedule revokes it.
    await until(
      "the provider revoked at its expiresAt",
      async () => (((await svc.app.inject({ method: "GET", url: "/v1/providers/exp-real" })).json() as Json).lifecycle === "revoked" ? true : undefined),
      20_000,
    );
    const refused = await svc.app.inject({ method: "POST", url: "/v1/providers/exp-real/reinstate" });
    expect(refused.statusCode, refused.body).toBe(409);
    expect((refused.json() as Json).errors).toEqual([expect.objectContaining({ path: "/expiresAt" })]);

    const extended = await svc.app.inject({ method: "PUT", url: "/v1/providers/exp-real", payload: { ...spec, expiresAt: iso(Date.now() + 30 * DAY) } });
    expect(extended.statusCode, extended.body).toBe(202);
    // The update runs in the revoked state: extending does not give access back by itself.
    expect((extended.json() as Json).operation.accessState).toBe("revoked");
    await waitForStatus(svc, (extended.json() as Json).operation.id, ["succeeded"], 30_000);
    const reinstated = await svc.app.inject({ method: "POST", url: "/v1/providers/exp-real/reinstate" });
    expect(reinstated.statusCode, reinstated.body).toBe(202);
    await waitForStatus(svc, (reinstated.json() as Json).operation.id, ["succeeded"], 30_000);
  });

  it("revokes without an approval, and withdraws a change that was waiting for one", async () => {
    const svc = await start({ APPROVAL_RULES: ["all"] });
    const team = (specNamed("exp-approval").owner as { team: string }).team;
    const approver = await svc.createKey("approver", [team], "second-person");
    const expiresAt = iso(Date.now() + 20 * DAY);
    const created = await svc.app.inject({ method: "POST", url: "/v1/providers", payload: { ...specNamed("exp-approval"), expiresAt } });
    const op = (created.json() as Json).operation as Json;
    const approved = await svc.app.inject({
      method: "POST",
      url: `/v1/operations/${op.id}/approve`,
      headers: { authorization: `Bearer ${approver}` },
      payload: { specHash: op.specHash },
    });
    expect(approved.statusCode, approved.body).toBe(200);
    await waitForStatus(svc, op.id, ["succeeded"], 30_000);
    const update = await svc.app.inject({
      method: "PUT",
      url: "/v1/providers/exp-approval",
      payload: { ...specNamed("exp-approval"), expiresAt: iso(Date.now() + 60 * DAY) },
    });
    const waiting = (update.json() as Json).operation as Json;
    expect(waiting.status).toBe("awaiting_approval");

    const { expired } = await svc.sweepExpiry(new Date(Date.parse(expiresAt) + 1_000));
    expect(expired).toHaveLength(1);
    const revoke = await waitForStatus(svc, expired[0]!.operationId!, ["succeeded"], 30_000);
    expect(revoke.intent).toBe("revoke");
    const withdrawn = await waitForStatus(svc, waiting.id, ["cancelled"], 5_000);
    expect(withdrawn.status).toBe("cancelled");
    const approval = await svc.db.query<{ status: string }>(`SELECT status FROM approvals WHERE operation_id = $1`, [waiting.id]);
    expect(approval).toEqual([{ status: "withdrawn" }]);
  });
});

describe("expiry with two replicas on one PostgreSQL", () => {
  let cluster: PostgresCluster;
  let scratch: { url: string; stop(): Promise<void> } | undefined;

  beforeAll(async () => {
    cluster = await startPostgresCluster();
    if ("skipped" in cluster) console.warn(`[test/onboarding/expiry] two-replica race skipped: ${cluster.skipped}`);
    else scratch = await createScratchDatabase(cluster.url);
  }, 60_000);

  afterAll(async () => {
    await scratch?.stop().catch(() => undefined);
    if (cluster && !("skipped" in cluster)) await cluster.stop();
  });

  it("racing sweeps revoke each provider once: one revoke, one audit record, one step", async (ctx) => {
    if (!scratch) return ctx.skip();
    const replicas: TestService[] = [];
    for (let i = 0; i < 2; i++) {
      const db = await openDb({ databaseUrl: scratch.url, dataDir: "unused" });
      replicas.push(await startTestService({ db, config: { SIMULATED_STEP_MS: 5 } }));
    }
    services.push(...replicas);
    const [a, b] = replicas as [TestService, TestService];
    const expiresAt = iso(Date.now() + 20 * DAY);
    const names = ["race-1", "race-2", "race-3", "race-4"];
    for (const name of names) await onboard(a, name, expiresAt);
    const when = new Date(Date.parse(expiresAt) + 1_000);
    const rounds = await Promise.all([a.sweepExpiry(when), b.sweepExpiry(when), a.sweepExpiry(when), b.sweepExpiry(when)]);
    const revoked = rounds.flatMap((r) => r.expired.map((e) => e.provider)).sort();
    expect(revoked).toEqual(names);
    for (const name of names) {
      const revokes = await a.db.query(`SELECT id FROM operations WHERE provider = $1 AND intent = 'revoke'`, [name]);
      expect(revokes, name).toHaveLength(1);
      expect(await audited(a, name), name).toHaveLength(1);
      expect(await steps(a, name), name).toEqual(["expired"]);
    }
  }, 120_000);
});
