import type { FastifyPluginAsyncZod, ZodTypeProvider } from "fastify-type-provider-zod";
import { z } from "zod";
import type { AuditAction } from "../../audit/record.js";
import { KEY_DISPOSITIONS } from "../../../programs/types.js";
import { KMSUSER_PASSWORD } from "../../onboarding/key-store.js";
import { Lifecycle } from "../../onboarding/lifecycle.js";
import { DriftStatus } from "../../onboarding/drift.js";
import * as keyStores from "../../onboarding/key-store-service.js";
import * as service from "../../onboarding/providers-service.js";
import type { ProviderSpecSchema } from "../../onboarding/spec.js";
import { AcceptedDto, OperationListDto, ProblemDto, ProviderDto, ProviderListDto, toOperationDto, toProviderDto, toProviderSummaryDto } from "../dto.js";
import { idempotencyOf, MutationHeaders, respondAccepted, streamingRepresentationOf } from "../respond.js";
import { requestActor, type RouteAuth } from "../auth.js";
import type { StreamDeps } from "../streaming.js";

export interface ProviderRoutesOptions {
  readonly deps: service.ProvidersDeps;
  readonly stream: StreamDeps;
  readonly specSchema: ProviderSpecSchema;
}

const Name = z.object({ name: z.string().min(1).max(64) });

/** Optional body of a decommission; without a key, the key is retained (or, on a retry, as the earlier attempt chose). */
const DecommissionBody = z
  .strictObject({
    // No default here: a retry without a key inherits the earlier attempt's choice (providers-service.ts).
    key: z
      .enum(KEY_DISPOSITIONS)
      .optional()
      .describe(
        "the provider's BYOK key: retain (default) disables it and keeps it, so data encrypted with it stays recoverable; " +
          "shred schedules its deletion with the landing zone's window (crypto-shredding: that data becomes unreadable for good). " +
          "A retry of a decommission that already ran keeps that attempt's choice: omit it, or repeat it (another value is a 409)",
      ),
  })
  .describe("Decommission options");
/** PUT /key-store: never echoed, never logged, never audited in clear (the password is stored sealed). */
const KeyStoreBody = z
  .strictObject({
    trustAnchorCertificate: z
      .string()
      .min(1)
      .max(16_384)
      .describe("customerCA.crt, PEM: the issuing CA certificate that signed the cluster's CSR (one certificate, CA:TRUE, valid now)"),
    kmsuserPassword: z
      .string()
      .max(32, { message: "must be 7-32 printable ASCII characters (the kmsuser crypto user's password)", abort: true })
      .regex(KMSUSER_PASSWORD, "must be 7-32 printable ASCII characters (the kmsuser crypto user's password)")
      .describe("the kmsuser crypto user's password, 7-32 characters; stored sealed, given to the engine as secret stack config, never returned"),
  })
  .describe("CloudHSM key store hand-over");
const problems = { 400: ProblemDto, 401: ProblemDto, 403: ProblemDto, 404: ProblemDto, 429: ProblemDto, 406: ProblemDto, 409: ProblemDto, 413: ProblemDto, 415: ProblemDto, 422: ProblemDto };
const accepted = { 202: AcceptedDto, ...problems };

/** The next page keeps every filter of this one. */
function nextPage(query: { limit: number; lifecycle?: string | undefined; team?: string | undefined; drift?: string | undefined }, cursor: string): string {
  const params = new URLSearchParams({ limit: String(query.limit), cursor });
  if (query.lifecycle) params.set("lifecycle", query.lifecycle);
  if (query.team) params.set("team", query.team);
  if (query.drift) params.set("drift", query.drift);
  return `/v1/providers?${params.toString()}`;
}

const read: { auth: RouteAuth } = { auth: { role: "viewer" } };
/** A change: an operator's, audited as `action`; it answers with the operation, or streams its progress. */
const change = (action: AuditAction): { auth: RouteAuth; streams: true } => ({ auth: { role: "operator", action }, streams: true });
const readProblems = { 401: ProblemDto, 403: ProblemDto, 404: ProblemDto, 429: ProblemDto };

