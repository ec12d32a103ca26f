import type { FastifyPluginAsyncZod } from "fastify-type-provider-zod";
import { z } from "zod";
import { apiKeyState, createApiKey, getApiKey, keyDetails, listApiKeys, NewApiKey, revokeApiKey, type ApiKeyInfo } from "../../auth/api-keys.js";
import { principalRef, recordAllowed } from "../../auth/actor.js";
import { ROLES } from "../../auth/roles.js";
import type { AuditWriter } from "../../audit/append.js";
import { AppError } from "../../errors.js";
import type { Db } from "../../store/db.js";
import { requestActor, type RouteAuth } from "../auth.js";
import { ProblemDto } from "../dto.js";

export interface ApiKeyRoutesOptions {
  readonly db: Db;
  readonly audit: AuditWriter;
  /** API_KEY_MAX_EXPIRES_DAYS */
  readonly maxExpiresInDays: number;
}

/** Never the secret, never its hash. */
export const ApiKeyDto = z.object({
  id: z.uuid(),
  prefix: z.string(),
  name: z.string(),
  role: z.enum(ROLES),
  teams: z.array(z.string()),
  state: z.enum(["active", "expired", "revoked"]),
  createdBy: z.string(),
  createdAt: z.string(),
  expiresAt: z.string(),
  revokedAt: z.string().nullable(),
  revokedBy: z.string().nullable(),
  lastUsedAt: z.string().nullable().describe("updated at most once a minute"),
}).meta({ id: "ApiKey", description: "An API key as admins see it: never the secret, never its hash" });
const ApiKeyCreated = z
  .object({ key: ApiKeyDto, secret: z.string().describe("`authorization: Bearer <secret>`; shown once, stored nowhere") })
  .meta({ id: "ApiKeyCreated", description: "A new API key and its secret (in this response only)" });
const ApiKeyList = z.object({ items: z.array(ApiKeyDto) }).meta({ id: "ApiKeyList", description: "Every API key, revoked and expired ones too" });

const toDto = (k: ApiKeyInfo): z.input<typeof ApiKeyDto> => ({ ...k, teams: [...k.teams], state: apiKeyState(k) });
const Id = z.object({ id: z.string().min(1).max(64) });
const admin = (action?: "apikey.create" | "apikey.revoke"): { auth: RouteAuth } => ({ auth: action ? { role: "admin", action } : { role: "admin" } });
const denied = { 401: ProblemDto, 403: ProblemDto, 404: ProblemDto, 429: ProblemDto };
const notFound = (id: string) => new AppError("NOT_FOUND", `No API key with id "${id}".`);

/** `/v1/api-keys`: admins create (the secret is shown once), list and revoke keys. Every change is audited. */
const apiKeyRoutes: FastifyPluginAsyncZod<ApiKeyRoutesOptions> = async (app, { db, audit, maxExpiresInDays }) => {
  app.post(
    "/v1/api-keys",
    {
      config: admin("apikey.create"),
      schema: {
        operationId: "createApiKey",
        summary: "Create an API key (the secret is in this response only)",
        tags: ["api-keys"],
        body: NewApiKey,
        response: { 201: ApiKeyCreated, 400: ProblemDto, ...denied },
      },
    },
    async (request, reply) => {
      const actor = requestActor(request);
      const created = await db.transaction(async (tx) => {
        const made = await createApiKey(tx, { ...request.body, maxExpiresInDays, createdBy: principalRef(actor.principal) });
        await recordAllowed(audit, tx, actor, "apikey.create", { kind: "apikey", id: made.key.id }, keyDetails(made.key));
        return made;
      });
      return reply.code(201).header("cache-control", "no-store").send({ key: toDto(created.key), secret: created.secret });
    },
  );

  app.get(
    "/v1/api-keys",
    { config: admin(), schema: { operationId: "listApiKeys", summary: "List API keys (revoked and expired ones too)", tags: ["api-keys"], response: { 200: ApiKeyList, ...denied } } },
    async () => ({ items: (await listApiKeys(db)).map(toDto) }),
  );

  app.get(
    "/v1/api-keys/:id",
    { config: admin(), schema: { operationId: "getApiKey", summary: "Get an API key", tags: ["api-keys"], params: Id, response: { 200: ApiKeyDto, ...denied } } },
    async (request) => {
      const key = await getApiKey(db, request.params.id);
      if (key === undefined) throw notFound(request.params.id);
      return toDto(key);
    },
  );

  app.delete(
    "/v1/api-keys/:id",
    { config: admin("apikey.revoke"), schema: { operationId: "revokeApiKey", summary: "Revoke an API key (immediately, for good)", tags: ["api-keys"], params: Id, response: { 200: ApiKeyDto, ...denied } } },
    async (request) => {
      const actor = requestActor(request);
      const revoked = await db.transaction(async (tx) => {
        const r = await revokeApiKey(tx, request.params.id, principalRef(actor.principal));
        if (r === undefined) throw notFound(request.params.id);
        // Revoking again changes nothing, so it is not a record of its own.
        if (!r.alreadyRevoked) {
          await recordAllowed(audit, tx, actor, "apikey.revoke", { kind: "apikey", id: r.key.id }, keyDetails(r.key));
        }
        return r;
      });
      return toDto(revoked.key);
    },
  );
};

export default apiKeyRoutes;
