import { z } from "zod";

/**
 * The only place that reads the environment. Parsed once in main.ts; everything else receives `Config`.
 * Explicit flags rather than NODE_ENV switches.
 */
const intFrom = (min: number, max: number) => z.coerce.number().int().min(min).max(max);
const ENV_NAME = /^[A-Za-z_][A-Za-z0-9_]*$/;

/** Never passed through to engine children: the engine sets these itself, or they would change how Node runs. */
const RESERVED_ENGINE_ENV = /^(PULUMI_|NODE_|PATH$|HOME$)/;

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
    SHUTDOWN_GRACE_SECONDS: intFrom(0, 3_600).default(25),
    SSE_KEEPALIVE_SECONDS: intFrom(1, 300).default(15),
    BODY_LIMIT_BYTES: intFrom(1_024, 10 * 1024 * 1024).default(64 * 1024),
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
  if (problems.length > 0) throw new ConfigError(problems);
  return Object.freeze({ ...parsed.data, ENGINE_PASSTHROUGH_ENV: Object.freeze(passthrough) });
}
