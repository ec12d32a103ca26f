import { collectDefaultMetrics, Registry } from "prom-client";
import type { EventHub } from "../operations/event-hub.js";
import type { Queryable } from "../store/db.js";
import { createAuditMetrics, type AuditMetrics } from "./audit-metrics.js";
import { createHttpMetrics, type HttpMetrics } from "./http-metrics.js";
import { createOperationMetrics, type OperationMetrics } from "./operation-metrics.js";

/**
 * The service's Prometheus metrics (issue 18), on a registry of its own rather than prom-client's global
 * one: two services in one process (tests, benchmarks) do not share or collide, and nothing a library
 * registers globally leaks into the scrape.
 */
export interface ServiceMetrics {
  readonly contentType: string;
  readonly http: HttpMetrics;
  readonly operations: OperationMetrics;
  readonly audit: AuditMetrics;
  /** The exposition text (runs the gauges' database reads). The registry itself stays private: only this starts a scrape. */
  scrape(): Promise<string>;
  /** What the HTTP layer counts into and scrapes (src/http/metrics.ts's port); refusals there are guardrail stage `request`. */
  forHttp(): {
    readonly contentType: string;
    scrape(): Promise<string>;
    request(route: string, method: string, status: number, seconds: number): void;
    guardrailRejected(code: string): void;
  };
  /** The hub every part of the service publishes through, observed on the way (the runner stays unaware). */
  observeHub(hub: EventHub): EventHub;
}

export interface ServiceMetricsOptions {
  readonly db: Queryable;
  readonly openStreams: () => number;
  /** Where an observation that failed is reported (it never fails the publisher). */
  readonly onError: (err: unknown) => void;
}

export function createServiceMetrics(options: ServiceMetricsOptions): ServiceMetrics {
  const registry = new Registry();
  // process_* and nodejs_* as every Node exporter names them, so stock dashboards work unchanged.
  collectDefaultMetrics({ register: registry });
  const operations = createOperationMetrics(registry, options.db);
  const http = createHttpMetrics(registry, options.openStreams);
  const scrape = () => {
    operations.beginScrape();
    return registry.metrics();
  };
  return {
    contentType: registry.contentType,
    http,
    operations,
    audit: createAuditMetrics(registry, options.db),
    scrape,
    forHttp: () => ({
      contentType: registry.contentType,
      scrape,
      request: http.request,
      guardrailRejected: (code) => operations.guardrailRejected(code, "request"),
    }),
    observeHub: (hub) => ({
      ...hub,
      async publish(operationId, event) {
        await hub.publish(operationId, event);
        try {
          await operations.observe(operationId, event);
        } catch (err) {
          options.onError(err);
        }
      },
    }),
  };
}
