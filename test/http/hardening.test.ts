import { execFileSync } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import https from "node:https";
import { connect as netConnect } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { PassThrough, Writable } from "node:stream";
import tls from "node:tls";
import Fastify, { type FastifyBaseLogger, type FastifyInstance } from "fastify";
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from "vitest";
import type { Principal } from "../../src/auth/principal.js";
import { ConfigError } from "../../src/config.js";
import { AppError } from "../../src/errors.js";
import { principalRef } from "../../src/auth/actor.js";
import { loadTls, registerHardening, serverOptions, type HardeningOptions, type TlsMaterial } from "../../src/http/hardening.js";
import { registerProblemHandlers } from "../../src/http/problem.js";
import { OpenStreams, streamOperation, type StreamDeps } from "../../src/http/streaming.js";
import { createLogger } from "../../src/logger.js";

type Json = Record<string, any>;
const DEFAULTS: HardeningOptions = {
  perIpPerMinute: 1_000,
  perPrincipalPerMinute: 1_000,
  corsOrigins: [],
  maxHeaderBytes: 16_384,
  requestTimeoutSeconds: 30,
  trustProxy: false,
};

const apps: FastifyInstance[] = [];
afterEach(async () => {
  vi.useRealTimers();
  await Promise.all(apps.splice(0).map((a) => a.close()));
});

interface TestAppOptions {
  readonly tls?: TlsMaterial;
  readonly logLines?: string[];
  /** Adjusts the server options buildApp would use (test-only knobs such as Node's check interval). */
  readonly server?: (o: ReturnType<typeof serverOptions>) => ReturnType<typeof serverOptions>;
  readonly routes?: (app: FastifyInstance) => void;
}

/** problem handlers + hardening + a stand-in for the auth plugin (x-test-principal → request.principal). */
async function buildTestApp(overrides: Partial<HardeningOptions> = {}, t: TestAppOptions = {}): Promise<FastifyInstance> {
  const options = { ...DEFAULTS, ...overrides };
  const server = serverOptions(options, t.tls);
  const lines = t.logLines;
  const loggerInstance: FastifyBaseLogger | undefined = lines
    ? createLogger("info", new Writable({ write: (c: Buffer, _e, done) => (lines.push(c.toString()), done()) }))
    : undefined;
  const app = Fastify({
    ...(t.server ? t.server(server) : server),
    forceCloseConnections: true, // as buildApp: close() does not wait for a stream a test left open
    ...(loggerInstance ? { loggerInstance } : {}),
  });
  apps.push(app);
  registerProblemHandlers(app);
  await registerHardening(app, options);
  if (!app.hasRequestDecorator("principal")) app.decorateRequest("principal", undefined);
  app.addHook("preParsing", async (request, _reply, payload) => {
    const who = request.headers["x-test-principal"];
    if (typeof who === "string") request.principal = { kind: "apikey", id: who, name: who, role: "viewer", teams: [] } satisfies Principal;
    return payload;
  });
  app.get("/healthz", async () => ({ ok: true }));
  app.get("/readyz", async () => ({ ok: true }));
  app.get("/v1/things", async () => ({ items: [] }));
  app.post("/v1/things", async (request) => ({ got: request.body }));
  app.get("/docs/static/index.html", async (_request, reply) => reply.type("text/html").send("<!doctype html><title>docs</title>"));
  t.routes?.(app);
  await app.ready();
  return app;
}

async function listen(app: FastifyInstance): Promise<number> {
  await app.listen({ port: 0, host: "127.0.0.1" });
  const address = app.server.address();
  if (!address || typeof address === "string") throw new Error("no address");
  return address.port;
}

/** Writes `text` on a plain socket and returns everything the server sends until it closes. */
function rawExchange(port: number, text: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = netConnect({ host: "127.0.0.1", port }, () => socket.write(text));
    let received = "";
    socket.on("data", (d) => (received += d.toString()));
    socket.on("close", () => resolve(received));
    socket.on("error", reject);
  });
}

const get = (app: FastifyInstance, url: string, headers: Record<string, string> = {}, remoteAddress = "127.0.0.1") =>
  app.inject({ method: "GET", url, headers, remoteAddress });

