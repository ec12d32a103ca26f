import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { specNamed, startTestService, waitForStatus, type TestService } from "../helpers/service.js";

/**
 * Issue 13, items 2 and 3: a NUL byte in a path or query value never reaches PostgreSQL (it was a 500:
 * 22021); a stream resumed at or past a finished operation's terminal event ends at once instead of
 * waiting forever (an EventSource reconnects with exactly that id after every finished stream).
 */
type Json = Record<string, any>;
let svc: TestService;
beforeAll(async () => {
  svc = await startTestService();
});
afterAll(() => svc.close(5_000));

const within = <T>(ms: number, p: Promise<T>): Promise<T> =>
  Promise.race([p, new Promise<T>((_, reject) => setTimeout(() => reject(new Error(`no answer within ${ms} ms (a stream that never ends?)`)), ms))]);

describe("a NUL byte in a path or query value", () => {
  it.each([
    ["GET", "/v1/providers/acme%00x", "path:/name"],
    ["PUT", "/v1/providers/acme%00x/key-store", "path:/name"],
    ["POST", "/v1/providers/acme%00x/revoke", "path:/name"],
    ["DELETE", "/v1/providers/acme%00x", "path:/name"],
    ["GET", "/v1/operations/%00", "path:/id"],
    ["GET", "/v1/operations/%00/events", "path:/id"],
    ["POST", "/v1/operations/op%00/cancel", "path:/id"],
    ["GET", "/v1/providers?team=a%00b", "query:/team"],
    ["GET", "/v1/providers?cursor=%00", "query:/cursor"],
    ["GET", "/v1/audit?principalId=%00", "query:/principalId"],
    ["GET", "/v1/audit?resourceId=x%00", "query:/resourceId"],
    ["GET", "/v1/approvals?team=%00", "query:/team"],
  ])("%s %s is a 400 naming %s", async (method, url, path) => {
    const res = await svc.app.inject({ method: method as "GET", url });
    expect(res.statusCode, res.body).toBe(400);
    expect(res.headers["content-type"]).toContain("application/problem+json");
    expect((res.json() as Json).errors).toEqual([{ path, message: "must not contain a NUL character (U+0000)" }]);
  });

  it("the same requests without the NUL are answered normally (the check does not refuse ordinary text)", async () => {
    expect((await svc.app.inject({ method: "GET", url: "/v1/providers?team=a%20b" })).statusCode).toBe(200);
    expect((await svc.app.inject({ method: "GET", url: "/v1/providers/acme-x" })).statusCode).toBe(404);
  });

  it.each([
    ["POST", "/v1/api-keys", { name: "a\u0000b", role: "viewer", teams: [] }, "/name"],
    ["POST", "/v1/providers", { ...specNamed("nul-body"), displayName: "a\u0000b" }, "/displayName"],
    ["POST", "/v1/operations/00000000-0000-0000-0000-000000000000/reject", { comment: "a\u0000" }, "/comment"],
    ["PUT", "/v1/providers/nul-body/key-store", { trustAnchorCertificate: "x", kmsuserPassword: "\u0000abcdefg" }, "/kmsuserPassword"],
  ])("a NUL in a JSON body's text (%s %s) is a 400 naming the field, never stored", async (method, url, payload, path) => {
    const res = await svc.app.inject({ method: method as "POST", url, payload: payload as object });
    expect(res.statusCode, res.body).toBe(400);
    expect(((res.json() as Json).errors as Json[]).map((e) => e.path)).toContain(path);
  });

  it("a NUL in a value that is only hashed (POST /v1/audit/hash) is hashed like any text", async () => {
    const res = await svc.app.inject({ method: "POST", url: "/v1/audit/hash", payload: { value: "a\u0000b" } });
    expect(res.statusCode).toBe(200);
    expect((res.json() as Json).hash).toMatch(/^hmac-sha256:[0-9a-f]{64}$/);
  });

  it("a cursor that is not one of ours names the query parameter as the NUL check does (query:/cursor)", async () => {
    const res = await svc.app.inject({ method: "GET", url: "/v1/providers?cursor=bm90LWEtY3Vyc29y" });
    expect(res.statusCode).toBe(400);
    expect((res.json() as Json).errors).toEqual([{ path: "query:/cursor", message: "must be a nextCursor value returned by this API" }]);
  });
});

