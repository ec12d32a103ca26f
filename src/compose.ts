import type { FastifyInstance } from "fastify";
import type { JWTVerifyGetKey } from "jose";
import { expireApprovals, type ApprovalsDeps } from "./approvals/approvals-service.js";
import { createAuditWriter, type AuditWriter } from "./audit/append.js";
import { startHeadSigner, type HeadSigner } from "./audit/head-signer.js";
import type { AuditInput } from "./audit/record.js";
import { auditPrincipal } from "./auth/actor.js";
import { createAuthenticator, type Authenticator } from "./auth/authenticator.js";
import { createFailureLimiter } from "./auth/failure-limiter.js";
import { oidcFromConfig } from "./auth/oidc.js";
import type { SecurityKeys } from "./auth/security-keys.js";
import { createCredentialSealer, deriveCredentialKey } from "./auth/credential-seal.js";
import { createAwsKeyStoreConnector } from "./cloud/aws-key-store-connector.js";
import { createSimulatedKeyStoreConnector } from "./cloud/simulated-key-store-connector.js";
import type { KeyStoreConnector } from "./onboarding/key-store-connector.js";
import { hardeningFromConfig, type TlsMaterial } from "./http/hardening.js";
import type { Operation, OperationStatus } from "./operations/operation.js";
import type { Logger } from "pino";
import { PROGRAM_VERSION } from "../programs/version.js";
import type { FleetDeps } from "./fleet/fleet-service.js";
import { createRolloutWorker } from "./fleet/rollout-worker.js";
import { buildApp } from "./app.js";
import { buildMetricsListener } from "./http/metrics-listener.js";
import { createServiceMetrics } from "./metrics/service-metrics.js";
import { OpenStreams } from "./http/streaming.js";
import type { Config } from "./config.js";
import type { Engine } from "./engine/engine.js";
import { prepareEngine, type EngineConfig, type EngineFactory } from "./engine/factory.js";
import type { LandingZone } from "./onboarding/landing-zone.js";
import { createEvaluationPool, createInProcessEvaluator, defaultEvaluationWorkers, type ProgramEvaluator, type ProviderProgram } from "./engine/evaluation-pool.js";
import { createGuardrailCheck } from "./onboarding/guardrail-check.js";
import { createRunnerHooks } from "./onboarding/runner-hooks.js";
import { createVerificationDeps } from "./compose-verification.js";
import { createProviderDriftSchedule } from "./onboarding/drift-schedule-port.js";
import type { SweepResult } from "./operations/schedules/drift-schedule.js";
import { sweepExpiry, type ExpiryDeps, type ExpirySweep } from "./onboarding/expiry.js";
import { periodic } from "./operations/schedules/periodic.js";
import type { ProvidersDeps } from "./onboarding/providers-service.js";
import { buildProviderSpecSchema } from "./onboarding/spec.js";
import { createEventHub, type EventHub } from "./operations/event-hub.js";
import { createRunner, type Runner } from "./operations/runner.js";
import type { Notify } from "./notifications/notice.js";
import { createDeliveryWorker } from "./notifications/delivery-worker.js";
import type { Resolve } from "./notifications/destination.js";
import { createHttpSender } from "./notifications/http-sender.js";
import { createNotifier } from "./notifications/outbox.js";
import type { WebhooksDeps } from "./notifications/webhooks-service.js";
import type { Db, Queryable } from "./store/db.js";
import { consoleOptionsFrom } from "./http/console.js";
import { createDiskSpace, lowSpaceText, MIB, spaceSummary, watchedDirs } from "./store/disk-space.js";

