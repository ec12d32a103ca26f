import fc from "fast-check";
import type { FastifyInstance, InjectOptions, LightMyRequestResponse } from "fastify";
import type { LandingZone } from "../../src/onboarding/landing-zone.js";
import { mutatedBodyArb, validSpecArb } from "../helpers/arbitraries.js";

/**
 * A property-based fuzz of every registered route (issue 13): path parameters, query, headers and body
 * are generated, the request is injected, and the answer must be a non-5xx, in time, with a problem+json
 * body for every error. Shared by the test (test/http/route-fuzz.test.ts) and the benchmark.
 */

export interface FuzzRoute {
  readonly method: string;
  readonly url: string;
}

export interface FuzzRequest {
  readonly route: FuzzRoute;
  readonly inject: InjectOptions;
}

export interface FuzzFinding {
  readonly request: string;
  readonly problem: string;
}

export interface FuzzReport {
  /** Requests per route, `METHOD url`. */
  readonly perRoute: ReadonlyMap<string, number>;
  readonly statuses: ReadonlyMap<number, number>;
  readonly fiveHundreds: number;
  readonly findings: readonly FuzzFinding[];
  readonly total: number;
  /** Live-progress answers (SSE, NDJSON, text) that came back whole: the stream ended by itself. */
  readonly streamsEnded: number;
}

/** Bytes of a string as a URL component: unreserved characters kept, everything else %XX (lone surrogates as U+FFFD). */
function pct(s: string): string {
  return [...Buffer.from(s, "utf8")].map((b) => (/[A-Za-z0-9\-._~]/.test(String.fromCharCode(b)) ? String.fromCharCode(b) : `%${b.toString(16).toUpperCase().padStart(2, "0")}`)).join("");
}

/** Header-safe text (no control characters, which no HTTP client can send). */
const headerText = (maxLength: number) => fc.string({ maxLength }).map((s) => s.replace(/[^\x20-\x7e]/g, "x"));

const QUERY_KEYS = ["limit", "cursor", "lifecycle", "team", "after", "ticket", "action", "outcome", "principalId", "resourceId", "resourceKind", "since", "until", "order", "status", "key"];

/**
 * A path segment: names that exist (and `known`: ids the caller made, e.g. a finished operation whose
 * stream must end), text of every kind, NUL, over-long, and raw (already encoded, possibly broken) escapes.
 */
const segmentArb = (known: readonly string[]) => fc.oneof(
  { weight: known.length > 0 ? 3 : 0, arbitrary: fc.constantFrom("", ...known).map(pct) },
  { weight: 3, arbitrary: fc.constantFrom("acme", "fuzz-known", "op-1", "00000000-0000-4000-8000-000000000000", "a").map(pct) },
  { weight: 3, arbitrary: fc.string({ unit: "grapheme", maxLength: 80 }).map(pct) },
  { weight: 2, arbitrary: fc.string({ unit: "binary", maxLength: 40 }).map(pct) },
  { weight: 2, arbitrary: fc.constantFrom("%00", "a%00b", "..", "%2F", "%", "%zz", "%C0%AF", "%FF%FE", "x".repeat(300), "%F0%9F%98%80", "%ED%A0%80") },
);

const valueArb = fc.oneof(
  fc.constantFrom("", "0", "-1", "1", "20", "1000000", "99999999999999999999", "true", "active", "desc", "provider.update", "2026-01-01T00:00:00Z", "%00"),
  fc.string({ unit: "grapheme", maxLength: 60 }),
  fc.string({ unit: "binary", maxLength: 30 }),
);

