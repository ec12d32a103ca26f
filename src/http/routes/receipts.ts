import type { FastifyPluginAsyncZod } from "fastify-type-provider-zod";
import { z } from "zod";
import { toJwks } from "../../audit/receipts/jwks.js";
import { evidenceFor, receiptFor, type ReceiptsDeps } from "../../audit/receipts/receipts-service.js";
import { requestActor, type RouteAuth } from "../auth.js";
import { ProblemDto } from "../dto.js";

export type ReceiptRoutesOptions = ReceiptsDeps;

const Jwk = z.object({
  kty: z.literal("OKP"),
  crv: z.literal("Ed25519"),
  x: z.string().describe("the raw public key, base64url"),
  kid: z.string().describe("the key id receipts, manifests and signed heads name"),
  use: z.literal("sig"),
  alg: z.literal("EdDSA"),
  status: z.enum(["current", "previous"]).describe("`current` signs now; `previous` keys verify what they signed before a rotation"),
});
const KeySet = z.object({ keys: z.array(Jwk).readonly() }).meta({ id: "KeySet", description: "The audit trail's public keys (JWKS, Ed25519): they verify receipts, evidence packs and signed chain heads" });

// Loose objects: the response is the signed document itself, so nothing may be dropped by the serializer.
const SignedReceiptDto = z
  .looseObject({
    receipt: z.looseObject({
      version: z.literal("saas-bridge.receipt/v1"),
      operation: z.looseObject({ id: z.string(), intent: z.string(), kind: z.string(), status: z.string() }),
      provider: z.string(),
      specHash: z.string(),
      programVersion: z.string(),
      engine: z.string(),
      summary: z.unknown(),
      resources: z.array(z.looseObject({ urn: z.string(), type: z.string(), id: z.string() })).readonly(),
      verification: z.unknown(),
      approvals: z.array(z.looseObject({})).readonly(),
      audit: z.looseObject({ seq: z.number().int(), hash: z.string() }),
      issuedAt: z.string(),
    }),
    signature: z.looseObject({ alg: z.literal("EdDSA"), crv: z.literal("Ed25519"), keyId: z.string(), value: z.string().describe("Ed25519 signature, base64url") }),
  })
  .meta({
    id: "SignedReceipt",
    description: "What a finished operation did, signed with Ed25519 over `saas-bridge receipt v1\\n` + the canonical JSON (RFC 8785) of `receipt`; verify with GET /v1/keys",
  });

const OperationId = z.object({ id: z.uuid().max(36) });
const ProviderName = z.object({ name: z.string().min(1).max(64) });
const denied = { 401: ProblemDto, 403: ProblemDto, 429: ProblemDto };
const readers: { auth: RouteAuth } = { auth: { role: "viewer", alsoRole: "auditor" } };
const auditor: { auth: RouteAuth } = { auth: { role: "auditor" } };

/** Receipts, the public keys that verify them, and evidence packs (issue 17). */
const receiptRoutes: FastifyPluginAsyncZod<ReceiptRoutesOptions> = async (app, deps) => {
  // Public keys are public: a verifier needs them without being a user of this service.
  const keys = toJwks(deps.verifyKeys);
  app.get(
    "/v1/keys",
    {
      config: { auth: { public: true } },
      schema: { operationId: "listPublicKeys", summary: "The public keys that verify receipts and evidence packs (JWKS; no credentials)", tags: ["audit"], response: { 200: KeySet } },
    },
    async (_request, reply) => reply.header("cache-control", "public, max-age=300").send(keys),
  );

  app.get(
    "/v1/operations/:id/receipt",
    {
      config: readers,
      schema: {
        operationId: "getOperationReceipt",
        summary: "The signed receipt of a finished operation",
        tags: ["operations"],
        params: OperationId,
        response: { 200: SignedReceiptDto, 400: ProblemDto, 404: ProblemDto, 409: ProblemDto, ...denied },
      },
    },
    async (request) => receiptFor(deps, requestActor(request).principal, request.params.id),
  );

  app.get(
    "/v1/providers/:name/evidence",
    {
      config: auditor,
      schema: {
        operationId: "getProviderEvidence",
        summary: "An evidence pack (ZIP): spec history, approvals, receipts, audit records with their chain and signed heads, the latest verification, a signed manifest",
        tags: ["audit"],
        params: ProviderName,
        produces: ["application/zip"],
        response: {
          200: z.any().describe("application/zip: the evidence pack (verify with `npm run verify-receipt -- pack.zip --keys keys.json`)"),
          404: ProblemDto,
          422: ProblemDto,
          ...denied,
        },
      },
    },
    async (request, reply) => {
      const pack = await evidenceFor(deps, requestActor(request), request.params.name);
      const stamp = pack.manifest.generatedAt.replace(/[:.]/g, "-");
      return reply
        .type("application/zip")
        .header("content-disposition", `attachment; filename="evidence-${request.params.name}-${stamp}.zip"`)
        .header("cache-control", "no-store")
        .send(Buffer.from(pack.zip));
    },
  );
};

export default receiptRoutes;
