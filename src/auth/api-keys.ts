import { randomBytes, randomUUID, timingSafeEqual } from "node:crypto";
import { z } from "zod";
import { AppError, type FieldError } from "../errors.js";
import { arrayOf, printableText, strictObject, teamSlug, uniqueBy } from "../onboarding/spec-fields.js";
import { zodIssuesToFieldErrors } from "../onboarding/spec-issues.js";
import type { Queryable } from "../store/db.js";
import { generateApiKeyToken, hashApiKey, parseApiKeyToken } from "./api-key-token.js";
import type { Principal } from "./principal.js";
import { ROLES, Role } from "./roles.js";

/** API keys (issue #5): created, listed, revoked by admins; presented as `authorization: Bearer sbk_…`. */
export const DEFAULT_API_KEY_EXPIRES_DAYS = 90;
/** The ceiling of any configured maximum (API_KEY_MAX_EXPIRES_DAYS): ten years. */
export const API_KEY_EXPIRES_DAYS_CEILING = 3_650;
/** last_used_at is written at most this often per key, so authenticating is not a write per request. */
export const LAST_USED_RESOLUTION_MS = 60_000;
const DAY_MS = 86_400_000;

const expiresMessage = `must be a whole number of days from 1 to ${API_KEY_EXPIRES_DAYS_CEILING}`;

/** The body of `POST /v1/api-keys`; createApiKey validates its arguments with it too. */
export const NewApiKey = strictObject({
  name: printableText(1, 100),
  role: z.enum(ROLES, { error: (i) => (i.input === undefined ? "is required" : `must be one of: ${ROLES.join(", ")}`) }),
  teams: arrayOf(teamSlug, 0, 50, "teams").superRefine(uniqueBy((t) => t, "team")),
  expiresInDays: z
    .int({ error: (i) => (i.input === undefined ? "is required" : expiresMessage) })
    .min(1, expiresMessage)
    .max(API_KEY_EXPIRES_DAYS_CEILING, expiresMessage)
    .optional(),
});
export type NewApiKey = z.output<typeof NewApiKey>;

/** A key as admins see it. Never the secret, never its hash. Timestamps are ISO 8601 (UTC). */
export interface ApiKeyInfo {
  readonly id: string;
  /** Public: the `<prefix>` in `sbk_<prefix>_<secret>`. */
  readonly prefix: string;
  readonly name: string;
  readonly role: Role;
  readonly teams: readonly string[];
  readonly createdBy: string;
  readonly createdAt: string;
  readonly expiresAt: string;
  readonly revokedAt: string | null;
  readonly revokedBy: string | null;
  readonly lastUsedAt: string | null;
}

/** Every function takes the time from here when given, so tests move the clock instead of sleeping. */
export interface ClockOptions {
  readonly now?: Date | undefined;
}

export interface CreateApiKeyArgs extends ClockOptions {
  readonly name: string;
  readonly role: Role;
  readonly teams: readonly string[];
  /** Default: DEFAULT_API_KEY_EXPIRES_DAYS, or maxExpiresInDays when that is lower. */
  readonly expiresInDays?: number | undefined;
  /** The configured maximum (API_KEY_MAX_EXPIRES_DAYS); a longer expiry is refused. */
  readonly maxExpiresInDays: number;
  /** Who asked: a principal id, or `cli:<user>` for the bootstrap command. */
  readonly createdBy: string;
}

export interface CreatedApiKey {
  readonly key: ApiKeyInfo;
  /** The whole key string `sbk_<prefix>_<secret>`: shown to the caller once, stored nowhere. */
  readonly secret: string;
}

export type ApiKeyAuthResult =
  | { readonly ok: true; readonly principal: Principal }
  | { readonly ok: false; readonly reason: "malformed" | "unknown" }
  /** Only once the secret matched: the caller holds a real key, so naming it reveals nothing. */
  | { readonly ok: false; readonly reason: "expired" | "revoked"; readonly keyId: string };

export type ApiKeyState = "active" | "expired" | "revoked";

const timestamp = z.union([z.date(), z.string()]).transform((v) => new Date(v).toISOString());

