import { createHmac, type KeyObject } from "node:crypto";
import { canonicalJson, isJsonObject, type JsonObject, type JsonValue } from "./canonical-json.js";

export const AUDIT_HASH_PREFIX = "hmac-sha256:";

/** A value that can be looked up with auditHash: what a sensitive leaf can be. */
export type SensitiveLeaf = string | number | boolean;

/**
 * The keyed hash a sensitive value is stored as, like Vault's audit HMAC (`/sys/audit-hash`): an admin who
 * knows a value can find the records carrying it, nobody can read it back from the table. Strings hash
 * their UTF-8 bytes, numbers and booleans their JSON text (so `42` and `"42"` hash alike).
 * `key` is a secret KeyObject (loadAuditHmacKey), never stored in the database.
 */
export function auditHash(key: KeyObject, value: SensitiveLeaf): string {
  const text = typeof value === "string" ? value : canonicalJson(value);
  return `${AUDIT_HASH_PREFIX}${createHmac("sha256", key).update(text, "utf8").digest("hex")}`;
}

/** Every leaf hashed (null stays null: it carries nothing), structure kept. */
export function hashLeaves(value: JsonValue, key: KeyObject): JsonValue {
  if (value === null) return null;
  if (Array.isArray(value)) return value.map((v: JsonValue) => hashLeaves(v, key));
  if (isJsonObject(value)) return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, hashLeaves(v, key)]));
  return auditHash(key, value as SensitiveLeaf);
}

/** `details` with the values under `pointers` (RFC 6901, `*` = any key or index) hashed by hashLeaves. */
export function hashSensitivePaths(details: JsonObject, pointers: readonly string[], key: KeyObject): JsonObject {
  if (pointers.length === 0) return details;
  return walk(details, pointers.map(parsePointer), key) as JsonObject;
}

function walk(value: JsonValue, patterns: readonly (readonly string[])[], key: KeyObject): JsonValue {
  if (patterns.length === 0) return value;
  if (patterns.some((p) => p.length === 0)) return hashLeaves(value, key);
  if (Array.isArray(value)) return value.map((v: JsonValue, i) => walk(v, below(patterns, String(i)), key));
  if (isJsonObject(value)) return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, walk(v, below(patterns, k), key)]));
  return value; // the pointer goes deeper than this leaf: nothing there to hash
}

const below = (patterns: readonly (readonly string[])[], segment: string): (readonly string[])[] =>
  patterns.filter((p) => p[0] === segment || p[0] === "*").map((p) => p.slice(1));

function parsePointer(pointer: string): string[] {
  if (pointer === "") return [];
  if (!pointer.startsWith("/")) throw new TypeError(`not a JSON pointer: ${JSON.stringify(pointer)}`);
  return pointer
    .slice(1)
    .split("/")
    .map((s) => s.replaceAll("~1", "/").replaceAll("~0", "~"));
}
