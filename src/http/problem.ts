import type { FastifyError, FastifyInstance, FastifyReply, FastifyRequest } from "fastify";
import { isResponseSerializationError } from "fastify-type-provider-zod";
import { AppError, ERROR_TITLES, HTTP_STATUS, type ErrorCode, type FieldError, type ViolationDetail } from "../errors.js";
import { storageCause, type DiskSpace } from "../store/disk-space.js";
import { DatabaseUnavailableError } from "../store/unavailable.js";
import { EvaluationUnavailableError } from "../engine/evaluation-pool.js";

/**
 * The one mapper from errors to RFC 9457 problem+json. Domain errors (AppError) map through the code
 * table; Fastify's own 4xx (bad JSON, wrong content type, body too large) get a code of ours; anything
 * else is a 500 with a generic body, logged once here.
 */
const FASTIFY_CODES: Record<string, ErrorCode> = {
  FST_ERR_CTP_INVALID_MEDIA_TYPE: "UNSUPPORTED_MEDIA_TYPE",
  FST_ERR_CTP_BODY_TOO_LARGE: "PAYLOAD_TOO_LARGE",
  FST_ERR_CTP_EMPTY_JSON_BODY: "MALFORMED_REQUEST",
  FST_ERR_CTP_INVALID_JSON_BODY: "MALFORMED_REQUEST",
  FST_ERR_CTP_INVALID_CONTENT_LENGTH: "MALFORMED_REQUEST",
  FST_ERR_VALIDATION: "VALIDATION_FAILED",
};

type ValidationLocation = "body" | "querystring" | "params" | "headers";
const LOCATION_PREFIX: Record<ValidationLocation, string> = { body: "", querystring: "query:", params: "path:", headers: "header:" };

export function problemType(code: ErrorCode): string {
  return `/problems/${code.toLowerCase().replace(/_/g, "-")}`;
}

export function sendProblem(
  request: FastifyRequest,
  reply: FastifyReply,
  code: ErrorCode,
  detail: string,
  extra: {
    errors?: readonly FieldError[] | undefined;
    links?: Readonly<Record<string, string>> | undefined;
    violations?: readonly ViolationDetail[] | undefined;
  } = {},
): FastifyReply {
  const status = HTTP_STATUS[code];
  if (code === "UNAVAILABLE") reply.header("retry-after", String(UNAVAILABLE_RETRY_SECONDS));
  return reply
    .code(status)
    .type("application/problem+json")
    .send({
      type: problemType(code),
      title: ERROR_TITLES[code],
      status,
      detail,
      instance: request.url.split("?")[0] ?? request.url,
      code,
      requestId: String(request.id),
      ...(extra.errors && extra.errors.length > 0 ? { errors: extra.errors } : {}),
      ...(extra.links ? { links: extra.links } : {}),
      ...(extra.violations && extra.violations.length > 0 ? { violations: extra.violations } : {}),
    });
}

/** A Fastify route URL (`/v1/providers/:name/revoke`, `/docs/*`) as a regular expression over a request path. */
function routePattern(url: string): RegExp {
  const body = url
    .split("/")
    .map((part) => (part.startsWith(":") ? "[^/]+" : part === "*" ? ".*" : part.replace(/[.*+?^${}()|[\]\\]/g, "\\$&")))
    .join("/");
  return new RegExp(`^${body}/?$`);
}

/** A 507's detail: the cause (which directory, how much is free), and what still works. */
export function insufficientStorageDetail(cause: string): string {
  return `Not stored: ${cause}. Changes are refused until space is freed; reads still work, and GET /readyz says when space is back.`;
}

/** What a 503 asks a client to wait: a failover or a restart takes seconds. */
export const UNAVAILABLE_RETRY_SECONDS = 5;

/** The error, or one of its causes, is the database being unreachable. */
function databaseUnavailable(err: unknown): DatabaseUnavailableError | undefined {
  for (let e: unknown = err, depth = 0; e instanceof Error && depth < 5; e = e.cause, depth++) {
    if (e instanceof DatabaseUnavailableError) return e;
  }
  return undefined;
}

/** Our own errors other than INTERNAL, and Fastify's 4xx: what they say is about the request. */
function isClientError(err: FastifyError | AppError): boolean {
  if (err instanceof AppError) return err.code !== "INTERNAL";
  return (err as FastifyError).validation !== undefined || (err.statusCode !== undefined && err.statusCode < 500);
}

