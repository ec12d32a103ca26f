import { principalRef } from "../auth/actor.js";
import { createPrivateKey, X509Certificate } from "node:crypto";
import { readFileSync } from "node:fs";
import { STATUS_CODES, type ServerOptions as HttpServerOptions } from "node:http";
import type { ServerOptions as HttpsServerOptions } from "node:https";
import type { Socket } from "node:net";
import cors from "@fastify/cors";
import helmet from "@fastify/helmet";
import rateLimit from "@fastify/rate-limit";
import type { ConnectionError, FastifyInstance, FastifyRequest, FastifyServerOptions } from "fastify";
import { ConfigError, type Config } from "../config.js";
import { AppError, ERROR_TITLES } from "../errors.js";
import { problemType, sendProblem } from "./problem.js";

export type LimitScope = "ip" | "principal";

export interface HardeningOptions {
  /** Requests a minute from one client address, counted before authentication. */
  readonly perIpPerMinute: number;
  /** Requests a minute per authenticated principal, whatever address it calls from. */
  readonly perPrincipalPerMinute: number;
  /** Exact origins a browser may call from; empty: CORS off (no CORS headers at all). */
  readonly corsOrigins: readonly string[];
  readonly maxHeaderBytes: number;
  readonly requestTimeoutSeconds: number;
  /** Fastify's trustProxy: whose X-Forwarded-For decides `request.ip` (false: nobody's). */
  readonly trustProxy: boolean | readonly string[];
  /** A request was refused by a limit; called at most once per key and window, after the 429 is sent. */
  readonly onLimited?: ((request: FastifyRequest, scope: LimitScope) => void | Promise<void>) | undefined;
}

export interface TlsMaterial {
  readonly cert: Buffer;
  readonly key: Buffer;
}

export function hardeningFromConfig(
  config: Pick<
    Config,
    "RATE_LIMIT_PER_IP_PER_MINUTE" | "RATE_LIMIT_PER_PRINCIPAL_PER_MINUTE" | "CORS_ORIGINS" | "MAX_HEADER_BYTES" | "REQUEST_TIMEOUT_SECONDS" | "TRUST_PROXY"
  >,
): HardeningOptions {
  return {
    perIpPerMinute: config.RATE_LIMIT_PER_IP_PER_MINUTE,
    perPrincipalPerMinute: config.RATE_LIMIT_PER_PRINCIPAL_PER_MINUTE,
    corsOrigins: config.CORS_ORIGINS,
    maxHeaderBytes: config.MAX_HEADER_BYTES,
    requestTimeoutSeconds: config.REQUEST_TIMEOUT_SECONDS,
    trustProxy: config.TRUST_PROXY,
  };
}


/** Reads and checks the PEM files up front, so a bad file is a start-up error naming it, not an OpenSSL one. */
export function loadTls(certFile: string, keyFile: string): TlsMaterial {
  const problems: string[] = [];
  const read = (name: string, file: string, check: (pem: Buffer) => unknown): Buffer | undefined => {
    try {
      const pem = readFileSync(file);
      check(pem);
      return pem;
    } catch (err) {
      const reason = (err as NodeJS.ErrnoException).code ?? (err as Error).message;
      problems.push(`${name} ${file}: cannot be read as a PEM ${name === "TLS_CERT_FILE" ? "certificate" : "private key"} (${reason})`);
      return undefined;
    }
  };
  const cert = read("TLS_CERT_FILE", certFile, (pem) => new X509Certificate(pem));
  const key = read("TLS_KEY_FILE", keyFile, (pem) => createPrivateKey(pem));
  if (cert && key && !new X509Certificate(cert).checkPrivateKey(createPrivateKey(key))) {
    problems.push(`TLS_KEY_FILE ${keyFile}: is not the private key of the certificate in ${certFile}`);
  }
  if (problems.length > 0 || !cert || !key) throw new ConfigError(problems);
  return { cert, key };
}

