import { existsSync } from "node:fs";
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import type { Browser } from "playwright-core";
import { generateSecurityKeys } from "../src/auth/security-keys.js";
import { composeService, type Service } from "../src/compose.js";
import { openDb } from "../src/store/open.js";
import { notMeasured, type Figure } from "./report.js";
import { baseConfig, benchAuthorization, benchLogger, benchSpec, landingZone, median, percentile, sleep, tempDir, within } from "./support.js";

/**
 * Figure `console-load` (issue 18): the web console's first page load in headless Chromium on loopback —
 * transferred bytes and time to interactive of `/console/#/providers` (signed in, a few providers listed)
 * against a plain static page of the same transferred size, served by a bare node:http server (no script).
 * Reported, not judged: the ratio is what the console's scripts, styles and API calls cost in time over
 * moving the same bytes as one HTML page.
 *
 * - Time to interactive: the console's `console-interactive` mark (console/src/ready.ts: the first page
 *   has rendered its data); the static page's navigation `loadEventEnd` (nothing runs after it).
 * - Bytes: Resource Timing `transferSize` of the navigation entry and every resource entry, read in the page
 *   once it is interactive (Chromium reports the encoded body plus a fixed 300 bytes for the headers).
 * - A fresh browser context for every load (empty cache, no connection reuse across loads); console and
 *   static loads interleaved; the first WARMUP of each discarded.
 */
const RUNS = 15;
const WARMUP = 3;
const PROVIDERS = 5;
const PAGE_TIMEOUT_MS = 30_000;
const TOTAL_TIMEOUT_MS = 240_000;
const CHROMIUM = "/usr/bin/chromium";
/** console/src/auth.ts: where the console keeps the signed-in credential. */
const CREDENTIAL_KEY = "saas-bridge.credential";
const round = (v: number, digits = 0): number => Math.round(v * 10 ** digits) / 10 ** digits;

type Kind = "html" | "js" | "css" | "json" | "other";
interface Load {
  readonly ttiMs: number;
  readonly domInteractiveMs: number;
  readonly loadEventEndMs: number;
  readonly bytes: number;
  readonly bodyBytes: number;
  readonly requests: number;
  readonly byKind: Readonly<Record<Kind, number>>;
}

/** Evaluated in the page: the timings and the Resource Timing entries, as plain data. */
const READ_ENTRIES = `(() => {
  const nav = performance.getEntriesByType("navigation")[0];
  const mark = performance.getEntriesByName("console-interactive")[0];
  const entry = (e, kind) => ({ url: e.name, kind, transferSize: e.transferSize, encodedBodySize: e.encodedBodySize });
  return {
    interactive: mark ? mark.startTime : null,
    domInteractive: nav.domInteractive,
    loadEventEnd: nav.loadEventEnd,
    text: document.body ? document.body.innerText.slice(0, 20000) : "",
    entries: [entry(nav, "navigation"), ...performance.getEntriesByType("resource").map((e) => entry(e, e.initiatorType))],
  };
})()`;
interface PageEntries {
  readonly interactive: number | null;
  readonly domInteractive: number;
  readonly loadEventEnd: number;
  readonly text: string;
  readonly entries: readonly { url: string; kind: string; transferSize: number; encodedBodySize: number }[];
}

function kindOf(url: string, initiator: string): Kind {
  const path = new URL(url).pathname;
  if (initiator === "navigation") return "html";
  if (path.endsWith(".js")) return "js";
  if (path.endsWith(".css")) return "css";
  if (path.startsWith("/v1/") || path.endsWith(".json")) return "json";
  return "other";
}

/**
 * The page's own requests: Chromium asks for /favicon.ico by itself on both pages, and whether that request
 * has finished when the entries are read is a race, so it is left out of both counts.
 */
function summarize(page: PageEntries, ttiMs: number): Load {
  const entries = page.entries.filter((e) => new URL(e.url).pathname !== "/favicon.ico");
  const byKind: Record<Kind, number> = { html: 0, js: 0, css: 0, json: 0, other: 0 };
  for (const e of entries) byKind[kindOf(e.url, e.kind)] += e.transferSize;
  return {
    ttiMs,
    domInteractiveMs: page.domInteractive,
    loadEventEndMs: page.loadEventEnd,
    bytes: entries.reduce((sum, e) => sum + e.transferSize, 0),
    bodyBytes: entries.reduce((sum, e) => sum + e.encodedBodySize, 0),
    requests: entries.length,
    byKind,
  };
}

