import { createHmac, randomBytes } from "node:crypto";

/**
 * Standard Webhooks signatures (https://www.standardwebhooks.com, issue 16): `webhook-signature` is
 * `v1,<base64 HMAC-SHA256(key, "<webhook-id>.<webhook-timestamp>.<body>")>`, one per secret that is valid
 * now (during a rotation overlap, the old and the new), space-separated. A secret is `whsec_<base64>`; the
 * key is its decoded bytes.
 */
const PREFIX = "whsec_";
const SECRET_BYTES = 32;

export interface SignedHeaders {
  readonly "webhook-id": string;
  readonly "webhook-timestamp": string;
  readonly "webhook-signature": string;
}

export function generateSecret(): string {
  return `${PREFIX}${randomBytes(SECRET_BYTES).toString("base64")}`;
}

/** The HMAC key of a `whsec_` secret. */
export function secretKey(secret: string): Buffer {
  if (!secret.startsWith(PREFIX)) throw new Error("not a webhook secret");
  const key = Buffer.from(secret.slice(PREFIX.length), "base64");
  if (key.length < 24 || key.length > 64) throw new Error("not a webhook secret");
  return key;
}

export function signature(key: Buffer, webhookId: string, timestamp: number, body: string): string {
  return `v1,${createHmac("sha256", key).update(`${webhookId}.${timestamp}.${body}`, "utf8").digest("base64")}`;
}

/** The three headers of one attempt, signed with every key given (at least one). */
export function signedHeaders(keys: readonly Buffer[], webhookId: string, timestamp: number, body: string): SignedHeaders {
  if (keys.length === 0) throw new Error("a delivery is signed with at least one secret");
  return {
    "webhook-id": webhookId,
    "webhook-timestamp": String(timestamp),
    "webhook-signature": keys.map((key) => signature(key, webhookId, timestamp, body)).join(" "),
  };
}

/** What a subscription's secret is sealed to (credential-seal.ts): it does not open for another subscription or secret. */
export const secretContext = (subscriptionId: string, secretId: string): string => `webhook-secret:${subscriptionId}:${secretId}`;
