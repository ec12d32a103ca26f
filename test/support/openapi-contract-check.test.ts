import { PassThrough } from "node:stream";
import swagger from "@fastify/swagger";
import Fastify, { type FastifyInstance } from "fastify";
import { afterEach, describe, expect, it } from "vitest";
import { startTestService } from "../helpers/service.js";
import { createContractCheck, type ContractCheck } from "./openapi-contract-check.js";

/**
 * The test-only response check (issue 13) can fail: each kind of drift is reported, a response the
 * document describes is not — for a 3.0 and a 3.1 document, through inject and over a socket.
 */
type Json = Record<string, unknown>;
const problem = { type: "object", properties: { title: { type: "string" }, status: { type: "integer" } }, required: ["title", "status"] };
const responses = (thing: Json): Json => ({
  "200": {
    description: "a thing",
    headers: { "x-request-id": { required: false, schema: { type: "string" } } },
    content: { "application/json": { schema: thing, example: { id: "a", size: 1 } } },
  },
  "4XX": { description: "a problem", content: { "application/problem+json": { schema: problem } } },
});
const paths = (thing: Json): Json => ({
  "/things/{id}": { get: { "x-internal": true, responses: responses(thing) } },
  "/things": {
    post: {
      responses: {
        "201": { description: "created", headers: { Location: { required: true, schema: { type: "string" } } }, content: { "application/json": { schema: thing } } },
      },
    },
  },
  "/things/{id}/events": { get: { responses: { "200": { description: "live", content: { "text/event-stream": { schema: { type: "string" } } } } } } },
  "/things/{id}/touch": { post: { responses: { "204": { description: "done" } } } },
});

/** 3.0: `nullable` without a type, a boolean `exclusiveMinimum`, annotations ajv does not know. */
const document30 = {
  openapi: "3.0.3",
  info: { title: "t", version: "1" },
  paths: paths({
    type: "object",
    xml: { name: "thing" },
    properties: {
      id: { type: "string", format: "int64-ish" },
      size: { type: "integer", minimum: 0, exclusiveMinimum: true },
      note: { nullable: true, allOf: [{ type: "string" }], example: "x" },
    },
    required: ["id", "size"],
    additionalProperties: false,
  }),
};
/** 3.1: the schema is a component reached by `$ref`; `type: [.., "null"]`. */
const document31 = {
  openapi: "3.1.0",
  info: { title: "t", version: "1" },
  components: {
    schemas: {
      Thing: {
        type: "object",
        discriminator: { propertyName: "id" },
        properties: { id: { type: "string" }, size: { type: "integer", exclusiveMinimum: 0 }, note: { type: ["string", "null"] } },
        required: ["id", "size"],
        additionalProperties: false,
      },
    },
  },
  paths: paths({ $ref: "#/components/schemas/Thing" }),
};

/** An app whose routes answer as `?as=` says, checked against `document`. */
async function appFor(document: Json, check: ContractCheck): Promise<FastifyInstance> {
  const app = Fastify();
  check.install(app);
  await app.register(swagger, { mode: "static", specification: { document: document as never } });
  app.get("/openapi.json", { schema: { hide: true } }, async () => app.swagger());
  app.get<{ Querystring: { as?: string } }>("/things/:id", async (request, reply) => {
    switch (request.query.as) {
      case "unavailable":
        return reply.code(503).type("application/problem+json").send({ title: "Service Unavailable", status: 503 });
      case "html":
        return reply.type("text/html").send("<p>a thing</p>");
      case "bad-body":
        return { id: "a", size: 0, colour: "red" };
      case "not-json":
        return reply.type("application/json").send("{not json");
      case "missing":
        return reply.code(404).type("application/problem+json").send({ title: "Not Found", status: 404 });
      default:
        return reply.header("x-request-id", "r1").send({ id: "a", size: 1, note: null });
    }
  });
  app.post<{ Querystring: { location?: string } }>("/things", async (request, reply) => {
    if (request.query.location !== undefined) reply.header("location", "/things/a");
    return reply.code(201).send({ id: "a", size: 2 });
  });
  app.get("/things/:id/events", async (_request, reply) => {
    const out = new PassThrough();
    out.end("data: {}\n\n");
    return reply.type("text/event-stream; charset=utf-8").send(out);
  });
  // A 204 goes out without the body and content type a handler gave it (Fastify drops them).
  app.post("/things/:id/touch", async (_request, reply) => reply.code(204).type("application/json").send({ ignored: true }));
  await app.ready();
  return app;
}

const kinds = (check: ContractCheck) => check.violations().map((v) => `${v.method} ${v.route} ${v.status} ${v.kind}`);
let app: FastifyInstance | undefined;
afterEach(async () => app?.close());