describe("security headers (helmet)", () => {
  it("sends a strict CSP and the usual headers on API responses and errors, no x-powered-by, no HSTS without TLS", async () => {
    const app = await buildTestApp();
    for (const res of [await get(app, "/v1/things"), await get(app, "/nowhere")]) {
      expect(res.headers["x-content-type-options"]).toBe("nosniff");
      expect(res.headers["content-security-policy"]).toBe("default-src 'none';frame-ancestors 'none'");
      expect(res.headers["x-frame-options"]).toBe("DENY");
      expect(res.headers["referrer-policy"]).toBe("no-referrer");
      expect(res.headers).not.toHaveProperty("x-powered-by");
      expect(res.headers).not.toHaveProperty("strict-transport-security");
    }
    expect((await get(app, "/nowhere")).headers["content-type"]).toMatch(/^application\/problem\+json/);
  });

  it("gives the Swagger UI under /docs a CSP it can run under (own scripts, inline styles), still not frameable", async () => {
    const app = await buildTestApp();
    const csp = (await get(app, "/docs/static/index.html")).headers["content-security-policy"];
    expect(csp).toContain("default-src 'self'");
    expect(csp).toContain("style-src 'self' 'unsafe-inline'");
    expect(csp).toContain("frame-ancestors 'none'");
    expect(csp).not.toContain("script-src");
  });
});

describe("CORS", () => {
  const origin = "https://console.example.com";

  it("is off by default: no CORS headers, and a preflight is an ordinary 405 problem (the path exists, OPTIONS does not)", async () => {
    const app = await buildTestApp();
    const res = await get(app, "/v1/things", { origin });
    expect(res.statusCode).toBe(200);
    expect(Object.keys(res.headers).filter((h) => h.startsWith("access-control-"))).toEqual([]);
    const preflight = await app.inject({ method: "OPTIONS", url: "/v1/things", headers: { origin, "access-control-request-method": "POST" } });
    expect(preflight.statusCode).toBe(405);
    expect(preflight.headers["allow"]).toMatch(/GET/);
    expect(preflight.headers["content-type"]).toMatch(/^application\/problem\+json/);
    expect(Object.keys(preflight.headers).filter((h) => h.startsWith("access-control-"))).toEqual([]);
  });

  it("when configured, allows exactly the listed origins, without credentials", async () => {
    const app = await buildTestApp({ corsOrigins: [origin, "http://localhost:3000"] });
    const allowed = await get(app, "/v1/things", { origin });
    expect(allowed.headers["access-control-allow-origin"]).toBe(origin);
    expect(allowed.headers.vary).toMatch(/origin/i);
    expect(allowed.headers).not.toHaveProperty("access-control-allow-credentials");
    expect(allowed.headers["access-control-expose-headers"]).toContain("retry-after");

    for (const other of ["https://evil.example.com", "https://console.example.com.evil.io", "http://console.example.com", "null"]) {
      expect((await get(app, "/v1/things", { origin: other })).headers).not.toHaveProperty("access-control-allow-origin");
    }

    const preflight = await app.inject({
      method: "OPTIONS",
      url: "/v1/things",
      headers: { origin, "access-control-request-method": "POST", "access-control-request-headers": "authorization, idempotency-key" },
    });
    expect(preflight.statusCode).toBe(204);
    expect(preflight.headers["access-control-allow-origin"]).toBe(origin);
    expect(preflight.headers["access-control-allow-methods"]).toBe("GET, POST, PUT, DELETE");
    expect(preflight.headers["access-control-allow-headers"]).toBe("authorization, content-type, idempotency-key, last-event-id, accept");
    const refused = await app.inject({ method: "OPTIONS", url: "/v1/things", headers: { origin: "https://evil.example.com", "access-control-request-method": "POST" } });
    expect(refused.headers).not.toHaveProperty("access-control-allow-origin");
  });
});