const providerRoutes: FastifyPluginAsyncZod<ProviderRoutesOptions> = async (app, { deps, stream, specSchema }) => {
  app.post(
    "/v1/providers",
    {
      config: change("provider.create"),
      schema: { operationId: "createProvider", summary: "Onboard a provider", tags: ["providers"], headers: MutationHeaders, body: specSchema, response: accepted },
    },
    async (request, reply) => {
      const rep = streamingRepresentationOf(request, stream);
      const result = await service.createProvider(deps, requestActor(request), request.body, idempotencyOf(request, request.body));
      return respondAccepted(request, reply, stream, result, rep);
    },
  );

  app.get(
    "/v1/providers",
    {
      config: read,
      schema: {
        operationId: "listProviders",
        summary: "List providers (of the caller's teams)",
        tags: ["providers"],
        querystring: z.strictObject({
          limit: z.coerce.number().int().min(1).max(100).default(20),
          cursor: z.string().max(512).optional(),
          lifecycle: Lifecycle.optional(),
          team: z.string().max(64).optional(),
          drift: DriftStatus.optional().describe("only providers whose last drift check says this (never checked: unknown)"),
        }),
        response: { 200: ProviderListDto, 400: ProblemDto, ...readProblems },
      },
    },
    async (request) => {
      const page = await service.listProviders(deps, requestActor(request).principal, request.query);
      return {
        items: page.items.map(toProviderSummaryDto),
        ...(page.nextCursor ? { nextCursor: page.nextCursor } : {}),
        links: page.nextCursor ? { next: nextPage(request.query, page.nextCursor) } : {},
      };
    },
  );

  app.get(
    "/v1/providers/:name",
    { config: read, schema: { operationId: "getProvider", summary: "Get a provider", tags: ["providers"], params: Name, response: { 200: ProviderDto, ...readProblems } } },
    async (request) => {
      const view = await service.getProvider(deps, requestActor(request).principal, request.params.name);
      return toProviderDto(view.provider, view.activeOperations, view.keyStore, view.expiry);
    },
  );

  app.get(
    "/v1/providers/:name/operations",
    {
      config: read,
      schema: {
        operationId: "listProviderOperations",
        summary: "A provider's operations, newest first (its history)",
        tags: ["providers"],
        params: Name,
        querystring: z.strictObject({
          limit: z.coerce.number().int().min(1).max(100).default(20),
          before: z.string().max(20).regex(/^[1-9][0-9]{0,18}$/, "must be the cursor from links.next").optional().describe("continues a page: from links.next"),
        }),
        response: { 200: OperationListDto, 400: ProblemDto, ...readProblems },
      },
    },
    async (request) => {
      const { name } = request.params;
      const page = await service.listProviderOperations(deps, requestActor(request).principal, name, request.query);
      const next = page.next === undefined ? {} : { next: `/v1/providers/${encodeURIComponent(name)}/operations?${new URLSearchParams({ limit: String(request.query.limit), before: page.next }).toString()}` };
      return { items: page.items.map((op) => toOperationDto(op)), links: next };
    },
  );

  app.put(
    "/v1/providers/:name",
    {
      config: change("provider.update"),
      schema: { operationId: "updateProvider", summary: "Change a provider's spec (→ up)", tags: ["providers"], params: Name, headers: MutationHeaders, body: specSchema, response: accepted },
    },
    async (request, reply) => {
      const rep = streamingRepresentationOf(request, stream);
      const result = await service.updateProvider(deps, requestActor(request), request.params.name, request.body, idempotencyOf(request, request.body));
      return respondAccepted(request, reply, stream, result, rep);
    },
  );

  app.post(
    "/v1/providers/:name/preview",
    {
      config: change("provider.preview"),
      schema: {
        operationId: "previewProvider",
        summary: "Plan without changes (current spec, or the proposed spec in the body)",
        tags: ["providers"],
        params: Name,
        headers: MutationHeaders,
        // Fastify passes a missing body as null.
        body: specSchema.nullish(),
        response: accepted,
      },
    },
    async (request, reply) => {
      const rep = streamingRepresentationOf(request, stream);
      const proposed = request.body ?? undefined;
      const result = await service.requestAction(deps, requestActor(request), request.params.name, "preview", idempotencyOf(request, proposed ?? null), proposed);
      return respondAccepted(request, reply, stream, result, rep);
    },
  );

  app.put(
    "/v1/providers/:name/key-store",
    {
      config: change("provider.key-store"),
      schema: {
        operationId: "handOverKeyStore",
        summary:
          "CloudHSM phase 2: hand over the trust anchor and the kmsuser password once the cluster is initialised (→ second HSM and custom key store, connect, HSM-backed key; one operation)",
        tags: ["providers"],
        params: Name,
        headers: MutationHeaders,
        body: KeyStoreBody,
        response: accepted,
      },
    },
    async (request, reply) => {
      const rep = streamingRepresentationOf(request, stream);
      const { name } = request.params;
      const idempotency = idempotencyOf(request, keyStores.keyStoreFingerprintBody(deps, name, request.body));
      const result = await keyStores.submitKeyStore(deps, requestActor(request), name, request.body, idempotency);
      return respondAccepted(request, reply, stream, result, rep);
    },
  );

  for (const [action, operationId, summary] of [
    ["revoke", "revokeProvider", "Cut the provider's access now, keep all data (→ up of the revoked variant)"],
    ["reinstate", "reinstateProvider", "Restore a revoked provider's access (→ up of the active variant)"],
    ["drift-checks", "checkProviderDrift", "Detect drift now: compare the stack with the cloud (refresh preview); changed resources and keys, never values, are reported on the provider's `drift`; nothing is changed"],
    ["drift-check", "checkProviderDriftDeprecated", "Deprecated alias of POST /v1/providers/{name}/drift-checks (same request, same operation)"],
  ] as const) {
    const intent = action === "drift-checks" ? "drift-check" : action;
    app.post(
      `/v1/providers/:name/${action}`,
      {
        config: change(`provider.${intent}`),
        schema: { operationId, summary, tags: ["providers"], params: Name, headers: MutationHeaders, response: accepted, ...(action === "drift-check" ? { deprecated: true } : {}) },
      },
      async (request, reply) => {
        const rep = streamingRepresentationOf(request, stream);
        const result = await service.requestAction(deps, requestActor(request), request.params.name, intent, idempotencyOf(request, null));
        return respondAccepted(request, reply, stream, result, rep);
      },
    );
  }

  app.post(
    "/v1/providers/:name/verifications",
    {
      // Read-only in the cloud: an auditor may ask for the proof too.
      config: { auth: { role: "operator", alsoRole: "auditor", action: "provider.verify" }, streams: true },
      schema: {
        operationId: "verifyProviderAccess",
        summary:
          "Verify in AWS, not from state, that the provider's access is what it must be (gone when revoked or decommissioned, exactly the spec's when active): one check per capability, each with a stable code and the AWS ids it saw, on the operation and the provider's `verification`; nothing is changed",
        tags: ["providers"],
        params: Name,
        headers: MutationHeaders,
        response: accepted,
      },
    },
    async (request, reply) => {
      const rep = streamingRepresentationOf(request, stream);
      const result = await service.requestAction(deps, requestActor(request), request.params.name, "verify", idempotencyOf(request, null));
      return respondAccepted(request, reply, stream, result, rep);
    },
  );

  // Generated clients often send `content-type: application/json` on every request, also on a DELETE
  // without a body: here (only here) an empty JSON body means "no options". The options are JSON or
  // nothing: any other content type (text/plain too) is a 415.
  await app.register(async (scope) => {
    scope.removeContentTypeParser("text/plain");
    const json = scope.getDefaultJsonParser("error", "error");
    scope.addContentTypeParser("application/json", { parseAs: "string" }, (request, body, done) => {
      const text = body.toString();
      if (text === "") done(null, null);
      else json(request, text, done);
    });
    scope.withTypeProvider<ZodTypeProvider>().delete(
      "/v1/providers/:name",
      {
        config: change("provider.decommission"),
        schema: {
          operationId: "decommissionProvider",
          summary: "Decommission (→ deletion protection off and the key disabled, then destroy; needs an approval by default)",
          tags: ["providers"],
          params: Name,
          headers: MutationHeaders,
          // Fastify passes a missing body as null.
          body: DecommissionBody.nullish(),
          response: accepted,
        },
      },
      async (request, reply) => {
        const rep = streamingRepresentationOf(request, stream);
        const key = request.body?.key;
        // Without a key the request is the same as one without a body (and its idempotency fingerprint too).
        const options = key === undefined ? null : { key };
        const result = await service.decommissionProvider(deps, requestActor(request), request.params.name, { key }, idempotencyOf(request, options));
        return respondAccepted(request, reply, stream, result, rep);
      },
    );
  });
};

export default providerRoutes;
