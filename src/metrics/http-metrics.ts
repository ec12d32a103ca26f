import { Counter, Gauge, Histogram, type Registry } from "prom-client";

/** HTTP and stream metrics (issue 18): routes by their pattern, never the URL, so the label set stays bounded. */
export interface HttpMetrics {
  request(route: string, method: string, status: number, seconds: number): void;
}

export function createHttpMetrics(registry: Registry, openStreams: () => number): HttpMetrics {
  const registers = [registry];
  const requests = new Counter({
    name: "saas_bridge_http_requests_total",
    help: "HTTP requests answered, by route pattern, method and status code.",
    labelNames: ["route", "method", "status"] as const,
    registers,
  });
  const duration = new Histogram({
    name: "saas_bridge_http_request_duration_seconds",
    help: "Time to answer an HTTP request, by route pattern and method (a stream counts until it ends).",
    labelNames: ["route", "method"] as const,
    buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30],
    registers,
  });
  new Gauge({
    name: "saas_bridge_open_streams",
    help: "Event streams (SSE, NDJSON, text) open on this replica now.",
    registers,
    collect() {
      this.set(openStreams());
    },
  });
  return {
    request(route, method, status, seconds) {
      requests.inc({ route, method, status: String(status) });
      duration.observe({ route, method }, seconds);
    },
  };
}
