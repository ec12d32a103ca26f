import pino, { type DestinationStream, type Logger } from "pino";

/** Field names never written to logs, at the top level and one or two levels down (`*.x`, `*.*.x`). */
const SECRET_FIELDS = ["password", "passphrase", "secret", "token", "apiKey", "key", "privateKey", "ticket", "clientSecret", "keyStorePassword", "kmsuserPassword", "grantToken"];
/** Credential-carrying request headers, wherever a `headers` object is logged (`req`, `request`, an error's `config`…). */
const SECRET_HEADERS = ["authorization", "cookie", '["x-api-key"]'];
const header = (h: string) => (h.startsWith("[") ? h : `.${h}`);

/** Paths never written to logs: credentials in headers, stream tickets in queries, secret-looking fields. */
export const REDACT_PATHS = [
  ...SECRET_HEADERS.flatMap((h) => [`headers${header(h)}`, `*.headers${header(h)}`]),
  "req.query.ticket",
  // `key` alone is a common, harmless top-level field (rate-limit and idempotency keys); nested it is redacted.
  ...SECRET_FIELDS.filter((f) => f !== "key"),
  ...SECRET_FIELDS.flatMap((f) => [`*.${f}`, `*.*.${f}`]),
];

/** `?ticket=…` (an event-stream ticket is a short-lived credential) → `?ticket=[redacted]`. */
export function redactUrl(url: string): string {
  return url.replace(/([?&;]ticket=)[^&#;]*/gi, "$1[redacted]");
}

/**
 * Replaces Fastify's `req` serializer (same shape) so the logged URL carries no ticket; a plain object
 * logged as `req` keeps its fields, with its `url` redacted the same way.
 */
function serializeReq(req: unknown): unknown {
  if (typeof req !== "object" || req === null) return req;
  const r = req as Record<string, unknown> & { headers?: Record<string, unknown>; socket?: { remotePort?: number } };
  if ("raw" in r && "routeOptions" in r) {
    return {
      method: r.method,
      url: typeof r.url === "string" ? redactUrl(r.url) : r.url,
      version: r.headers?.["accept-version"],
      host: r.host,
      remoteAddress: r.ip,
      remotePort: r.socket?.remotePort,
    };
  }
  return typeof r.url === "string" ? { ...r, url: redactUrl(r.url) } : r;
}

export function createLogger(level: string, destination?: DestinationStream): Logger {
  return pino({ level, redact: { paths: REDACT_PATHS, censor: "[redacted]" }, serializers: { req: serializeReq } }, destination);
}
