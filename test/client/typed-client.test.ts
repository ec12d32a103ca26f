import type { AddressInfo } from "node:net";
import { afterAll, beforeAll, describe, expect, expectTypeOf, it } from "vitest";
import {
  createSaasBridgeClient,
  type Accepted,
  type Operation,
  type OperationEvent,
  type Problem,
  type Provider,
  type ProviderSpec,
  type SaasBridgeClient,
} from "../../src/client/index.js";
import { specNamed, startTestService, type TestService } from "../helpers/service.js";

/**
 * Issue 13: the typed client the portal team imports (`saas-bridge/client`), against the service over a
 * real socket: onboard examples/acme.json, follow the operation to its end, read its events, list the
 * providers, and a typed problem.
 */
let svc: TestService;
let api: SaasBridgeClient;
let baseUrl: string;
beforeAll(async () => {
  svc = await startTestService();
  await svc.app.listen({ host: "127.0.0.1", port: 0 });
  baseUrl = `http://127.0.0.1:${(svc.app.server.address() as AddressInfo).port}`;
  api = createSaasBridgeClient({ baseUrl, token: svc.adminKey });
});
afterAll(() => svc.close(2_000));

const TERMINAL: readonly Operation["status"][] = ["succeeded", "failed", "cancelled", "interrupted"];

/** Polls GET /v1/operations/{id} with the client until the operation has finished (bounded in time). */
async function finished(id: string, timeoutMs = 20_000): Promise<Operation> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const { data, error } = await api.GET("/v1/operations/{id}", { params: { path: { id } } });
    if (error !== undefined) throw new Error(`GET /v1/operations/${id}: ${error.status} ${error.code}: ${error.detail}`);
    if (TERMINAL.includes(data.status)) return data;
    if (Date.now() > deadline) throw new Error(`operation ${id} still ${data.status} after ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

describe("the typed client over a real socket", () => {
  it("onboards examples/acme.json, follows the operation to its end, reads its events and lists the provider", async () => {
    // The example as it is, but for the expiry date, moved to a year from now so the test outlives the calendar.
    const spec = specNamed("acme") as ProviderSpec;
    expect(spec.name).toBe("acme");

    const created = await api.POST("/v1/providers", { body: spec, params: { header: { "idempotency-key": "typed-client-1" } } });
    expect(created.error).toBeUndefined();
    expect(created.response.status).toBe(202);
    const accepted: Accepted = created.data!;
    expect(accepted).toMatchObject({ replayed: false, queuePosition: 0, operation: { provider: "acme", intent: "create", status: "queued" } });
    const id = accepted.operation.id;
    expect(created.response.headers.get("location")).toBe(`/v1/operations/${id}`);

    const operation = await finished(id);
    expect(operation.status, JSON.stringify(operation.error)).toBe("succeeded");
    expect(operation.engine).toBe("simulated");
    expect(operation.progress.total).toBeGreaterThan(10);
    expect(operation.progress.done).toBe(operation.progress.total);

    const events = await api.GET("/v1/operations/{id}/events", { params: { path: { id }, query: { after: 0, limit: 1000 } } });
    expect(events.response.status).toBe(200);
    const items: OperationEvent[] = events.data!.items;
    expect(items.map((e) => e.seq)).toEqual(items.map((_, i) => i + 1));
    expect(items[0]?.type).toBe("operation.queued");
    const last = items.at(-1);
    expect(last?.type).toBe("operation.succeeded");
    // The union is discriminated by `type`: a completed step names its resource and what was done to it.
    const completed = items.filter((e): e is Extract<OperationEvent, { type: "resource.completed" }> => e.type === "resource.completed");
    expect(completed).toHaveLength(operation.progress.total ?? -1);
    expect(new Set(completed.map((e) => e.op))).toEqual(new Set(["create"]));
    expect(completed.map((e) => e.name)).toContain("acme-endpoint");

    const list = await api.GET("/v1/providers", { params: { query: { limit: 20 } } });
    expect(list.response.status).toBe(200);
    const acme = list.data!.items.find((p) => p.name === "acme");
    expect(acme).toMatchObject({ name: "acme", team: "data-platform", lifecycle: "active", engine: "simulated" });

    const one = await api.GET("/v1/providers/{name}", { params: { path: { name: "acme" } } });
    const provider: Provider = one.data!;
    expect(provider.specHash).toBe(operation.specHash);
  });

  it("an error is a typed problem: status, code and type, as application/problem+json", async () => {
    const missing = await api.GET("/v1/operations/{id}", { params: { path: { id: "00000000-0000-4000-8000-000000000000" } } });
    expect(missing.data).toBeUndefined();
    expect(missing.response.status).toBe(404);
    expect(missing.response.headers.get("content-type")).toContain("application/problem+json");
    const problem: Problem = missing.error!;
    expect(problem).toMatchObject({ status: 404, code: "NOT_FOUND", type: "/problems/not-found", instance: "/v1/operations/00000000-0000-4000-8000-000000000000" });
    expect(problem.requestId).toMatch(/\S/);
  });

  it("sends the token it is given, also from a function; a wrong one is a 401 problem", async () => {
    const asked: string[] = [];
    const viaFunction = createSaasBridgeClient({ baseUrl, token: () => (asked.push("token"), svc.adminKey) });
    expect((await viaFunction.GET("/v1/providers")).response.status).toBe(200);
    expect(asked).toEqual(["token"]);

    const wrong = createSaasBridgeClient({ baseUrl, token: "sbk_not-a-key" });
    const denied = await wrong.GET("/v1/providers");
    expect(denied.response.status).toBe(401);
    expect(denied.error).toMatchObject({ status: 401, code: "UNAUTHENTICATED" });
  });

  // Checked by the compiler (npm run typecheck); at run time these are no-ops.
  it("the named types are the document's, not any or never", () => {
    // The regions examples/landing-zone.json allows: the document is generated for that landing zone.
    expectTypeOf<ProviderSpec["region"]>().toEqualTypeOf<"eu-west-1" | "eu-central-1">();
    expectTypeOf<Operation["status"]>().toEqualTypeOf<"awaiting_approval" | "queued" | "running" | "succeeded" | "failed" | "cancelled" | "interrupted">();
    expectTypeOf<Problem["code"]>().toEqualTypeOf<string>();
    expectTypeOf<Extract<OperationEvent, { type: "operation.queued" }>["position"]>().toEqualTypeOf<number>();
    expectTypeOf<Accepted["operation"]>().toEqualTypeOf<Operation>();
  });
});
