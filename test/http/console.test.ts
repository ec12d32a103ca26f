import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import Fastify from "fastify";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ConfigError, loadConfig } from "../../src/config.js";
import consoleRoutes, { consoleCsp, consoleOptionsFrom, defaultConsoleDir } from "../../src/http/console.js";
import { registerProblemHandlers } from "../../src/http/problem.js";
import { startTestService, type TestService } from "../helpers/service.js";

/**
 * How the service serves the web console (issue 18): the built bundle under /console/ with its own strict
 * CSP (no inline script or style anywhere in it), public files, cache rules by content hash, the OIDC
 * settings the console reads, and CONSOLE=off. The console's flows in a browser: test/console/.
 */
const dir = defaultConsoleDir();
if (!existsSync(join(dir, "index.html"))) {
  throw new Error(`the console is not built (${dir}): npm test builds it first (npm run console:build)`);
}

let svc: TestService;
beforeAll(async () => {
  svc = await startTestService();
});
afterAll(() => svc.close(2_000));

const get = (url: string, headers: Record<string, string> = {}) => svc.app.inject({ method: "GET", url, headers: { authorization: "", ...headers } });

describe("the console's files", () => {
  it("/console redirects to /console/, whose page needs no credential and runs under a strict CSP", async () => {
    const redirect = await get("/console");
    expect(redirect.statusCode).toBe(301);
    expect(redirect.headers.location).toBe("/console/");

    const page = await get("/console/");
    expect(page.statusCode).toBe(200);
    expect(page.headers["content-type"]).toMatch(/^text\/html/);
    expect(page.headers["cache-control"]).toBe("no-cache");
    expect(page.headers["x-frame-options"]).toBe("DENY");
    const csp = String(page.headers["content-security-policy"]);
    expect(csp).toBe(consoleCsp());
    for (const directive of ["default-src 'self'", "script-src 'self'", "style-src 'self'", "connect-src 'self'", "frame-ancestors 'none'", "base-uri 'none'", "object-src 'none'"]) {
      expect(csp).toContain(directive);
    }
    expect(csp).not.toMatch(/unsafe-inline|unsafe-eval|\*/);
    // Nothing inline for the CSP to refuse: every script has a src, no <style> element, no style attribute.
    const html = page.body;
    expect(html).toMatch(/<script[^>]+src="\/console\/assets\/[^"]+\.js"/);
    expect([...html.matchAll(/<script\b([^>]*)>/g)].every((m) => /\bsrc=/.test(m[1] ?? ""))).toBe(true);
    expect(html).not.toMatch(/<style\b|\sstyle=|\son[a-z]+=/i);
  });

  it("hashed assets are cached for a year and sent compressed to clients that accept it; the API's CSP stays default-src 'none'", async () => {
    const assets = readdirSync(join(dir, "assets")).filter((f) => /\.(js|css)$/.test(f));
    expect(assets.length).toBeGreaterThanOrEqual(2);
    for (const file of assets) {
      const plain = await get(`/console/assets/${file}`);
      expect(plain.statusCode, file).toBe(200);
      expect(plain.headers["cache-control"]).toBe("public, max-age=31536000, immutable");
      expect(plain.rawPayload.equals(readFileSync(join(dir, "assets", file)))).toBe(true);
      // npm run console:build writes .br and .gz beside each file over 1 KiB (tools/compress-console.ts).
      const br = await get(`/console/assets/${file}`, { "accept-encoding": "br, gzip" });
      expect(br.headers["content-encoding"], file).toBe("br");
      expect(br.rawPayload.equals(readFileSync(join(dir, "assets", `${file}.br`)))).toBe(true);
      const gz = await get(`/console/assets/${file}`, { "accept-encoding": "gzip" });
      expect(gz.headers["content-encoding"], file).toBe("gzip");
      expect(gz.headers["cache-control"]).toBe("public, max-age=31536000, immutable");
    }
    const api = await svc.app.inject({ method: "GET", url: "/v1/providers" });
    expect(api.headers["content-security-policy"]).toContain("default-src 'none'");
  });

  it("nothing outside the bundle is served: unknown files are 404, a climb out of the directory is refused", async () => {
    expect((await get("/console/nope.js")).statusCode).toBe(404);
    for (const url of ["/console/../package.json", "/console/%2e%2e/package.json", "/console/..%2fpackage.json", "/console/assets/%2e%2e/%2e%2e/%2e%2e/package.json"]) {
      const res = await get(url);
      expect([400, 403, 404], url).toContain(res.statusCode);
      expect(res.body, url).not.toContain('"name": "saas-bridge"');
    }
  });

  it("config.json: OIDC sign-in only when an issuer and the console's public client id are set", async () => {
    const none = await get("/console/config.json");
    expect(none.statusCode).toBe(200);
    expect(none.json()).toEqual({ oidc: null });
    expect(consoleOptionsFrom({ CONSOLE: "on", OIDC_ISSUER: "https://idp.example.test/realms/x", CONSOLE_OIDC_SCOPE: "openid" })).toEqual({ oidc: undefined });
    const both = consoleOptionsFrom({ CONSOLE: "on", OIDC_ISSUER: "https://idp.example.test/realms/x", CONSOLE_OIDC_CLIENT_ID: "console", CONSOLE_OIDC_SCOPE: "openid email" });
    expect(both).toEqual({ oidc: { issuer: "https://idp.example.test/realms/x", clientId: "console", scope: "openid email" } });
    expect(consoleOptionsFrom({ CONSOLE: "off", CONSOLE_OIDC_SCOPE: "openid" })).toBeUndefined();
    // The console may call the issuer (discovery, token endpoint): its origin, nothing wider.
    expect(consoleCsp("https://idp.example.test/realms/x")).toContain("connect-src 'self' https://idp.example.test;");
  });

  it("the configuration refuses a client id without an issuer, and a malformed one or scope", () => {
    const refused = (env: Record<string, string>) => {
      try {
        loadConfig({ ENGINE: "simulated", LANDING_ZONE_FILE: "examples/landing-zone.json", ...env });
        return [];
      } catch (err) {
        return (err as ConfigError).problems;
      }
    };
    expect(refused({ CONSOLE_OIDC_CLIENT_ID: "console" })).toEqual([expect.stringMatching(/^CONSOLE_OIDC_CLIENT_ID: needs OIDC_ISSUER/)]);
    expect(refused({ CONSOLE_OIDC_CLIENT_ID: "has space" })[0]).toMatch(/^CONSOLE_OIDC_CLIENT_ID:/);
    expect(refused({ CONSOLE_OIDC_SCOPE: "openid  email" })[0]).toMatch(/^CONSOLE_OIDC_SCOPE:/);
    expect(refused({ CONSOLE: "maybe" })[0]).toMatch(/^CONSOLE:/);
  });
});

describe("without the console", () => {
  it("CONSOLE=off removes every /console route", async () => {
    const off = await startTestService({ config: { CONSOLE: "off" } });
    try {
      for (const url of ["/console", "/console/", "/console/config.json"]) {
        expect((await off.app.inject({ method: "GET", url, headers: { authorization: "" } })).statusCode, url).toBe(404);
      }
    } finally {
      await off.close(2_000);
    }
  });

  it("a server without the built bundle answers 503 naming the build command, not a blank page", async () => {
    const empty = mkdtempSync(join(tmpdir(), "console-empty-"));
    const app = Fastify();
    registerProblemHandlers(app);
    await app.register(consoleRoutes, { dir: empty });
    try {
      const res = await app.inject({ method: "GET", url: "/console/" });
      expect(res.statusCode).toBe(503);
      expect(res.headers["content-type"]).toMatch(/^application\/problem\+json/);
      expect(res.json()).toMatchObject({ code: "UNAVAILABLE", detail: expect.stringContaining("npm run console:build") });
      expect((await app.inject({ method: "GET", url: "/console/config.json" })).statusCode).toBe(200);
    } finally {
      await app.close();
      rmSync(empty, { recursive: true, force: true });
    }
  });
});
