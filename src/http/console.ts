import { existsSync } from "node:fs";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import fastifyStatic from "@fastify/static";
import type { FastifyInstance, FastifyPluginAsync } from "fastify";
import { AppError } from "../errors.js";

/**
 * The web console (issue 18, DESIGN §13): the static bundle `npm run console:build` writes to
 * dist/console, served at /console/. It is public (it holds no secret and reads nothing by itself); every
 * call it makes goes through the public API with the signed-in person's credential, like any client.
 */
export interface ConsoleOptions {
  /** The built bundle; default: dist/console of this package. */
  readonly dir?: string | undefined;
  /** OIDC sign-in (authorization code with PKCE) when the service accepts OIDC tokens and a public client id is configured. */
  readonly oidc?: { readonly issuer: string; readonly clientId: string; readonly scope: string } | undefined;
}

/** What /console/config.json tells the console: nothing secret (an issuer and a public client id). */
export interface ConsoleConfig {
  readonly oidc: { readonly issuer: string; readonly clientId: string; readonly scope: string } | null;
}

/** The package root (where package.json is), from this module's place in src/http or dist/src/http. */
function packageRoot(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  for (let i = 0; i < 6 && !existsSync(join(dir, "package.json")); i++) dir = dirname(dir);
  return dir;
}

/** From the configuration: undefined with CONSOLE=off; OIDC sign-in only with both OIDC_ISSUER and CONSOLE_OIDC_CLIENT_ID. */
export function consoleOptionsFrom(c: {
  readonly CONSOLE: "on" | "off";
  readonly OIDC_ISSUER?: string | undefined;
  readonly CONSOLE_OIDC_CLIENT_ID?: string | undefined;
  readonly CONSOLE_OIDC_SCOPE: string;
}): ConsoleOptions | undefined {
  if (c.CONSOLE === "off") return undefined;
  const oidc = c.OIDC_ISSUER !== undefined && c.CONSOLE_OIDC_CLIENT_ID !== undefined ? { issuer: c.OIDC_ISSUER, clientId: c.CONSOLE_OIDC_CLIENT_ID, scope: c.CONSOLE_OIDC_SCOPE } : undefined;
  return { oidc };
}

export const defaultConsoleDir = (): string => join(packageRoot(), "dist", "console");

/**
 * The console's own CSP: its scripts and styles from this origin only (no inline script or style, no eval),
 * API calls to this origin and, with OIDC, the issuer (discovery and the token endpoint). Not frameable.
 */
export function consoleCsp(oidcIssuer?: string): string {
  const connect = ["'self'", ...(oidcIssuer === undefined ? [] : [new URL(oidcIssuer).origin])];
  return [
    "default-src 'self'",
    "script-src 'self'",
    "style-src 'self'",
    `connect-src ${connect.join(" ")}`,
    "img-src 'self' data:",
    "object-src 'none'",
    "base-uri 'none'",
    "form-action 'self'",
    "frame-ancestors 'none'",
  ].join("; ");
}

const PUBLIC = { auth: { public: true } } as const;
const HASHED_ASSET = /\/assets\/[^/]+-[A-Za-z0-9_-]{8,}\.(js|css|svg|woff2?)(\.br|\.gz)?$/;

const consoleRoutes: FastifyPluginAsync<ConsoleOptions> = async (app: FastifyInstance, options) => {
  const dir = resolve(options.dir ?? defaultConsoleDir());
  const config: ConsoleConfig = { oidc: options.oidc ?? null };
  const csp = consoleCsp(options.oidc?.issuer);
  // After helmet's headers (onRequest): the console's policy replaces the API's `default-src 'none'`.
  app.addHook("onSend", async (_request, reply, payload) => {
    reply.header("content-security-policy", csp);
    return payload;
  });
  app.get("/console", { config: PUBLIC, schema: { hide: true } }, async (_request, reply) => reply.redirect("/console/", 301));
  app.get("/console/config.json", { config: PUBLIC, schema: { hide: true } }, async (_request, reply) => reply.header("cache-control", "no-cache").send(config));

  if (!existsSync(join(dir, "index.html"))) {
    app.log.warn({ dir }, "the web console is not built (npm run console:build); /console/ answers 503");
    app.get("/console/*", { config: PUBLIC, schema: { hide: true } }, async () => {
      throw new AppError("UNAVAILABLE", "The web console is not built on this server: run `npm run console:build` (`npm run build` does it too).");
    });
    return;
  }
  await app.register(fastifyStatic, {
    root: dir,
    prefix: "/console/",
    decorateReply: false,
    index: ["index.html"],
    dotfiles: "deny",
    // Gzip and Brotli files written beside each asset by the build are sent to clients that accept them.
    preCompressed: true,
    // Asset names carry their content hash: cached for a year. The page and anything else: revalidated.
    cacheControl: false,
    setHeaders: (res, path) => {
      res.header("cache-control", HASHED_ASSET.test(path.replaceAll("\\", "/")) ? "public, max-age=31536000, immutable" : "no-cache");
    },
  });
};

export default consoleRoutes;
