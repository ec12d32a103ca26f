import type { Browser, Page } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startOidcIssuer } from "../support/oidc-issuer.js";
import { specNamed, startTestService, waitForStatus, type TestService } from "../helpers/service.js";
import {
  ARTIFACTS,
  CHROMIUM,
  freePort,
  haveChromium,
  inCi,
  launchChromium,
  overflowsWidth,
  personContext,
  screenshot,
  seriousA11yViolations,
  signInWithKey,
  type PageGlobals,
  type Watched,
} from "./support.js";

/**
 * The web console's flows in a real browser (issue 18): Debian's Chromium through playwright-core against
 * a service this test starts on loopback (simulated engine, decommission and restricted changes need a
 * second person, OIDC through a loopback authorization-server test double). Screenshots of each page go
 * to test-artifacts/console.
 */
type Json = Record<string, any>;
if (!haveChromium) {
  const why = `console browser tests: ${CHROMIUM} is missing (Debian: apt-get install chromium; .ci/run installs it)`;
  if (inCi) throw new Error(`${why}, and CI is set`);
  console.warn(`SKIPPED ${why}`);
}

const CLIENT_ID = "saas-bridge-console";
let svc: TestService;
let base = "";
let browser: Browser;
let oidc: Awaited<ReturnType<typeof startOidcIssuer>>;
let ada = ""; // operator, team alpha
let grace = ""; // approver, team alpha
let audrey = ""; // auditor
const watched: Watched[] = [];

async function person(viewport?: { width: number; height: number }): Promise<Watched> {
  const w = await personContext(browser, viewport);
  watched.push(w);
  return w;
}

async function api(method: string, path: string, key: string, body?: unknown): Promise<{ status: number; body: Json }> {
  const res = await fetch(`${base}${path}`, {
    method,
    headers: { authorization: `Bearer ${key}`, ...(body === undefined ? {} : { "content-type": "application/json" }) },
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
  });
  return { status: res.status, body: res.status === 204 ? {} : ((await res.json()) as Json) };
}

const spec = (name: string, extra: Json = {}) => ({ ...specNamed(name), owner: { team: "alpha", contact: "alpha@example.com" }, ...extra });

async function onboarded(name: string, extra: Json = {}): Promise<Json> {
  const created = await api("POST", "/v1/providers", ada, spec(name, extra));
  expect(created.status).toBe(202);
  return created.body["operation"] as Json;
}

async function heading(page: Page, name: string | RegExp): Promise<void> {
  await expect.poll(() => page.getByRole("heading", { level: 1, name }).count(), { timeout: 15_000 }).toBe(1);
}

