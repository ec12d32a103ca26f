import autocannon from "autocannon";
import { createScratchDatabase } from "../test/helpers/postgres-cluster.js";
import type { AcceptServerMessage, AcceptServerMode, AcceptServerVariant } from "./accept-server.js";
import { spawnChild } from "./child.js";
import type { Figure } from "./report.js";
import { bodyTemplate, DATABASE_URL_ENV, within } from "./support.js";

/**
 * Figure 1: POST /v1/providers throughput and latency, real service ÷ bare Fastify route, each run in
 * a child process and loaded identically by autocannon from this process (see README §1). A third run,
 * the bare route calling the real use case, splits the gap into HTTP layer and accept transaction.
 */
export const CONNECTIONS = 50;
export const WARMUP_SECONDS = 3;
export const MEASURE_SECONDS = 10;
export const TARGET_RATIO = 0.8;
export const TARGET_P99_MS = 50;
const DATABASE_SETUP_MS = 30_000;
/**
 * autocannon's per-request timeout. Its default (10 s) is reached by queueing alone once a contended machine
 * serves fewer than ~5 creates a second (50 in flight), and would then count slow answers as errors.
 */
const REQUEST_TIMEOUT_SECONDS = 30;
const DRAIN_MS = 120_000;

/** Where a measured server keeps its data: embedded PGlite, or its own scratch database on a PostgreSQL server. */
export type Database = { readonly kind: "pglite" } | { readonly kind: "postgres"; readonly serverUrl: string };
export const PGLITE: Database = { kind: "pglite" };

export interface Load {
  readonly requestsPerSecond: number;
  readonly p50Ms: number;
  readonly p99Ms: number;
  readonly maxMs: number;
  readonly requests: number;
  readonly non2xx: number;
  readonly errors: number;
  /** Responses per HTTP status (autocannon's statusCodeStats), to say what a non-2xx was. */
  readonly statusCodes: Readonly<Record<string, number>>;
  readonly database: string;
}

/** Every request of the whole run gets its own provider name, so a warm-up never collides with a measured run. */
let counter = 0;
const body = bodyTemplate();
const nextName = (): string => `bench-${(counter++).toString(36)}`;

/** `authorization` is the admin key the server child created; every mode gets the same header. */
function load(port: number, seconds: number, authorization: string): Promise<autocannon.Result> {
  return autocannon({
    url: `http://127.0.0.1:${port}`,
    connections: CONNECTIONS,
    duration: seconds,
    timeout: REQUEST_TIMEOUT_SECONDS,
    requests: [
      {
        method: "POST",
        path: "/v1/providers",
        headers: { "content-type": "application/json", authorization },
        setupRequest: (request) => ({ ...request, body: body(nextName()) }),
      },
    ],
  });
}

/**
 * One create awaited alone. autocannon drops its sockets when a run ends, but the server still finishes the
 * requests it had in flight; behind the guardrail gate (serialized, FIFO) 50 of them hold it for seconds.
 * This request queues behind them, so once it is answered the next run starts on an idle server.
 */
async function drain(port: number, authorization: string): Promise<void> {
  const response = await within(
    DRAIN_MS,
    "drain the warm-up's requests",
    fetch(`http://127.0.0.1:${port}/v1/providers`, {
      method: "POST",
      headers: { "content-type": "application/json", authorization },
      body: body(nextName()),
    }),
  );
  await response.arrayBuffer();
}

/**
 * One server in a child, warmed up, drained, then measured. On PostgreSQL the server gets a database of its own,
 * created here (the child migrates it) and dropped after the child has stopped. `variant`: see
 * accept-server.ts (`trivial-program`).
 */