export type HardenedServerOptions = Pick<
  FastifyServerOptions,
  "requestTimeout" | "connectionTimeout" | "keepAliveTimeout" | "routerOptions" | "trustProxy" | "clientErrorHandler" | "frameworkErrors"
> & { readonly http: HttpServerOptions; readonly https?: HttpsServerOptions };

/** Fastify's server-level options: header and time limits, and HTTPS when TLS material is given. */
export function serverOptions(options: HardeningOptions, tls?: TlsMaterial): HardenedServerOptions {
  const requestTimeout = options.requestTimeoutSeconds * 1000;
  // Node's server.requestTimeout runs until the whole request is received; a response (a stream) is not
  // timed. It must also reach the server's constructor: Node then defaults headersTimeout to at most it,
  // and (Node 20) a requestTimeout below headersTimeout, set only afterwards as Fastify does, never fires.
  // Node's parser refuses a request head over maxHeaderSize before Fastify sees it (431, clientErrorHandler).
  // Node checks request timeouts every connectionsCheckingInterval (default 30 s), so a 30 s timeout fired
  // after up to a minute; every second keeps it within a second of the documented time.
  const http = { maxHeaderSize: options.maxHeaderBytes, requestTimeout, connectionsCheckingInterval: Math.min(1_000, requestTimeout) };
  return {
    http,
    // With `https` Fastify ignores `http`, so those are repeated. Node's default minimum is TLS 1.2 today;
    // it is pinned so that a runtime flag (--tls-min-v1.0) cannot lower it.
    ...(tls ? { https: { ...http, cert: tls.cert, key: tls.key, minVersion: "TLSv1.2" as const } } : {}),
    requestTimeout,
    // No socket idle timeout: NDJSON and text streams send nothing between events, which can be minutes apart.
    connectionTimeout: 0,
    // Longer than load balancers' idle timeout (AWS ALB: 60 s), so the balancer closes first, never mid-request.
    keepAliveTimeout: 72_000,
    routerOptions: { maxParamLength: 100 },
    trustProxy: typeof options.trustProxy === "boolean" ? options.trustProxy : [...options.trustProxy],
    clientErrorHandler,
    // Bad URL encoding and over-long path parameters: problem+json rather than Fastify's own body.
    frameworkErrors: (err, request, reply) => sendProblem(request, reply, "MALFORMED_REQUEST", err.message),
  };
}

const CLIENT_ERRORS: Record<string, { status: number; detail: string }> = {
  HPE_HEADER_OVERFLOW: { status: 431, detail: "The request line and headers are larger than this server accepts." },
  ERR_HTTP_REQUEST_TIMEOUT: { status: 408, detail: "The request was not received in time." },
};

/** Errors Node's HTTP parser raises before there is a request (431, 408, 400), as problem+json. */
function clientErrorHandler(this: FastifyInstance, err: ConnectionError, socket: Socket): void {
  if (err.code === "ECONNRESET" || socket.destroyed) return;
  const { status, detail } = CLIENT_ERRORS[err.code] ?? { status: 400, detail: "The request is not valid HTTP/1.1." };
  this.log.debug({ err }, "client error");
  // As Node's own handler: never a second status line on a socket whose response already started.
  const inFlight = (socket as Socket & { _httpMessage?: { headersSent?: boolean } })._httpMessage;
  if (socket.writable && !inFlight?.headersSent) {
    const body = JSON.stringify({ type: problemType("MALFORMED_REQUEST"), title: ERROR_TITLES.MALFORMED_REQUEST, status, detail, code: "MALFORMED_REQUEST" });
    socket.write(
      `HTTP/1.1 ${status} ${STATUS_CODES[status]}\r\ncontent-type: application/problem+json\r\ncontent-length: ${Buffer.byteLength(body)}\r\nconnection: close\r\n\r\n${body}`,
    );
  }
  socket.destroy();
}

