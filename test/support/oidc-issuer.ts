import { createHash, randomBytes, timingSafeEqual } from "node:crypto";
import { createServer, type IncomingMessage, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import { exportJWK, generateKeyPair, SignJWT, type CryptoKey, type JWK } from "jose";

/**
 * TEST DOUBLE — an OIDC authorization server for tests and benchmarks only, never for a deployment: it
 * listens on 127.0.0.1 (port 0), "auto-consents" as whichever user the test chose (`setUser`), and holds its
 * ES256 signing key in memory. It does what a browser client needs from a real one (RFC 6749 authorization
 * code grant with RFC 7636 PKCE S256, discovery, JWKS, CORS on the token endpoint) and checks what a real one
 * must check, so a client that gets a token here did the flow right: exact redirect_uri match (an invalid
 * authorize request is a 400 and never a redirect), codes single-use, bound to client, redirect_uri and
 * challenge, and gone after 60 s. Tokens carry the claims src/auth/oidc.ts reads by default
 * (`groups`, `teams`, `email`).
 */
export interface OidcUser {
  readonly sub: string;
  readonly email: string;
  readonly groups: readonly string[];
  readonly teams: readonly string[];
}

export interface OidcIssuerOptions {
  /** `aud` of the access tokens: the API's OIDC_AUDIENCE. */
  readonly audience: string;
  readonly clientId: string;
  /** Registered redirect URIs; an authorize request must name one of them exactly. */
  readonly redirectUris: readonly string[];
  readonly users: Readonly<Record<string, OidcUser>>;
  readonly defaultUser: string;
}

export interface OidcIssuer {
  /** `http://127.0.0.1:<port>`: the `iss` of its tokens (OIDC_ISSUER). */
  readonly issuer: string;
  readonly jwksUri: string;
  /** The user the next authorize request consents as. */
  setUser(name: string): void;
  close(): Promise<void>;
  tokensIssued(): number;
  /** The query of the last authorize request, valid or not (undefined before the first). */
  readonly lastAuthorizeQuery: Readonly<Record<string, string>> | undefined;
}

interface PendingCode {
  readonly clientId: string;
  readonly redirectUri: string;
  readonly challenge: string;
  readonly user: OidcUser;
  readonly nonce: string | undefined;
  readonly expiresAt: number;
}

const CODE_TTL_MS = 60_000;
const TOKEN_TTL_SECONDS = 600;
const MAX_BODY_BYTES = 16_384;
const KID = "test-double-es256";

const base64urlSha256 = (value: string): string => createHash("sha256").update(value).digest("base64url");

function sameText(a: string, b: string): boolean {
  const [x, y] = [Buffer.from(a), Buffer.from(b)];
  return x.length === y.length && timingSafeEqual(x, y);
}

function readForm(req: IncomingMessage): Promise<URLSearchParams> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    req.on("data", (chunk: Buffer) => {
      size += chunk.length;
      if (size > MAX_BODY_BYTES) return void req.destroy(new Error("body too large"));
      chunks.push(chunk);
    });
    req.on("end", () => resolve(new URLSearchParams(Buffer.concat(chunks).toString("utf8"))));
    req.on("error", reject);
  });
}

function json(res: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}): void {
  res.writeHead(status, { "content-type": "application/json", "cache-control": "no-store", ...headers }).end(JSON.stringify(body));
}

