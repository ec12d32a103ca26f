import { createHmac, randomBytes, timingSafeEqual } from "node:crypto";

/**
 * Stream tickets (issue #5): for SSE clients that cannot set headers (`EventSource`). A ticket is
 * short-lived and bound to ONE operation and one principal, so a ticket that leaks into a proxy log or
 * browser history opens one operation's events for a minute, not the API. Stateless: an HMAC over
 * (version, operation, principal, expiry, nonce) with a key that never leaves the service.
 *
 * Format: `sbt1.<operationId>.<principal b64url>.<expiry s>.<nonce>.<mac b64url>`.
 */
export const DEFAULT_TICKET_SECONDS = 60;
export const MAX_TICKET_SECONDS = 300;

export interface TicketClaims {
  readonly operationId: string;
  /** `<kind>:<id>` of the principal the ticket was issued to (its teams are checked again on use). */
  readonly principal: string;
}

export interface IssuedTicket {
  readonly ticket: string;
  readonly expiresAt: string;
}

const b64 = (s: string) => Buffer.from(s, "utf8").toString("base64url");

function mac(key: Buffer, body: string): Buffer {
  return createHmac("sha256", key).update(`sbt1|${body}`).digest();
}

export function issueStreamTicket(key: Buffer, claims: TicketClaims, now = Date.now(), seconds = DEFAULT_TICKET_SECONDS): IssuedTicket {
  if (key.length < 32) throw new Error("the stream-ticket key must be at least 32 bytes");
  if (!/^[0-9a-f-]{36}$/.test(claims.operationId)) throw new Error("stream tickets are issued for operation ids only");
  const ttl = Math.min(Math.max(1, Math.floor(seconds)), MAX_TICKET_SECONDS);
  const expiry = Math.floor(now / 1000) + ttl;
  const body = `${claims.operationId}.${b64(claims.principal)}.${expiry}.${randomBytes(12).toString("base64url")}`;
  return { ticket: `sbt1.${body}.${mac(key, body).toString("base64url")}`, expiresAt: new Date(expiry * 1000).toISOString() };
}

export type TicketCheck =
  | { readonly ok: true; readonly principal: string }
  | { readonly ok: false; readonly reason: "malformed" | "bad-signature" | "expired" | "wrong-operation" };

/** Checks a ticket for the operation whose stream is requested (never throws). */
export function verifyStreamTicket(key: Buffer, ticket: string, operationId: string, now = Date.now()): TicketCheck {
  const parts = typeof ticket === "string" && ticket.length <= 512 ? ticket.split(".") : [];
  if (parts.length !== 6 || parts[0] !== "sbt1") return { ok: false, reason: "malformed" };
  const [, op, principal, expiry, nonce, signature] = parts as [string, string, string, string, string, string];
  if (!/^\d{1,12}$/.test(expiry) || !/^[A-Za-z0-9_-]+$/.test(nonce) || !/^[A-Za-z0-9_-]+$/.test(signature)) {
    return { ok: false, reason: "malformed" };
  }
  const expected = mac(key, `${op}.${principal}.${expiry}.${nonce}`);
  const given = Buffer.from(signature, "base64url");
  // Only the canonical encoding: base64's spare low bits would otherwise let several strings carry one MAC.
  const canonical = given.toString("base64url") === signature;
  if (given.length !== expected.length || !timingSafeEqual(given, expected) || !canonical) return { ok: false, reason: "bad-signature" };
  if (Number(expiry) * 1000 <= now) return { ok: false, reason: "expired" };
  if (op !== operationId) return { ok: false, reason: "wrong-operation" };
  return { ok: true, principal: Buffer.from(principal, "base64url").toString("utf8") };
}
