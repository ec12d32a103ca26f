import { randomUUID } from "node:crypto";
import Fastify, { type FastifyInstance } from "fastify";
import { serializerCompiler, validatorCompiler, type ZodTypeProvider } from "fastify-type-provider-zod";
import { z } from "zod";
import { PROGRAM_VERSION } from "../programs/version.js";
import { composeService } from "../src/compose.js";
import { createProvider } from "../src/onboarding/providers-service.js";
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
import { baseConfig, benchLogger, DATABASE_URL_ENV, landingZone, tempDir } from "./support.js";

/**
 * Child process serving POST /v1/providers for the accept-path benchmark, in one of four modes:
 * - `service`: the real service (composeService), simulated engine paused so only the accept path runs;
 * - `same-tx`: a bare Fastify route validating with the same zod schema and committing the same
 *   transaction as the accept path (provider row + operation row + its `operation.queued` event), through
 *   the store functions directly: the baseline, so the ratio measures what our layers add;
 * - `bare`: the same bare route committing only two INSERTs (provider row + operation row): shows what
 *   the persisted first event and the upsert cost;
 * - `use-case`: the same bare route calling the real use case (createProvider), to split the gap.
 * Usage: `accept-server.ts <mode>`. Without `BENCH_DATABASE_URL` in the environment (not argv, so a password
 * never shows in `ps`), every mode uses an identically migrated PGlite in a fresh temporary data directory.
 * With it (a fresh scratch database the parent creates and drops), `service` opens it with
 * `openDb({ databaseUrl, dataDir })` and the other modes with `openPostgres` (same default pool) + `migrate`.
 * Reports `{type: "listening", port, database}`; stops (closing the database, removing its directory) on "stop".
 */
export const ACCEPT_SERVER_MODES = ["service", "same-tx", "bare", "use-case"] as const;
export type AcceptServerMode = (typeof ACCEPT_SERVER_MODES)[number];
export type AcceptServerMessage = { type: "listening"; port: number; database: string };

interface Server {
  readonly app: FastifyInstance;
  close(): Promise<void>;
}

/** Fastify without the app's plugins, hooks, logger or OpenAPI: validation, one handler, a 202. */
async function bareServer(accept: (spec: ProviderSpec) => Promise<string>): Promise<Server> {
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
  const deps = { db, hub, kick: () => undefined, engine: "simulated", programVersion: PROGRAM_VERSION, landingZone };
  return async (spec) => (await createProvider(deps, spec)).operation.id;
}

async function start(mode: AcceptServerMode, dataDir: string, databaseUrl: string | undefined): Promise<Server & { database: string }> {
  if (mode === "service") {
    // As main.ts does: PostgreSQL when a URL is given, else PGlite in <dataDir>/pglite.
    const db = await openDb({ databaseUrl, dataDir });
    const service = await composeService({ config: { ...baseConfig, SIMULATED_PAUSED: true }, landingZone, db, logger: benchLogger() });
    await service.start();
    return { app: service.app, database: db.description, close: () => service.close(1_000) };
  }
  const db =
    databaseUrl === undefined ? await openPglite({ dataDir: `${dataDir}/pglite` }) : await openPostgres({ connectionString: databaseUrl });
  await migrate(db);
  const handler = mode === "bare" ? twoInserts(db) : mode === "same-tx" ? sameTransaction(db) : await useCase(db);
  const { app, close } = await bareServer(handler);
  return {
    app,
    database: db.description,
    close: async () => {
      await close();
      await db.close();
    },
  };
}

const mode = process.argv[2] as AcceptServerMode;
if (!ACCEPT_SERVER_MODES.includes(mode)) throw new Error(`usage: accept-server.ts ${ACCEPT_SERVER_MODES.join("|")}`);
const databaseUrl = process.env[DATABASE_URL_ENV] || undefined;
const dir = await tempDir();
const server = await start(mode, dir.path, databaseUrl);
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
toParent<AcceptServerMessage>({ type: "listening", port: address.port, database: server.database });