export type ServiceConfig = EngineConfig & Pick<
  Config,
  | "MAX_CONCURRENT_OPERATIONS"
  | "LEASE_SECONDS"
  | "EVALUATION_WORKERS"
  | "EVALUATION_TIMEOUT_SECONDS"
  | "VERDICT_CACHE_ENTRIES"
  | "RESUME_MAX_ATTEMPTS"
  | "RESUME_BACKOFF_SECONDS"
  | "SSE_KEEPALIVE_SECONDS"
  | "STREAM_WRITE_DEADLINE_SECONDS"
  | "BODY_LIMIT_BYTES"
  | "SIMULATED_STEP_MS"
  | "SIMULATED_PAUSED"
  | "RATE_LIMIT_PER_IP_PER_MINUTE"
  | "RATE_LIMIT_PER_PRINCIPAL_PER_MINUTE"
  | "CORS_ORIGINS"
  | "MAX_HEADER_BYTES"
  | "REQUEST_TIMEOUT_SECONDS"
  | "TRUST_PROXY"
  | "MAX_STREAMS_PER_PRINCIPAL"
  | "API_KEY_MAX_EXPIRES_DAYS"
  | "AUTH_FAILURES_PER_IP_PER_MINUTE"
  | "OIDC_ISSUER"
  | "OIDC_AUDIENCE"
  | "OIDC_JWKS_URI"
  | "OIDC_ALGORITHMS"
  | "OIDC_ROLES_CLAIM"
  | "OIDC_TEAMS_CLAIM"
  | "OIDC_NAME_CLAIM"
  | "OIDC_ROLE_MAP"
  | "KEY_STORE_CONNECT_TIMEOUT_SECONDS"
  | "KEY_STORE_POLL_SECONDS"
  | "AUDIT_SIGN_INTERVAL_SECONDS"
  | "APPROVAL_RULES"
  | "APPROVAL_TTL_HOURS"
  | "DISK_MIN_FREE_MB"
  | "DRIFT_CHECK_INTERVAL"
  | "DRIFT_CHECK_MAX_RUNNING"
  | "VERIFY_ACCESS"
  | "EXPIRY_WARNING_DAYS"
  | "EXPIRY_CHECK_SECONDS"
  | "MODE"
  | "WEBHOOK_ALLOWED_CIDRS"
  | "WEBHOOK_TIMEOUT_SECONDS"
  | "WEBHOOK_MAX_AGE_HOURS"
  | "WEBHOOK_BACKOFF_SECONDS"
  | "WEBHOOK_BACKOFF_MAX_SECONDS"
  | "WEBHOOK_CONCURRENCY"
  | "WEBHOOK_SOURCE"
  | "METRICS"
  | "METRICS_LISTEN"
  | "CONSOLE"
  | "CONSOLE_OIDC_CLIENT_ID"
  | "CONSOLE_OIDC_SCOPE"
>;

export interface ServiceOptions {
  readonly config: ServiceConfig;
  readonly landingZone: LandingZone;
  readonly db: Db;
  readonly logger: Logger;
  /** Tests may supply an engine (e.g. the simulated one with fault injection). */
  readonly engine?: Engine;
  /** How main.ts builds the configured engine (prepareEngine); given the service's evaluator. */
  readonly engineFactory?: EngineFactory;
  /** Tests and benchmarks: evaluate programs elsewhere than in a pool of this service's own (a shared pool, the in-process baseline). */
  readonly evaluator?: ProgramEvaluator;
  /** Runner poll interval; tests shorten it. */
  readonly pollMs?: number;
  /** Tests only: the program the guardrail gate checks (a faulty one proves the gate end to end). */
  readonly program?: ProviderProgram;
  /** Audit and stream-ticket keys (loadSecurityKeys; tests: generateSecurityKeys). */
  readonly keys: SecurityKeys;
  /** TLS certificate and key when the service terminates TLS itself (loadTls). */
  readonly tls?: TlsMaterial | undefined;
  /** Tests only: OIDC keys instead of the issuer's remote JWKS. */
  readonly oidcKeys?: JWTVerifyGetKey;
  /** Tests only: how CloudHSM key stores are connected (default: AWS with ENGINE=pulumi, simulated otherwise). */
  readonly keyStoreConnector?: KeyStoreConnector;
  /** Benchmarks only: replace the authenticator and the audit writer (the "without" baseline). */
  readonly securityOverride?: { readonly authenticator: Authenticator; readonly audit: AuditWriter };
  /** Tests only: observes the app before its routes exist (the OpenAPI response check, issue 13). */
  readonly instrument?: (app: FastifyInstance) => void;
  /** Tests only: how webhook destinations are resolved (a name that resolves to a private address). */
  readonly webhookResolve?: Resolve;
  /** Tests only: webhook timings shorter than the config's whole seconds and hours allow. */
  readonly webhookTimings?: { readonly maxAgeMs?: number; readonly backoffBaseMs?: number; readonly backoffMaxMs?: number; readonly timeoutMs?: number };
}