export interface ProblemHandlerOptions {
  /** The disk-space monitor: told to look again when a write failed for lack of space. */
  readonly storage?: Pick<DiskSpace, "invalidate"> | undefined;
}

export function registerProblemHandlers(app: FastifyInstance, options: ProblemHandlerOptions = {}): void {
  app.setErrorHandler((err: FastifyError | AppError, request, reply) => {
    // A write that failed for lack of space, wherever it failed (even past the pre-check): a 507 naming
    // the cause, not a 500 (issue 14). Client errors keep their meaning (a JSON parse error quotes the body).
    const spaceCause = isClientError(err) ? undefined : storageCause(err);
    if (spaceCause !== undefined) {
      options.storage?.invalidate();
      request.log.error({ err }, "request failed: out of disk space");
      return sendProblem(request, reply, "INSUFFICIENT_STORAGE", insufficientStorageDetail(spaceCause));
    }
    const unavailable = databaseUnavailable(err);
    if (unavailable) {
      // One request fails; the process, the pool and every other request carry on (issue 14).
      request.log.warn({ err: unavailable }, "request failed: the database is unavailable");
      return sendProblem(
        request,
        reply,
        "UNAVAILABLE",
        "The database is unavailable (a failover or a restart). Retry in a few seconds: a change retried with the same Idempotency-Key is never applied twice.",
      );
    }
    if (err instanceof EvaluationUnavailableError) {
      // A worker of the evaluation pool crashed or hung: this request only; the pool replaced the worker.
      request.log.warn({ err }, "request failed: program evaluation unavailable");
      return sendProblem(request, reply, "UNAVAILABLE", `The guardrail check could not run: ${err.message}. Retry in a few seconds: a change retried with the same Idempotency-Key is never applied twice.`);
    }
    if (err instanceof AppError) {
      // A change refused while space is low is expected: one warning each, not an error.
      if (err.code === "INSUFFICIENT_STORAGE") request.log.warn({ detail: err.message }, "change refused: disk space low");
      else if (err.status >= 500) request.log.error({ err }, "request failed");
      return sendProblem(request, reply, err.code, err.message, { errors: err.errors, links: err.links, violations: err.violations });
    }
    const validation = (err as FastifyError).validation as FieldError[] | undefined;
    if (validation) {
      const where = ((err as FastifyError).validationContext ?? "body") as ValidationLocation;
      const errors = validation.map((e) => ({ ...e, path: LOCATION_PREFIX[where] + e.path }));
      const first = errors[0];
      const detail = first ? `${first.path || "(body)"}: ${first.message}` : "The request is not valid.";
      return sendProblem(request, reply, "VALIDATION_FAILED", `${errors.length} problem(s) in the ${where}. ${detail}`, { errors });
    }
    const statusCode = (err as FastifyError).statusCode;
    if (!isResponseSerializationError(err) && statusCode !== undefined && statusCode >= 400 && statusCode < 500) {
      const code = FASTIFY_CODES[(err as FastifyError).code] ?? (statusCode === 413 ? "PAYLOAD_TOO_LARGE" : "MALFORMED_REQUEST");
      // Fastify's client-error messages describe the request, not the server (e.g. "Unexpected token").
      return sendProblem(request, reply, code, err.message);
    }
    request.log.error({ err }, "request failed");
    return sendProblem(request, reply, "INTERNAL", "The server could not complete the request. It has been logged.");
  });

  // Every route's method and URL pattern, so that a known path asked with another method is a 405 with
  // `Allow` (RFC 9110 §15.5.6), not a 404.
  const routes: { method: string; pattern: RegExp }[] = [];
  app.addHook("onRoute", (route) => {
    for (const method of [route.method].flat()) routes.push({ method, pattern: routePattern(route.url ?? route.path) });
  });
  app.setNotFoundHandler((request, reply) => {
    const path = request.url.split("?")[0] ?? "";
    const allowed = [...new Set(routes.filter((r) => r.pattern.test(path)).map((r) => r.method))].sort();
    if (allowed.length > 0 && !allowed.includes(request.method)) {
      reply.header("allow", allowed.join(", "));
      return sendProblem(request, reply, "METHOD_NOT_ALLOWED", `${request.method} is not allowed on ${path}; allowed: ${allowed.join(", ")}.`);
    }
    return sendProblem(request, reply, "NOT_FOUND", `No route ${request.method} ${path}.`);
  });
}
