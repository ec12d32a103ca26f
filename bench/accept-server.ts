import { randomUUID } from "node:crypto";
import Fastify, { type FastifyInstance } from "fastify";
import { serializerCompiler, validatorCompiler, type ZodTypeProvider } from "fastify-type-provider-zod";
import { z } from "zod";
import { PROGRAM_VERSION } from "../programs/version.js";
import { createAuditWriter, type AuditWriter } from "../src/audit/append.js";
import { GENESIS_HASH } from "../src/audit/chain.js";
import type { AuditRecord } from "../src/audit/record.js";
import { SYSTEM_ACTOR } from "../src/auth/actor.js";
import type { Authenticator } from "../src/auth/authenticator.js";
import type { Principal } from "../src/auth/principal.js";
import { generateSecurityKeys } from "../src/auth/security-keys.js";
import { composeService } from "../src/compose.js";
import { createProvider } from "../src/onboarding/providers-service.js";
import { createInProcessEvaluator, type ProviderProgram } from "../src/engine/evaluation-pool.js";
import { createGuardrailCheck } from "../src/onboarding/guardrail-check.js";
import { buildProviderSpecSchema, specHash, type ProviderSpec } from "../src/onboarding/spec.js";
import { upsertForCreate } from "../src/onboarding/providers-repo.js";
import { createEventHub } from "../src/operations/event-hub.js";
import { enqueueOperation } from "../src/operations/operations-repo.js";
import { migrate } from "../src/store/migrate.js";
import { openDb } from "../src/store/open.js";
import type { Db } from "../src/store/db.js";
import { openPglite } from "../src/store/pglite.js";
import { openPostgres } from "../src/store/postgres.js";
import { fromParent, toParent } from "./child.js";
import { baseConfig, benchAuthorization, benchLogger, DATABASE_URL_ENV, landingZone, tempDir } from "./support.js";

/**
 * Child process serving POST /v1/providers for the accept-path benchmarks, in one of five modes:
 * - `service`: the real service (composeService), simulated engine paused so only the accept path runs;
 * - `service-unaudited`: the same service composed with `securityOverride` (figure `accept-security`'s
 *   baseline): an authenticator that answers a fixed admin principal without looking anything up, and an
 *   audit writer that writes nothing;
 * - `same-tx`: a bare Fastify route validating with the same zod schema and committing the same
 *   transaction as the accept path (provider row + operation row + its `operation.queued` event), through
 *   the store functions directly: the baseline, so the ratio measures what our layers add;
 * - `bare`: the same bare route committing only two INSERTs (provider row + operation row): shows what
 *   the persisted first event and the upsert cost;
 * - `use-case`: the same bare route calling the real use case (createProvider, as SYSTEM_ACTOR, real audit
 *   writer), to split the gap.
 * Usage: `accept-server.ts <mode>`. Without `BENCH_DATABASE_URL` in the environment (not argv, so a password
 * never shows in `ps`), every mode uses an identically migrated PGlite in a fresh temporary data directory.
 * With it (a fresh scratch database the parent creates and drops), the service modes open it with
 * `openDb({ databaseUrl, dataDir })` and the other modes with `openPostgres` (same default pool) + `migrate`.
 * `accept-server.ts <service mode> trivial-program` composes the service with composeService's `program` option set
 * to a program that registers nothing, so the guardrail gate costs one empty mock evaluation instead of the
 * provider stack's (figure `accept-security`'s diagnostic: the security cost without the gate drowning it).
 * `accept-server.ts <service mode> serialized-evaluation` evaluates on the service's own thread, one at a time,
 * as before the worker pool (issue 15): the `evaluation-pool` figure's baseline.
 * Every mode creates one admin API key in its database and reports it as the `authorization` header value, so
 * the load generator sends the same requests to every mode (the bare routes ignore the header).
 * Reports `{type: "listening", port, database, authorization}`; stops (closing the database, removing its
 * directory) on "stop".
 */
