import { createHash, randomBytes } from "node:crypto";

/**
 * The API key string: `sbk_<prefix>_<secret>`.
 *
 * - `prefix`: 12 hex characters (48 random bits), public: it is stored in clear, shown in listings and
 *   used to find the row. Hex, so it never contains the `_` separator.
 * - `secret`: 32 random bytes (256 bits) as base64url (43 characters, may contain `_` and `-`: the prefix
 *   has a fixed length, so parsing stays unambiguous).
 *
 * Stored: SHA-256 of the whole key string. A slow KDF (scrypt, argon2) exists to make guessing
 * low-entropy passwords expensive; a 256-bit random secret cannot be guessed at any speed, and SHA-256 is
 * preimage-resistant, so a stolen table yields no usable key — while authentication stays one fast hash
 * per request. A server-side pepper (HMAC) would add a second secret to manage, rotate and never lose,
 * for no gain at this entropy. Hashing the whole string binds the hash to its prefix.
 */
export const API_KEY_SCHEME = "sbk_";
const PREFIX_BYTES = 6;
const SECRET_BYTES = 32;
const API_KEY_PATTERN = /^sbk_([0-9a-f]{12})_([A-Za-z0-9_-]{43})$/;

export interface ApiKeyToken {
  readonly prefix: string;
  /** The whole key string, as presented. */
  readonly key: string;
}

export function generateApiKeyToken(): ApiKeyToken {
  const prefix = randomBytes(PREFIX_BYTES).toString("hex");
  const key = `${API_KEY_SCHEME}${prefix}_${randomBytes(SECRET_BYTES).toString("base64url")}`;
  return { prefix, key };
}

/** A well-formed key string, or undefined: never throws, whatever the input. */
export function parseApiKeyToken(presented: unknown): ApiKeyToken | undefined {
  if (typeof presented !== "string") return undefined;
  const match = API_KEY_PATTERN.exec(presented);
  return match?.[1] === undefined ? undefined : { prefix: match[1], key: presented };
}

/** Tells an API key from another bearer token (an OIDC JWT) before deciding how to verify it. */
export function looksLikeApiKey(token: string): boolean {
  return token.startsWith(API_KEY_SCHEME);
}

export function hashApiKey(key: string): Buffer {
  return createHash("sha256").update(key, "utf8").digest();
}
