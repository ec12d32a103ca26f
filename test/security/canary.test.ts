import type { InjectOptions } from "fastify";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { specNamed, startTestService, waitForStatus, type TestService } from "../helpers/service.js";

/**
 * A canary secret (issue #5) put where secrets end up by mistake — a spec, request headers, a stream
 * ticket, the engine's configuration — must never come back out: not in a log line, a response (body or
 * header), an operation event or the audit table. Everything each of them holds is scanned.
 */
const CANARY = "CANARY-9f2d7b61e0c44a83b5";
let svc: TestService;
const responses: string[] = [];

beforeAll(async () => {
  svc = await startTestService({
    // The simulated engine does not read the passphrase; it is set so that nothing else echoes it either
    // (config dumps, readiness, errors). The real engine's use of it is covered by test/engine/child-env.
    config: { PULUMI_CONFIG_PASSPHRASE: CANARY, AUTH_FAILURES_PER_IP_PER_MINUTE: 1_000 },
  });
});
afterAll(() => svc.close(1_000));

async function send(options: InjectOptions) {
  const res = await svc.app.inject(options);
  responses.push(JSON.stringify(res.headers), res.body);
  return res;
}

describe("canary secret", () => {
  it("never appears in logs, responses, events or the audit table", async () => {
    const spec = specNamed("canary");
    // In a spec: an unknown field, a field's invalid value, and a nested unknown field.
    expect((await send({ method: "POST", url: "/v1/providers", payload: { ...spec, kmsuserPassword: CANARY } })).statusCode).toBe(400);
    expect((await send({ method: "POST", url: "/v1/providers", payload: { ...spec, displayName: `${CANARY}\u0007` } })).statusCode).toBe(400);
    expect((await send({ method: "POST", url: "/v1/providers", payload: { ...spec, kms: { ...(spec["kms"] as object), secret: CANARY } } })).statusCode).toBe(400);
    expect((await send({ method: "POST", url: "/v1/providers", payload: `{"name": "${CANARY}` , headers: { "content-type": "application/json" } })).statusCode).toBe(400);
    // In headers: credentials of every shape, a cookie, a custom key header.
    for (const authorization of [`Bearer ${CANARY}`, `Bearer sbk_0123456789ab_${CANARY}${"x".repeat(43 - CANARY.length)}`, `Basic ${CANARY}`, `Bearer ${CANARY}.${CANARY}.${CANARY}`]) {
      expect((await send({ method: "GET", url: "/v1/providers", headers: { authorization } })).statusCode).toBe(401);
    }
    await send({ method: "GET", url: "/v1/providers", headers: { cookie: `session=${CANARY}`, "x-api-key": CANARY } });

    // A real operation, so events and audit records exist to be scanned.
    const created = await send({ method: "POST", url: "/v1/providers", payload: spec });
    expect(created.statusCode).toBe(202);
    const id = (created.json() as { operation: { id: string } }).operation.id;
    await waitForStatus(svc, id, ["succeeded"]);
    // A stream ticket that is not one, in the query string.
    expect((await send({ method: "GET", url: `/v1/operations/${id}/events?ticket=${CANARY}`, headers: { authorization: "" } })).statusCode).toBe(401);
    await send({ method: "GET", url: "/readyz" });
    await send({ method: "GET", url: `/v1/operations/${id}` });
    await send({ method: "GET", url: "/v1/audit?limit=500" });

    const events = await svc.db.query(`SELECT * FROM operation_events`);
    const audit = await svc.db.query(`SELECT * FROM audit_log`);
    expect(events.length).toBeGreaterThan(3);
    expect(audit.length).toBeGreaterThan(5);
    const places: Record<string, string> = {
      logs: svc.logs.join("\n"),
      responses: responses.join("\n"),
      events: JSON.stringify(events),
      audit: JSON.stringify(audit),
    };
    // The scan can fail: the spec's own name is in all four places.
    for (const [place, text] of Object.entries(places)) expect(text, place).toContain("canary");
    const leaks = Object.entries(places).filter(([, text]) => text.includes(CANARY)).map(([place]) => place);
    console.log(`canary scan: ${Object.values(places).reduce((n, t) => n + t.length, 0)} characters in logs, responses, events and audit; leaks: ${leaks.length}`);
    expect(leaks).toEqual([]);
  });
});