describe("rate limits", () => {
  it("per address: the request over the limit gets a 429 RATE_LIMITED problem with retry-after; other addresses are unaffected", async () => {
    const app = await buildTestApp({ perIpPerMinute: 3 });
    const remaining: unknown[] = [];
    for (let i = 0; i < 3; i++) {
      const res = await get(app, "/v1/things");
      expect(res.statusCode).toBe(200);
      remaining.push(res.headers["x-ratelimit-remaining"]);
    }
    expect(remaining).toEqual(["2", "1", "0"]);

    const refused = await get(app, "/v1/things");
    expect(refused.statusCode).toBe(429);
    expect(refused.headers["content-type"]).toMatch(/^application\/problem\+json/);
    expect(refused.json()).toMatchObject({ status: 429, code: "RATE_LIMITED", type: "/problems/rate-limited", instance: "/v1/things" });
    const retryAfter = Number(refused.headers["retry-after"]);
    expect(retryAfter).toBeGreaterThanOrEqual(1);
    expect(retryAfter).toBeLessThanOrEqual(60);
    expect(refused.headers["x-ratelimit-limit"]).toBe("3");
    expect(refused.headers["x-content-type-options"]).toBe("nosniff");
    // Unknown URLs and other methods count against the same address.
    expect((await get(app, "/no-such-route")).statusCode).toBe(429);
    expect((await app.inject({ method: "POST", url: "/v1/things", payload: {} })).statusCode).toBe(429);

    expect((await get(app, "/v1/things", {}, "10.0.0.2")).statusCode).toBe(200);
  });

  it("/healthz and /readyz are exempt", async () => {
    const app = await buildTestApp({ perIpPerMinute: 1 });
    await get(app, "/v1/things");
    expect((await get(app, "/v1/things")).statusCode).toBe(429);
    for (let i = 0; i < 5; i++) {
      expect((await get(app, "/healthz")).statusCode).toBe(200);
      expect((await get(app, "/readyz")).statusCode).toBe(200);
    }
  });

  it("X-Forwarded-For does not change the address unless the proxy is trusted", async () => {
    const untrusted = await buildTestApp({ perIpPerMinute: 2 });
    const codes = [];
    for (let i = 0; i < 3; i++) codes.push((await get(untrusted, "/v1/things", { "x-forwarded-for": `203.0.113.${i}` })).statusCode);
    expect(codes).toEqual([200, 200, 429]);

    const trusted = await buildTestApp({ perIpPerMinute: 2, trustProxy: ["127.0.0.1/32"] });
    for (let i = 0; i < 3; i++) expect((await get(trusted, "/v1/things", { "x-forwarded-for": `203.0.113.${i}` })).statusCode).toBe(200);
  });

  it("per principal: one principal over its limit is refused while another on the same address is not", async () => {
    const app = await buildTestApp({ perIpPerMinute: 100, perPrincipalPerMinute: 2 });
    const as = (who: string) => get(app, "/v1/things", { "x-test-principal": who });
    expect((await as("alice")).statusCode).toBe(200);
    expect((await as("alice")).statusCode).toBe(200);
    const refused = await as("alice");
    expect(refused.statusCode).toBe(429);
    expect(refused.json()).toMatchObject({ code: "RATE_LIMITED", status: 429 });
    expect(refused.json().detail).toContain("by this caller");
    expect(Number(refused.headers["retry-after"])).toBeGreaterThanOrEqual(1);
    expect(refused.headers["x-ratelimit-limit"]).toBe("2");

    expect((await as("bob")).statusCode).toBe(200);
    expect((await get(app, "/v1/things")).statusCode).toBe(200); // unauthenticated: only the address limit applies
    expect(principalRef({ kind: "oidc", id: "sub-1" })).toBe("oidc:sub-1");
  });

  it("onLimited is called once per key and window, after the 429, with the scope", async () => {
    vi.useFakeTimers({ toFake: ["Date"] });
    const calls: string[] = [];
    const app = await buildTestApp({
      perIpPerMinute: 2,
      perPrincipalPerMinute: 1,
      onLimited: (request, scope) => void calls.push(`${scope} ${request.ip} ${request.principal?.id ?? "-"}`),
    });
    const settle = () => new Promise((r) => setTimeout(r, 20));
    for (let i = 0; i < 5; i++) await get(app, "/v1/things", { "x-test-principal": "alice" }, "10.0.0.1");
    await settle();
    // The address limit refuses at onRequest, before authentication: no principal is known yet.
    expect(calls).toEqual(["principal 10.0.0.1 alice", "ip 10.0.0.1 -"]);

    for (let i = 0; i < 4; i++) await get(app, "/v1/things", {}, "10.0.0.9");
    await settle();
    expect(calls).toHaveLength(3);
    expect(calls[2]).toBe("ip 10.0.0.9 -");

    vi.setSystemTime(Date.now() + 61_000); // the next window
    for (let i = 0; i < 4; i++) await get(app, "/v1/things", {}, "10.0.0.9");
    await settle();
    expect(calls).toEqual(["principal 10.0.0.1 alice", "ip 10.0.0.1 -", "ip 10.0.0.9 -", "ip 10.0.0.9 -"]);
  });

  it("a failing onLimited is logged and does not change the 429", async () => {
    const lines: string[] = [];
    const app = await buildTestApp(
      { perIpPerMinute: 1, onLimited: async () => Promise.reject(new Error("audit store down")) },
      { logLines: lines },
    );
    await get(app, "/v1/things");
    const refused = await get(app, "/v1/things");
    expect(refused.statusCode).toBe(429);
    expect(refused.json().code).toBe("RATE_LIMITED");
    await vi.waitFor(() => expect(lines.join("")).toContain("recording a rate-limit refusal failed"));
    expect(lines.join("")).toContain("audit store down");
  });
});