const WINDOW_MS = 60_000;
const EXEMPT_ROUTES = new Set(["/healthz", "/readyz"]);
const isExempt = (request: FastifyRequest) => EXEMPT_ROUTES.has(request.routeOptions.url ?? "");

const API_CSP = { defaultSrc: ["'none'"], frameAncestors: ["'none'"] };
/** Swagger UI: its own scripts and styles, inline style attributes, data: images; still not frameable. */
const DOCS_CSP = {
  defaultSrc: ["'self'"],
  baseUri: ["'self'"],
  imgSrc: ["'self'", "data:"],
  styleSrc: ["'self'", "'unsafe-inline'"],
  objectSrc: ["'none'"],
  frameAncestors: ["'none'"],
};

/**
 * Security headers, CORS, and the per-address and per-principal rate limits. Call before any route is
 * registered: the plugins attach to routes as they are added. Errors leave as problem+json (AppError).
 */
export async function registerHardening(app: FastifyInstance, options: HardeningOptions): Promise<void> {
  // Helmet's per-route option, set for the Swagger UI routes (registered by @fastify/swagger-ui): a CSP
  // it can run under. Added before helmet, whose own onRoute hook then reads it.
  app.addHook("onRoute", (route) => {
    if (route.url === "/docs" || route.url.startsWith("/docs/")) {
      route.helmet = { contentSecurityPolicy: { useDefaults: false, directives: DOCS_CSP } };
    }
  });
  await app.register(helmet, {
    contentSecurityPolicy: { useDefaults: false, directives: API_CSP },
    strictTransportSecurity: app.initialConfig.https ? { maxAge: 31_536_000, includeSubDomains: true } : false,
    xFrameOptions: { action: "deny" },
  });

  if (options.corsOrigins.length > 0) {
    await app.register(cors, {
      origin: [...options.corsOrigins], // an array is matched exactly; a single string would be sent to anyone
      credentials: false,
      methods: ["GET", "POST", "PUT", "DELETE"],
      allowedHeaders: ["authorization", "content-type", "idempotency-key", "last-event-id", "accept"],
      exposedHeaders: ["location", "retry-after", "x-ratelimit-limit", "x-ratelimit-remaining", "x-ratelimit-reset"],
      maxAge: 600,
      // Strict mode answers an OPTIONS without Origin with its own text/plain 400.
      strictPreflight: false,
    });
  }

  const notify = limitNotifier(app, options.onLimited);
  const exceededKey = new WeakMap<FastifyRequest, string>();
  // Per address, at onRequest: before authentication, so guessing credentials costs requests too. The key
  // is the plugin's default, request.ip (IPv6 grouped by /64, so one host cannot rotate addresses).
  await app.register(rateLimit, {
    global: true,
    hook: "onRequest",
    max: options.perIpPerMinute,
    timeWindow: WINDOW_MS,
    allowList: (request) => isExempt(request),
    onExceeded: (request, key) => exceededKey.set(request, key),
    errorResponseBuilder: (request, context) => {
      notify(request, "ip", exceededKey.get(request) ?? request.ip, context.ttl);
      return refusal("ip", context.max, context.ttl);
    },
  });
  // `global` attaches to routes only; unknown URLs (the not-found handler) share the same counter this way.
  const ipLimitNotFound = app.rateLimit();
  app.addHook("onRequest", async function (request, reply) {
    if (request.is404) await ipLimitNotFound.call(this, request, reply);
  });
  // A compressed body would be read as if it were plain (Fastify does not decode it): refused, by name.
  app.addHook("onRequest", async (request) => {
    const encoding = request.headers["content-encoding"]?.trim().toLowerCase();
    if (encoding !== undefined && encoding !== "" && encoding !== "identity") {
      throw new AppError("UNSUPPORTED_MEDIA_TYPE", `Content-Encoding "${encoding.slice(0, 40)}" is not supported: send the body uncompressed.`);
    }
  });
  // Text with a NUL cannot reach PostgreSQL (22021: it would be a 500): refused before anything reads it
  // (authentication looks operations up by id), naming the parameter.
  app.addHook("onRequest", async (request) => {
    const where = nulParameter(request);
    if (where !== undefined) {
      throw new AppError("VALIDATION_FAILED", "A request parameter contains a NUL character.", {
        errors: [{ path: where, message: "must not contain a NUL character (U+0000)" }],
      });
    }
  });

  // Per principal, at preValidation: after the auth plugin set request.principal (preParsing; its type is
  // declared in http/auth.ts), before the body is validated.
  // Not `app.rateLimit(options)`: its hook shares the per-request "already limited" flag with the address
  // limit and would never run. `createRateLimit` is a separate counter that only answers, so this hook
  // sets the headers and refuses itself.
  const principalLimit = app.createRateLimit({
    max: options.perPrincipalPerMinute,
    timeWindow: WINDOW_MS,
    keyGenerator: (request) => (request.principal ? principalRef(request.principal) : ""),
    allowList: (request) => isExempt(request),
  });
  app.addHook("preValidation", async (request, reply) => {
    if (request.principal === undefined) return;
    const verdict = await principalLimit(request);
    if (verdict.isAllowed || !verdict.isExceeded) return;
    reply.headers({
      "x-ratelimit-limit": verdict.max,
      "x-ratelimit-remaining": 0,
      "x-ratelimit-reset": verdict.ttlInSeconds,
      "retry-after": verdict.ttlInSeconds,
    });
    notify(request, "principal", verdict.key, verdict.ttl);
    throw refusal("principal", verdict.max, verdict.ttl);
  });
}

