import { readFileSync } from "node:fs";
import { createEvaluationPool, type ProgramEvaluator } from "../../src/engine/evaluation-pool.js";
import type { FastifyInstance, InjectOptions, LightMyRequestResponse } from "fastify";
import type { JWTVerifyGetKey } from "jose";
import type { Logger } from "pino";
import { createApiKey } from "../../src/auth/api-keys.js";
import type { Role } from "../../src/auth/roles.js";
import { generateSecurityKeys, type SecurityKeys } from "../../src/auth/security-keys.js";
import { Writable } from "node:stream";
import { composeService, type Service, type ServiceConfig, type ServiceOptions } from "../../src/compose.js";
import { loadConfig } from "../../src/config.js";
import type { Engine } from "../../src/engine/engine.js";
import { LandingZoneSchema, type LandingZone } from "../../src/onboarding/landing-zone.js";
import { createLogger } from "../../src/logger.js";
import type { Db } from "../../src/store/db.js";
import { createTestDb } from "./db.js";
import { createContractCheck, type ContractCheck } from "../support/openapi-contract-check.js";

export const landingZone: LandingZone = LandingZoneSchema.parse(
  JSON.parse(readFileSync(new URL("../../examples/landing-zone.json", import.meta.url), "utf8")),
);

export function readExample(name: string): Record<string, unknown> {
  return JSON.parse(readFileSync(new URL(`../../examples/${name}`, import.meta.url), "utf8")) as Record<string, unknown>;
}

/**
 * A spec derived from an example with another name (each test uses its own providers). An expiry is
 * moved to a year from now, so the suite does not start failing on the example's calendar date.
 */
const A_YEAR_FROM_NOW = `${new Date(Date.now() + 365 * 24 * 3600 * 1000).toISOString().slice(0, 10)}T00:00:00Z`;

export function specNamed(name: string, base = "acme.json"): Record<string, unknown> {
  const spec = { ...readExample(base), name };
  // Fixed for the whole run, so the same name gives the same body (idempotency tests depend on it).
  if ("expiresAt" in spec) spec.expiresAt = A_YEAR_FROM_NOW;
  return spec;
}

/**
 * The service's own defaults (parsed by the real config schema), with the simulated engine. Approvals are
 * off here so suites about other things can decommission in one step, and rate limits are out of reach
 * of their polling loops; test/security sets both back.
 */
export const testConfig: ServiceConfig = loadConfig({
  ENGINE: "simulated",
  LANDING_ZONE_FILE: "examples/landing-zone.json",
  APPROVAL_RULES: "none",
  RATE_LIMIT_PER_IP_PER_MINUTE: "1000000",
  RATE_LIMIT_PER_PRINCIPAL_PER_MINUTE: "1000000",
  // No scheduled drift checks among a suite's own operations; the schedule's suites set it (issue 16).
  DRIFT_CHECK_INTERVAL: "off",
});

export interface TestService extends Service {
  /** Every log line written, for redaction and error assertions. */
  readonly logs: string[];
  readonly keys: SecurityKeys;
  /** The admin key every `app.inject` of this service sends unless the request sets its own authorization header. */
  readonly adminKey: string;
  /** `{ authorization: "Bearer <admin key>" }`, for fetch() against a listening service. */
  readonly authHeaders: Readonly<Record<string, string>>;
  /** A new API key with this role and teams; returns the secret. */
  createKey(role: Role, teams?: readonly string[], name?: string): Promise<string>;
  /**
   * Every response this service sent, checked against its OpenAPI document (issue 13); `close()` throws
   * when any differed.
   */
  readonly contract: ContractCheck;
}

export interface TestServiceOptions {
  readonly config?: Partial<ServiceConfig>;
  readonly engine?: (db: Db, log: Logger) => Engine;
  readonly db?: Db;
  readonly start?: boolean;
  readonly program?: ServiceOptions["program"];
  /** Where programs are evaluated (default: this test process's shared pool). */
  readonly evaluator?: ProgramEvaluator;
  readonly keys?: SecurityKeys;
  readonly oidcKeys?: JWTVerifyGetKey;
  readonly keyStoreConnector?: ServiceOptions["keyStoreConnector"];
  /**
   * Check every response against the OpenAPI document (default true). Benchmarks turn it off: they
   * measure the server, and the check validates each body again.
   */
  readonly checkContract?: boolean;
  /** Webhook test seams (issue 16): a resolver for destinations, timings shorter than the config allows. */
  readonly webhooks?: Pick<ServiceOptions, "webhookResolve" | "webhookTimings">;
}

