import { startTestService } from "../test/helpers/service.js";
import { fuzzRoutes } from "../test/support/route-fuzz.js";
import type { Figure } from "./report.js";
import { benchSpec, landingZone, now, within } from "./support.js";

/**
 * Figure `route-fuzz` (issue 13): the property-based fuzz of every route (test/support/route-fuzz.ts, the
 * test's generator and checks, another seed): requests tried per route and how many got a 5xx (target: 0
 * of ≥ 10,000). Its ratio: time per fuzzed request ÷ time per `GET /healthz` through the same `inject`,
 * measured in the same run (what a request costs beyond the cheapest route).
 */
const RUNS = 10_000;
const SEED = 2026;

export async function measureRouteFuzz(): Promise<Figure> {
  const svc = await startTestService({ checkContract: false, config: { SIMULATED_PAUSED: true, AUTH_FAILURES_PER_IP_PER_MINUTE: 1_000_000 } });
  try {
    await svc.app.inject({ method: "POST", url: "/v1/providers", payload: benchSpec("fuzz-known") });
    const routes = svc.app.authRoutes.filter((r) => r.method !== "HEAD" && r.method !== "OPTIONS").map((r) => ({ method: r.method, url: r.url }));

    let started = now();
    for (let i = 0; i < RUNS; i++) await svc.app.inject({ method: "GET", url: "/healthz" });
    const healthzMs = (now() - started) / RUNS;

    started = now();
    const report = await within(900_000, "route fuzz", fuzzRoutes(svc.app, routes, landingZone, { runs: RUNS, seed: SEED }));
    const fuzzMs = (now() - started) / report.total;
    const perRoute = [...report.perRoute.values()];
    const subject = {
      requests: report.total,
      routes: report.perRoute.size,
      minRequestsPerRoute: Math.min(...perRoute),
      maxRequestsPerRoute: Math.max(...perRoute),
      fiveHundreds: report.fiveHundreds,
      otherFindings: report.findings.length - report.fiveHundreds,
      msPerRequest: Math.round(fuzzMs * 1000) / 1000,
    };
    return {
      id: "route-fuzz",
      title: "every route fuzzed: 5xx count, and time per fuzzed request ÷ GET /healthz",
      ratio: Math.round((fuzzMs / healthzMs) * 100) / 100,
      ratioMeaning: "time per fuzzed request ÷ time per GET /healthz (both through app.inject, same service)",
      target: "0 5xx of ≥ 10,000 requests across all routes",
      pass: report.fiveHundreds === 0 && report.total >= 10_000,
      subject,
      baseline: { requests: RUNS, msPerRequest: Math.round(healthzMs * 1000) / 1000 },
      diagnostics: { requestsPerRoute: Object.fromEntries(report.perRoute), statuses: Object.fromEntries([...report.statuses].map(([s, n]) => [String(s), n])) },
      notes: [`fixed seed ${SEED}; findings other than 5xx (an error not sent as problem+json, no answer in 10 s) are counted in otherFindings`],
    };
  } finally {
    await svc.close(1_000);
  }
}