export interface Service {
  readonly app: FastifyInstance;
  readonly runner: Runner;
  readonly hub: EventHub;
  readonly engine: Engine;
  readonly db: Db;
  /** The event streams open now (ended on close); tests check none is left behind. */
  readonly openStreams: OpenStreams;
  /** METRICS_LISTEN's listener (/metrics alone), not yet listening: main.ts listens on it; close() closes it. */
  readonly metricsListener?: FastifyInstance | undefined;
  /** Writes a notice to the webhook outbox in the caller's transaction (src/notifications/outbox.ts). */
  readonly notify: Notify;
  /** Starts the runner (recovering interrupted operations first) unless the engine is paused. */
  start(): Promise<void>;
  /** Ends approval requests past their expiry now (start() also does it every 30 s); returns how many. */
  sweepApprovals(): Promise<number>;
  /** Warns and revokes providers at their `expiresAt` now (start() also does it every EXPIRY_CHECK_SECONDS); `now` for tests. */
  sweepExpiry(now?: Date): Promise<ExpirySweep>;
  /** Queues the drift checks that are due now (start() also does it every 30 s, unless DRIFT_CHECK_INTERVAL=off). */
  sweepDrift(): Promise<SweepResult>;
  /** Drains the runner for up to graceMs, then closes the app, the hub, the engine and the database. */
  close(graceMs: number): Promise<void>;
}

const APPROVAL_SWEEP_MS = 30_000;