describe("header size and timeouts, on a real socket", () => {
  it("an oversized request head gets 431 as problem+json from the parser; one under the limit is served", async () => {
    const app = await buildTestApp({ maxHeaderBytes: 1_024 });
    const port = await listen(app);
    const big = await rawExchange(port, `GET /v1/things HTTP/1.1\r\nhost: 127.0.0.1\r\nx-big: ${"a".repeat(2_000)}\r\n\r\n`);
    expect(big).toMatch(/^HTTP\/1\.1 431 Request Header Fields Too Large\r\n/);
    expect(big).toMatch(/content-type: application\/problem\+json/i);
    expect(JSON.parse(big.slice(big.indexOf("\r\n\r\n") + 4))).toMatchObject({ status: 431, code: "MALFORMED_REQUEST" });

    const small = await rawExchange(port, `GET /v1/things HTTP/1.1\r\nhost: 127.0.0.1\r\nconnection: close\r\nx-big: ${"a".repeat(500)}\r\n\r\n`);
    expect(small).toMatch(/^HTTP\/1\.1 200 /);
  });

  it("bad URLs and over-long path parameters are problem+json 400s", async () => {
    const app = await buildTestApp({}, { routes: (a) => a.get("/v1/things/:id", async () => ({})) });
    for (const url of ["/v1/things/%zz", `/v1/things/${"a".repeat(101)}`]) {
      const res = await get(app, url);
      expect(res.statusCode).toBe(400);
      expect(res.headers["content-type"]).toMatch(/^application\/problem\+json/);
      expect(res.json().code).toBe("MALFORMED_REQUEST");
    }
    expect((await get(app, `/v1/things/${"a".repeat(100)}`)).statusCode).toBe(200);
  });

  it("requestTimeout cuts off a request that is not received in time (408), but never a long response stream", async () => {
    const app = await buildTestApp(
      { requestTimeoutSeconds: 1 },
      {
        // Node checks timeouts every 30 s by default; 100 ms keeps the test short.
        server: (o) => ({ ...o, http: { ...o.http, connectionsCheckingInterval: 100 } }),
        routes: (a) =>
          a.get("/stream", async (_request, reply) => {
            const out = new PassThrough();
            let n = 0;
            const timer = setInterval(() => {
              out.write(`tick ${++n}\n`);
              if (n === 10) {
                clearInterval(timer);
                out.end();
              }
            }, 250);
            return reply.type("application/x-ndjson").send(out);
          }),
      },
    );
    const port = await listen(app);

    const started = Date.now();
    const stalled = await rawExchange(port, "POST /v1/things HTTP/1.1\r\nhost: 127.0.0.1\r\ncontent-type: application/json\r\ncontent-length: 100\r\n\r\n{\"a\":");
    expect(stalled).toMatch(/^HTTP\/1\.1 408 /);
    expect(stalled).toMatch(/content-type: application\/problem\+json/i);
    expect(Date.now() - started).toBeLessThan(5_000);

    const streamed = await fetch(`http://127.0.0.1:${port}/stream`);
    const text = await streamed.text(); // 2.5 s, well past the 1 s request timeout
    expect(text.trim().split("\n")).toHaveLength(10);
    expect(text).toContain("tick 10");
  });

  it("the request timeout fires within about a second of its configured time (issue 13: Node checks every 30 s by default)", async () => {
    // The service's own server options, nothing overridden.
    const app = await buildTestApp({ requestTimeoutSeconds: 2 });
    const port = await listen(app);
    const started = Date.now();
    const stalled = await rawExchange(port, "POST /v1/things HTTP/1.1\r\nhost: 127.0.0.1\r\ncontent-type: application/json\r\ncontent-length: 100\r\n\r\n{\"a\":");
    const elapsed = Date.now() - started;
    expect(stalled).toMatch(/^HTTP\/1\.1 408 /);
    expect(elapsed).toBeGreaterThanOrEqual(1_900);
    expect(elapsed).toBeLessThan(4_500);
  });
});