export function fuzzRequestArb(routes: readonly FuzzRoute[], lz: LandingZone, known: readonly string[] = []): fc.Arbitrary<FuzzRequest> {
  const query = fc.dictionary(fc.oneof(fc.constantFrom(...QUERY_KEYS), fc.string({ maxLength: 8 })), valueArb, { maxKeys: 4 });
  const body = fc.oneof(
    { weight: 1, arbitrary: fc.constant(undefined) },
    { weight: 1, arbitrary: validSpecArb(lz).map((s) => JSON.stringify(s)) },
    { weight: 2, arbitrary: mutatedBodyArb(lz).map((b) => JSON.stringify(b) ?? "null") },
    { weight: 2, arbitrary: fc.jsonValue({ maxDepth: 4 }).map((v) => JSON.stringify(v)) },
    { weight: 1, arbitrary: fc.string({ unit: "binary", maxLength: 200 }) },
  );
  /** Absent most of the time (`1 in n` present), so most requests get past the edge they test. */
  const sometimes = <T>(n: number, arb: fc.Arbitrary<T>) => fc.oneof({ weight: n - 1, arbitrary: fc.constant(undefined) }, { weight: 1, arbitrary: arb });
  const headers = fc.record({
    accept: sometimes(2, fc.constantFrom("application/json", "*/*", "text/html", "application/problem+json", "application/xml;q=0.9, */*;q=0.1", ";;;", "text/event-stream", "application/x-ndjson", "text/plain")),
    "content-type": fc.oneof(
      { weight: 6, arbitrary: fc.constant("application/json") },
      { weight: 1, arbitrary: fc.constantFrom("application/json; charset=utf-8", "text/plain", "application/x-www-form-urlencoded", "multipart/form-data", "application/json; charset=latin1", "garbage") },
    ),
    "idempotency-key": sometimes(3, headerText(300)),
    "last-event-id": sometimes(4, fc.oneof(fc.constantFrom("0", "1", "-1", "1e9", "abc"), headerText(20))),
    "content-encoding": sometimes(12, fc.constantFrom("gzip", "identity", "br")),
    // Absent: the test service's admin key. Otherwise no credential, or a bad one.
    authorization: sometimes(8, fc.constantFrom("", "Bearer not-a-key", "Basic YTpi", "Bearer sbk_live_0000")),
  });
  return fc.record({ route: fc.constantFrom(...routes), segments: fc.array(segmentArb(known), { minLength: 3, maxLength: 3 }), query, body, headers }).map(({ route, segments, query: q, body: b, headers: h }) => {
    let i = 0;
    const path = route.url
      .split("/")
      .map((part) => (part.startsWith(":") ? segments[i++ % segments.length]! : part === "*" ? segments[2]! : part))
      .join("/");
    const search = Object.entries(q)
      .map(([k, v]) => `${pct(k)}=${pct(v)}`)
      .join("&");
    // A streaming Accept on a mutation follows the operation live until it ends: with the engine paused
    // that is never, which is the live stream working, not a hang. Events pages of unknown ids are fine.
    const streaming = h.accept === "text/event-stream" || h.accept === "application/x-ndjson" || h.accept === "text/plain";
    const accept = streaming && route.method !== "GET" ? "application/json" : h.accept;
    const hasBody = route.method !== "GET" && route.method !== "HEAD" && b !== undefined;
    const headers: Record<string, string> = Object.fromEntries(Object.entries({ ...h, ...(accept ? { accept } : {}) }).filter(([, v]) => v !== undefined) as [string, string][]);
    if (!hasBody) delete headers["content-type"];
    return {
      route,
      inject: { method: route.method as "GET", url: `${path}${search ? `?${search}` : ""}`, headers, ...(hasBody ? { payload: b } : {}) },
    };
  });
}

/** Runs `runs` generated requests (fixed seed: a failure is reproducible) and checks each answer. */
export async function fuzzRoutes(app: FastifyInstance, routes: readonly FuzzRoute[], lz: LandingZone, options: { runs: number; seed: number; timeoutMs?: number; knownSegments?: readonly string[] }): Promise<FuzzReport> {
  const perRoute = new Map<string, number>();
  const statuses = new Map<number, number>();
  const findings: FuzzFinding[] = [];
  let fiveHundreds = 0;
  let total = 0;
  let streamsEnded = 0;
  const timeoutMs = options.timeoutMs ?? 10_000;
  const samples = fc.sample(fuzzRequestArb(routes, lz, options.knownSegments), { numRuns: options.runs, seed: options.seed });
  for (const { route, inject } of samples) {
    const key = `${route.method} ${route.url}`;
    perRoute.set(key, (perRoute.get(key) ?? 0) + 1);
    total++;
    const describe = `${inject.method} ${String(inject.url).slice(0, 200)} ${JSON.stringify(inject.headers).slice(0, 200)}`;
    let res: LightMyRequestResponse;
    try {
      res = await Promise.race([
        app.inject(inject),
        new Promise<never>((_, reject) => setTimeout(() => reject(new Error(`no answer within ${timeoutMs} ms`)), timeoutMs).unref()),
      ]);
    } catch (err) {
      findings.push({ request: describe, problem: (err as Error).message });
      continue;
    }
    statuses.set(res.statusCode, (statuses.get(res.statusCode) ?? 0) + 1);
    if (res.statusCode < 300 && /^(text\/event-stream|application\/x-ndjson|text\/plain)/.test(String(res.headers["content-type"]))) streamsEnded++;
    const unready = route.url === "/readyz" && res.statusCode === 503;
    if (res.statusCode >= 500 && !unready) {
      fiveHundreds++;
      findings.push({ request: describe, problem: `${res.statusCode} ${res.body.slice(0, 300)}` });
    } else if (res.statusCode >= 400 && inject.method !== "HEAD" && !String(res.headers["content-type"]).includes("application/problem+json")) {
      findings.push({ request: describe, problem: `${res.statusCode} as ${String(res.headers["content-type"])}, not problem+json` });
    }
  }
  return { perRoute, statuses, fiveHundreds, findings, total, streamsEnded };
}
