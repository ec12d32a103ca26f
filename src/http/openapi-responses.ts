import { ERROR_CODES, ERROR_TITLES, HTTP_STATUS } from "../errors.js";

/**
 * The answers every route shares, as reusable `components.responses` and `components.headers` of the
 * OpenAPI document (issue 13), each stated from what the server does:
 * - a problem response per status the server sends, naming the stable codes it carries (src/errors.ts);
 * - the rate-limit headers @fastify/rate-limit sets on every answer of a limited route, `Retry-After` on a
 *   429 (src/http/hardening.ts), CORS's `Access-Control-Allow-Origin` when CORS_ORIGINS allows the origin;
 * - the three live-progress media types of a route that negotiates them (src/http/negotiate.ts).
 */
type Json = Record<string, unknown>;

/** Component names of the problem responses, by status. */
const PROBLEM_RESPONSES: Readonly<Record<number, string>> = {
  400: "BadRequest",
  401: "Unauthenticated",
  403: "Forbidden",
  404: "NotFound",
  406: "NotAcceptable",
  409: "Conflict",
  413: "PayloadTooLarge",
  415: "UnsupportedMediaType",
  422: "UnprocessableContent",
  429: "TooManyRequests",
  500: "InternalError",
  503: "Unavailable",
  507: "InsufficientStorage",
};

export const problemResponseRef = (status: number): Json | undefined =>
  PROBLEM_RESPONSES[status] === undefined ? undefined : { $ref: `#/components/responses/${PROBLEM_RESPONSES[status]}` };

const headerRef = (name: string): Json => ({ $ref: `#/components/headers/${name}` });

/**
 * Headers, named as sent. A limited route's every answer carries the rate-limit headers; the probes
 * (/healthz, /readyz) are not limited.
 */
export const named = (...names: string[]): Readonly<Record<string, Json>> => Object.fromEntries(names.map((n) => [n, headerRef(n)]));
export const RATE_LIMIT_HEADERS = named("X-RateLimit-Limit", "X-RateLimit-Remaining", "X-RateLimit-Reset");
export const CORS_HEADERS = named("Access-Control-Allow-Origin");
export const ACCEPTED_HEADERS = named("Location", "Operation-Id");
export const NO_STORE_HEADERS = named("Cache-Control");

const seconds = (max: number): Json => ({ type: "integer", format: "int32", minimum: 0, maximum: max });

export const HEADER_COMPONENTS: Readonly<Record<string, Json>> = {
  "X-RateLimit-Limit": {
    description: "Requests allowed per minute (per address, or per credential when that limit answered). Absent on /healthz and /readyz.",
    schema: seconds(1_000_000),
  },
  "X-RateLimit-Remaining": { description: "Requests left in the current minute.", schema: seconds(1_000_000) },
  "X-RateLimit-Reset": { description: "Seconds until the current minute's count starts again.", schema: seconds(60) },
  "Retry-After": {
    description: "Seconds to wait before trying again: sent by the per-address and per-credential limits (not by the open-stream cap).",
    schema: seconds(86_400),
  },
  "WWW-Authenticate": {
    description: 'The scheme to use: `Bearer realm="saas-bridge"`, with `error="invalid_token"` when a credential was sent and refused.',
    required: true,
    schema: { type: "string", maxLength: 100, pattern: '^Bearer realm="saas-bridge"(, error="invalid_token")?$' },
  },
  "Access-Control-Allow-Origin": {
    description: "Sent when CORS_ORIGINS lists the request's Origin (that origin, exactly); never `*`.",
    schema: { type: "string", format: "uri", maxLength: 2048 },
  },
  "Location": {
    description: "The operation this request created (or, replayed, an earlier identical request created).",
    required: true,
    schema: { type: "string", format: "uri-reference", maxLength: 200 },
  },
  "Operation-Id": { description: "The operation's id (also in the body).", required: true, schema: { type: "string", format: "uuid", maxLength: 36 } },
  "Link": {
    description: 'On a stream and on its 204: the operation it belongs to, `</v1/operations/{id}>; rel="operation"`.',
    schema: { type: "string", maxLength: 200, pattern: '^</v1/operations/[^>]+>; rel="operation"$' },
  },
  "Cache-Control": {
    description: "`no-store`: the body holds a secret or a credential.",
    required: true,
    schema: { type: "string", const: "no-store" },
  },
};

/** What each problem status means here: the codes it carries and their titles. */
function problemDescription(status: number): string {
  const codes = ERROR_CODES.filter((c) => HTTP_STATUS[c] === status);
  const extra: Readonly<Record<number, string>> = {
    400: " `errors[].path` names the field: a JSON Pointer into the body, or `path:/…`, `query:/…`, `header:/…` for a parameter.",
    401: " No credential, or one that is unknown, expired or revoked.",
    404: " Also what an object of another team looks like.",
    406: " Offered: application/json, text/event-stream, application/x-ndjson, text/plain.",
    413: " BODY_LIMIT_BYTES (default 1 MiB).",
    415: " Bodies are `application/json`, uncompressed (`Content-Encoding` other than identity is refused).",
    429: " Per address, per credential, or open streams per credential.",
    500: " Unexpected: logged with the `requestId`.",
    503: " The database is unreachable (a failover or a restart), or the guardrail check could not run (a program-evaluation worker crashed or hung): retry after `Retry-After` seconds, with the same Idempotency-Key for a change.",
    507: " The service's disk has less free space than DISK_MIN_FREE_MB, or a write failed for lack of space; the detail names the directory. Nothing was stored; reads still work; `GET /readyz` says when space is back.",
  };
  return `${codes.map((c) => `\`${c}\` (${ERROR_TITLES[c]})`).join(", ")}.${extra[status] ?? ""}`;
}

export function problemResponseComponents(): Record<string, Json> {
  return Object.fromEntries(
    Object.entries(PROBLEM_RESPONSES).map(([status, name]) => [
      name,
      {
        description: problemDescription(Number(status)),
        headers: {
          ...(Number(status) === 429 || Number(status) === 503 ? named("Retry-After") : {}),
          ...(Number(status) === 401 ? named("WWW-Authenticate") : {}),
          ...RATE_LIMIT_HEADERS,
          ...CORS_HEADERS,
        },
        content: { "application/problem+json": { schema: { $ref: "#/components/schemas/Problem" } } },
      },
    ]),
  );
}

/**
 * The live-progress bodies of a route that negotiates them: one operation's events until it ends. A stream
 * has no schema; each event in it is a components/schemas/OperationEvent.
 */
export const STREAM_CONTENT: Readonly<Record<string, Json>> = { "text/event-stream": {}, "application/x-ndjson": {}, "text/plain": {} };

export const STREAM_DESCRIPTION =
  "With a streaming Accept, the live progress until the operation ends: `text/event-stream` (server-sent events: `id: <seq>`, `event: <type>`, `data: <OperationEvent JSON>`, `: keep-alive` comments; resume with `Last-Event-ID` or `?after=`), " +
  "`application/x-ndjson` (one OperationEvent per line) or `text/plain` (readable lines for a terminal, `curl -N`).";