const hasOpenssl = (() => {
  try {
    execFileSync("openssl", ["version"], { stdio: "ignore" });
    return true;
  } catch {
    return false;
  }
})();
if (!hasOpenssl) console.warn("hardening.test.ts: openssl is not installed; the HTTPS tests are skipped (they need a self-signed certificate)");

describe.skipIf(!hasOpenssl)("HTTPS (self-signed certificate made with openssl)", () => {
  let dir: string;
  let material: TlsMaterial;
  const files = () => ({ cert: join(dir, "cert.pem"), key: join(dir, "key.pem") });
  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), "hardening-tls-"));
    execFileSync("openssl", [
      "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes", "-days", "1",
      "-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1", "-keyout", files().key, "-out", files().cert,
    ], { stdio: "ignore" });
    material = loadTls(files().cert, files().key);
  });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  function handshake(port: number, version: tls.SecureVersion): Promise<string> {
    return new Promise((resolve) => {
      // SECLEVEL=0 lets this OpenSSL 3 client offer TLS 1.1 at all.
      const socket = tls.connect({ host: "127.0.0.1", port, ca: material.cert, minVersion: version, maxVersion: version, ciphers: "DEFAULT@SECLEVEL=0" }, () => {
        resolve(`connected ${socket.getProtocol()}`);
        socket.end();
      });
      socket.on("error", (err) => resolve(`refused ${err.message}`));
    });
  }

  it("serves HTTPS with HSTS over TLS 1.2", async () => {
    const app = await buildTestApp({}, { tls: material });
    const port = await listen(app);
    const res = await new Promise<{ status: number; hsts: string | undefined; protocol: string }>((resolve, reject) => {
      const req = https.get({ host: "127.0.0.1", port, path: "/v1/things", ca: material.cert, maxVersion: "TLSv1.2" }, (r) => {
        resolve({ status: r.statusCode ?? 0, hsts: r.headers["strict-transport-security"], protocol: (r.socket as tls.TLSSocket).getProtocol() ?? "" });
        r.resume();
      });
      req.on("error", reject);
    });
    expect(res).toEqual({ status: 200, hsts: "max-age=31536000; includeSubDomains", protocol: "TLSv1.2" });
    expect(await handshake(port, "TLSv1.2")).toBe("connected TLSv1.2");
  });

  it("refuses a TLS 1.1 client even when the runtime default and OpenSSL's security level would allow it", async () => {
    // What `--tls-min-v1.0` and a permissive cipher string would do: only the pinned minVersion refuses now.
    const defaultMin = tls.DEFAULT_MIN_VERSION;
    tls.DEFAULT_MIN_VERSION = "TLSv1";
    try {
      const relaxed = (o: ReturnType<typeof serverOptions>) => ({ ...o, https: { ...o.https, ciphers: "DEFAULT@SECLEVEL=0" } });
      const control = https.createServer({ cert: material.cert, key: material.key, ciphers: "DEFAULT@SECLEVEL=0" });
      await new Promise<void>((r) => control.listen(0, "127.0.0.1", r));
      const controlPort = (control.address() as { port: number }).port;
      expect(await handshake(controlPort, "TLSv1.1")).toBe("connected TLSv1.1"); // the client can speak TLS 1.1
      control.close();

      const app = await buildTestApp({}, { tls: material, server: relaxed });
      const port = await listen(app);
      expect(await handshake(port, "TLSv1.1")).toMatch(/^refused .*(protocol version|unsupported protocol)/i);
      expect(await handshake(port, "TLSv1.2")).toBe("connected TLSv1.2");
    } finally {
      tls.DEFAULT_MIN_VERSION = defaultMin;
    }
  });

  it("loadTls names the file it cannot use", () => {
    const missing = join(dir, "missing.pem");
    const notPem = join(dir, "not.pem");
    writeFileSync(notPem, "hello");
    const problems = (f: () => unknown) => {
      try {
        f();
      } catch (err) {
        expect(err).toBeInstanceOf(ConfigError);
        return (err as ConfigError).problems;
      }
      throw new Error("loadTls did not throw");
    };
    expect(problems(() => loadTls(missing, files().key))).toEqual([`TLS_CERT_FILE ${missing}: cannot be read as a PEM certificate (ENOENT)`]);
    expect(problems(() => loadTls(files().cert, notPem))[0]).toMatch(new RegExp(`^TLS_KEY_FILE ${notPem}: cannot be read as a PEM private key`));
    // A key of another certificate.
    const otherKey = join(dir, "other-key.pem");
    execFileSync("openssl", ["genpkey", "-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-out", otherKey], { stdio: "ignore" });
    expect(problems(() => loadTls(files().cert, otherKey))).toEqual([`TLS_KEY_FILE ${otherKey}: is not the private key of the certificate in ${files().cert}`]);
  });
});

