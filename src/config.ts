import { isIP } from "node:net";
import { z } from "zod";
import { API_KEY_EXPIRES_DAYS_CEILING } from "./auth/api-keys.js";

/**
 * The only place that reads the environment. Parsed once in main.ts; everything else receives `Config`.
 * Explicit flags rather than NODE_ENV switches.
 */
const intFrom = (min: number, max: number) => z.coerce.number().int().min(min).max(max);
const ENV_NAME = /^[A-Za-z_][A-Za-z0-9_]*$/;
/** A comma-separated list (blanks dropped), each item checked by `item`. */
const list = <T extends z.ZodType<unknown, string>>(item: T) =>
  z
    .string()
    .transform((v) => v.split(",").map((s) => s.trim()).filter((s) => s !== ""))
    .pipe(z.array(item));

/** Never passed through to engine children: the engine sets these itself, or they would change how Node runs. */
const RESERVED_ENGINE_ENV = /^(PULUMI_|NODE_|PATH$|HOME$)/;

/** `https://host[:port]` exactly as browsers send it in Origin (lower case, no default port, no path). */
function isExactOrigin(value: string): boolean {
  if (!/^https?:\/\/[^/?#@\s]+$/.test(value)) return false;
  try {
    return new URL(value).origin === value;
  } catch {
    return false;
  }
}

function isAddressOrCidr(value: string): boolean {
  const [address = "", prefix, ...rest] = value.split("/");
  const family = isIP(address);
  if (family === 0 || rest.length > 0) return false;
  if (prefix === undefined) return true;
  return /^\d{1,3}$/.test(prefix) && Number(prefix) <= (family === 4 ? 32 : 128);
}

const ConfigSchema = z
  .object({
    PORT: intFrom(0, 65_535).default(8080),
    HOST: z.string().min(1).default("127.0.0.1"),
    DATA_DIR: z.string().min(1).default(".data"),
    DATABASE_URL: z
      .string()
      .regex(/^postgres(ql)?:\/\//, "must be a postgres:// or postgresql:// URL")
      .optional(),
    ENGINE: z.enum(["pulumi", "simulated"]).default("pulumi"),
    LOG_LEVEL: z.enum(["fatal", "error", "warn", "info", "debug", "trace", "silent"]).default("info"),
    LANDING_ZONE_FILE: z.string({ error: "is required: the path of the landing-zone JSON (see examples/landing-zone.json)" }),
    MAX_CONCURRENT_OPERATIONS: intFrom(1, 256).default(4),
    LEASE_SECONDS: intFrom(5, 3_600).default(30),
    /**
     * Attempts an operation gets in all when attempts stop without finishing (a lost replica, an expired
     * lease, a shutdown past its grace, a dead engine process): each is resumed by any live replica under
     * the same operation id, the stack recovered first. 1 = never resume: the first interruption is final.
     */
    RESUME_MAX_ATTEMPTS: intFrom(1, 20).default(3),
    /** Back-off before the second resumption, doubled each time after (±20 % jitter); the first is at once. */
    RESUME_BACKOFF_SECONDS: intFrom(0, 3_600).default(15),
    /**
     * Worker threads that evaluate programs under Pulumi's mocks (the guardrail gate, previews, the simulated
     * engine), each with its own mock runtime (issue 15); default: the machine's available parallelism.
     */
    EVALUATION_WORKERS: intFrom(1, 64).optional(),
    /** An evaluation not answered in this time fails (503, retry) and its worker is replaced. */
    EVALUATION_TIMEOUT_SECONDS: intFrom(1, 600).default(60),
    /** Guardrail verdicts kept (an LRU keyed by spec, access state, stack args, program version and landing zone); 0: none. */
    VERDICT_CACHE_ENTRIES: intFrom(0, 1_000_000).default(10_000),
    SHUTDOWN_GRACE_SECONDS: intFrom(0, 3_600).default(25),
    SSE_KEEPALIVE_SECONDS: intFrom(1, 300).default(15),
    /**
     * A stream whose client has taken none of its pending bytes for this long is closed and its slot freed
     * (issue 14): a client that stopped reading otherwise holds its socket, buffers and cap slot for ever.
     */
    STREAM_WRITE_DEADLINE_SECONDS: intFrom(1, 3_600).default(60),
    BODY_LIMIT_BYTES: intFrom(1_024, 10 * 1024 * 1024).default(64 * 1024),
    // Hardening (issue 5)
    /** Requests a minute from one client address, counted before authentication; /healthz and /readyz are exempt. */
    RATE_LIMIT_PER_IP_PER_MINUTE: intFrom(1, 1_000_000).default(600),
    /** Requests a minute per authenticated principal (`kind:id`), whatever address it calls from. */
    RATE_LIMIT_PER_PRINCIPAL_PER_MINUTE: intFrom(1, 1_000_000).default(300),
    /** Largest request line + headers Node accepts; a larger one gets 431 before any route code runs. */
    MAX_HEADER_BYTES: intFrom(1_024, 65_536).default(16_384),
    /**
     * Time to receive a whole request (Node's server.requestTimeout). Node stops the clock once the request
     * is received, so it never cuts off a long-lived SSE/NDJSON response (test/http/hardening.test.ts).
     */
    REQUEST_TIMEOUT_SECONDS: intFrom(1, 3_600).default(30),
    /** Event streams one principal may hold open at once; one more gets 429 TOO_MANY_STREAMS. */
    MAX_STREAMS_PER_PRINCIPAL: intFrom(1, 10_000).default(20),
    /** PEM files; both set: the service serves HTTPS (TLS 1.2+) and sends HSTS. Neither: plain HTTP. */
    TLS_CERT_FILE: z.string().min(1).optional(),
    TLS_KEY_FILE: z.string().min(1).optional(),
    /** Exact browser origins allowed by CORS, e.g. `https://console.example.com`; empty: CORS off. */
    CORS_ORIGINS: list(
      z.string().refine(isExactOrigin, "must be a comma-separated list of exact origins: scheme://host[:port], lower case, no path, no default port (e.g. https://console.example.com)"),
    ).default([]),
    /**
     * Whose X-Forwarded-For to believe (Fastify's trustProxy): `false` (request.ip is the socket's peer, so
     * it cannot be spoofed), `true` (any — only behind a proxy that overwrites the header), or the proxies'
     * addresses/CIDRs, e.g. `10.0.0.0/8,fd00::/8`.
     */
    TRUST_PROXY: z
      .string()
      .transform((value, ctx): boolean | string[] => {
        if (value === "true" || value === "false") return value === "true";
        const proxies = value.split(",").map((s) => s.trim()).filter((s) => s !== "");
        if (proxies.length === 0 || !proxies.every(isAddressOrCidr)) {
          ctx.addIssue("must be true, false or a comma-separated list of IP addresses or CIDRs (e.g. 10.0.0.0/8)");
          return z.NEVER;
        }
        return proxies;
      })
      .default(false),
    /** Simulated engine: time each resource step takes, so progress is visible in a demo. */
    SIMULATED_STEP_MS: intFrom(0, 60_000).default(0),
    /** Simulated engine: do not start operations (accept-path benchmarks). */
    SIMULATED_PAUSED: z.enum(["true", "false"]).default("false").transform((v) => v === "true"),

    /** Engine children find `pulumi` on it (the only value engine children take from the service's environment). */
    PATH: z.string().default("/usr/local/bin:/usr/bin:/bin"),
    /** `production` refuses unsafe defaults (a default or empty state passphrase); `npm run dev` sets `development`. */
    MODE: z.enum(["production", "development"]).default("production"),
    /**
     * Where an operation runs: `child` (its own process with an explicit environment; the only choice for
     * ENGINE=pulumi) or `inline` (in the service process; the simulated engine's default).
     */
    ENGINE_PROCESS: z.enum(["child", "inline"]).optional(),
    /** Cancel: how long a child may wind down after the graceful signal before it is killed. */
    ENGINE_CANCEL_GRACE_SECONDS: intFrom(1, 3_600).default(120),
    /** A child that sends no heartbeat for this long is killed and its operation interrupted. */
    ENGINE_HEARTBEAT_TIMEOUT_SECONDS: intFrom(2, 600).default(30),
    /** V8 heap limit of each engine child (`--max-old-space-size`); the CLI and plugins are separate processes. */
    ENGINE_CHILD_MEMORY_MB: intFrom(64, 65_536).default(2_048),
    /** Children started ahead of time, each used for exactly one operation (hides their start-up time). */
    ENGINE_WARM_CHILDREN: intFrom(0, 16).default(1),
    /**
     * Names of environment variables passed to engine children — nothing else of the service's environment
     * is (no ambient credentials). E.g. `AWS_ROLE_ARN,AWS_WEB_IDENTITY_TOKEN_FILE` for EKS IRSA.
     */
    ENGINE_ENV_PASSTHROUGH: z
      .string()
      .transform((v) => v.split(",").map((s) => s.trim()).filter((s) => s !== ""))
      .pipe(z.array(z.string().regex(ENV_NAME, "must be a comma-separated list of environment variable names")))
      .default([]),
    /** Sent to the AWS provider as AWS_ENDPOINT_URL (a local emulator in end-to-end tests). */
    ENGINE_AWS_ENDPOINT_URL: z.url({ protocol: /^https?$/ }).optional(),

    /** Pulumi state backend; default `file://<DATA_DIR>/pulumi-state`. */
    PULUMI_BACKEND_URL: z
      .string()
      .regex(/^(file|s3|gs|azblob|postgres|postgresql):\/\/./, "must be a file://, s3://, gs://, azblob:// or postgres:// URL")
      .optional(),
    /** Secrets provider set when a stack is created: `passphrase`, or a KMS URL (`awskms://alias/x?region=…`). */
    PULUMI_SECRETS_PROVIDER: z
      .string()
      .regex(/^(passphrase|(awskms|azurekeyvault|gcpkms|hashivault):\/\/.+)$/, "must be passphrase or an awskms://, azurekeyvault://, gcpkms:// or hashivault:// URL")
      .default("passphrase"),
    PULUMI_CONFIG_PASSPHRASE: z.string().optional(),
    PULUMI_CONFIG_PASSPHRASE_FILE: z.string().optional(),
    /** Pulumi's home (plugins, workspace files); default `<DATA_DIR>/pulumi-home`. */
    PULUMI_HOME: z.string().optional(),
    /** A local folder or tarball to install the AWS plugin from (offline images); else it is downloaded. */
    PULUMI_AWS_PLUGIN_PATH: z.string().optional(),
    /** `--parallel` for up/destroy/refresh (the CLI's default when unset). */
    PULUMI_PARALLEL: intFrom(1, 1_000).optional(),

    // Authentication, approvals and the audit trail (issue 5, DESIGN §10).
    /** Longest expiry an API key may be given (days); keys default to 90 days, or this when it is lower. */
    API_KEY_MAX_EXPIRES_DAYS: intFrom(1, API_KEY_EXPIRES_DAYS_CEILING).default(365),
    /** Failed authentications per source address and minute before it is refused (429) for the rest of the minute. */
    AUTH_FAILURES_PER_IP_PER_MINUTE: intFrom(1, 10_000).default(20),
    /** OIDC: the portal identity provider's issuer URL; unset = OIDC off (API keys only). */
    OIDC_ISSUER: z.url({ protocol: /^https?$/ }).optional(),
    OIDC_AUDIENCE: z.string().min(1).optional(),
    /** Default `<issuer>/.well-known/jwks.json`; use the discovery document's `jwks_uri`. */
    OIDC_JWKS_URI: z.url({ protocol: /^https?$/ }).optional(),
    OIDC_ALGORITHMS: list(z.enum(["RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "ES512", "EdDSA"])).default(["RS256", "ES256"]),
    OIDC_ROLES_CLAIM: z.string().min(1).default("groups"),
    OIDC_TEAMS_CLAIM: z.string().min(1).default("teams"),
    OIDC_NAME_CLAIM: z.string().min(1).default("email"),
    /** `<group>=<role>,…`, e.g. `saas-admins=admin,platform-eng=operator,everyone=viewer`. */
    OIDC_ROLE_MAP: list(z.string().regex(/^[^=,]+=(viewer|operator|approver|admin|auditor)$/, "must be <group>=<viewer|operator|approver|admin|auditor>")).default([]),
    /** HMAC key of sensitive audit values (≥ 32 bytes, e.g. `openssl rand -hex 32`); required in production. */
    AUDIT_HMAC_KEY_FILE: z.string().min(1).optional(),
    /** Ed25519 private key (PKCS#8 PEM) that signs the audit chain head; required in production. */
    AUDIT_SIGNING_KEY_FILE: z.string().min(1).optional(),
    /** Extra public keys (SPKI PEM, comma-separated) that verify older signed heads after a key rotation. */
    AUDIT_VERIFY_KEY_FILES: list(z.string().min(1)).default([]),
    /** How often the chain head is signed (only when it moved). */
    AUDIT_SIGN_INTERVAL_SECONDS: intFrom(1, 86_400).default(60),
    /** HMAC key of stream tickets (≥ 32 bytes), the same on every replica; default: derived from the audit HMAC key. */
    STREAM_TICKET_KEY_FILE: z.string().min(1).optional(),
    /**
     * What needs a second person's approval: \`decommission\`, \`restricted\` (any change to a provider whose
     * data is restricted, before or after the change), \`revoke\`, \`all\` (every change). \`none\` turns approvals off.
     */
    APPROVAL_RULES: list(z.enum(["decommission", "restricted", "revoke", "all", "none"])).default(["decommission", "restricted"]),
    /** CloudHSM: how long a key-store operation waits for KMS to connect the store (AWS: minutes) before it fails; a retry continues. */
    KEY_STORE_CONNECT_TIMEOUT_SECONDS: intFrom(10, 4 * 3600).default(1800),
    /** CloudHSM: the interval between two DescribeCustomKeyStores calls while connecting. */
    KEY_STORE_POLL_SECONDS: intFrom(1, 300).default(15),
    /** An approval request not decided in this time expires, and its operation is cancelled. */
    APPROVAL_TTL_HOURS: intFrom(1, 24 * 30).default(24),
    /**
     * Free space (MiB) the devices holding DATA_DIR (and PULUMI_HOME or a file:// backend elsewhere) must
     * keep: below it changes are refused (507), /readyz is 503 and the service does not start (issue 14).
     * 0 turns the check off; a write that fails for lack of space is a 507 either way.
     */
    DISK_MIN_FREE_MB: intFrom(0, 1_048_576).default(256),
    /**
     * How often each active or revoked provider gets a scheduled drift check (issue 16): `24h`, `90m`, `7d`,
     * `30s` (at least 10 s), or `off`. Each stack has its own stable offset in the interval (a fleet does not
     * check at once). Parsed to milliseconds; `off` → null.
     */
    DRIFT_CHECK_INTERVAL: z
      .string()
      .regex(/^(off|\d{1,6}(s|m|h|d))$/, "must be a duration such as 24h, 90m, 7d or 30s, or off")
      .transform((v) => (v === "off" ? null : Number(v.slice(0, -1)) * { s: 1_000, m: 60_000, h: 3_600_000, d: 86_400_000 }[v.slice(-1) as "s" | "m" | "h" | "d"]))
      .refine((ms) => ms === null || (ms >= 10_000 && ms <= 366 * 86_400_000), "must lie between 10s and 366d")
      // 24h (the default applies to the parsed value).
      .default(86_400_000),
    /** Scheduled (background) operations running at once on a replica; default MAX_CONCURRENT_OPERATIONS − 1 (at least 1), so people find a slot. */
    DRIFT_CHECK_MAX_RUNNING: intFrom(1, 256).optional(),
    /**
     * Access verification (issue 17): `after-offboarding` reads AWS after every revoke and decommission, in the
     * same operation, and records what it found; `off` only when asked (POST /v1/providers/{name}/verifications).
     * With ENGINE=pulumi the reads use the AWS SDK's own configuration (credentials chain, AWS_ENDPOINT_URL_*).
     */
    VERIFY_ACCESS: z.enum(["after-offboarding", "off"]).default("after-offboarding"),
    // Signed notifications (webhooks, issue 16).
    /**
     * Addresses or CIDRs webhook destinations may resolve to although they are loopback, link-local, private
     * or otherwise special-purpose (refused otherwise), e.g. `10.20.0.0/16,fd00:1::/64`; plain http:// is
     * accepted in production only to these.
     */
    WEBHOOK_ALLOWED_CIDRS: list(z.string().refine(isAddressOrCidr, "must be a comma-separated list of IP addresses or CIDRs (e.g. 10.20.0.0/16)")).default([]),
    /** One delivery attempt (connect, send, read the answer) ends after this long, as a failure. */
    WEBHOOK_TIMEOUT_SECONDS: intFrom(1, 120).default(10),
    /** A delivery is retried for this long from its creation (or its redelivery), then dead. */
    WEBHOOK_MAX_AGE_HOURS: intFrom(1, 24 * 14).default(24),
    /** Back-off of the first retry (at most; full jitter), doubled for each further one. */
    WEBHOOK_BACKOFF_SECONDS: intFrom(1, 3_600).default(5),
    /** No retry waits longer than this. */
    WEBHOOK_BACKOFF_MAX_SECONDS: intFrom(1, 24 * 3_600).default(3_600),
    /** Deliveries in flight at once on one replica (one at a time per subscription, in order). */
    WEBHOOK_CONCURRENCY: intFrom(1, 256).default(16),
    /** The CloudEvents `source` of every notification. */
    WEBHOOK_SOURCE: z.string().min(1).max(256).regex(/^[\x21-\x7e]+$/, "must be a URI-reference without spaces, e.g. /saas-bridge").default("/saas-bridge"),
    /**
     * Days before a provider's `expiresAt` when an `expiry.approaching` notice goes out (issue 16), each once;
     * several due at once (a short expiry) send only the nearest. Empty (`EXPIRY_WARNING_DAYS=none`) sends none.
     */
    EXPIRY_WARNING_DAYS: z
      .string()
      .transform((v) => (v.trim() === "none" ? "" : v))
      .pipe(list(z.string().regex(/^\d{1,3}$/, "must be a whole number of days").transform(Number).pipe(z.number().min(1).max(365))))
      .pipe(z.array(z.number()).max(8, "at most 8 offsets"))
      .default([14, 3]),
    /** How often each replica looks for providers past or near their `expiresAt` (an expiry acts within this). */
    EXPIRY_CHECK_SECONDS: intFrom(1, 3_600).default(60),
    /**
     * Prometheus metrics (issue 18): `api` serves GET /metrics on the API listener to the viewer role (a
     * scraper's own API key); `off` removes that route. METRICS_LISTEN (`host:port`, e.g. 127.0.0.1:9464 or
     * the pod address) adds a listener with /metrics alone and no credential, for a scraper on the pod network.
     */
    METRICS: z.enum(["api", "off"]).default("api"),
    METRICS_LISTEN: z
      .string()
      .regex(/^(\[[0-9a-fA-F:.]+\]|[0-9.]+):\d{1,5}$/, "must be address:port, an IP address (e.g. 127.0.0.1:9464, [::1]:9464)")
      .refine((v) => isIP(v.slice(0, v.lastIndexOf(":")).replace(/^\[|\]$/g, "")) !== 0, "must name an IP address, not a host name")
      .refine((v) => Number(v.slice(v.lastIndexOf(":") + 1)) <= 65_535, "the port must be at most 65535")
      .optional(),
    /** The web console at /console/ (issue 18): `on` serves the built bundle (public files; every call it makes needs a credential), `off` removes it. */
    CONSOLE: z.enum(["on", "off"]).default("on"),
    /** OIDC sign-in in the console: the public client id registered at OIDC_ISSUER for the redirect URI <origin>/console/ (authorization code with PKCE, no secret). */
    CONSOLE_OIDC_CLIENT_ID: z.string().regex(/^[\x21-\x7e]{1,200}$/, "must be 1-200 printable ASCII characters without spaces").optional(),
    /** Scopes the console asks the issuer for. */
    CONSOLE_OIDC_SCOPE: z.string().max(500).regex(/^[\x21-\x7e]+( [\x21-\x7e]+)*$/, "must be scope names separated by single spaces").default("openid profile email"),
  })
  .strip();

export type Config = Readonly<
  z.output<typeof ConfigSchema> & {
    /** Values of ENGINE_ENV_PASSTHROUGH, read from the environment here (nothing else reads it). */
    readonly ENGINE_PASSTHROUGH_ENV: Readonly<Record<string, string>>;
  }
>;

export class ConfigError extends Error {
  constructor(readonly problems: readonly string[]) {
    super(problems.join("\n"));
    this.name = "ConfigError";
  }
}

/** Parses the environment; throws ConfigError with one line per problem. */
export function loadConfig(env: Readonly<Record<string, string | undefined>>): Config {
  // An empty variable means "not set": `FOO= npm run dev` should fall back to the default.
  const present = Object.fromEntries(Object.entries(env).filter(([, v]) => v !== undefined && v !== ""));
  const parsed = ConfigSchema.safeParse(present);
  if (!parsed.success) {
    throw new ConfigError(
      parsed.error.issues.map((i) => `${i.path.join(".") || "environment"}: ${i.message}`),
    );
  }
  const problems: string[] = [];
  const passthrough: Record<string, string> = {};
  for (const name of parsed.data.ENGINE_ENV_PASSTHROUGH) {
    if (RESERVED_ENGINE_ENV.test(name)) problems.push(`ENGINE_ENV_PASSTHROUGH: ${name} is set by the engine itself and cannot be passed through`);
    else if (present[name] === undefined) problems.push(`ENGINE_ENV_PASSTHROUGH: ${name} is not set`);
    else passthrough[name] = present[name];
  }
  const c = parsed.data;
  if (c.OIDC_ISSUER !== undefined) {
    if (c.OIDC_AUDIENCE === undefined) problems.push("OIDC_AUDIENCE: is required when OIDC_ISSUER is set (the audience tokens must be issued for)");
    if (c.OIDC_ROLE_MAP.length === 0) problems.push("OIDC_ROLE_MAP: is required when OIDC_ISSUER is set (no group would map to a role, so every token would be refused)");
  } else if (c.OIDC_AUDIENCE !== undefined || c.OIDC_JWKS_URI !== undefined || c.OIDC_ROLE_MAP.length > 0) {
    problems.push("OIDC_ISSUER: is required when another OIDC_* setting is given");
  }
  if (c.CONSOLE_OIDC_CLIENT_ID !== undefined && c.OIDC_ISSUER === undefined) problems.push("CONSOLE_OIDC_CLIENT_ID: needs OIDC_ISSUER (the console signs in at that issuer)");
  if (c.APPROVAL_RULES.includes("none") && c.APPROVAL_RULES.length > 1) problems.push("APPROVAL_RULES: none cannot be combined with other rules");
  if (c.TLS_CERT_FILE !== undefined && c.TLS_KEY_FILE === undefined) problems.push("TLS_KEY_FILE: is required when TLS_CERT_FILE is set (HTTPS needs both, plain HTTP neither)");
  if (c.TLS_KEY_FILE !== undefined && c.TLS_CERT_FILE === undefined) problems.push("TLS_CERT_FILE: is required when TLS_KEY_FILE is set (HTTPS needs both, plain HTTP neither)");
  if (problems.length > 0) throw new ConfigError(problems);
  return Object.freeze({ ...parsed.data, ENGINE_PASSTHROUGH_ENV: Object.freeze(passthrough) });
}