/** One load in a fresh context; `credential` is put in sessionStorage before any of the page's scripts run. */
async function load(browser: Browser, url: string, options: { credential?: string; expectText?: string }): Promise<Load> {
  const context = await browser.newContext();
  try {
    if (options.credential !== undefined) {
      // An init script runs through the DevTools protocol before the page's own, so the console's CSP does not apply to it.
      await context.addInitScript({ content: `sessionStorage.setItem(${JSON.stringify(CREDENTIAL_KEY)}, ${JSON.stringify(options.credential)});` });
    }
    const page = await context.newPage();
    const problems: string[] = [];
    page.on("pageerror", (err) => problems.push(err.message));
    page.on("console", (msg) => void (msg.type() === "error" && problems.push(msg.text())));
    page.on("response", (r) => void (r.status() >= 400 && problems.push(`${r.status()} ${r.url()}`)));
    const res = await page.goto(url, { waitUntil: "load", timeout: PAGE_TIMEOUT_MS });
    if (!res?.ok()) throw new Error(`${url}: HTTP ${res?.status() ?? "no answer"}`);
    if (options.credential !== undefined) {
      // A selector, not waitForFunction: that evaluates a string in the page, which the console's CSP (no eval) refuses.
      await page.waitForSelector(`html[data-ready="true"]`, { state: "attached", timeout: PAGE_TIMEOUT_MS }).catch(async (err: unknown) => {
        const shown = (await page.evaluate(READ_ENTRIES).catch(() => undefined)) as PageEntries | undefined;
        const what = `it shows ${JSON.stringify(shown?.text.slice(0, 200))}; errors: ${problems.join("; ").slice(0, 600) || "none"}`;
        throw new Error(`${url}: not ready within ${PAGE_TIMEOUT_MS} ms (${what})`, { cause: err });
      });
    }
    const entries = (await page.evaluate(READ_ENTRIES)) as PageEntries;
    if (options.expectText !== undefined && !entries.text.includes(options.expectText)) {
      throw new Error(`${url}: the page did not show ${JSON.stringify(options.expectText)} (it shows: ${JSON.stringify(entries.text.slice(0, 200))})`);
    }
    if (options.credential !== undefined && entries.interactive === null) throw new Error(`${url}: ready, but no console-interactive mark`);
    return summarize(entries, entries.interactive ?? entries.loadEventEnd);
  } finally {
    await context.close();
  }
}