/** Where a path parameter, a query parameter or a header that is stored holds a NUL (`path:/name`, `query:/team`…). */
export function nulParameter(request: Pick<FastifyRequest, "params" | "query" | "headers">): string | undefined {
  const sources: [string, unknown][] = [
    ["path:", request.params],
    ["query:", request.query],
    ["header:", { "idempotency-key": request.headers["idempotency-key"], "last-event-id": request.headers["last-event-id"] }],
  ];
  for (const [prefix, values] of sources) {
    if (typeof values !== "object" || values === null) continue;
    for (const [name, value] of Object.entries(values as Record<string, unknown>)) {
      const texts = Array.isArray(value) ? value : [value];
      if (texts.some((t) => typeof t === "string" && t.includes("\u0000"))) return `${prefix}/${name}`;
    }
  }
  return undefined;
}

function refusal(scope: LimitScope, max: number, ttlMs: number): AppError {
  const seconds = Math.max(1, Math.ceil(ttlMs / 1000));
  const who = scope === "ip" ? "from this address" : "by this caller";
  return new AppError("RATE_LIMITED", `More than ${max} requests a minute ${who}; retry in ${seconds} s.`);
}

/**
 * Marks the first refusal of each key in each window, and calls `onLimited` for it once the 429 has been
 * sent (onResponse), so a flood neither writes a record per request nor waits on the callback.
 */
function limitNotifier(app: FastifyInstance, onLimited: HardeningOptions["onLimited"]) {
  if (!onLimited) return () => {};
  const windowEnds = new Map<string, number>();
  const pending = new WeakMap<FastifyRequest, LimitScope>();
  app.addHook("onResponse", async (request) => {
    const scope = pending.get(request);
    if (scope === undefined) return;
    try {
      await onLimited(request, scope);
    } catch (err) {
      request.log.error({ err, scope }, "recording a rate-limit refusal failed");
    }
  });
  return (request: FastifyRequest, scope: LimitScope, key: string, ttlMs: number): void => {
    const now = Date.now();
    const id = `${scope} ${key}`;
    if ((windowEnds.get(id) ?? 0) > now) return;
    if (windowEnds.size >= 10_000) for (const [k, end] of windowEnds) if (end <= now) windowEnds.delete(k);
    windowEnds.set(id, now + ttlMs);
    pending.set(request, scope);
  };
}