describe.each([
  ["OpenAPI 3.0", document30],
  ["OpenAPI 3.1", document31],
])("the contract check against an %s document", (_name, document) => {
  it("passes responses the document describes (JSON, problem by 4XX range, stream, no content, HEAD as GET)", async () => {
    const check = createContractCheck();
    app = await appFor(document, check);
    for (const [method, url] of [
      ["GET", "/things/a"],
      ["GET", "/things/a?as=missing"],
      ["POST", "/things?location"],
      ["GET", "/things/a/events"],
      ["POST", "/things/a/touch"],
      ["HEAD", "/things/a"],
    ] as const) {
      expect((await app.inject({ method, url })).statusCode).toBeLessThan(500);
    }
    expect(check.violations()).toEqual([]);
    expect(check.stats()).toMatchObject({ checked: 6, headAsGet: 1, streams: 1, noRoute: 0 });
    expect(check.stats().responses).toEqual({
      "GET /things/{id} 200": 1,
      "GET /things/{id} 404": 1,
      "POST /things 201": 1,
      "GET /things/{id}/events 200": 1,
      "POST /things/{id}/touch 204": 1,
      "HEAD /things/{id} 200": 1,
    });
  });

  it("reports an undocumented status, a wrong content type, a body off its schema, a missing required header", async () => {
    const check = createContractCheck();
    app = await appFor(document, check);
    for (const [method, url] of [
      ["GET", "/things/a?as=unavailable"],
      ["GET", "/things/a?as=html"],
      ["GET", "/things/a?as=bad-body"],
      ["GET", "/things/b?as=bad-body"],
      ["GET", "/things/a?as=not-json"],
      ["POST", "/things"],
    ] as const) {
      await app.inject({ method, url });
    }
    expect(kinds(check)).toEqual([
      "GET /things/{id} 503 undocumented-status",
      "GET /things/{id} 200 content-type",
      "GET /things/{id} 200 body-schema",
      "GET /things/{id} 200 body-not-json",
      "POST /things 201 missing-header",
    ]);
    const bodySchema = check.violations().find((v) => v.kind === "body-schema")!;
    // Deduplicated by (method, route, status, kind), counted; what failed is named.
    expect(bodySchema).toMatchObject({ count: 2, contentType: "application/json; charset=utf-8", body: '{"id":"a","size":0,"colour":"red"}' });
    expect(bodySchema.errors.map((e) => e.keyword).sort()).toEqual(["additionalProperties", "exclusiveMinimum"]);
    expect(check.violations()[0]!.message).toContain("documented: 200, 4XX");
    expect(check.report()).toContain("POST /things → 201 application/json; charset=utf-8 [missing-header, ×1]: required header(s) missing: Location");
  });

  it("checks socket requests too; skips the not-found handler and routes the document does not list, counting them", async () => {
    const check = createContractCheck();
    app = await appFor(document, check);
    const base = await app.listen({ port: 0, host: "127.0.0.1" });
    expect((await fetch(`${base}/things/a?as=unavailable`)).status).toBe(503);
    const events = await fetch(`${base}/things/a/events`);
    expect(await events.text()).toContain("data:");
    expect((await fetch(`${base}/nowhere`)).status).toBe(404);
    expect((await fetch(`${base}/openapi.json`)).status).toBe(200);
    await new Promise((resolve) => setImmediate(resolve));
    expect(kinds(check)).toEqual(["GET /things/{id} 503 undocumented-status"]);
    expect(check.stats()).toMatchObject({ checked: 2, streams: 1, noRoute: 1, notInDocument: { "GET /openapi.json": 1 } });
  });
});

describe("the contract check's own limits", () => {
  it("reports a document it cannot compile instead of breaking the response", async () => {
    const check = createContractCheck();
    const broken = { ...document31, components: { schemas: { Thing: { type: "object", properties: { id: { type: "strin" } } } } } };
    app = await appFor(broken, check);
    expect((await app.inject({ method: "GET", url: "/things/a" })).statusCode).toBe(200);
    expect(check.violations()).toMatchObject([{ kind: "checker-error", route: "/things/{id}", status: 200 }]);
  });
});

describe("every test service is checked", () => {
  it("startTestService installs the check: documented routes are checked, hidden ones counted", async () => {
    const svc = await startTestService({ start: false });
    await svc.app.inject({ method: "GET", url: "/healthz" });
    await svc.app.inject({ method: "GET", url: "/openapi.json" });
    await svc.app.inject({ method: "GET", url: "/no-such-route" });
    expect(svc.contract.stats()).toMatchObject({ checked: 1, noRoute: 1, notInDocument: { "GET /openapi.json": 1 } });
    await svc.close(1_000);
  });

  it("close() fails with the readable list when a response differed", async () => {
    const svc = await startTestService({ start: false });
    // The service answers as documented; a second app checked by the same instrument, against the
    // service's own document, answers with a status the document does not list.
    app = Fastify();
    svc.contract.install(app);
    await app.register(swagger, { mode: "static", specification: { document: svc.app.swagger() as never } });
    app.get("/healthz", async (_request, reply) => reply.code(299).send({ status: "ok" }));
    await app.inject({ method: "GET", url: "/healthz" });
    await expect(svc.close(1_000)).rejects.toThrow(/1 response\(s\) differ .*\n.*GET \/healthz → 299 .*undocumented-status/);
  });
});
