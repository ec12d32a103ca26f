import { z } from "zod";

/**
 * The only place that reads the environment. Parsed once in main.ts; everything else receives `Config`.
 * Explicit flags rather than NODE_ENV switches.
 */
const intFrom = (min: number, max: number) => z.coerce.number().int().min(min).max(max);

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
  })
  .strip();

export type Config = Readonly<z.output<typeof ConfigSchema>>;

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
  return Object.freeze(parsed.data);
}