/** A bare node:http server answering one HTML page of `bodyBytes` bytes (text paragraphs, no script). */
async function startStaticServer(): Promise<{ url: string; setBodyBytes(n: number): void; close(): Promise<void> }> {
  const head = `<!doctype html><html lang="en"><head><meta charset="utf-8"><title>static page</title></head><body><main><h1>Providers</h1>`;
  const tail = `</main></body></html>`;
  const paragraph = "<p>A plain paragraph of text standing in for the console's bytes, served as they are, with no script.</p>\n";
  let body = Buffer.from(head + tail);
  const server: Server = createServer((req, res) => {
    if (req.url !== "/static.html") return void res.writeHead(404).end();
    res.writeHead(200, { "content-type": "text/html; charset=utf-8", "content-length": body.length, "cache-control": "no-store" }).end(body);
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/static.html`,
    setBodyBytes(n) {
      const room = Math.max(0, n - head.length - tail.length);
      const filler = paragraph.repeat(Math.ceil(room / paragraph.length)).slice(0, room);
      body = Buffer.from(head + filler + tail);
    },
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

async function onboard(svc: Service, authorization: string, names: readonly string[]): Promise<void> {
  for (const name of names) {
    const res = await svc.app.inject({ method: "POST", url: "/v1/providers", headers: { authorization }, payload: benchSpec(name) });
    if (res.statusCode !== 202) throw new Error(`onboarding ${name}: ${res.statusCode} ${res.body.slice(0, 300)}`);
  }
  for (;;) {
    const [row] = await svc.db.query<{ n: number }>(`SELECT count(*)::int AS n FROM operations WHERE status IN ('queued', 'running')`);
    if (row?.n === 0) return;
    await sleep(100);
  }
}

const figureHead = {
  id: "console-load",
  title: "Console first load (/console/#/providers, headless Chromium, loopback) vs a static page of the same bytes",
  ratioMeaning: `median time to interactive of the console ÷ of a static HTML page of the same transferred size (${RUNS - WARMUP} loads each, fresh context, interleaved)`,
} as const;

export async function measureConsoleLoad(): Promise<Figure> {
  const dir = await tempDir();
  let svc: Service | undefined;
  let browser: Browser | undefined;
  let staticServer: Awaited<ReturnType<typeof startStaticServer>> | undefined;
  try {
    if (!existsSync(CHROMIUM)) throw new Error(`no Chromium at ${CHROMIUM}`);
    const db = await openDb({ dataDir: dir.path });
    svc = await composeService({ config: { ...baseConfig, MODE: "development" }, landingZone, db, logger: benchLogger(), keys: generateSecurityKeys() });
    const service = svc;
    await service.start();
    const base = await service.app.listen({ host: "127.0.0.1", port: 0 });
    const probe = await fetch(`${base}/console/`);
    if (!probe.ok) throw new Error(`GET /console/ answers ${probe.status}: the console is not built or not served (${(await probe.text()).slice(0, 200)})`);
    const authorization = await benchAuthorization(db);
    const names = Array.from({ length: PROVIDERS }, (_, i) => `bench-console-${i}`);
    await within(60_000, "onboarding", onboard(service, authorization, names));
    staticServer = await startStaticServer();
    const statics = staticServer;

    const { chromium } = await import("playwright-core");
    browser = await chromium.launch({ executablePath: CHROMIUM, args: ["--no-sandbox"], timeout: PAGE_TIMEOUT_MS });
    const b = browser;
    const consoleUrl = `${base}/console/#/providers`;
    const consoleLoad = () => load(b, consoleUrl, { credential: authorization.replace(/^Bearer /, ""), expectText: names[0] ?? "" });
    const staticLoad = () => load(b, statics.url, {});

    return await within(TOTAL_TIMEOUT_MS, "page loads", (async () => {
      // The console's warm-up loads give the byte count the static page is padded to.
      const warm: Load[] = [];
      for (let i = 0; i < WARMUP; i++) warm.push(await consoleLoad());
      const targetBytes = median(warm.map((l) => l.bytes));
      // What the bare server's headers add to a body: the static page's transferred size then matches.
      statics.setBodyBytes(targetBytes);
      const calibration = await staticLoad();
      statics.setBodyBytes(targetBytes - (calibration.bytes - calibration.bodyBytes));
      for (let i = 0; i < WARMUP; i++) await staticLoad();

      const consoleLoads: Load[] = [];
      const staticLoads: Load[] = [];
      for (let i = 0; i < RUNS - WARMUP; i++) {
        consoleLoads.push(await consoleLoad());
        staticLoads.push(await staticLoad());
      }
      const tti = (ls: readonly Load[]) => ls.map((l) => l.ttiMs);
      const c50 = median(tti(consoleLoads));
      const s50 = median(tti(staticLoads));
      const kind = (k: Kind) => median(consoleLoads.map((l) => l.byKind[k]));
      return {
        ...figureHead,
        ratio: round(c50 / s50, 2),
        subject: {
          medianTtiMs: round(c50, 1),
          p95TtiMs: round(percentile(tti(consoleLoads), 95), 1),
          bytes: median(consoleLoads.map((l) => l.bytes)),
          htmlBytes: kind("html"),
          jsBytes: kind("js"),
          cssBytes: kind("css"),
          jsonBytes: kind("json"),
          otherBytes: kind("other"),
          requests: median(consoleLoads.map((l) => l.requests)),
        },
        baseline: {
          medianTtiMs: round(s50, 1),
          p95TtiMs: round(percentile(tti(staticLoads), 95), 1),
          bytes: median(staticLoads.map((l) => l.bytes)),
          requests: median(staticLoads.map((l) => l.requests)),
        },
        diagnostics: {
          console: {
            medianDomInteractiveMs: round(median(consoleLoads.map((l) => l.domInteractiveMs)), 1),
            medianLoadEventEndMs: round(median(consoleLoads.map((l) => l.loadEventEndMs)), 1),
            encodedBodyBytes: median(consoleLoads.map((l) => l.bodyBytes)),
          },
          static: {
            medianDomInteractiveMs: round(median(staticLoads.map((l) => l.domInteractiveMs)), 1),
            encodedBodyBytes: median(staticLoads.map((l) => l.bodyBytes)),
          },
        },
        notes: [
          `Chromium ${b.version()} headless at ${CHROMIUM}, a fresh context per load (empty cache); ${WARMUP} warm-up loads of each discarded`,
          "console time to interactive: the console-interactive mark (the providers page has rendered its rows); static: loadEventEnd of its navigation",
          "bytes: Resource Timing transferSize of the navigation and every resource entry (Chromium reports encoded body + a fixed 300 bytes for headers), /favicon.ico left out of both; json = /v1/ API answers and /console/config.json",
          `the service in-process (MODE=development, simulated engine, PGlite in a temporary directory) with ${PROVIDERS} providers onboarded; signed in with an admin API key put in sessionStorage by an init script`,
          `static page: one HTML file of text paragraphs from a bare node:http server, padded to the console's median transferred bytes (${targetBytes})`,
        ],
      } satisfies Figure;
    })());
  } catch (err) {
    return notMeasured(figureHead, err);
  } finally {
    await browser?.close().catch(() => undefined);
    await staticServer?.close();
    await svc?.close(5_000).catch(() => undefined);
    await dir.remove();
  }
}
