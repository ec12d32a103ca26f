import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { buildProviderSpecSchema } from "../../src/onboarding/spec.js";
import { queuedCreate } from "../helpers/operations.js";
import { faultyProgram } from "../support/faulty-program.js";
import { landingZone, specNamed, startTestService, waitForStatus, type TestService } from "../helpers/service.js";
import { until } from "../helpers/until.js";
import { parseExposition, sumOf, valueOf, type Sample } from "./exposition.js";

/**
 * Issue 18: after a scripted workload, the scrape says what the API says. Three creates, a revoke and a
 * cancel on one service; a program that breaks a guardrail on another (refused at the request, and failed
 * in the runner when queued past the gate). Expected numbers come from the API's answers, never from the
 * metrics code.
 */
type Json = Record<string, any>;
const NAMES = ["metrix-alpha", "metrix-bravo", "metrix-charlie", "metrix-delta"] as const;
const TERMINAL = ["succeeded", "failed", "cancelled", "interrupted"];

async function scrape(svc: TestService): Promise<Sample[]> {
  const res = await svc.app.inject({ method: "GET", url: "/metrics" });
  expect(res.statusCode).toBe(200);
  expect(res.headers["content-type"]).toBe("text/plain; version=0.0.4; charset=utf-8");
  return parseExposition(res.body);
}

/** Scrapes until `ready` holds (counters are observed just after the API reports an end), bounded. */
const scrapeUntil = (svc: TestService, what: string, ready: (s: Sample[]) => boolean) =>
  until(what, async () => {
    const samples = await scrape(svc);
    return ready(samples) ? samples : undefined;
  });

