import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { deref as derefIn, type Json } from "../support/openapi-document.js";
import { specNamed, startTestService, waitForStatus, type TestService } from "../helpers/service.js";
import { createTestIdp, oidcConfig, OIDC_ISSUER } from "../security/support.js";

/**
 * Issue 13, item 1 (first part): the OpenAPI document says what the server does — the bearer credential
 * and which routes are public, problem+json for every error, event items a real event can satisfy, and
 * bodies that may be left out are not required.
 */
let svc: TestService;
let doc: Json;
beforeAll(async () => {
  svc = await startTestService();
  doc = (await svc.app.inject({ method: "GET", url: "/openapi.json" })).json() as Json;
});
afterAll(() => svc.close(2_000));

const deref = (node: Json): Json => derefIn(doc, node);

const operations = (): [string, string, Json][] =>
  Object.entries(doc.paths as Record<string, Json>).flatMap(([path, item]) =>
    Object.entries(item).filter(([m]) => ["get", "put", "post", "delete"].includes(m)).map(([m, op]) => [m, path, op as Json] as [string, string, Json]),
  );

describe("the OpenAPI document describes the server", () => {
  it("names the bearer credential, requires it everywhere but on the public routes, as the server does", async () => {
    expect(doc.components.securitySchemes.bearer).toMatchObject({ type: "http", scheme: "bearer" });
    expect(doc.security).toEqual([{ bearer: [] }]);
    const publicOps = operations().filter(([, , op]) => Array.isArray(op.security) && op.security.length === 0).map(([m, p]) => `${m} ${p}`);
    // /v1/keys: the public keys that verify receipts (issue 17); public by design.
    expect(publicOps.sort()).toEqual(["get /healthz", "get /problems/{type}", "get /readyz", "get /v1/keys"]);
    // The server agrees: without a credential, a public route answers and another one is a 401.
    expect((await svc.app.inject({ method: "GET", url: "/healthz", headers: { authorization: "" } })).statusCode).toBe(200);
    expect((await svc.app.inject({ method: "GET", url: "/v1/keys", headers: { authorization: "" } })).statusCode).toBe(200);
    expect((await svc.app.inject({ method: "GET", url: "/v1/providers", headers: { authorization: "" } })).statusCode).toBe(401);
  });

  it("with OIDC configured, names the identity provider as a second scheme (either credential will do), and the server takes its token", async () => {
    expect(doc.components.securitySchemes.oidc).toBeUndefined();
    const idp = await createTestIdp();
    const oidc = await startTestService({ config: oidcConfig, oidcKeys: idp.keys, start: false });
    try {
      const withOidc = (await oidc.app.inject({ method: "GET", url: "/openapi.json" })).json() as Json;
      expect(withOidc.components.securitySchemes.oidc).toMatchObject({ type: "openIdConnect", openIdConnectUrl: `${OIDC_ISSUER}/.well-known/openid-configuration` });
      expect(withOidc.security).toEqual([{ bearer: [] }, { oidc: [] }]);
      const token = await idp.token({ groups: ["bridge-viewers"], teams: ["payments"] });
      expect((await oidc.app.inject({ method: "GET", url: "/v1/providers", headers: { authorization: `Bearer ${token}` } })).statusCode).toBe(200);
    } finally {
      await oidc.close(1_000);
    }
  });

  it("documents every error as application/problem+json, the type it is sent as", async () => {
    const wrong = operations().flatMap(([m, p, op]) =>
      Object.entries((op.responses ?? {}) as Record<string, Json>)
        .map(([status, r]) => [status, deref(r)] as const)
        .filter(([status, r]) => Number(status) >= 400 && (!r.content || Object.keys(r.content).some((t) => t !== "application/problem+json")))
        .map(([status, r]) => `${m} ${p} ${status}: ${Object.keys(r.content ?? {}).join(", ")}`),
    );
    // /readyz's 503 is the readiness document (which check failed), not a problem.
    expect(wrong).toEqual(["get /readyz 503: application/json"]);
    expect(operations().filter(([, , op]) => Object.keys(op.responses ?? {}).some((s) => Number(s) >= 400)).length).toBeGreaterThan(20);
    const res = await svc.app.inject({ method: "GET", url: "/v1/providers/nope" });
    expect(res.headers["content-type"]).toContain("application/problem+json");
  });

  it("event items: every real event of an operation satisfies exactly one documented event schema", async () => {
    const created = await svc.app.inject({ method: "POST", url: "/v1/providers", payload: specNamed("oas-events") });
    const id = (created.json() as Json).operation.id;
    await waitForStatus(svc, id, ["succeeded", "failed"]);
    const page = (await svc.app.inject({ method: "GET", url: `/v1/operations/${id}/events?limit=1000` })).json() as Json;
    const page_ = deref(doc.paths["/v1/operations/{id}/events"].get.responses["200"].content["application/json"].schema);
    const item = deref(page_.properties.items.items);
    expect(item.allOf).toBeUndefined();
    const members = (item.oneOf as Json[]).map(deref);
    for (const event of page.items as Json[]) {
      const matching = members.filter((m) => m.properties.type.const === event.type);
      expect(matching, event.type).toHaveLength(1);
      const schema = matching[0]!;
      expect(Object.keys(event).filter((k) => !(k in schema.properties)), event.type).toEqual([]);
      expect((schema.required as string[]).filter((k) => !(k in event)), event.type).toEqual([]);
    }
    expect((page.items as Json[]).length).toBeGreaterThan(5);
  });

  it("a body the server does not need is not required (preview, reject)", () => {
    expect(doc.paths["/v1/providers/{name}/preview"].post.requestBody.required).toBe(false);
    expect(doc.paths["/v1/operations/{id}/reject"].post.requestBody.required).toBe(false);
    expect(doc.paths["/v1/providers"].post.requestBody.required).toBe(true);
  });
});
