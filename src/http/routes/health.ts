import type { FastifyPluginAsyncZod } from "fastify-type-provider-zod";
import { z } from "zod";

export interface ReadinessCheck {
  readonly name: string;
  readonly check: () => Promise<{ ok: boolean; detail: string }>;
}

export interface HealthRoutesOptions {
  readonly checks: readonly ReadinessCheck[];
}

const Liveness = z.object({ status: z.literal("ok") }).meta({ id: "Liveness", description: "The process answers" });
const Readiness = z.object({
  status: z.enum(["ready", "not-ready"]),
  checks: z.record(z.string(), z.object({ ok: z.boolean(), detail: z.string() })),
}).meta({ id: "Readiness", description: "Each dependency's check; `ready` when all pass" });

/** /healthz: the process answers. /readyz: its dependencies answer (database, engine, runner) and the disk has room. */
const healthRoutes: FastifyPluginAsyncZod<HealthRoutesOptions> = async (app, { checks }) => {
  app.get(
    "/healthz",
    { config: { auth: { public: true } }, schema: { operationId: "liveness", summary: "Liveness: the process answers", tags: ["ops"], response: { 200: Liveness } }, logLevel: "warn" },
    async () => ({ status: "ok" as const }),
  );

  app.get(
    "/readyz",
    { config: { auth: { public: true } }, schema: { operationId: "readiness", summary: "Readiness: the database, the engine and the runner answer, and the disk has room", tags: ["ops"], response: { 200: Readiness, 503: Readiness } }, logLevel: "warn" },
    async (_request, reply) => {
      const results = await Promise.all(
        checks.map(async (c) => {
          try {
            return [c.name, await c.check()] as const;
          } catch {
            return [c.name, { ok: false, detail: "check failed" }] as const;
          }
        }),
      );
      const ok = results.every(([, r]) => r.ok);
      return reply.code(ok ? 200 : 503).send({ status: ok ? "ready" : "not-ready", checks: Object.fromEntries(results) });
    },
  );
};

export default healthRoutes;