describe.skipIf(!haveChromium && !inCi)("the console in Chromium", () => {
  beforeAll(async () => {
    const port = await freePort();
    base = `http://127.0.0.1:${port}`;
    oidc = await startOidcIssuer({
      audience: "saas-bridge",
      clientId: CLIENT_ID,
      redirectUris: [`${base}/console/`],
      users: { olga: { sub: "u-olga", email: "olga@example.com", groups: ["ops"], teams: ["alpha"] } },
      defaultUser: "olga",
    });
    svc = await startTestService({
      config: {
        APPROVAL_RULES: ["decommission", "restricted"],
        // Slow enough for a person to watch the bar move (43 steps), fast enough for a test.
        SIMULATED_STEP_MS: 120,
        OIDC_ISSUER: oidc.issuer,
        OIDC_JWKS_URI: oidc.jwksUri,
        OIDC_AUDIENCE: "saas-bridge",
        OIDC_ALGORITHMS: ["ES256"],
        OIDC_ROLE_MAP: ["ops=operator"],
        CONSOLE_OIDC_CLIENT_ID: CLIENT_ID,
      },
    });
    await svc.app.listen({ port, host: "127.0.0.1" });
    ada = await svc.createKey("operator", ["alpha"], "ada");
    grace = await svc.createKey("approver", ["alpha"], "grace");
    audrey = await svc.createKey("auditor", [], "audrey");
    browser = await launchChromium();
    console.log(`console screenshots: ${ARTIFACTS}`);
  }, 90_000);

  afterAll(async () => {
    await browser?.close();
    await svc?.close(2_000);
    await oidc?.close();
  });

  it("sign in with an API key: a refused key says so; the key lives in session storage only, never a cookie", async () => {
    const { page, context } = await person();
    await page.goto(`${base}/console/`);
    await heading(page, "Sign in");
    await screenshot(page, "01-sign-in");
    await page.getByLabel("API key").fill("sbk_not-a-real-key");
    await page.getByRole("button", { name: "Sign in with API key" }).click();
    await expect.poll(() => page.getByRole("alert").textContent(), { timeout: 10_000 }).toMatch(/refused/);
    await heading(page, "Sign in");

    await signInWithKey(page, base, ada);
    expect(await context.cookies()).toEqual([]);
    const stored = await page.evaluate(() => {
      const w = globalThis as unknown as PageGlobals;
      const session = Array.from({ length: w.sessionStorage.length }, (_, i) => w.sessionStorage.getItem(w.sessionStorage.key(i) ?? "") ?? "");
      return { local: w.localStorage.length, session };
    });
    expect(stored.local).toBe(0);
    expect(stored.session.some((v) => v.includes(ada))).toBe(true);
    await page.getByRole("button", { name: "Sign out" }).click();
    await heading(page, "Sign in");
    expect(await page.evaluate(() => (globalThis as unknown as PageGlobals).sessionStorage.length)).toBe(0);
  });

  it("onboard from the API, watch the progress bar finish on the provider's page — across a dropped stream", async () => {
    const { page } = await person();
    await signInWithKey(page, base, ada);
    const op = await onboarded("cs-acme");
    const events: string[] = [];
    page.on("request", (r) => {
      if (r.url().includes(`/v1/operations/${op.id}/events`)) events.push(r.url());
    });
    await page.goto(`${base}/console/#/providers/cs-acme`);
    await heading(page, "cs-acme");
    const bar = page.getByRole("progressbar", { name: `Progress of operation ${op.id}` });
    await expect.poll(() => bar.count(), { timeout: 15_000 }).toBe(1);
    // The server drops every open stream mid-run: the console takes a new ticket and resumes after the last seq.
    await expect.poll(async () => Number(await bar.getAttribute("value")), { timeout: 20_000 }).toBeGreaterThan(2);
    await screenshot(page, "02-provider-progress");
    svc.openStreams.closeAll();
    await expect.poll(() => page.getByRole("status").filter({ hasText: /succeeded/ }).count(), { timeout: 60_000 }).toBeGreaterThan(0);
    expect(await bar.getAttribute("value")).toBe(await bar.getAttribute("max"));
    expect(events.length).toBeGreaterThanOrEqual(2);
    expect(events.some((u) => /[?&]after=\d+/.test(u))).toBe(true);
    expect((await waitForStatus(svc, op.id, ["succeeded"])).status).toBe("succeeded");
    // The history lists the create.
    await expect.poll(() => page.getByRole("table", { name: "Operations" }).textContent(), { timeout: 10_000 }).toMatch(/create/);
    await screenshot(page, "03-provider-done");
  });

  it("providers list with filters", async () => {
    const { page } = await person();
    await signInWithKey(page, base, ada);
    await expect.poll(() => page.getByRole("link", { name: "cs-acme" }).count(), { timeout: 10_000 }).toBe(1);
    await page.getByLabel("Lifecycle").selectOption("revoked");
    await page.getByRole("button", { name: "Apply filters" }).click();
    await expect.poll(() => page.getByText("No providers match.").count(), { timeout: 10_000 }).toBe(1);
    await page.getByLabel("Lifecycle").selectOption("active");
    await page.getByLabel("Team").fill("alpha");
    await page.getByRole("button", { name: "Apply filters" }).click();
    await expect.poll(() => page.getByRole("link", { name: "cs-acme" }).count(), { timeout: 10_000 }).toBe(1);
    await screenshot(page, "04-providers");
  });

  it("a provider's history pages back with \"Older operations\"", async () => {
    const created = await onboarded("cs-history");
    await waitForStatus(svc, created.id, ["succeeded"], 60_000);
    const ids = [created.id as string];
    for (let i = 0; i < 20; i++) {
      const preview = await api("POST", "/v1/providers/cs-history/preview", ada);
      expect(preview.status).toBe(202);
      ids.push(preview.body["operation"].id as string);
      // One at a time: a preview queued behind another of the same spec would join it.
      await waitForStatus(svc, ids.at(-1)!, ["succeeded"], 30_000);
    }
    expect(new Set(ids).size).toBe(21);
    const { page } = await person();
    await signInWithKey(page, base, ada);
    await page.goto(`${base}/console/#/providers/cs-history`);
    const rows = page.getByRole("table", { name: "Operations" }).getByRole("row");
    await expect.poll(() => rows.count(), { timeout: 10_000 }).toBe(21); // a header row and a page of 20
    await page.getByRole("button", { name: "Older operations" }).click();
    await expect.poll(() => rows.count(), { timeout: 10_000 }).toBe(22);
    // Newest first: the create, the oldest, is now the last row; nothing more to load.
    expect(await rows.last().textContent()).toMatch(/^create/);
    expect(await page.getByRole("button", { name: "Older operations" }).count()).toBe(0);
    // An operation started here refreshes the history when it ends: it is added on top, the older rows stay.
    await page.getByRole("button", { name: "Verify access" }).click();
    await expect.poll(() => rows.count(), { timeout: 30_000 }).toBe(23);
    expect(await rows.nth(1).textContent()).toMatch(/^verify/);
    expect(await rows.last().textContent()).toMatch(/^create/);
  });

  it("approve a decommission as a second person; the requester cannot approve their own", async () => {
    // ada asks; grace decides in the console.
    const asked = await api("DELETE", "/v1/providers/cs-acme", ada);
    expect(asked.body["operation"].status).toBe("awaiting_approval");
    const opId = asked.body["operation"].id as string;
    // grace asks for one herself (approvers hold the operator role) and may not decide it.
    const own = await onboarded("cs-own");
    await waitForStatus(svc, own.id, ["succeeded"], 60_000);
    const ownAsk = await api("DELETE", "/v1/providers/cs-own", grace);
    expect(ownAsk.body["operation"].status).toBe("awaiting_approval");

    const { page } = await person();
    await signInWithKey(page, base, grace);
    await page.getByRole("link", { name: "Approvals" }).click();
    await heading(page, "Approvals");
    const mine = page.getByRole("article").filter({ has: page.getByRole("heading", { name: /decommission cs-own/ }) });
    await expect.poll(() => mine.count(), { timeout: 10_000 }).toBe(1);
    await mine.getByRole("button", { name: "Approve" }).click();
    await expect.poll(() => mine.getByRole("alert").textContent(), { timeout: 10_000 }).toMatch(/You requested this change/);
    await screenshot(page, "05-self-approval-refused");
    expect((await api("GET", `/v1/operations/${ownAsk.body["operation"].id}`, grace)).body["status"]).toBe("awaiting_approval");

    const item = page.getByRole("article").filter({ has: page.getByRole("heading", { name: /decommission cs-acme/ }) });
    await expect.poll(() => item.textContent(), { timeout: 10_000 }).toMatch(/No change to the spec/);
    await item.getByLabel("Comment").fill("vendor contract ended");
    await item.getByRole("button", { name: "Approve" }).click();
    await expect.poll(() => page.getByRole("status").filter({ hasText: "Approved." }).count(), { timeout: 10_000 }).toBeGreaterThan(0);
    await screenshot(page, "06-approved");
    const done = await waitForStatus(svc, opId, ["succeeded", "failed"], 90_000);
    expect(done.status).toBe("succeeded");
    expect(done.approval).toMatchObject({ status: "approved", decidedBy: "grace", comment: "vendor contract ended" });
  });

  it("an update that needs approval: the spec diff, and the planned changes from a preview", async () => {
    const created = await onboarded("cs-restricted", { dataClassification: "restricted" });
    await api("POST", `/v1/operations/${created.id}/approve`, grace, { specHash: created.specHash });
    await waitForStatus(svc, created.id, ["succeeded"], 60_000);
    const base0: Json = spec("cs-restricted", { dataClassification: "restricted" });
    const narrower = { ...base0, displayName: "Restricted Renamed", outbound: { ...(base0["outbound"] as Json), allowedSourceCidrs: ["10.20.0.0/16"] } };
    const update = await api("PUT", "/v1/providers/cs-restricted", ada, narrower);
    expect(update.body["operation"].status).toBe("awaiting_approval");

    const { page } = await person();
    await signInWithKey(page, base, grace);
    await page.goto(`${base}/console/#/approvals`);
    const item = page.getByRole("article").filter({ has: page.getByRole("heading", { name: /update cs-restricted/ }) });
    await expect.poll(() => item.textContent(), { timeout: 10_000 }).toMatch(/\/displayName/);
    expect(await item.textContent()).toMatch(/Restricted Renamed/);
    expect(await item.textContent()).toMatch(/\/outbound\/allowedSourceCidrs\/1: removed/);
    await item.getByRole("button", { name: "Preview this change" }).click();
    await expect.poll(() => item.textContent(), { timeout: 60_000 }).toMatch(/succeeded/);
    // The planned steps: the dropped source CIDR's ingress rule goes (the preview ran while the update waits).
    await expect.poll(() => item.getByRole("list", { name: "Planned steps" }).textContent(), { timeout: 10_000 }).toMatch(/delete|replace|update/);
    await screenshot(page, "07-approval-diff-preview");
    await item.getByRole("button", { name: "Reject" }).click();
    await expect.poll(() => page.getByRole("status").filter({ hasText: "Rejected." }).count(), { timeout: 10_000 }).toBeGreaterThan(0);
  });

  it("audit: recent records and the chain's verification, for an auditor", async () => {
    const { page } = await person();
    await signInWithKey(page, base, audrey);
    await page.getByRole("link", { name: "Audit" }).click();
    await heading(page, "Audit");
    await expect.poll(() => page.getByRole("table", { name: "Recent audit records" }).textContent(), { timeout: 10_000 }).toMatch(/approval\.approve/);
    const verify = (await api("GET", "/v1/audit/verify", audrey)).body;
    expect(verify["ok"]).toBe(true);
    await expect.poll(() => page.getByRole("main").textContent(), { timeout: 10_000 }).toMatch(/intact|verified|ok/i);
    await screenshot(page, "08-audit");
  });

  it("sign in with OIDC: authorization code with PKCE at the configured issuer, then the API with its token", async () => {
    const { page, context } = await person();
    const bearers: string[] = [];
    page.on("request", (r) => {
      const auth = r.headers()["authorization"];
      if (r.url().startsWith(`${base}/v1/`) && auth) bearers.push(auth);
    });
    await page.goto(`${base}/console/`);
    await page.getByRole("button", { name: "Sign in with OIDC" }).click();
    await heading(page, "Providers");
    expect(oidc.tokensIssued()).toBe(1);
    expect(page.url()).not.toMatch(/[?&](code|state)=/);
    // The heading renders before the list's request goes out: wait for the list, then read the requests.
    await expect.poll(() => page.getByRole("link", { name: "cs-restricted" }).count(), { timeout: 10_000 }).toBe(1);
    expect(bearers.length).toBeGreaterThan(0);
    expect(bearers.every((b) => /^Bearer [\w-]+\.[\w-]+\.[\w-]+$/.test(b))).toBe(true);
    expect(await context.cookies()).toEqual([]);
    await screenshot(page, "09-oidc-providers");
  });

  it("every page: no serious or critical axe-core violation, and nothing wider than a phone", async () => {
    const phone = await person({ width: 375, height: 812 });
    await signInWithKey(phone.page, base, grace);
    const found: Record<string, unknown> = {};
    for (const [name, hash] of [
      ["providers", "#/providers"],
      ["provider", "#/providers/cs-restricted"],
      ["approvals", "#/approvals"],
      ["audit", "#/audit"],
    ] as const) {
      await phone.page.goto(`${base}/console/${hash}`);
      await expect.poll(() => phone.page.evaluate(() => (globalThis as unknown as PageGlobals).document.documentElement.dataset["ready"]), { timeout: 10_000 }).toBe("true");
      await phone.page.waitForLoadState("networkidle");
      found[name] = await seriousA11yViolations(phone.page);
      expect(await overflowsWidth(phone.page), name).toBe(false);
      await screenshot(phone.page, `10-phone-${name}`);
    }
    const signIn = await person({ width: 375, height: 812 });
    await signIn.page.goto(`${base}/console/`);
    await heading(signIn.page, "Sign in");
    found["sign-in"] = await seriousA11yViolations(signIn.page);
    expect(found).toEqual({ providers: [], provider: [], approvals: [], audit: [], "sign-in": [] });
  });

  it("no page broke the CSP or threw", () => {
    expect(watched.length).toBeGreaterThan(5);
    expect(watched.flatMap((w) => w.cspViolations)).toEqual([]);
    expect(watched.flatMap((w) => w.pageErrors)).toEqual([]);
  });
});