const ApiKeyRow = z
  .object({
    id: z.string(),
    prefix: z.string(),
    name: z.string(),
    role: Role,
    teams: z.array(z.string()),
    created_by: z.string(),
    created_at: timestamp,
    expires_at: timestamp,
    revoked_at: timestamp.nullable(),
    revoked_by: z.string().nullable(),
    last_used_at: timestamp.nullable(),
  })
  .transform(
    (r): ApiKeyInfo => ({
      id: r.id,
      prefix: r.prefix,
      name: r.name,
      role: r.role,
      teams: r.teams,
      createdBy: r.created_by,
      createdAt: r.created_at,
      expiresAt: r.expires_at,
      revokedAt: r.revoked_at,
      revokedBy: r.revoked_by,
      lastUsedAt: r.last_used_at,
    }),
  );
const StoredHash = z.instanceof(Uint8Array).refine((h) => h.length === 32, "secret_hash must be 32 bytes");

/** Every column but secret_hash, which only authenticateApiKey reads. */
const INFO_COLUMNS = "id, prefix, name, role, teams, created_by, created_at, expires_at, revoked_at, revoked_by, last_used_at";
const GUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
/** Compared against when the prefix is unknown, so that path hashes and compares exactly like the other. */
const NO_SUCH_KEY = randomBytes(32);
const PREFIX_ATTEMPTS = 3;

const toInfo = (row: Record<string, unknown>): ApiKeyInfo => ApiKeyRow.parse(row);

export async function createApiKey(q: Queryable, args: CreateApiKeyArgs): Promise<CreatedApiKey> {
  const { maxExpiresInDays: max, createdBy } = args;
  if (!Number.isInteger(max) || max < 1 || max > API_KEY_EXPIRES_DAYS_CEILING) {
    throw new Error(`maxExpiresInDays must be an integer from 1 to ${API_KEY_EXPIRES_DAYS_CEILING}, got ${max}`);
  }
  if (createdBy.trim() === "") throw new Error("createdBy is required");
  const input = validate({ name: args.name, role: args.role, teams: args.teams, expiresInDays: args.expiresInDays });
  const days = input.expiresInDays ?? Math.min(DEFAULT_API_KEY_EXPIRES_DAYS, max);
  if (days > max) {
    throw invalid([{ path: "/expiresInDays", message: `must be at most ${max} days (the configured maximum)` }]);
  }
  const now = args.now ?? new Date();
  const expiresAt = new Date(now.getTime() + days * DAY_MS);
  // 48-bit prefixes rarely collide; when one does, draw again (DO NOTHING keeps a caller's transaction usable).
  for (let attempt = 0; attempt < PREFIX_ATTEMPTS; attempt++) {
    const token = generateApiKeyToken();
    const [row] = await q.query(
      `INSERT INTO api_keys (id, prefix, secret_hash, name, role, teams, created_by, created_at, expires_at)
       VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)
       ON CONFLICT (prefix) DO NOTHING
       RETURNING ${INFO_COLUMNS}`,
      [randomUUID(), token.prefix, hashApiKey(token.key), input.name, input.role, input.teams, createdBy, now, expiresAt],
    );
    if (row !== undefined) return { key: toInfo(row), secret: token.key };
  }
  throw new Error(`could not draw an unused API key prefix in ${PREFIX_ATTEMPTS} attempts`);
}

/**
 * Verifies a presented key string. Never throws for any input. A wrong secret answers `unknown`, exactly
 * like an unknown prefix, and both paths do the same work — one indexed lookup, one SHA-256, one
 * constant-time comparison of 32-byte buffers — so neither the answer nor the time tells which prefixes
 * exist (a prefix alone is worth nothing anyway: the secret behind it has 256 bits).
 */
