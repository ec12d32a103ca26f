import { readFileSync } from "node:fs";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { deref as derefIn, type Json } from "../support/openapi-document.js";
import { ERROR_CODES } from "../../src/errors.js";
import { problemType } from "../../src/http/problem.js";
import { startTestService, waitForStatus, type TestService } from "../helpers/service.js";

/**
 * Issue 13, the rest of item 1: the document is OpenAPI 3.1 with reusable components, names every
 * operation, lists every status, media type and header the server sends, shows examples the server
 * takes, and every problem `type` resolves to a page. Each check asks the server too.
 */
let svc: TestService;
let doc: Json;
beforeAll(async () => {
  svc = await startTestService();
  doc = (await svc.app.inject({ method: "GET", url: "/openapi.json" })).json() as Json;
});
afterAll(() => svc.close(2_000));

const deref = (node: Json): Json => derefIn(doc, node);
const op = (method: string, path: string): Json => doc.paths[path][method];
const response = (method: string, path: string, status: number): Json => deref(op(method, path).responses[String(status)]);
const acme = JSON.parse(readFileSync(new URL("../../examples/acme.json", import.meta.url), "utf8")) as Json;

describe("the OpenAPI 3.1 document", () => {
  it("is 3.1 with servers, defined tags, a unique operationId everywhere, and schemas as $ref'd components", () => {
    expect(doc.openapi).toBe("3.1.0");
    expect(doc.servers).toEqual([expect.objectContaining({ url: "/" })]);
    const ops = Object.values(doc.paths as Record<string, Json>).flatMap((item) => Object.values(item) as Json[]);
    const ids = ops.map((o) => o.operationId as string);
    expect(ids.every((id) => /^[a-z][A-Za-z]+$/.test(id)), ids.join(", ")).toBe(true);
    expect(new Set(ids).size).toBe(ids.length);
    const tags = new Set((doc.tags as Json[]).map((t) => t.name));
    expect(ops.flatMap((o) => o.tags as string[]).filter((t) => !tags.has(t))).toEqual([]);
    for (const name of ["ProviderSpec", "Provider", "Operation", "Accepted", "OperationEvent", "EventList", "Problem"]) expect(doc.components.schemas[name], name).toBeDefined();
    expect(op("post", "/v1/providers").requestBody.content["application/json"].schema).toEqual({ $ref: "#/components/schemas/ProviderSpec" });
    expect(op("put", "/v1/providers/{name}").requestBody.content["application/json"].schema).toEqual({ $ref: "#/components/schemas/ProviderSpec" });
    // No component is left unreferenced (the generator emits each schema for input and output).
    const text = JSON.stringify({ ...doc, components: { ...doc.components, schemas: {} } }) + JSON.stringify(doc.components.schemas);
    const unused = Object.keys(doc.components.schemas).filter((n) => !text.includes(`"#/components/schemas/${n}"`));
    expect(unused).toEqual([]);
  });

  it("lists the live-progress media types of every streaming route, and the server streams them", async () => {
    const streaming = ["post /v1/providers", "put /v1/providers/{name}", "post /v1/providers/{name}/revoke", "delete /v1/providers/{name}", "post /v1/operations/{id}/cancel", "get /v1/operations/{id}/events"];
    for (const key of streaming) {
      const [method, path] = key.split(" ") as [string, string];
      const success = Object.entries(op(method, path).responses as Json).find(([s]) => Number(s) < 300)!;
      expect(Object.keys(deref(success[1]).content).sort(), key).toEqual(["application/json", "application/x-ndjson", "text/event-stream", "text/plain"]);
    }
    expect(Object.keys(response("get", "/v1/providers/{name}", 200).content)).toEqual(["application/json"]);
    const res = await svc.app.inject({ method: "POST", url: "/v1/providers", headers: { accept: "application/x-ndjson" }, payload: { ...acme, name: "oas-stream" } });
    expect(res.statusCode).toBe(202);
    expect(res.headers["content-type"]).toMatch(/^application\/x-ndjson/);
  });

  it("documents the statuses the server sends: 400 for an over-long name, 413, 415, and 204 on a finished stream", async () => {
    for (const [method, path] of [["get", "/v1/providers/{name}"], ["post", "/v1/providers"], ["get", "/v1/operations/{id}/events"]] as const) {
      for (const status of [400, 415, 429, 500]) expect(op(method, path).responses[String(status)], `${method} ${path} ${status}`).toBeDefined();
    }
    expect(op("post", "/v1/providers").responses["413"]).toBeDefined();
    expect(response("get", "/v1/operations/{id}/events", 204).headers.Link).toBeDefined();

    const long = await svc.app.inject({ method: "GET", url: `/v1/providers/${"a".repeat(65)}` });
    expect(long.statusCode).toBe(400);
    const big = await svc.app.inject({ method: "POST", url: "/v1/providers", headers: { "content-type": "application/json" }, payload: `{"x":"${"a".repeat(1_100_000)}"}` });
    expect(big.statusCode).toBe(413);
    const plain = await svc.app.inject({ method: "POST", url: "/v1/providers", headers: { "content-type": "text/plain" }, payload: JSON.stringify(acme) });
    expect(plain.statusCode).toBe(415);
  });

  it("documents the headers: Idempotency-Key in, Location and Operation-Id on a 202, rate limits, Retry-After on a 429", async () => {
    const create = op("post", "/v1/providers");
    expect((create.parameters as Json[]).find((p) => p.in === "header" && p.name === "idempotency-key")).toBeDefined();
    const accepted = response("post", "/v1/providers", 202);
    expect(Object.keys(accepted.headers)).toEqual(expect.arrayContaining(["Location", "Operation-Id", "X-RateLimit-Limit", "X-RateLimit-Remaining", "X-RateLimit-Reset"]));
    expect(deref(accepted.headers.Location).required).toBe(true);
    expect(Object.keys(response("post", "/v1/providers", 429).headers)).toContain("Retry-After");
    expect(deref(response("get", "/v1/providers", 401).headers["WWW-Authenticate"]).required).toBe(true);

    const res = await svc.app.inject({ method: "POST", url: "/v1/providers", headers: { "idempotency-key": "oas-headers" }, payload: { ...acme, name: "oas-headers" } });
    expect(res.statusCode).toBe(202);
    const id = (res.json() as Json).operation.id as string;
    expect(res.headers.location).toBe(`/v1/operations/${id}`);
    expect(res.headers["operation-id"]).toBe(id);
    expect(Number(res.headers["x-ratelimit-limit"])).toBeGreaterThan(0);
    await waitForStatus(svc, id, ["succeeded", "failed"]);
  });

  it("shows the provider examples of examples/, which the schema and the server accept", async () => {
    const examples = op("post", "/v1/providers").requestBody.content["application/json"].examples as Json;
    expect(Object.keys(examples).sort()).toEqual(["acme", "globex"]);
    expect(examples.acme.value).toEqual(acme);
    const res = await svc.app.inject({ method: "POST", url: "/v1/providers", payload: examples.globex.value });
    expect(res.statusCode, res.body).toBe(202);
    await waitForStatus(svc, (res.json() as Json).operation.id, ["succeeded", "failed"]);
  });

  it("every problem type resolves, relative to the request, to a page that describes it", async () => {
    for (const code of ERROR_CODES) {
      const page = await svc.app.inject({ method: "GET", url: problemType(code), headers: { authorization: "" } });
      expect(page.statusCode, code).toBe(200);
      expect(page.headers["content-type"]).toMatch(/^text\/html/);
      expect(page.body).toContain(`<code>${code}</code>`);
    }
    const problem = await svc.app.inject({ method: "GET", url: "/v1/providers/nobody-here" });
    const resolved = new URL((problem.json() as Json).type, "http://127.0.0.1/v1/providers/nobody-here");
    expect((await svc.app.inject({ method: "GET", url: resolved.pathname, headers: { authorization: "" } })).statusCode).toBe(200);
    expect((await svc.app.inject({ method: "GET", url: "/problems/no-such-problem", headers: { authorization: "" } })).statusCode).toBe(400);
  });
});
