import { userInfo } from "node:os";
import { parseArgs } from "node:util";
import { z } from "zod";
import { API_KEY_EXPIRES_DAYS_CEILING, apiKeyState, createApiKey, keyDetails, listApiKeys, revokeApiKey, type ApiKeyInfo } from "../src/auth/api-keys.js";
import { ROLES, Role } from "../src/auth/roles.js";
import { createAuditWriter, type AuditWriter } from "../src/audit/append.js";
import { loadAuditHmacKeyOnly } from "../src/auth/security-keys.js";
import { createLogger } from "../src/logger.js";
import type { Db, Queryable } from "../src/store/db.js";
import { openDb } from "../src/store/open.js";

/**
 * Bootstrap and break-glass management of API keys, on the store the service uses (DATA_DIR, or
 * DATABASE_URL), migrated first. The first admin key of a deployment is made here; later ones through
 * `/v1/api-keys`. With PGlite the service must be stopped (one process per data dir).
 *
 *   npm run --silent keys -- create --name ops-admin --role admin [--team t]... [--expires-days 90]
 *   npm run --silent keys -- list
 *   npm run --silent keys -- revoke <id>
 *
 * `create` prints the key on stdout, once, and nothing else there (so it can be piped into a secret store).
 * Exit codes: 0 done, 1 failed (environment, store, validation, unknown key), 2 bad usage.
 */
const USAGE =
  "usage: keys create --name <name> --role <" + ROLES.join("|") + "> [--team <team>]... [--expires-days <n>] | keys list | keys revoke <id>";

class UsageError extends Error {}

export type KeysCommand =
  | { readonly command: "create"; readonly name: string; readonly role: Role; readonly teams: string[]; readonly expiresInDays: number | undefined }
  | { readonly command: "list" }
  | { readonly command: "revoke"; readonly id: string };

/**
 * The tool reads only these, with config.ts's rules for DATA_DIR and DATABASE_URL: `loadConfig` cannot be
 * used because it requires LANDING_ZONE_FILE, which has nothing to do with keys.
 */
