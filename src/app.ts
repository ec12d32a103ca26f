import swagger from "@fastify/swagger";
import swaggerUi from "@fastify/swagger-ui";
import Fastify, { type FastifyBaseLogger, type FastifyInstance } from "fastify";
import { jsonSchemaTransform, jsonSchemaTransformObject, serializerCompiler, type ZodTypeProvider } from "fastify-type-provider-zod";
import type { Logger } from "pino";
import consoleRoutes, { type ConsoleOptions } from "./http/console.js";
import { registerHardening, serverOptions, type HardeningOptions, type TlsMaterial } from "./http/hardening.js";
import { registerAuth, type AuthOptions } from "./http/auth.js";
import { metricsRoute, registerRequestMetrics, type MetricsPort } from "./http/metrics.js";
import { collectStreamingRoutes, describeServer, DOCUMENT_INFO } from "./http/openapi.js";
import { specExamplesFor } from "./http/openapi-examples.js";
import { registerProblemHandlers } from "./http/problem.js";
import { registerStorageGuard } from "./http/storage-guard.js";
import apiKeyRoutes, { type ApiKeyRoutesOptions } from "./http/routes/api-keys.js";
import auditRoutes, { type AuditRoutesOptions } from "./http/routes/audit.js";
import healthRoutes, { type ReadinessCheck } from "./http/routes/health.js";
import operationRoutes from "./http/routes/operations.js";
import problemRoutes from "./http/routes/problems.js";
import receiptRoutes, { type ReceiptRoutesOptions } from "./http/routes/receipts.js";
import providerRoutes from "./http/routes/providers.js";
import type { StreamDeps } from "./http/streaming.js";
import { validatorCompiler } from "./http/validation.js";
import type { ProvidersDeps } from "./onboarding/providers-service.js";
import type { ProviderSpecSchema } from "./onboarding/spec.js";
import type { OperationsDeps } from "./operations/operations-service.js";
import type { ApprovalsDeps } from "./approvals/approvals-service.js";
import type { FleetDeps } from "./fleet/fleet-service.js";
import fleetRoutes from "./http/routes/fleet.js";
import networkHubRoutes from "./http/routes/network-hubs.js";
import webhookRoutes from "./http/routes/webhooks.js";
import type { WebhooksDeps } from "./notifications/webhooks-service.js";
import type { DiskSpace } from "./store/disk-space.js";

export interface AppDeps {
  readonly logger: Logger;
  readonly providers: ProvidersDeps;
  readonly operations: OperationsDeps;
  readonly fleet: FleetDeps;
  readonly webhooks: WebhooksDeps;
  readonly stream: StreamDeps;
  readonly specSchema: ProviderSpecSchema;
  readonly readiness: readonly ReadinessCheck[];
  readonly bodyLimit: number;
  readonly hardening: HardeningOptions;
  readonly auth: AuthOptions;
  readonly approvals: ApprovalsDeps;
  readonly apiKeys: ApiKeyRoutesOptions;
  readonly audit: AuditRoutesOptions;
  /** Receipts, the public keys (GET /v1/keys) and evidence packs (issue 17). */
  readonly receipts: ReceiptRoutesOptions;
  /** OIDC_ISSUER when OIDC is on: the OpenAPI document names it as a second security scheme. */
  readonly oidcIssuer?: string | undefined;
  /** Stream-ticket HMAC key. */
  readonly ticketKey: Buffer;
  /** Free space where the service writes: changes are refused (507) while it is below the threshold. */
  readonly storage: DiskSpace;
  /** Prometheus metrics (issue 18): requests are always counted; `route` serves GET /metrics here (METRICS=api). */
  readonly metrics: { readonly port: MetricsPort; readonly route: boolean };
  /** The web console at /console/ (issue 18); undefined = CONSOLE=off. */
  readonly console?: ConsoleOptions | undefined;
  /** Certificate and key (loadTls): the server speaks HTTPS only, TLS 1.2 or later. */
  readonly tls?: TlsMaterial | undefined;
  /**
   * Test seam (issue 13): called on the new instance before any hook or route is added, so a test can
   * observe every response (test/support/openapi-contract-check.ts). No configuration selects it.
   */
  readonly instrument?: ((app: FastifyInstance) => void) | undefined;
}

/** Builds the HTTP application from explicit dependencies. Never listens, never reads the environment. */
export async function buildApp(deps: AppDeps): Promise<FastifyInstance> {
  // Typed as Fastify's logger interface so plugins and the app agree on one logger type.
  const loggerInstance: FastifyBaseLogger = deps.logger;
  const app = Fastify({
    loggerInstance,
    bodyLimit: deps.bodyLimit,
    // Header size, request/keep-alive timeouts, trust proxy, router limits, and HTTPS when TLS is given.
    ...serverOptions(deps.hardening, deps.tls),
    // On close, after the runner drained and open streams were ended (preClose), drop every remaining
    // connection: idle keep-alive sockets a client pre-opened would otherwise hold server.close() forever.
    forceCloseConnections: true,
  }).withTypeProvider<ZodTypeProvider>();
  deps.instrument?.(app);
  // Bodies are JSON only: a JSON document sent as text/plain is a 415 naming the type, not a 400 from the
  // schema (the DELETE route's scope also accepts an empty application/json body).
  app.removeContentTypeParser("text/plain");
  app.setValidatorCompiler(validatorCompiler);
  app.setSerializerCompiler(serializerCompiler);
  registerProblemHandlers(app, { storage: deps.storage });
  // Before any route (the docs' and CORS preflights too): every route from here on needs an auth decision.
  registerAuth(app, deps.auth);
  registerRequestMetrics(app, deps.metrics.port);
  await registerHardening(app, deps.hardening);
  registerStorageGuard(app, deps.storage);
  // server.close() waits for open connections; streams still open at this point would hold it forever.
  app.addHook("preClose", async () => deps.stream.open.closeAll());

  const streaming = collectStreamingRoutes(app);
  await app.register(swagger, {
    openapi: { openapi: "3.1.0", info: DOCUMENT_INFO },
    transform: jsonSchemaTransform,
    // The security, shared answers, headers, media types and components the server has (./http/openapi.ts).
    transformObject: (document) =>
      describeServer(jsonSchemaTransformObject(document) as Record<string, unknown>, {
        routes: app.authRoutes,
        streaming,
        specExamples: specExamplesFor(deps.specSchema),
        oidcIssuer: deps.oidcIssuer,
      }),
  });
  await app.register(swaggerUi, { routePrefix: "/docs" });
  app.get("/openapi.json", { schema: { hide: true } }, async () => app.swagger());

  await app.register(healthRoutes, { checks: deps.readiness });
  await app.register(providerRoutes, { deps: deps.providers, stream: deps.stream, specSchema: deps.specSchema });
  await app.register(operationRoutes, {
    deps: deps.operations,
    approvals: deps.approvals,
    stream: deps.stream,
    ticketKey: deps.ticketKey,
  });
  await app.register(fleetRoutes, { deps: deps.fleet, stream: deps.stream });
  await app.register(networkHubRoutes, { deps: deps.providers, stream: deps.stream });
  await app.register(webhookRoutes, { deps: deps.webhooks });
  await app.register(apiKeyRoutes, deps.apiKeys);
  await app.register(auditRoutes, deps.audit);
  await app.register(receiptRoutes, deps.receipts);
  if (deps.metrics.route) await app.register(metricsRoute, { metrics: deps.metrics.port });
  if (deps.console !== undefined) await app.register(consoleRoutes, deps.console);
  await app.register(problemRoutes);
  await app.ready();
  return app;
}