describe("open streams per owner", () => {
  it("counts per owner, refuses the owner at its cap with TOO_MANY_STREAMS, and frees a slot once (idempotent)", () => {
    const open = new OpenStreams();
    const closed: string[] = [];
    const a1 = open.add(() => closed.push("a1"), "apikey:a");
    open.add(() => closed.push("a2"), "apikey:a");
    open.add(() => closed.push("anon"));
    expect(open.countFor("apikey:a")).toBe(2);
    expect(() => open.reserve("apikey:a", 2)).toThrow(expect.objectContaining({ code: "TOO_MANY_STREAMS", status: 429 }) as AppError);
    expect(() => open.reserve("apikey:b", 2)).not.toThrow();
    a1();
    a1();
    expect(open.countFor("apikey:a")).toBe(1);
    expect(() => open.reserve("apikey:a", 2)).not.toThrow();
    open.closeAll();
    expect(closed.sort()).toEqual(["a2", "anon"]);
  });

  it("streamOperation refuses before any header with a 429 problem, and the slot frees when the response closes", async () => {
    const open = new OpenStreams();
    // An operation with no events yet: the stream stays open (SSE keep-alives) until the client leaves.
    const deps: StreamDeps = {
      db: { query: async () => [] },
      hub: { subscribe: () => () => {}, publish: async () => {}, subscriberCount: () => 0, close: async () => {} },
      keepAliveMs: 50,
      writeDeadlineMs: 60_000,
      maxPerOwner: 1,
      open,
    };
    const app = await buildTestApp({}, {
      routes: (a) =>
        a.get<{ Params: { owner: string } }>("/streams/:owner", async (request, reply) =>
          streamOperation(reply, deps, { operationId: "op-1", after: 0, format: "sse", status: 200, textHeader: "", log: request.log, owner: request.params.owner, maxPerOwner: 1 }),
        ),
    });
    const base = `http://127.0.0.1:${await listen(app)}`;

    const first = new AbortController();
    const opened = await fetch(`${base}/streams/alice`, { signal: first.signal });
    expect(opened.status).toBe(200);
    expect(opened.headers.get("content-type")).toMatch(/^text\/event-stream/);
    expect(open.countFor("alice")).toBe(1);

    const refused = await fetch(`${base}/streams/alice`);
    expect(refused.status).toBe(429);
    expect(refused.headers.get("content-type")).toMatch(/^application\/problem\+json/);
    expect(((await refused.json()) as Json).code).toBe("TOO_MANY_STREAMS");
    expect(open.countFor("alice")).toBe(1);

    const other = new AbortController();
    expect((await fetch(`${base}/streams/bob`, { signal: other.signal })).status).toBe(200);
    other.abort();

    first.abort();
    await vi.waitFor(() => expect(open.countFor("alice")).toBe(0));
    const again = new AbortController();
    expect((await fetch(`${base}/streams/alice`, { signal: again.signal })).status).toBe(200);
    again.abort();
    await vi.waitFor(() => expect(open.countFor("alice") + open.countFor("bob")).toBe(0));
    open.closeAll();
  });
});