export const ACCEPT_SERVER_MODES = ["service", "service-unaudited", "same-tx", "bare", "use-case"] as const;
export type AcceptServerMode = (typeof ACCEPT_SERVER_MODES)[number];
/** The optional second argument (service modes only). A type, not a value: importing this module starts a server. */
export const ACCEPT_SERVER_VARIANTS = ["trivial-program", "serialized-evaluation"] as const;
export type AcceptServerVariant = (typeof ACCEPT_SERVER_VARIANTS)[number];
export type AcceptServerMessage = { type: "listening"; port: number; database: string; authorization: string };

interface Server {
  readonly app: FastifyInstance;
  readonly db: Db;
  close(): Promise<void>;
}

const FIXED_PRINCIPAL: Principal = { kind: "apikey", id: "bench-unaudited", name: "bench", role: "admin", teams: [] };

/** The "without" side of accept-security: every request is this admin, found without a lookup. */
const fixedAuthenticator: Authenticator = {
  fromHeader: async () => ({ ok: true, principal: FIXED_PRINCIPAL }),
  fromTicket: async () => ({ ok: true, principal: FIXED_PRINCIPAL }),
};

const DUMMY_RECORD: AuditRecord = {
  seq: 1,
  at: "1970-01-01T00:00:00.000000Z",
  action: "provider.create",
  outcome: "allowed",
  principal: { kind: "system", id: "bench" },
  resource: { kind: "provider", id: "bench" },
  requestId: null,
  sourceIp: null,
  details: {},
  sensitive: {},
  prevHash: GENESIS_HASH,
  hash: GENESIS_HASH,
};

/** Registers no resource: the guardrail gate then has nothing to evaluate or check. */
const trivialProgram: ProviderProgram = () => async () => ({});

/** Writes nothing: no statement in the caller's transaction, no head lock, no hashing. */
const noAudit: AuditWriter = {
  append: async () => DUMMY_RECORD,
  hash: () => `hmac-sha256:${GENESIS_HASH}`,
};

/** Fastify without the app's plugins, hooks, logger or OpenAPI: validation, one handler, a 202. */
async function bareServer(accept: (spec: ProviderSpec) => Promise<string>): Promise<Omit<Server, "db">> {
  const app = Fastify({ logger: false }).withTypeProvider<ZodTypeProvider>();
  app.setValidatorCompiler(validatorCompiler);
  app.setSerializerCompiler(serializerCompiler);
  app.post(
    "/v1/providers",
    { schema: { body: buildProviderSpecSchema(landingZone), response: { 202: z.object({ operationId: z.string() }) } } },
    async (request, reply) => reply.code(202).send({ operationId: await accept(request.body) }),
  );
  await app.ready();
  return { app, close: () => app.close() };
}

function twoInserts(db: Db): (spec: ProviderSpec) => Promise<string> {
  return async (spec) => {
    const hash = specHash(spec);
    const operationId = randomUUID();
    await db.transaction(async (tx) => {
      await tx.query(
        `INSERT INTO providers (name, team, spec, spec_hash, lifecycle, engine) VALUES ($1, $2, $3, $4, 'provisioning', 'simulated')`,
        [spec.name, spec.owner.team, JSON.stringify(spec), hash],
      );
      await tx.query(
        `INSERT INTO operations (id, provider, intent, kind, access_state, status, engine, spec, spec_hash, program_version)
         VALUES ($1, $2, 'create', 'up', 'active', 'queued', 'simulated', $3, $4, $5)`,
        [operationId, spec.name, JSON.stringify(spec), hash, PROGRAM_VERSION],
      );
    });
    return operationId;
  };
}