describe("a stream resumed at or past the end of a finished operation", () => {
  let id: string;
  let last: number;
  beforeAll(async () => {
    const res = await svc.app.inject({ method: "POST", url: "/v1/providers", payload: specNamed("edge-stream") });
    id = (res.json() as Json).operation.id;
    await waitForStatus(svc, id, ["succeeded", "failed"]);
    const page = (await svc.app.inject({ method: "GET", url: `/v1/operations/${id}/events?limit=1000` })).json() as Json;
    last = page.items.at(-1).seq;
    expect(page.items.at(-1).type).toMatch(/^operation\./);
  });

  it.each([
    ["text/event-stream", "after"],
    ["text/event-stream", "last-event-id"],
    ["application/x-ndjson", "after"],
    ["text/plain", "after"],
  ])("%s resumed with %s = the terminal event's seq answers 204 at once", async (accept, how) => {
    for (const from of [last, last + 5]) {
      const url = how === "after" ? `/v1/operations/${id}/events?after=${from}` : `/v1/operations/${id}/events`;
      const headers = { accept, ...(how === "last-event-id" ? { "last-event-id": String(from) } : {}) };
      const res = await within(3_000, svc.app.inject({ method: "GET", url, headers }));
      expect(res.statusCode).toBe(204);
      expect(res.body).toBe("");
    }
  });

  it("resumed just before the end, it sends the terminal event and ends", async () => {
    const res = await within(3_000, svc.app.inject({ method: "GET", url: `/v1/operations/${id}/events?after=${last - 1}`, headers: { accept: "application/x-ndjson" } }));
    expect(res.statusCode).toBe(200);
    const lines = res.body.trim().split("\n").map((l) => JSON.parse(l) as Json);
    expect(lines.map((e) => e.seq)).toEqual([last]);
  });
});

describe("issue 13, smaller things", () => {
  it("a JSON body sent as text/plain is a 415 naming the type, not a 400 from the schema", async () => {
    const res = await svc.app.inject({ method: "POST", url: "/v1/providers", headers: { "content-type": "text/plain" }, payload: JSON.stringify(specNamed("edge-plain")) });
    expect(res.statusCode, res.body).toBe(415);
    expect((res.json() as Json).code).toBe("UNSUPPORTED_MEDIA_TYPE");
    expect((await svc.app.inject({ method: "GET", url: "/v1/providers/edge-plain" })).statusCode).toBe(404);
  });

  it.each(["gzip", "br", "deflate, gzip"])("Content-Encoding: %s is a 415 (the body would be read as if plain)", async (encoding) => {
    const res = await svc.app.inject({
      method: "POST",
      url: "/v1/providers",
      headers: { "content-type": "application/json", "content-encoding": encoding },
      payload: JSON.stringify(specNamed("edge-gzip")),
    });
    expect(res.statusCode, res.body).toBe(415);
    expect((res.json() as Json).detail).toMatch(/Content-Encoding ".+" is not supported/);
    expect((await svc.app.inject({ method: "GET", url: "/v1/providers/edge-gzip" })).statusCode).toBe(404);
  });

  it("Content-Encoding: identity is accepted", async () => {
    const res = await svc.app.inject({ method: "POST", url: "/v1/providers/no-such/preview", headers: { "content-type": "application/json", "content-encoding": "identity" }, payload: "null" });
    expect(res.statusCode).toBe(404);
  });

  it.each([
    ["PATCH", "/v1/providers/acme", "DELETE, GET, HEAD, PUT"],
    ["DELETE", "/v1/providers", "GET, HEAD, POST"],
    ["GET", "/v1/providers/acme/revoke", "POST"],
    ["PUT", "/v1/operations/op-1/cancel", "POST"],
    ["POST", "/v1/operations/op-1", "GET, HEAD"],
  ])("%s %s on a known path is a 405 with Allow: %s", async (method, url, allow) => {
    const res = await svc.app.inject({ method: method as "GET", url });
    expect(res.statusCode, res.body).toBe(405);
    expect(res.headers["allow"]).toBe(allow);
    expect(res.headers["content-type"]).toContain("application/problem+json");
  });

  it("an unknown path stays a 404", async () => {
    expect((await svc.app.inject({ method: "GET", url: "/v1/nothing-here" })).statusCode).toBe(404);
    expect((await svc.app.inject({ method: "PATCH", url: "/v1/providers/acme/unknown" })).statusCode).toBe(404);
  });
});