export async function startOidcIssuer(options: OidcIssuerOptions): Promise<OidcIssuer> {
  const userOf = (name: string): OidcUser => {
    const user = options.users[name];
    if (!user) throw new Error(`oidc-issuer double: no user ${JSON.stringify(name)}`);
    return user;
  };
  let currentUser = userOf(options.defaultUser);
  let issued = 0;
  let lastAuthorizeQuery: Record<string, string> | undefined;
  const codes = new Map<string, PendingCode>();
  const { publicKey, privateKey } = await generateKeyPair("ES256");
  const jwk: JWK = { ...(await exportJWK(publicKey)), kid: KID, alg: "ES256", use: "sig" };
  let issuer = "";

  const sign = (claims: Record<string, unknown>, audience: string, subject: string, key: CryptoKey): Promise<string> =>
    new SignJWT(claims)
      .setProtectedHeader({ alg: "ES256", kid: KID, typ: "JWT" })
      .setIssuer(issuer)
      .setAudience(audience)
      .setSubject(subject)
      .setIssuedAt()
      .setExpirationTime(`${TOKEN_TTL_SECONDS}s`)
      .sign(key);

  function authorize(url: URL, res: ServerResponse): void {
    const q = Object.fromEntries(url.searchParams);
    lastAuthorizeQuery = q;
    const refuse = (why: string) => void res.writeHead(400, { "content-type": "text/plain" }).end(`invalid authorization request: ${why}\n`);
    // The redirect URI is checked first: nothing below may redirect anywhere unregistered.
    if (q.client_id !== options.clientId) return refuse("unknown client_id");
    if (q.redirect_uri === undefined || !options.redirectUris.includes(q.redirect_uri)) return refuse("redirect_uri is not registered for this client");
    if (q.response_type !== "code") return refuse("response_type must be code");
    if (q.code_challenge_method !== "S256") return refuse("code_challenge_method must be S256");
    if (!q.code_challenge || !/^[A-Za-z0-9_-]{43}$/.test(q.code_challenge)) return refuse("code_challenge must be a base64url SHA-256");
    if (!q.state) return refuse("state is required");
    const code = randomBytes(32).toString("base64url");
    codes.set(code, { clientId: q.client_id, redirectUri: q.redirect_uri, challenge: q.code_challenge, user: currentUser, nonce: q.nonce, expiresAt: Date.now() + CODE_TTL_MS });
    const target = new URL(q.redirect_uri);
    target.searchParams.set("code", code);
    target.searchParams.set("state", q.state);
    res.writeHead(302, { location: target.toString(), "cache-control": "no-store" }).end();
  }

  async function token(req: IncomingMessage, res: ServerResponse, cors: Record<string, string>): Promise<void> {
    const invalid = (error = "invalid_grant") => json(res, 400, { error }, cors);
    if (!String(req.headers["content-type"] ?? "").startsWith("application/x-www-form-urlencoded")) return invalid("invalid_request");
    const form = await readForm(req);
    if (form.get("grant_type") !== "authorization_code") return invalid("unsupported_grant_type");
    const code = form.get("code") ?? "";
    const pending = codes.get(code);
    codes.delete(code); // single-use: any presentation spends it, a failed one too
    const verifier = form.get("code_verifier") ?? "";
    if (
      !pending ||
      pending.expiresAt < Date.now() ||
      form.get("client_id") !== pending.clientId ||
      form.get("redirect_uri") !== pending.redirectUri ||
      !/^[A-Za-z0-9._~-]{43,128}$/.test(verifier) ||
      !sameText(base64urlSha256(verifier), pending.challenge)
    ) {
      return invalid();
    }
    const { user } = pending;
    const claims = { email: user.email, groups: [...user.groups], teams: [...user.teams] };
    const accessToken = await sign(claims, options.audience, user.sub, privateKey);
    const idToken = await sign({ email: user.email, ...(pending.nonce ? { nonce: pending.nonce } : {}) }, pending.clientId, user.sub, privateKey);
    issued += 1;
    json(res, 200, { access_token: accessToken, token_type: "Bearer", expires_in: TOKEN_TTL_SECONDS, id_token: idToken }, cors);
  }

  const server = createServer((req, res) => {
    const url = new URL(req.url ?? "/", issuer);
    const anyOrigin = { "access-control-allow-origin": "*" };
    const origin = req.headers.origin;
    const cors: Record<string, string> = origin ? { "access-control-allow-origin": origin, vary: "Origin" } : {};
    const route = `${req.method} ${url.pathname}`;
    if (route === "GET /.well-known/openid-configuration") {
      return json(res, 200, {
        issuer,
        authorization_endpoint: `${issuer}/authorize`,
        token_endpoint: `${issuer}/token`,
        jwks_uri: `${issuer}/jwks`,
        response_types_supported: ["code"],
        code_challenge_methods_supported: ["S256"],
        grant_types_supported: ["authorization_code"],
        subject_types_supported: ["public"],
        id_token_signing_alg_values_supported: ["ES256"],
        token_endpoint_auth_methods_supported: ["none"],
      }, anyOrigin);
    }
    if (route === "GET /jwks") return json(res, 200, { keys: [jwk] }, anyOrigin);
    if (route === "GET /authorize") return authorize(url, res);
    if (route === "OPTIONS /token") {
      return void res
        .writeHead(204, { ...cors, "access-control-allow-methods": "POST", "access-control-allow-headers": "content-type", "access-control-max-age": "600" })
        .end();
    }
    if (route === "POST /token") return void token(req, res, cors).catch(() => json(res, 400, { error: "invalid_request" }, cors));
    res.writeHead(404, { "content-type": "text/plain" }).end("not found\n");
  });
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(0, "127.0.0.1", resolve);
  });
  issuer = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;

  return {
    issuer,
    jwksUri: `${issuer}/jwks`,
    setUser(name) {
      currentUser = userOf(name);
    },
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
    tokensIssued: () => issued,
    get lastAuthorizeQuery() {
      return lastAuthorizeQuery;
    },
  };
}
