import { existsSync, mkdirSync, readFileSync } from "node:fs";
import { createServer } from "node:net";
import { createRequire } from "node:module";
import { join } from "node:path";
import { chromium, type Browser, type BrowserContext, type Page } from "playwright-core";
import { expect } from "vitest";

/**
 * Helpers of the console's browser tests (issue 18): Debian's Chromium driven by playwright-core (no
 * browser download), screenshots kept as artifacts, the axe-core scan, and CSP violations collected.
 */
export const CHROMIUM = process.env["CHROMIUM_PATH"] ?? "/usr/bin/chromium";
export const haveChromium = existsSync(CHROMIUM);
export const inCi = Boolean(process.env["CI"]);
/** Where screenshots go: test-artifacts/console (git-ignored), kept after the run. */
export const ARTIFACTS = join(process.cwd(), "test-artifacts", "console");

/**
 * The page's globals as the callbacks run in it use them (the tests' tsconfig has no DOM library). Only a
 * type: `globalThis as unknown as PageGlobals` is erased from the callback Playwright sends to the page.
 */
export interface PageGlobals {
  readonly document: { readonly documentElement: { readonly scrollWidth: number; readonly dataset: Record<string, string | undefined> } };
  readonly innerWidth: number;
  readonly sessionStorage: { readonly length: number; getItem(key: string): string | null; key(index: number): string | null };
  readonly localStorage: { readonly length: number };
  readonly axe: { run: (context: unknown, options: unknown) => Promise<{ violations: AxeViolation[] }> };
}

export async function launchChromium(): Promise<Browser> {
  mkdirSync(ARTIFACTS, { recursive: true });
  return chromium.launch({ executablePath: CHROMIUM, args: ["--no-sandbox", "--disable-dev-shm-usage"], timeout: 30_000 });
}

/** A free loopback port (the OIDC issuer must know the console's redirect URI before the service listens). */
export async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as { port: number };
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

/**
 * A context as a person's browser: every console message about the Content Security Policy is kept (the
 * console must run under its strict CSP without one refusal), and page errors too.
 */
export interface Watched {
  readonly context: BrowserContext;
  readonly page: Page;
  readonly cspViolations: string[];
  readonly pageErrors: string[];
}

export async function personContext(browser: Browser, viewport = { width: 1280, height: 900 }): Promise<Watched> {
  const context = await browser.newContext({ viewport });
  const page = await context.newPage();
  const cspViolations: string[] = [];
  const pageErrors: string[] = [];
  page.on("console", (m) => {
    if (/Content Security Policy|Refused to/i.test(m.text())) cspViolations.push(m.text());
  });
  page.on("pageerror", (e) => pageErrors.push(e.message));
  return { context, page, cspViolations, pageErrors };
}

export async function screenshot(page: Page, name: string): Promise<string> {
  const path = join(ARTIFACTS, `${name}.png`);
  await page.screenshot({ path, fullPage: true });
  return path;
}

export async function signInWithKey(page: Page, base: string, key: string): Promise<void> {
  await page.goto(`${base}/console/`);
  await page.getByLabel("API key").fill(key);
  await page.getByRole("button", { name: "Sign in with API key" }).click();
  await expect.poll(() => page.getByRole("heading", { level: 1, name: "Providers" }).count(), { timeout: 15_000 }).toBe(1);
}

const require = createRequire(import.meta.url);
const axeSource = readFileSync(require.resolve("axe-core/axe.min.js"), "utf8");

export interface AxeViolation {
  readonly id: string;
  readonly impact: string | null;
  readonly help: string;
  readonly nodes: { readonly target: unknown }[];
}

/**
 * axe-core's WCAG 2.x A/AA rules on the page as it is now. Injected through CDP (page.evaluate), which the
 * page's CSP does not govern; returns the violations whose impact is serious or critical.
 */
export async function seriousA11yViolations(page: Page): Promise<AxeViolation[]> {
  await page.evaluate(axeSource);
  const violations = await page.evaluate(async () => {
    const { axe, document } = globalThis as unknown as PageGlobals;
    const result = await axe.run(document, { runOnly: { type: "tag", values: ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa"] } });
    return result.violations.map((v) => ({ id: v.id, impact: v.impact, help: v.help, nodes: v.nodes.map((n) => ({ target: n.target })) }));
  });
  return violations.filter((v) => v.impact === "serious" || v.impact === "critical");
}

/** Whether the page fits a phone's width: nothing wider than the viewport (wide tables scroll inside their own box). */
export async function overflowsWidth(page: Page): Promise<boolean> {
  return page.evaluate(() => {
    const w = globalThis as unknown as PageGlobals;
    return w.document.documentElement.scrollWidth > w.innerWidth + 1;
  });
}
