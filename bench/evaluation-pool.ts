import { CONNECTIONS, clean, loadNotes, measure, PGLITE } from "./accept.js";
import type { Figure } from "./report.js";

/**
 * Figure `evaluation-pool` (issue 15): POST /v1/providers throughput with the guardrail gate when program
 * evaluations run in the worker pool (the service as composed) ÷ the same service evaluating on its own
 * thread, one at a time (accept-server's `serialized-evaluation`, what the service did before). Same load,
 * same store (PGlite), same run. Target ≥ 1.7× on 2 cores; p99 at 50 connections reported.
 */
export const TARGET = 1.7;

export async function measureEvaluationPool(): Promise<Figure> {
  const baseline = await measure("service", PGLITE, "serialized-evaluation");
  const subject = await measure("service", PGLITE);
  const ratio = subject.requestsPerSecond / baseline.requestsPerSecond;
  return {
    id: "evaluation-pool",
    title: "Accepted creates per second with the guardrail gate: evaluations in the worker pool vs on the service's thread",
    ratio: Math.round(ratio * 100) / 100,
    ratioMeaning: "requests/s with the pool ÷ requests/s with serialized in-process evaluation (same service, same load, same run)",
    target: `≥ ${TARGET}× on this machine; p99 at ${CONNECTIONS} connections reported`,
    pass: ratio >= TARGET && clean(subject, baseline),
    subject: { requestsPerSecond: Math.round(subject.requestsPerSecond), p50Ms: subject.p50Ms, p99Ms: subject.p99Ms, maxMs: subject.maxMs, requests: subject.requests, non2xx: subject.non2xx, errors: subject.errors },
    baseline: { requestsPerSecond: Math.round(baseline.requestsPerSecond), p50Ms: baseline.p50Ms, p99Ms: baseline.p99Ms, maxMs: baseline.maxMs, requests: baseline.requests, non2xx: baseline.non2xx, errors: baseline.errors },
    notes: [
      ...loadNotes().slice(0, 1),
      "subject: the service as composed (EVALUATION_WORKERS = available parallelism); baseline: the same service with createInProcessEvaluator() (serialized on its event loop)",
      "each request has its own provider name, so every create is a verdict-cache miss: the figure is the pool, not the cache",
    ],
  };
}