describe("metrics after a workload (simulated engine)", () => {
  let svc: TestService;
  const ended: Json[] = [];
  beforeAll(async () => {
    // Slow enough steps that the cancel below lands before the operation ends.
    svc = await startTestService({ config: { SIMULATED_STEP_MS: 20 } });
    for (const name of NAMES.slice(0, 3)) {
      const res = await svc.app.inject({ method: "POST", url: "/v1/providers", payload: specNamed(name) });
      expect(res.statusCode).toBe(202);
      ended.push(await waitForStatus(svc, (res.json() as Json).operation.id, TERMINAL));
    }
    const revoke = await svc.app.inject({ method: "POST", url: `/v1/providers/${NAMES[0]}/revoke` });
    expect(revoke.statusCode).toBe(202);
    ended.push(await waitForStatus(svc, (revoke.json() as Json).operation.id, TERMINAL));
    const doomed = await svc.app.inject({ method: "POST", url: "/v1/providers", payload: specNamed(NAMES[3]) });
    const doomedId = (doomed.json() as Json).operation.id as string;
    expect((await svc.app.inject({ method: "POST", url: `/v1/operations/${doomedId}/cancel` })).statusCode).toBe(202);
    ended.push(await waitForStatus(svc, doomedId, TERMINAL));
    // Provider changes also queue network-hub updates: wait until nothing is left to run.
    await until("the queue to drain", async () => {
      const [row] = await svc.db.query<{ n: number }>(`SELECT count(*)::int AS n FROM operations WHERE status IN ('queued', 'running')`);
      return row?.n === 0 ? true : undefined;
    }, 30_000);
  }, 90_000);
  afterAll(() => svc?.close(5_000));

  it("counts every finished operation by kind, intent and outcome, as the API reports them", async () => {
    expect(ended.map((op) => op.status)).toEqual(["succeeded", "succeeded", "succeeded", "succeeded", "cancelled"]);
    // Every operation the store holds (hub updates too), each as GET /v1/operations/:id answers.
    const ids = await svc.db.query<{ id: string }>(`SELECT id FROM operations`);
    const reported: Json[] = [];
    for (const { id } of ids) reported.push((await svc.app.inject({ method: "GET", url: `/v1/operations/${id}` })).json() as Json);
    const expected = new Map<string, number>();
    for (const op of reported) {
      expect(TERMINAL).toContain(op.status);
      const key = `${op.kind}|${op.intent}|${op.status}`;
      expected.set(key, (expected.get(key) ?? 0) + 1);
    }
    const samples = await scrapeUntil(svc, "every end observed", (s) => sumOf(s, "saas_bridge_operations_finished_total") === reported.length);
    const counted = new Map<string, number>();
    for (const s of samples.filter((x) => x.name === "saas_bridge_operations_finished_total" && x.value > 0)) {
      counted.set(`${s.labels.kind}|${s.labels.intent}|${s.labels.outcome}`, s.value);
    }
    expect(counted).toEqual(expected);
    expect(valueOf(samples, "saas_bridge_operations_finished_total", { kind: "up", intent: "create", outcome: "succeeded" })).toBe(3);
    expect(valueOf(samples, "saas_bridge_operations_finished_total", { kind: "up", intent: "revoke", outcome: "succeeded" })).toBe(1);
    expect(valueOf(samples, "saas_bridge_operations_finished_total", { kind: "up", intent: "create", outcome: "cancelled" })).toBe(1);

    // Durations: one observation per operation that started, by kind and outcome.
    for (const outcome of ["succeeded", "cancelled"]) {
      const started = reported.filter((op) => op.status === outcome && op.startedAt !== null && op.kind === "up").length;
      expect(sumOf(samples, "saas_bridge_operation_duration_seconds_count", { kind: "up", outcome })).toBe(started);
    }
    const longest = Math.max(...reported.filter((op) => op.startedAt).map((op) => (Date.parse(op.finishedAt) - Date.parse(op.startedAt)) / 1000));
    const sum = sumOf(samples, "saas_bridge_operation_duration_seconds_sum");
    expect(sum).toBeGreaterThan(0);
    expect(sum).toBeLessThanOrEqual(longest * reported.length + 0.001);
    // Queue wait: one observation per started operation.
    expect(sumOf(samples, "saas_bridge_operation_queue_wait_seconds_count")).toBe(reported.filter((op) => op.startedAt !== null).length);
  });

  it("reads queued and running from the database: zero when idle", async () => {
    const samples = await scrape(svc);
    for (const priority of ["person", "rollout", "schedule"]) expect(valueOf(samples, "saas_bridge_operations_queued", { priority })).toBe(0);
    expect(valueOf(samples, "saas_bridge_operations_running")).toBe(0);
    expect(valueOf(samples, "saas_bridge_operations_awaiting_approval")).toBe(0);
    expect(valueOf(samples, "saas_bridge_open_streams")).toBe(0);
  });

  it("counts HTTP requests by route pattern, never by URL", async () => {
    const before = valueOf(await scrape(svc), "saas_bridge_http_requests_total", { route: "/v1/providers/:name", method: "GET", status: "200" }) ?? 0;
    expect(before).toBe(0);
    for (const name of [...NAMES.slice(0, 3), NAMES[0], NAMES[1]]) {
      expect((await svc.app.inject({ method: "GET", url: `/v1/providers/${name}` })).statusCode).toBe(200);
    }
    expect((await svc.app.inject({ method: "GET", url: "/v1/providers/metrix-nobody" })).statusCode).toBe(404);
    expect((await svc.app.inject({ method: "GET", url: "/no/such/metrix-path" })).statusCode).toBe(404);
    const samples = await scrapeUntil(svc, "five requests counted", (s) => valueOf(s, "saas_bridge_http_requests_total", { route: "/v1/providers/:name", method: "GET", status: "200" }) === 5);
    expect(valueOf(samples, "saas_bridge_http_requests_total", { route: "/v1/providers/:name", method: "GET", status: "404" })).toBe(1);
    expect(valueOf(samples, "saas_bridge_http_request_duration_seconds_count", { route: "/v1/providers/:name", method: "GET" })).toBe(6);
    expect(valueOf(samples, "saas_bridge_http_requests_total", { route: "(unmatched)", method: "GET", status: "404" })).toBe(1);
  });

  it("reports the last audit verification and the signed head's age", async () => {
    expect(valueOf(await scrape(svc), "saas_bridge_audit_verify_last_run_timestamp_seconds")).toBe(0);
    const verify = await svc.app.inject({ method: "GET", url: "/v1/audit/verify" });
    expect((verify.json() as Json).ok).toBe(true);
    const samples = await scrape(svc);
    expect(valueOf(samples, "saas_bridge_audit_verify_ok")).toBe(1);
    expect(valueOf(samples, "saas_bridge_audit_verify_last_run_timestamp_seconds")).toBeGreaterThan(Date.now() / 1000 - 60);
    // The head signer signs at start: the newest signature is seconds old, not NaN.
    const age = valueOf(samples, "saas_bridge_audit_signed_head_age_seconds");
    const [signed] = await svc.db.query<{ n: number }>(`SELECT count(*)::int AS n FROM audit_signatures`);
    if (signed?.n === 0) expect(age).toBeNaN();
    else {
      expect(age).toBeGreaterThanOrEqual(0);
      expect(age).toBeLessThan(120);
    }
  });

  it("carries process metrics, and no label value names a provider or an id", async () => {
    const text = (await svc.app.inject({ method: "GET", url: "/metrics" })).body;
    const samples = parseExposition(text);
    expect(valueOf(samples, "process_cpu_seconds_total")).toBeGreaterThan(0);
    expect(samples.some((s) => s.name === "nodejs_eventloop_lag_seconds")).toBe(true);
    for (const s of samples) {
      for (const v of Object.values(s.labels)) {
        expect(v).not.toMatch(/metrix|[0-9a-f]{8}-[0-9a-f]{4}-/);
      }
    }
    // Belt and braces: the raw text, not only what the parser understood.
    expect(text).not.toMatch(/metrix/);
  });
});


