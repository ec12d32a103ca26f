import type { FastifyInstance } from "fastify";
import type { FastifyPluginAsyncZod } from "fastify-type-provider-zod";
import { z } from "zod";
import { AppError } from "../errors.js";
import { ProblemDto } from "./dto.js";

/**
 * Prometheus metrics on the HTTP side (issue 18). The port is small so that this layer knows no metrics
 * library: the composition root hands in src/metrics's implementation.
 */
export interface MetricsPort {
  readonly contentType: string;
  scrape(): Promise<string>;
  request(route: string, method: string, status: number, seconds: number): void;
  guardrailRejected(code: string): void;
}

/** A request that matched no route: the URL itself would make the label set unbounded. */
const UNMATCHED = "(unmatched)";

/** Counts every answered request by route pattern (onResponse, so streams count with their whole length). */
export function registerRequestMetrics(app: FastifyInstance, metrics: MetricsPort): void {
  app.addHook("onResponse", async (request, reply) => {
    metrics.request(request.routeOptions.url ?? UNMATCHED, request.method, reply.statusCode, reply.elapsedTime / 1000);
  });
  // Guardrails refuse a change before it is queued with a 422 naming each violation: counted per code here,
  // where the refusal becomes an answer (the use case throws; nothing below the HTTP layer sees it end).
  app.addHook("onError", async (_request, _reply, error) => {
    if (!(error instanceof AppError) || error.code !== "GUARDRAIL_VIOLATION") return;
    for (const v of error.violations ?? []) metrics.guardrailRejected(v.code);
  });
}

/** The text exposition format, as Prometheus scrapers negotiate it (version 0.0.4). */
export const METRICS_MEDIA_TYPE = "text/plain; version=0.0.4; charset=utf-8";

const MetricsText = z.string().describe("Prometheus text exposition format 0.0.4");

/**
 * GET /metrics on the API listener: the viewer role, the least there is. The scrape names no provider, team
 * or id (bounded label sets only), so it reveals nothing a viewer of no team could not already count; a
 * scraper gets an API key of its own with `role: viewer, teams: []`. Where scrapers cannot send a bearer
 * credential, METRICS_LISTEN serves the same text on a listener of its own (./metrics-listener.ts).
 */
export const metricsRoute: FastifyPluginAsyncZod<{ readonly metrics: MetricsPort }> = async (app, { metrics }) => {
  app.get(
    "/metrics",
    {
      config: { auth: { role: "viewer" } },
      logLevel: "warn",
      schema: {
        operationId: "metrics",
        summary: "Prometheus metrics (text exposition format)",
        tags: ["ops"],
        response: { 200: { content: { [METRICS_MEDIA_TYPE]: { schema: MetricsText } } }, 401: ProblemDto, 403: ProblemDto, 429: ProblemDto },
      },
    },
    async (_request, reply) => reply.header("content-type", metrics.contentType).header("cache-control", "no-store").send(await metrics.scrape()),
  );
};