/** Wires config → store → engine → runner → app. The only place that knows every concrete part. */
export async function composeService(options: ServiceOptions): Promise<Service> {
  const { config, db, logger, landingZone } = options;
  // Program evaluations (guardrail gate, previews, the simulated engine) run in a pool of worker threads.
  const ownEvaluator = options.evaluator === undefined;
  const evaluator =
    options.evaluator ??
    (options.program
      ? createInProcessEvaluator({ provider: options.program })
      : createEvaluationPool({
          workers: config.EVALUATION_WORKERS ?? defaultEvaluationWorkers(),
          timeoutMs: config.EVALUATION_TIMEOUT_SECONDS * 1000,
          onIdleWorkerError: (err) => logger.warn({ err: { message: err.message } }, "a program evaluation worker failed while idle; it was replaced"),
        }));
  const engine = options.engine ?? (options.engineFactory ?? (await prepareEngine(config, logger)))(db, logger, evaluator);
  // Prometheus metrics (issue 18): operations are observed as their events are published, streams counted at scrape.
  const metrics = createServiceMetrics({ db, openStreams: () => stream.open.size, onError: (err) => logger.warn({ err }, "metrics: an observation failed") });
  const hub = metrics.observeHub(await createEventHub(db, logger));
  const { keys } = options;
  // CloudHSM phase 2: the kmsuser password is sealed under a key derived from the audit HMAC key (outside
  // the database); the simulated engine's stores connect in memory, the Pulumi engine's through AWS KMS.
  const sealer = createCredentialSealer(deriveCredentialKey(keys.auditHmac));
  const connector = options.keyStoreConnector ?? (engine.name === "pulumi" ? createAwsKeyStoreConnector() : createSimulatedKeyStoreConnector());
  const keyStores = {
    sealer,
    connector,
    pollMs: config.KEY_STORE_POLL_SECONDS * 1000,
    timeoutMs: config.KEY_STORE_CONNECT_TIMEOUT_SECONDS * 1000,
  };
  const guardrails = createGuardrailCheck({ evaluator, programVersion: PROGRAM_VERSION, landingZone, maxEntries: config.VERDICT_CACHE_ENTRIES });
  // Notices to subscribers are written in the transaction of their cause (the outbox, src/notifications).
  const timings = options.webhookTimings ?? {};
  const webhookMaxAgeMs = timings.maxAgeMs ?? config.WEBHOOK_MAX_AGE_HOURS * 3_600_000;
  const notify: Notify = createNotifier({ source: config.WEBHOOK_SOURCE, maxAgeMs: webhookMaxAgeMs });
  const destinations = {
    httpsOnly: config.MODE === "production",
    allowedCidrs: config.WEBHOOK_ALLOWED_CIDRS,
    ...(options.webhookResolve ? { resolve: options.webhookResolve } : {}),
  };
  const sender = createHttpSender({ policy: destinations, timeoutMs: timings.timeoutMs ?? config.WEBHOOK_TIMEOUT_SECONDS * 1000 });
  // Delivery has nothing to do with the engine: it runs with SIMULATED_PAUSED too.
  const deliveries = createDeliveryWorker({
    db,
    log: logger,
    sealer,
    send: sender.send,
    leaseSeconds: config.LEASE_SECONDS,
    concurrency: config.WEBHOOK_CONCURRENCY,
    backoff: { baseMs: timings.backoffBaseMs ?? config.WEBHOOK_BACKOFF_SECONDS * 1000, maxMs: timings.backoffMaxMs ?? config.WEBHOOK_BACKOFF_MAX_SECONDS * 1000 },
    ...(options.pollMs === undefined ? {} : { pollMs: options.pollMs }),
  });
  const audit = options.securityOverride?.audit ?? createAuditWriter({ hmacKey: keys.auditHmac });
  // Every end of an operation goes through onFinish (the runner, interruption, cancels, rejections): its notice too.
  const verification = createVerificationDeps(engine.name, config, db);
  const hooks = createRunnerHooks({ db, landingZone, engine: engine.name, keyStores, guardrails, notify, audit, verification, receiptKey: keys.auditSigning });
  // Free space where the service writes: changes are refused (507) and /readyz is 503 below the threshold.
  const storage = createDiskSpace({ dirs: watchedDirs(config), minFreeBytes: config.DISK_MIN_FREE_MB * MIB });
  const runner = createRunner({
    db,
    engine,
    hub,
    hooks,
    log: logger,
    leaseSeconds: config.LEASE_SECONDS,
    concurrency: config.MAX_CONCURRENT_OPERATIONS,
    ...(config.DRIFT_CHECK_MAX_RUNNING === undefined ? {} : { backgroundConcurrency: config.DRIFT_CHECK_MAX_RUNNING }),
    resume: { maxAttempts: config.RESUME_MAX_ATTEMPTS, backoffSeconds: config.RESUME_BACKOFF_SECONDS },
    // Below DISK_MIN_FREE_MB this replica claims nothing: an operation would only run out of space.
    mayClaim: async () => {
      const space = await storage.status();
      return space.low === undefined ? undefined : lowSpaceText(space.low, space.minFreeBytes);
    },
    ...(options.pollMs === undefined ? {} : { pollMs: options.pollMs }),
  });
  let started = false;
  const stream = {
    db,
    hub,
    keepAliveMs: config.SSE_KEEPALIVE_SECONDS * 1000,
    writeDeadlineMs: config.STREAM_WRITE_DEADLINE_SECONDS * 1000,
    open: new OpenStreams(),
    maxPerOwner: config.MAX_STREAMS_PER_PRINCIPAL,
  };
  const authenticator =
    options.securityOverride?.authenticator ??
    createAuthenticator({ db, oidc: oidcFromConfig(config, options.oidcKeys), ticketKey: keys.ticketKey });
  const auditAlone = (input: AuditInput) => db.transaction(async (tx) => void (await audit.append(tx, input)));
  // Scheduled drift checks (issue 16): every replica sweeps; each due check is queued by one (SKIP LOCKED).
  const driftSchedule = createProviderDriftSchedule({ db, hub, log: logger, audit, engine: engine.name, programVersion: PROGRAM_VERSION }, config.DRIFT_CHECK_INTERVAL, runner.kick);
  const onFinish = (tx: Queryable, op: Operation, status: OperationStatus) => hooks.onFinish(tx, op, status);
  const approvals: ApprovalsDeps = { db, hub, audit, kick: runner.kick, engine: engine.name, programVersion: PROGRAM_VERSION, onFinish, notify };
  // Fleet rollouts (issue 15): a worker like the runner's drives them; their operations yield to people's.
  const rolloutDeps = { hub, audit, engine: engine.name, programVersion: PROGRAM_VERSION, kickRunner: runner.kick, onFinish };
  const rollouts = createRolloutWorker({
    db,
    log: logger,
    deps: rolloutDeps,
    leaseSeconds: config.LEASE_SECONDS,
    ...(options.pollMs === undefined ? {} : { pollMs: options.pollMs }),
  });
  const fleet: FleetDeps = { ...rolloutDeps, db, approvalRules: config.APPROVAL_RULES, kickWorker: rollouts.kick };
  const providersDeps: ProvidersDeps = {
    db,
    hub,
    kick: runner.kick,
    engine: engine.name,
    programVersion: PROGRAM_VERSION,
    landingZone,
    audit,
    sealer,
    approvals: { rules: config.APPROVAL_RULES, ttlMs: config.APPROVAL_TTL_HOURS * 3_600_000 },
    guardrails,
    notify,
  };
  // Access that expires (issue 16): every replica sweeps; each step is taken once (expiry_steps).
  const expiryDeps: ExpiryDeps = { ...providersDeps, warningDays: config.EXPIRY_WARNING_DAYS, onFinish };
  const app = await buildApp({
    logger,
    bodyLimit: config.BODY_LIMIT_BYTES,
    specSchema: buildProviderSpecSchema(landingZone),
    stream,
    hardening: {
      ...hardeningFromConfig(config),
      onLimited: (request, scope) =>
        auditAlone({
          action: "auth.rate-limited",
          outcome: "denied",
          principal: auditPrincipal(request.principal),
          resource: { kind: "route", id: `${request.method} ${request.routeOptions.url ?? "(none)"}` },
          requestId: String(request.id),
          sourceIp: request.ip,
          details: { scope },
        }),
    },
    tls: options.tls,
    storage,
    auth: { authenticator, failures: createFailureLimiter({ maxPerWindow: config.AUTH_FAILURES_PER_IP_PER_MINUTE }), auditDenial: auditAlone },
    approvals,
    apiKeys: { db, audit, maxExpiresInDays: config.API_KEY_MAX_EXPIRES_DAYS },
    audit: { db, audit, verifyKeys: keys.auditVerify, onVerified: (ok) => metrics.audit.verified(ok) },
    metrics: { port: metrics.forHttp(), route: config.METRICS === "api" },
    receipts: { db, audit, signingKey: keys.auditSigning, verifyKeys: keys.auditVerify },
    ticketKey: keys.ticketKey,
    oidcIssuer: config.OIDC_ISSUER,
    console: consoleOptionsFrom(config),
    instrument: options.instrument,
    providers: providersDeps,
    operations: { db, hub, onFinish, cancelLocal: runner.cancelLocal, audit },
    fleet,
    webhooks: { db, audit, sealer, policy: destinations, maxAgeMs: webhookMaxAgeMs } satisfies WebhooksDeps,
    readiness: [
      {
        name: "database",
        check: async () => {
          await db.query("SELECT 1");
          return { ok: true, detail: db.description };
        },
      },
      { name: "engine", check: async () => engine.readiness() },
      {
        name: "disk",
        check: async () => {
          const space = await storage.status();
          return { ok: space.ok, detail: spaceSummary(space) };
        },
      },
      {
        name: "runner",
        check: async () => ({ ok: started || config.SIMULATED_PAUSED, detail: started ? `claiming as ${runner.owner}` : "paused" }),
      },
    ],
  });

  const metricsListener = config.METRICS_LISTEN === undefined ? undefined : buildMetricsListener(metrics.forHttp(), logger);
  let signer: HeadSigner | undefined;
  // Every replica sweeps (each effect is claimed in the database): approval requests past their expiry end
  // their operations; providers past their expiresAt are revoked, once.
  const approvalSweep = periodic(() => expireApprovals(approvals), APPROVAL_SWEEP_MS, (err) => logger.error({ err }, "approvals: expiry sweep failed"));
  const accessExpiry = periodic(
    async () => {
      const done = await sweepExpiry(expiryDeps);
      if (done.expired.length > 0) logger.warn({ expired: done.expired }, "access expired: providers revoked at their expiresAt");
    },
    config.EXPIRY_CHECK_SECONDS * 1000,
    (err) => logger.error({ err }, "expiry: sweep failed"),
  );
  return {
    app,
    runner,
    hub,
    engine,
    db,
    openStreams: stream.open,
    metricsListener,
    notify,
    sweepApprovals: () => expireApprovals(approvals),
    sweepExpiry: (now) => sweepExpiry(expiryDeps, now),
    sweepDrift: () => driftSchedule.sweep(),
    async start() {
      signer = startHeadSigner({ db, key: keys.auditSigning, intervalMs: config.AUDIT_SIGN_INTERVAL_SECONDS * 1000, log: logger });
      approvalSweep.start();
      accessExpiry.start();
      await deliveries.start();
      if (config.SIMULATED_PAUSED) return;
      await runner.start();
      rollouts.start();
      driftSchedule.start();
      started = true;
    },
    async close(graceMs) {
      await approvalSweep.stop();
      await accessExpiry.stop();
      await driftSchedule.stop();
      await rollouts.stop();
      await runner.drain(graceMs);
      await signer?.stop();
      await app.close();
      await metricsListener?.close();
      await hub.close();
      await deliveries.stop(Math.min(graceMs, 2_000));
      sender.close();
      await engine.close();
      if (ownEvaluator) await evaluator.close();
      await db.close();
    },
  };
}