const KeysEnv = z.object({
  DATA_DIR: z.string().min(1).default(".data"),
  DATABASE_URL: z
    .string()
    .regex(/^postgres(ql)?:\/\//, "must be a postgres:// or postgresql:// URL")
    .optional(),
  API_KEY_MAX_EXPIRES_DAYS: z.coerce.number().int().min(1).max(API_KEY_EXPIRES_DAYS_CEILING).default(365),
  /** Key events are audited like the API's: with the service's HMAC key (development: its generated one). */
  MODE: z.enum(["production", "development"]).default("production"),
  AUDIT_HMAC_KEY_FILE: z.string().min(1).optional(),
});
export type KeysEnv = z.output<typeof KeysEnv>;

export function parseKeysEnv(env: Readonly<Record<string, string | undefined>>): KeysEnv {
  // As loadConfig: an empty variable means "not set".
  const present = Object.fromEntries(Object.entries(env).filter(([, v]) => v !== undefined && v !== ""));
  const parsed = KeysEnv.safeParse(present);
  if (!parsed.success) throw new Error(parsed.error.issues.map((i) => `${i.path.join(".")}: ${i.message}`).join("; "));
  return parsed.data;
}

export function parseKeysCommand(argv: readonly string[]): KeysCommand {
  const [command, ...rest] = argv;
  let parsed;
  try {
    parsed = parseArgs({
      args: rest,
      allowPositionals: true,
      strict: true,
      options:
        command === "create"
          ? { name: { type: "string" }, role: { type: "string" }, team: { type: "string", multiple: true }, "expires-days": { type: "string" } }
          : {},
    });
  } catch (err) {
    throw new UsageError(`${(err as Error).message}; ${USAGE}`);
  }
  const { values, positionals } = parsed as { values: Record<string, string | string[] | undefined>; positionals: string[] };
  switch (command) {
    case "create": {
      if (positionals.length > 0) throw new UsageError(`create takes no positional arguments; ${USAGE}`);
      const name = values["name"];
      const role = Role.safeParse(values["role"]);
      if (typeof name !== "string") throw new UsageError(`create: --name is required; ${USAGE}`);
      if (!role.success) throw new UsageError(`create: --role must be one of ${ROLES.join(", ")}; ${USAGE}`);
      const days = values["expires-days"];
      if (days !== undefined && !/^\d+$/.test(String(days))) throw new UsageError(`create: --expires-days must be a whole number of days`);
      const teams = values["team"];
      return {
        command,
        name,
        role: role.data,
        teams: Array.isArray(teams) ? teams : [],
        expiresInDays: days === undefined ? undefined : Number(days),
      };
    }
    case "list":
      if (positionals.length > 0) throw new UsageError(`list takes no arguments; ${USAGE}`);
      return { command };
    case "revoke":
      if (positionals.length !== 1 || positionals[0] === undefined) throw new UsageError(`revoke takes exactly one key id; ${USAGE}`);
      return { command, id: positionals[0] };
    default:
      throw new UsageError(command === undefined ? USAGE : `unknown command "${command}"; ${USAGE}`);
  }
}

/** The command line is audited as `system` (an operator at the database, not a request). */
function cliAudit(audit: AuditWriter, tx: Queryable, action: "apikey.create" | "apikey.revoke", key: ApiKeyInfo) {
  return audit.append(tx, {
    action,
    outcome: "allowed",
    principal: { kind: "system", id: cliActor() },
    resource: { kind: "apikey", id: key.id },
    requestId: null,
    sourceIp: null,
    details: { ...keyDetails(key), via: "npm run keys" },
  });
}

async function run(db: Db, cmd: KeysCommand, env: KeysEnv, audit: AuditWriter): Promise<void> {
  switch (cmd.command) {
    case "create": {
      const { key, secret } = await db.transaction(async (tx) => {
        const made = await createApiKey(tx, {
          name: cmd.name,
          role: cmd.role,
          teams: cmd.teams,
          expiresInDays: cmd.expiresInDays,
          maxExpiresInDays: env.API_KEY_MAX_EXPIRES_DAYS,
          createdBy: cliActor(),
        });
        await cliAudit(audit, tx, "apikey.create", made.key);
        return made;
      });
      process.stdout.write(`${secret}\n`);
      process.stderr.write(
        `keys: created API key ${key.id} "${key.name}" (role ${key.role}, teams ${key.teams.join(",") || "-"}, expires ${key.expiresAt}); ` +
          "the key above is shown once and cannot be shown again: store it now\n",
      );
      return;
    }
    case "list": {
      const rows = (await listApiKeys(db)).map(listLine);
      process.stdout.write(["ID\tPREFIX\tNAME\tROLE\tTEAMS\tSTATE\tEXPIRES\tLAST_USED", ...rows].join("\n") + "\n");
      return;
    }
    case "revoke": {
      const result = await db.transaction(async (tx) => {
        const r = await revokeApiKey(tx, cmd.id, cliActor());
        if (r !== undefined && !r.alreadyRevoked) await cliAudit(audit, tx, "apikey.revoke", r.key);
        return r;
      });
      if (result === undefined) throw new Error(`no API key with id ${cmd.id} (see: keys list)`);
      const { key } = result;
      process.stdout.write(
        result.alreadyRevoked
          ? `already revoked: ${key.id} "${key.name}" at ${key.revokedAt} by ${key.revokedBy}\n`
          : `revoked ${key.id} "${key.name}"\n`,
      );
      return;
    }
  }
}

function listLine(k: ApiKeyInfo): string {
  return [k.id, k.prefix, k.name, k.role, k.teams.join(",") || "-", apiKeyState(k), k.expiresAt, k.lastUsedAt ?? "never"].join("\t");
}

function cliActor(): string {
  try {
    return `cli:${userInfo().username}`;
  } catch {
    return "cli"; // no passwd entry for this uid (some containers)
  }
}

async function main(): Promise<void> {
  // Arguments and environment first: a typo must not open (or create) a store.
  const cmd = parseKeysCommand(process.argv.slice(2));
  const env = parseKeysEnv(process.env);
  // Silent: stdout carries the key only, stderr one line (development generates the HMAC key quietly).
  const hmacKey = await loadAuditHmacKeyOnly(env, createLogger("silent"));
  const db = await openDb({ dataDir: env.DATA_DIR, databaseUrl: env.DATABASE_URL });
  try {
    await run(db, cmd, env, createAuditWriter({ hmacKey }));
  } finally {
    await db.close();
  }
}

if (process.argv[1] && import.meta.url === new URL(`file://${process.argv[1]}`).href) {
  main().catch((err: unknown) => {
    const message = err instanceof Error ? err.message : String(err);
    process.stderr.write(`keys: ${message.replace(/\s*\n\s*/g, " ")}\n`);
    process.exit(err instanceof UsageError ? 2 : 1);
  });
}