/** The service's warning and error log lines (pino levels 40+), newest last, cut to a readable size. */
export function warningsOf(logs: readonly string[], maxChars = 6_000): string {
  return logs.filter((l) => /"level":(4|5|6)\d/.test(l)).join("").slice(-maxChars);
}

let sharedPool: ProgramEvaluator | undefined;
/**
 * One evaluation pool per test process, shared by the services it starts: the real worker threads, without
 * starting two per test. Its threads do not keep the process alive.
 */
export function sharedEvaluator(): ProgramEvaluator {
  return (sharedPool ??= createEvaluationPool({ workers: 2, timeoutMs: 60_000 }));
}

export async function startTestService(options: TestServiceOptions = {}): Promise<TestService> {
  const keys = options.keys ?? generateSecurityKeys();
  const db = options.db ?? (await createTestDb());
  const logs: string[] = [];
  const sink = new Writable({
    write(chunk: Buffer, _enc, done) {
      logs.push(chunk.toString());
      done();
    },
  });
  const logger = createLogger("info", sink);
  const contract = createContractCheck();
  const service = await composeService({
    config: { ...testConfig, ...options.config },
    landingZone,
    db,
    logger,
    pollMs: 50,
    ...(options.engine ? { engine: options.engine(db, logger) } : {}),
    ...(options.program ? { program: options.program } : { evaluator: options.evaluator ?? sharedEvaluator() }),
    ...(options.oidcKeys ? { oidcKeys: options.oidcKeys } : {}),
    ...(options.keyStoreConnector ? { keyStoreConnector: options.keyStoreConnector } : {}),
    keys,
    ...options.webhooks,
    ...(options.checkContract === false ? {} : { instrument: (app: FastifyInstance) => contract.install(app) }),
  });
  const createKey = async (role: Role, teams: readonly string[] = [], name = `test-${role}`) =>
    (await createApiKey(db, { name, role, teams, maxExpiresInDays: 365, createdBy: "test" })).secret;
  const adminKey = await createKey("admin", [], "test-admin");
  // Suites about other things than authentication act as an admin; a request that sets its own
  // authorization header (the security suites) sends exactly that, and `authorization: ""` sends none.
  const inject = service.app.inject.bind(service.app) as (opts: InjectOptions) => Promise<LightMyRequestResponse>;
  (service.app as { inject: unknown }).inject = (opts: InjectOptions) => {
    const headers = { ...(opts.headers as Record<string, string> | undefined) };
    if (!("authorization" in headers)) headers["authorization"] = `Bearer ${adminKey}`;
    else if (headers["authorization"] === "") delete headers["authorization"];
    return inject({ ...opts, headers });
  };
  if (options.start !== false) await service.start();
  const close = service.close.bind(service);
  // The document may not drift from the server: a response it does not describe fails the test that closes.
  let reported = false;
  const closeChecked = async (graceMs: number) => {
    await close(graceMs);
    if (reported || contract.violations().length === 0) return;
    reported = true;
    throw new Error(contract.report());
  };
  return Object.assign(service, { logs, keys, adminKey, authHeaders: { authorization: `Bearer ${adminKey}` }, createKey, contract, close: closeChecked });
}

/** Polls an operation until it reaches one of the statuses (bounded in time). */
export async function waitForStatus(service: Service, id: string, statuses: readonly string[], timeoutMs = 20_000): Promise<Record<string, any>> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const res = await service.app.inject({ method: "GET", url: `/v1/operations/${id}` });
    const body = res.json() as Record<string, any>;
    if (statuses.includes(String(body.status))) return body;
    if (Date.now() > deadline) throw new Error(`operation ${id} still ${String(body.status)} after ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, 20));
  }
}