export async function measure(mode: AcceptServerMode, database: Database, variant?: AcceptServerVariant): Promise<Load> {
  const scratch =
    database.kind === "postgres"
      ? await within(DATABASE_SETUP_MS, "create scratch database", createScratchDatabase(database.serverUrl))
      : undefined;
  try {
    // An empty value means PGlite, even when the variable is set in this process's environment.
    const env = { [DATABASE_URL_ENV]: scratch?.url ?? "" };
    const server = spawnChild<never, AcceptServerMessage>("./accept-server.ts", variant === undefined ? [mode] : [mode, variant], { env });
    try {
      const { port, database: description, authorization } = await server.next("listening", 60_000);
      await load(port, WARMUP_SECONDS, authorization);
      await drain(port, authorization);
      const r = await load(port, MEASURE_SECONDS, authorization);
      return {
        requestsPerSecond: r.requests.average,
        p50Ms: r.latency.p50,
        p99Ms: r.latency.p99,
        maxMs: r.latency.max,
        requests: r.requests.total,
        non2xx: r.non2xx,
        errors: r.errors,
        statusCodes: statusCodes(r),
        database: description,
      };
    } finally {
      await server.stop(10_000);
    }
  } finally {
    if (scratch !== undefined) await within(DATABASE_SETUP_MS, "drop scratch database", scratch.stop());
  }
}

/** autocannon reports counts per status at run time, but its types do not declare them. */
function statusCodes(r: autocannon.Result): Record<string, number> {
  const stats = (r as { statusCodeStats?: Record<string, { count: number }> }).statusCodeStats ?? {};
  return Object.fromEntries(Object.entries(stats).map(([code, { count }]) => [code, count]));
}

/** The notes both accept-path figures share. */
export function loadNotes(): string[] {
  return [
    `${CONNECTIONS} connections, ${WARMUP_SECONDS} s warm-up (discarded), one create awaited alone (the server finishes the warm-up's ` +
      `abandoned requests first), ${MEASURE_SECONDS} s measured, a distinct provider name per request`,
    "baseline: the accept transaction (provider upsert; operation row + its operation.queued event in one statement) through the store functions, behind a bare route",
    "the service also runs the guardrail gate (issue #3): one evaluation of the provider program under mocks per create, serialized per process (see the `program` figure) — the baseline does not",
  ];
}

/** Service and baseline both clean: no non-2xx responses, no errors. */
export const clean = (...loads: readonly Load[]): boolean => loads.every((l) => l.non2xx === 0 && l.errors === 0);

/** What both accept figures share: the ratio, the target and its verdict, the numbers, the common notes. */
export function acceptFigure(
  head: Pick<Figure, "id" | "title" | "ratioMeaning">,
  service: Load,
  baseline: Load,
  notes: readonly string[],
): Figure {
  const ratio = service.requestsPerSecond / baseline.requestsPerSecond;
  return {
    ...head,
    ratio,
    target: `ratio ≥ ${TARGET_RATIO}, service p99 ≤ ${TARGET_P99_MS} ms, 0 non-2xx`,
    pass: ratio >= TARGET_RATIO && service.p99Ms <= TARGET_P99_MS && clean(service, baseline),
    subject: numbers(service),
    baseline: numbers(baseline),
    notes: [
      ...loadNotes(),
      `with ${CONNECTIONS} requests always in flight, p99 ≤ ${TARGET_P99_MS} ms needs roughly ${Math.round((CONNECTIONS * 1000) / TARGET_P99_MS)}+ req/s (Little's law)`,
      ...notes,
      "latency resolution: 1 ms (autocannon)",
    ],
  };
}

export async function measureAccept(): Promise<Figure> {
  const baseline = await measure("same-tx", PGLITE);
  const service = await measure("service", PGLITE);
  const twoInserts = await measure("bare", PGLITE);
  const useCase = await measure("use-case", PGLITE);
  const figure = acceptFigure(
    {
      id: "accept",
      title: "Accept path: POST /v1/providers req/s",
      ratioMeaning: "service req/s ÷ bare Fastify+zod route committing the same transaction (higher is better)",
    },
    service,
    baseline,
    [
      "a single-connection PGlite serializes every transaction, so the p99 target is out of reach even for the baseline",
      `database (each run its own fresh temporary data directory): ${service.database}`,
    ],
  );
  return {
    ...figure,
    diagnostics: {
      "bare route, only two INSERTs (no upsert, no persisted first event)": numbers(twoInserts),
      "bare route + real use case (createProvider)": numbers(useCase),
    },
  };
}

export function numbers(l: Load): Record<string, number> {
  return {
    requestsPerSecond: round(l.requestsPerSecond),
    p50Ms: l.p50Ms,
    p99Ms: l.p99Ms,
    maxMs: l.maxMs,
    requests: l.requests,
    non2xx: l.non2xx,
    errors: l.errors,
  };
}

const round = (n: number): number => Math.round(n * 10) / 10;