describe("guardrail rejections by code", () => {
  let svc: TestService;
  beforeAll(async () => {
    svc = await startTestService({ program: faultyProgram });
  }, 30_000);
  afterAll(() => svc?.close(5_000));

  it("counts a refusal at the request (422) and a failure in the runner, per code and stage", async () => {
    const refused = await svc.app.inject({ method: "POST", url: "/v1/providers", payload: specNamed("metrix-rogue") });
    expect(refused.statusCode).toBe(422);
    const codes = ((refused.json() as Json).violations as Json[]).map((v) => v.code as string);
    expect(codes).toContain("SG_OPEN_TO_WORLD");
    let samples = await scrapeUntil(svc, "the refusal counted", (s) => sumOf(s, "saas_bridge_guardrail_rejections_total", { stage: "request" }) === codes.length);
    for (const code of new Set(codes)) {
      expect(valueOf(samples, "saas_bridge_guardrail_rejections_total", { code, stage: "request" })).toBe(codes.filter((c) => c === code).length);
    }
    // Past the gate (queued straight into the store), the runner's check fails the operation with events.
    const op = await queuedCreate(svc.db, buildProviderSpecSchema(landingZone).parse(specNamed("metrix-rogue-run")));
    svc.runner.kick();
    const failed = await waitForStatus(svc, op.id, TERMINAL);
    expect(failed.status).toBe("failed");
    expect(failed.error.code).toBe("GUARDRAIL_VIOLATION");
    const events = (await svc.app.inject({ method: "GET", url: `/v1/operations/${op.id}/events?limit=1000` })).json() as Json;
    const runCodes = (events.items as Json[]).filter((e) => e.type === "guardrail.violation").map((e) => e.code as string);
    expect(runCodes).toContain("SG_OPEN_TO_WORLD");
    samples = await scrapeUntil(svc, "the failure counted", (s) => valueOf(s, "saas_bridge_operations_finished_total", { kind: "up", intent: "create", outcome: "failed" }) === 1);
    expect(sumOf(samples, "saas_bridge_guardrail_rejections_total", { stage: "run" })).toBe(runCodes.length);
    expect(valueOf(samples, "saas_bridge_guardrail_rejections_total", { code: "SG_OPEN_TO_WORLD", stage: "run" })).toBe(runCodes.filter((c) => c === "SG_OPEN_TO_WORLD").length);
  });
});
