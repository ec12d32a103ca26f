import type { AddressInfo } from "node:net";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ConfigError, loadConfig } from "../../src/config.js";
import { metricsListenAddress } from "../../src/http/metrics-listener.js";
import { specNamed, startTestService, type TestService } from "../helpers/service.js";
import { until } from "../helpers/until.js";
import { parseExposition, valueOf } from "./exposition.js";

/**
 * Who may scrape (issue 18): on the API listener GET /metrics needs the viewer role (METRICS=api, the
 * default) or is gone (METRICS=off); METRICS_LISTEN serves /metrics alone, without a credential, on the
 * address it names. Also the open-streams gauge, which needs a real socket.
 */
type Json = Record<string, any>;
const BASE = { ENGINE: "simulated", LANDING_ZONE_FILE: "examples/landing-zone.json" };

describe("GET /metrics on the API listener", () => {
  let svc: TestService;
  beforeAll(async () => {
    // Not started: an operation stays queued, so its event stream stays open.
    svc = await startTestService({ start: false });
    await svc.app.listen({ port: 0, host: "127.0.0.1" });
  }, 30_000);
  afterAll(() => svc?.close(5_000));

  it("needs the viewer role: none is 401, an auditor is 403, a viewer of no team reads it", async () => {
    expect((await svc.app.inject({ method: "GET", url: "/metrics", headers: { authorization: "" } })).statusCode).toBe(401);
    const auditor = await svc.createKey("auditor");
    expect((await svc.app.inject({ method: "GET", url: "/metrics", headers: { authorization: `Bearer ${auditor}` } })).statusCode).toBe(403);
    const scraper = await svc.createKey("viewer", [], "prometheus");
    const res = await svc.app.inject({ method: "GET", url: "/metrics", headers: { authorization: `Bearer ${scraper}` } });
    expect(res.statusCode).toBe(200);
    expect(res.headers["cache-control"]).toBe("no-store");
    expect(valueOf(parseExposition(res.body), "saas_bridge_operations_running")).toBe(0);
  });

  it("counts an open event stream while it is open, and not after", async () => {
    const created = await svc.app.inject({ method: "POST", url: "/v1/providers", payload: specNamed("metrix-streamed") });
    const id = (created.json() as Json).operation.id as string;
    const openStreams = async () => valueOf(parseExposition((await svc.app.inject({ method: "GET", url: "/metrics" })).body), "saas_bridge_open_streams");
    expect(await openStreams()).toBe(0);
    const { port } = svc.app.server.address() as AddressInfo;
    const ac = new AbortController();
    const res = await fetch(`http://127.0.0.1:${port}/v1/operations/${id}/events`, { headers: { ...svc.authHeaders, accept: "application/x-ndjson" }, signal: ac.signal });
    expect(res.status).toBe(200);
    // The queued event arrives; the operation never starts here, so the stream stays open.
    const reader = res.body!.getReader();
    await reader.read();
    expect(await openStreams()).toBe(1);
    ac.abort();
    await until("the stream to be closed", async () => ((await openStreams()) === 0 ? true : undefined));
  });
});

describe("METRICS=off and METRICS_LISTEN", () => {
  let svc: TestService;
  let base: string;
  beforeAll(async () => {
    svc = await startTestService({ config: { METRICS: "off", METRICS_LISTEN: "127.0.0.1:0" } });
    const listener = svc.metricsListener!;
    await listener.listen(metricsListenAddress("127.0.0.1:0"));
    base = `http://127.0.0.1:${(listener.server.address() as AddressInfo).port}`;
  }, 30_000);
  afterAll(() => svc?.close(5_000));

  it("takes /metrics off the API listener", async () => {
    expect((await svc.app.inject({ method: "GET", url: "/metrics" })).statusCode).toBe(404);
    const document = (await svc.app.inject({ method: "GET", url: "/openapi.json" })).json() as Json;
    expect(document.paths["/metrics"]).toBeUndefined();
  });

  it("serves /metrics alone, without a credential, on loopback", async () => {
    const address = svc.metricsListener!.server.address() as AddressInfo;
    expect(address.address).toBe("127.0.0.1");
    const res = await fetch(`${base}/metrics`);
    expect(res.status).toBe(200);
    expect(res.headers.get("content-type")).toBe("text/plain; version=0.0.4; charset=utf-8");
    expect(valueOf(parseExposition(await res.text()), "saas_bridge_operations_running")).toBe(0);
    for (const path of ["/healthz", "/v1/providers", "/openapi.json", "/docs"]) {
      const other = await fetch(`${base}${path}`, { headers: svc.authHeaders });
      expect(other.status, path).toBe(404);
      await other.body?.cancel();
    }
    expect((await fetch(`${base}/metrics`, { method: "POST" })).status).toBe(404);
  });
});

describe("config", () => {
  it("accepts an IP address and port, and refuses a host name or a port out of range", () => {
    expect(loadConfig({ ...BASE }).METRICS).toBe("api");
    expect(loadConfig({ ...BASE }).METRICS_LISTEN).toBeUndefined();
    expect(loadConfig({ ...BASE, METRICS_LISTEN: "[::1]:9464" }).METRICS_LISTEN).toBe("[::1]:9464");
    expect(metricsListenAddress("[::1]:9464")).toEqual({ host: "::1", port: 9464 });
    expect(metricsListenAddress("10.1.2.3:9464")).toEqual({ host: "10.1.2.3", port: 9464 });
    for (const bad of ["localhost:9464", "127.0.0.1", "127.0.0.1:70000", "0.0.0.0:x"]) {
      expect(() => loadConfig({ ...BASE, METRICS_LISTEN: bad }), bad).toThrow(ConfigError);
    }
    expect(() => loadConfig({ ...BASE, METRICS: "public" })).toThrow(ConfigError);
  });
});
