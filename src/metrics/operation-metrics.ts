import { Counter, Gauge, Histogram, type Registry } from "prom-client";
import type { OperationEvent } from "../operations/events.js";
import type { Queryable } from "../store/db.js";
import { GUARDRAIL_CODES } from "../onboarding/guardrail-rules/types.js";

/**
 * Operation metrics (issue 18). Counters and histograms are observed from the events this replica
 * publishes (each operation ends on exactly one replica, so a sum over replicas counts it once); the queue
 * gauges are read from the database at scrape time, so every replica reports the same, right numbers.
 */
const TERMINAL = new Set(["operation.succeeded", "operation.failed", "operation.cancelled", "operation.interrupted"]);
/** operations.priority: who asked (src/operations/operation.ts). Unknown values would be a new class. */
const PRIORITY_CLASS: Readonly<Record<number, string>> = { 0: "person", 1: "rollout", 2: "schedule" };
const KNOWN_CODES: ReadonlySet<string> = new Set(GUARDRAIL_CODES);
const MIB = 1024 * 1024;

/** A guardrail code from a bounded set: codes from a policy pack we do not know are counted as `other`. */
export function boundedGuardrailCode(code: string): string {
  return KNOWN_CODES.has(code) ? code : "other";
}

export interface OperationMetrics {
  /** Starts a scrape: the queue gauges read the database once for it (one query, not one per gauge). */
  beginScrape(): void;
  /** Called after an event was published on this replica; never throws into the publisher. */
  observe(operationId: string, event: OperationEvent): Promise<void>;
  guardrailRejected(code: string, stage: "request" | "run"): void;
}

type EndedRow = {
  kind: string;
  intent: string;
  created_at: Date | string;
  started_at: Date | string | null;
  finished_at: Date | string | null;
  peak_rss: string | null;
};

const seconds = (from: Date | string, to: Date | string) => Math.max(0, (new Date(to).getTime() - new Date(from).getTime()) / 1000);

type StatusCount = { status: string; priority: number; n: string };

export function createOperationMetrics(registry: Registry, db: Queryable): OperationMetrics {
  const registers = [registry];
  let counts: Promise<StatusCount[]> | undefined;
  // Three gauges, one scan: the statuses they count have no common index, so each gauge reading on its own
  // would scan the table again.
  const statusCounts = () =>
    (counts ??= db.query<StatusCount>(
      `SELECT status, priority, count(*) AS n FROM operations WHERE status IN ('queued', 'running', 'awaiting_approval') GROUP BY status, priority`,
    ));
  const total = (rows: readonly StatusCount[], status: string) => rows.filter((r) => r.status === status).reduce((n, r) => n + Number(r.n), 0);
  const finished = new Counter({
    name: "saas_bridge_operations_finished_total",
    help: "Operations that ended on this replica, by kind, intent and outcome (succeeded, failed, cancelled, interrupted).",
    labelNames: ["kind", "intent", "outcome"] as const,
    registers,
  });
  const duration = new Histogram({
    name: "saas_bridge_operation_duration_seconds",
    help: "From an operation's start to its end (operations cancelled before they started are not observed).",
    labelNames: ["kind", "outcome"] as const,
    buckets: [0.1, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600, 1800, 3600],
    registers,
  });
  const queueWait = new Histogram({
    name: "saas_bridge_operation_queue_wait_seconds",
    help: "From an operation's creation to its start (time awaiting approval included).",
    labelNames: ["kind"] as const,
    buckets: [0.01, 0.05, 0.1, 0.5, 1, 5, 10, 30, 60, 300, 900, 3600],
    registers,
  });
  const peakRss = new Histogram({
    name: "saas_bridge_engine_peak_rss_bytes",
    help: "Peak resident memory of the engine child process of each finished operation (Pulumi engine only).",
    labelNames: ["kind"] as const,
    buckets: [32, 64, 128, 256, 512, 1024, 2048, 4096].map((m) => m * MIB),
    registers,
  });
  const guardrails = new Counter({
    name: "saas_bridge_guardrail_rejections_total",
    help: "Guardrail violations that refused a change, by code and stage (request: 422 before queueing; run: the operation failed).",
    labelNames: ["code", "stage"] as const,
    registers,
  });
  new Gauge({
    name: "saas_bridge_operations_queued",
    help: "Operations waiting to run (all replicas, read from the database at scrape time), by priority class.",
    labelNames: ["priority"] as const,
    registers,
    async collect() {
      const rows = (await statusCounts()).filter((r) => r.status === "queued");
      this.reset();
      for (const p of Object.values(PRIORITY_CLASS)) this.set({ priority: p }, 0);
      for (const r of rows) this.inc({ priority: PRIORITY_CLASS[r.priority] ?? "other" }, Number(r.n));
    },
  });
  new Gauge({
    name: "saas_bridge_operations_running",
    help: "Operations running now (all replicas, read from the database at scrape time).",
    registers,
    async collect() {
      this.set(total(await statusCounts(), "running"));
    },
  });
  new Gauge({
    name: "saas_bridge_operations_awaiting_approval",
    help: "Operations waiting for a second person's approval (all replicas, read at scrape time).",
    registers,
    async collect() {
      this.set(total(await statusCounts(), "awaiting_approval"));
    },
  });

  const row = async (id: string) =>
    (
      await db.query<EndedRow>(
        `SELECT kind, intent, created_at, started_at, finished_at, result->'engineProcess'->>'peakRssBytes' AS peak_rss FROM operations WHERE id = $1`,
        [id],
      )
    )[0];

  return {
    beginScrape() {
      counts = undefined;
    },
    async observe(operationId, event) {
      if (event.type === "guardrail.violation") {
        guardrails.inc({ code: boundedGuardrailCode(event.code), stage: "run" });
        return;
      }
      if (event.type !== "operation.started" && !TERMINAL.has(event.type)) return;
      const op = await row(operationId);
      if (op === undefined) return;
      if (event.type === "operation.started") {
        if (op.started_at !== null) queueWait.observe({ kind: op.kind }, seconds(op.created_at, op.started_at));
        return;
      }
      const outcome = event.type.slice("operation.".length);
      finished.inc({ kind: op.kind, intent: op.intent, outcome });
      if (op.started_at !== null) duration.observe({ kind: op.kind, outcome }, seconds(op.started_at, op.finished_at ?? new Date()));
      if (op.peak_rss !== null && Number.isFinite(Number(op.peak_rss))) peakRss.observe({ kind: op.kind }, Number(op.peak_rss));
    },
    guardrailRejected(code, stage) {
      guardrails.inc({ code: boundedGuardrailCode(code), stage });
    },
  };
}