function sameTransaction(db: Db): (spec: ProviderSpec) => Promise<string> {
  return async (spec) => {
    const hash = specHash(spec);
    const operationId = randomUUID();
    await db.transaction(async (tx) => {
      await upsertForCreate(tx, { name: spec.name, team: spec.owner.team, spec, specHash: hash, engine: "simulated" });
      await enqueueOperation(tx, {
        id: operationId,
        provider: spec.name,
        intent: "create",
        kind: "up",
        accessState: "active",
        engine: "simulated",
        spec: spec as unknown as Record<string, unknown>,
        specHash: hash,
        programVersion: PROGRAM_VERSION,
      });
    });
    return operationId;
  };
}

async function useCase(db: Db): Promise<(spec: ProviderSpec) => Promise<string>> {
  const hub = await createEventHub(db, benchLogger());
  const deps = {
    db,
    hub,
    kick: () => undefined,
    engine: "simulated",
    programVersion: PROGRAM_VERSION,
    landingZone,
    guardrails: createGuardrailCheck({ evaluator: createInProcessEvaluator(), programVersion: PROGRAM_VERSION, landingZone, maxEntries: 0 }),
    audit: createAuditWriter({ hmacKey: generateSecurityKeys().auditHmac }),
    approvals: { rules: baseConfig.APPROVAL_RULES, ttlMs: baseConfig.APPROVAL_TTL_HOURS * 3_600_000 },
  };
  return async (spec) => (await createProvider(deps, SYSTEM_ACTOR, spec)).operation.id;
}

async function start(mode: AcceptServerMode, variant: AcceptServerVariant | undefined, dataDir: string, databaseUrl: string | undefined): Promise<Server & { database: string }> {
  if (mode === "service" || mode === "service-unaudited") {
    // As main.ts does: PostgreSQL when a URL is given, else PGlite in <dataDir>/pglite.
    const db = await openDb({ databaseUrl, dataDir });
    const service = await composeService({
      config: { ...baseConfig, SIMULATED_PAUSED: true },
      landingZone,
      db,
      logger: benchLogger(),
      keys: generateSecurityKeys(),
      ...(variant === "trivial-program" ? { program: trivialProgram } : {}),
      ...(variant === "serialized-evaluation" ? { evaluator: createInProcessEvaluator() } : {}),
      ...(mode === "service-unaudited" ? { securityOverride: { authenticator: fixedAuthenticator, audit: noAudit } } : {}),
    });
    await service.start();
    return { app: service.app, db, database: db.description, close: () => service.close(1_000) };
  }
  const db =
    databaseUrl === undefined ? await openPglite({ dataDir: `${dataDir}/pglite` }) : await openPostgres({ connectionString: databaseUrl });
  await migrate(db);
  const handler = mode === "bare" ? twoInserts(db) : mode === "same-tx" ? sameTransaction(db) : await useCase(db);
  const { app, close } = await bareServer(handler);
  return {
    app,
    db,
    database: db.description,
    close: async () => {
      await close();
      await db.close();
    },
  };
}

const [mode, variant] = process.argv.slice(2) as [AcceptServerMode, AcceptServerVariant | undefined];
if (!ACCEPT_SERVER_MODES.includes(mode) || (variant !== undefined && (!ACCEPT_SERVER_VARIANTS.includes(variant) || !mode.startsWith("service")))) {
  throw new Error(`usage: accept-server.ts ${ACCEPT_SERVER_MODES.join("|")} [${ACCEPT_SERVER_VARIANTS.join("|")} (service modes only)]`);
}
const databaseUrl = process.env[DATABASE_URL_ENV] || undefined;
const dir = await tempDir();
const server = await start(mode, variant, dir.path, databaseUrl);
const authorization = await benchAuthorization(server.db);
fromParent(
  () => undefined,
  async () => {
    await server.close();
    await dir.remove();
  },
);
await server.app.listen({ host: "127.0.0.1", port: 0 });
const address = server.app.server.address();
if (address === null || typeof address === "string") throw new Error("accept-server: no TCP address");
toParent<AcceptServerMessage>({ type: "listening", port: address.port, database: server.database, authorization });
