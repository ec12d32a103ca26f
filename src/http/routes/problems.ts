import type { FastifyPluginAsyncZod } from "fastify-type-provider-zod";
import { z } from "zod";
import { ERROR_CODES, ERROR_TITLES, HTTP_STATUS, type ErrorCode } from "../../errors.js";
import { problemType } from "../problem.js";

/**
 * `GET /problems/{type}`: a page for each problem type, so that the `type` URI of every problem the
 * server sends resolves (RFC 9457 §3.1.1: relative to the request, it names this route). Public: a client
 * following a link from a 401 has no credential, and the pages say nothing about any deployment.
 */
const WHAT_TO_DO: Readonly<Record<ErrorCode, string>> = {
  VALIDATION_FAILED: "A field or parameter is not valid. `errors[]` lists each one: `path` is a JSON Pointer into the body, or `path:/…`, `query:/…`, `header:/…` for a parameter. Fix those and send the request again.",
  MALFORMED_REQUEST: "The body could not be read: it is not JSON, it is empty where JSON is expected, or its length is wrong.",
  UNAUTHENTICATED: "Send `authorization: Bearer <API key or OIDC token>`. The credential may be unknown, expired or revoked; repeated failures from one address are rate-limited.",
  FORBIDDEN: "The credential is valid but its role does not allow this. The refusal is audited.",
  RATE_LIMITED: "Too many requests in the current minute, per address or per credential. Wait for the seconds in `Retry-After`.",
  TOO_MANY_STREAMS: "The credential has as many live streams open as MAX_STREAMS_PER_PRINCIPAL allows. Close one, or ask for JSON instead of a stream.",
  APPROVAL_INVALID: "The approval does not apply: the operation is not awaiting approval, its request expired, or the spec hash named is not the one the operation would apply (review that spec). Self-approval is a 403 SELF_APPROVAL.",
  SELF_APPROVAL:
    "The caller requested this change, so they cannot approve or reject it: four eyes means a second person with the approver role decides. Ask one (the refusal is audited).",
  UNSUPPORTED_MEDIA_TYPE: "Bodies are `application/json`, uncompressed. Another Content-Type, or a Content-Encoding other than identity, is refused.",
  NOT_ACCEPTABLE: "The Accept header allows none of application/json, text/event-stream, application/x-ndjson and text/plain.",
  PAYLOAD_TOO_LARGE: "The body is larger than BODY_LIMIT_BYTES (1 MiB by default).",
  NOT_FOUND: "Nothing with this name or id exists, or it belongs to a team the credential does not see (the two look the same). An unknown path is a 404 too.",
  METHOD_NOT_ALLOWED: "The path exists, but not with this method. The `Allow` header lists the methods it takes.",
  PROVIDER_EXISTS: "A provider with this name is onboarded already. `links` points at it; change it with PUT instead.",
  INVALID_STATE: "The provider's lifecycle does not allow this now (for example, revoking a provider that is not active, or changing one that is being decommissioned). The detail names the state.",
  OPERATION_FINISHED: "The operation has finished already: there is nothing to cancel, approve or reject.",
  ROLLOUT_CONFLICT: "A rollout is open already (one at a time: `links.rollout` points at it; pause, cancel or let it finish), no stack is behind this service's program version, or the rollout's state does not allow the request (for example resuming one that is not paused, or approving one that is not awaiting approval). The detail names the state.",
  DELIVERY_PENDING: "The webhook delivery is still being sent or retried (it is `pending`): only a `delivered` or `dead` one can be redelivered. Its attempts are listed at its URL.",
  RECEIPT_NOT_READY: "A receipt is signed when its operation ends (succeeded, failed, cancelled or interrupted). Ask again once GET /v1/operations/{id} shows a final status; the operation's event stream says when.",
  EVIDENCE_TOO_LARGE: "The provider's evidence (its operations, or the audit records needed to check them against the signed chain heads) is past the pack's bound; the detail names the number and the bound. Use GET /v1/audit with the provider's filters and GET /v1/operations/{id}/receipt for each operation instead.",
  IDEMPOTENCY_KEY_REUSED: "This Idempotency-Key was used before with a different request. Use a new key for a new request.",
  GUARDRAIL_VIOLATION: "What the request would build breaks a guardrail of the landing zone. `violations[]` names each rule and the resource.",
  UNSUPPORTED_FEATURE: "The provider program of this version cannot build part of the spec yet; the detail says which.",
  UNAVAILABLE: "The database is unreachable (a failover or a restart), or the guardrail check could not run (a worker that evaluates the provider program crashed or hung; it has been replaced). Nothing of the change was stored. Retry after the seconds in `Retry-After`; a change retried with the same Idempotency-Key is never applied twice. GET /readyz says when the service is ready again.",
  INSUFFICIENT_STORAGE: "The disk the service writes to (its database, the engine's work and state directories) has less free space than DISK_MIN_FREE_MB, or a write failed for lack of space; the detail names the directory and the numbers. Nothing of the change was stored. Reads still work. Retry once an operator has freed space: GET /readyz is 200 again then, and a change retried with the same Idempotency-Key is never applied twice.",
  INTERNAL: "An unexpected failure. It is logged with the problem's `requestId`: give that to the operators.",
};

const BY_TYPE = new Map(ERROR_CODES.map((code) => [problemType(code).slice("/problems/".length), code]));

const escape = (s: string) => s.replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;");
const inline = (s: string) => escape(s).replace(/`([^`]+)`/g, "<code>$1</code>");

function page(code: ErrorCode): string {
  const title = `${HTTP_STATUS[code]} ${ERROR_TITLES[code]}`;
  return [
    "<!doctype html>",
    '<html lang="en"><head><meta charset="utf-8">',
    `<title>${escape(title)} — saas-bridge</title></head><body>`,
    `<h1>${escape(ERROR_TITLES[code])}</h1>`,
    `<p>Status <strong>${HTTP_STATUS[code]}</strong>, code <code>${code}</code>.</p>`,
    `<p>${inline(WHAT_TO_DO[code])}</p>`,
    '<p>Every problem is <code>application/problem+json</code> (RFC 9457) with <code>type</code>, <code>title</code>, <code>status</code>, <code>detail</code>, <code>instance</code>, <code>code</code> and <code>requestId</code>. The API: <a href="/docs">/docs</a>.</p>',
    "</body></html>",
    "",
  ].join("\n");
}

export const PROBLEM_TYPES = [...BY_TYPE.keys()];

const problemRoutes: FastifyPluginAsyncZod = async (app) => {
  app.get(
    "/problems/:type",
    {
      config: { auth: { public: true } },
      schema: {
        operationId: "describeProblemType",
        summary: "The page a problem's `type` names: what the problem means and what to do",
        tags: ["problems"],
        params: z.object({ type: z.enum(PROBLEM_TYPES as [string, ...string[]]).describe("the last segment of a problem's `type`") }),
        response: { 200: { description: "The page", content: { "text/html": { schema: z.string().max(8192).regex(/^<!doctype html>/) } } } },
      },
    },
    async (request, reply) => {
      const code = BY_TYPE.get(request.params.type)!;
      return reply.type("text/html; charset=utf-8").header("cache-control", "public, max-age=86400").send(page(code));
    },
  );
};

export default problemRoutes;