export async function authenticateApiKey(q: Queryable, presented: string, options: ClockOptions = {}): Promise<ApiKeyAuthResult> {
  const token = parseApiKeyToken(presented);
  if (token === undefined) return { ok: false, reason: "malformed" };
  const [row] = await q.query(`SELECT ${INFO_COLUMNS}, secret_hash FROM api_keys WHERE prefix = $1`, [token.prefix]);
  const stored = row === undefined ? NO_SUCH_KEY : StoredHash.parse(row["secret_hash"]);
  const matches = timingSafeEqual(hashApiKey(token.key), stored);
  if (row === undefined || !matches) return { ok: false, reason: "unknown" };

  const key = toInfo(row);
  const now = options.now ?? new Date();
  const state = apiKeyState(key, now);
  if (state !== "active") return { ok: false, reason: state, keyId: key.id };
  await touchLastUsed(q, key, now);
  return { ok: true, principal: { kind: "apikey", id: key.id, name: key.name, role: key.role, teams: key.teams } };
}

/** What an audit record says of a key: never the secret or its hash. */
export function keyDetails(key: ApiKeyInfo): Record<string, unknown> {
  return { name: key.name, prefix: key.prefix, role: key.role, teams: [...key.teams], expiresAt: key.expiresAt };
}

export function apiKeyState(key: ApiKeyInfo, now: Date = new Date()): ApiKeyState {
  if (key.revokedAt !== null) return "revoked";
  return now.getTime() >= Date.parse(key.expiresAt) ? "expired" : "active";
}

/** All keys, oldest first, revoked and expired ones included (they are few; admins audit them). */
export async function listApiKeys(q: Queryable): Promise<ApiKeyInfo[]> {
  return (await q.query(`SELECT ${INFO_COLUMNS} FROM api_keys ORDER BY created_at, id`)).map(toInfo);
}

/** The key with this id; undefined when there is none (or `id` is not a UUID). */
export async function getApiKey(q: Queryable, id: string): Promise<ApiKeyInfo | undefined> {
  if (!GUID.test(id)) return undefined;
  const [row] = await q.query(`SELECT ${INFO_COLUMNS} FROM api_keys WHERE id = $1`, [id]);
  return row === undefined ? undefined : toInfo(row);
}

export interface RevokedApiKey {
  readonly key: ApiKeyInfo;
  /** Revoked before this call: the first revocation's time and actor are kept. */
  readonly alreadyRevoked: boolean;
}

/** Revokes a key for good (idempotent); undefined when there is no such key. */
export async function revokeApiKey(q: Queryable, id: string, by: string, options: ClockOptions = {}): Promise<RevokedApiKey | undefined> {
  if (by.trim() === "") throw new Error("the revoking principal is required");
  if (!GUID.test(id)) return undefined;
  const [row] = await q.query(
    `UPDATE api_keys SET revoked_at = $2, revoked_by = $3 WHERE id = $1 AND revoked_at IS NULL RETURNING ${INFO_COLUMNS}`,
    [id, options.now ?? new Date(), by],
  );
  if (row !== undefined) return { key: toInfo(row), alreadyRevoked: false };
  const key = await getApiKey(q, id);
  return key === undefined ? undefined : { key, alreadyRevoked: true };
}

/** The guard in SQL keeps replicas that authenticate the same key at once from each writing it. */
async function touchLastUsed(q: Queryable, key: ApiKeyInfo, now: Date): Promise<void> {
  if (key.lastUsedAt !== null && now.getTime() - Date.parse(key.lastUsedAt) < LAST_USED_RESOLUTION_MS) return;
  await q.query("UPDATE api_keys SET last_used_at = $2 WHERE id = $1 AND (last_used_at IS NULL OR last_used_at <= $3)", [
    key.id,
    now,
    new Date(now.getTime() - LAST_USED_RESOLUTION_MS),
  ]);
}

function validate(input: unknown): NewApiKey {
  const parsed = NewApiKey.safeParse(input);
  if (!parsed.success) throw invalid(zodIssuesToFieldErrors(parsed.error.issues));
  return parsed.data;
}

function invalid(errors: FieldError[]): AppError {
  const summary = errors.map((e) => `${e.path} ${e.message}`).join("; ");
  return new AppError("VALIDATION_FAILED", `the API key request is not valid: ${summary}`, { errors });
}
