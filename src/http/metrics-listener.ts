import Fastify, { type FastifyBaseLogger, type FastifyInstance } from "fastify";
import type { Logger } from "pino";
import type { MetricsPort } from "./metrics.js";

/**
 * METRICS_LISTEN (issue 18): a plain listener with GET /metrics and nothing else, for a scraper on the pod
 * network that sends no credential. It carries no API route, so the address it binds is the only access
 * control: bind it to loopback or the pod address, never to where API callers reach. Built here, listened
 * on by main.ts (the only place that listens).
 */
export function buildMetricsListener(metrics: Pick<MetricsPort, "contentType" | "scrape">, logger: Logger): FastifyInstance {
  const loggerInstance: FastifyBaseLogger = logger.child({ listener: "metrics" });
  const app = Fastify({ loggerInstance, forceCloseConnections: true });
  app.get("/metrics", { logLevel: "warn" }, async (_request, reply) => reply.header("content-type", metrics.contentType).header("cache-control", "no-store").send(await metrics.scrape()));
  return app;
}

/** METRICS_LISTEN's `address:port` (config.ts validated it) as Fastify's listen options. */
export function metricsListenAddress(value: string): { host: string; port: number } {
  const at = value.lastIndexOf(":");
  return { host: value.slice(0, at).replace(/^\[|\]$/g, ""), port: Number(value.slice(at + 1)) };
}
