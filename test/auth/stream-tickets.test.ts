import { randomBytes, randomUUID } from "node:crypto";
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { issueStreamTicket, MAX_TICKET_SECONDS, verifyStreamTicket } from "../../src/auth/stream-tickets.js";

const key = randomBytes(32);
const op = randomUUID();

describe("stream tickets", () => {
  it("open exactly one operation's stream, for the principal they were issued to, until they expire", () => {
    const now = Date.parse("2026-12-01T10:00:00Z");
    const { ticket, expiresAt } = issueStreamTicket(key, { operationId: op, principal: "apikey:k-1" }, now, 60);
    expect(expiresAt).toBe("2026-12-01T10:01:00.000Z");
    expect(verifyStreamTicket(key, ticket, op, now + 59_000)).toEqual({ ok: true, principal: "apikey:k-1" });
    expect(verifyStreamTicket(key, ticket, op, now + 60_000)).toEqual({ ok: false, reason: "expired" });
    expect(verifyStreamTicket(key, ticket, randomUUID(), now)).toEqual({ ok: false, reason: "wrong-operation" });
    expect(verifyStreamTicket(randomBytes(32), ticket, op, now)).toEqual({ ok: false, reason: "bad-signature" });
  });

  it("are capped in lifetime and refuse weak keys and non-operation ids", () => {
    const now = Date.now();
    const { expiresAt } = issueStreamTicket(key, { operationId: op, principal: "oidc:u" }, now, 86_400);
    expect(Date.parse(expiresAt) - now).toBeLessThanOrEqual(MAX_TICKET_SECONDS * 1000);
    expect(() => issueStreamTicket(randomBytes(16), { operationId: op, principal: "x" })).toThrow("at least 32 bytes");
    expect(() => issueStreamTicket(key, { operationId: "../admin", principal: "x" })).toThrow("operation ids only");
  });

  it("any change to a ticket, and any other string, is refused without throwing", () => {
    const { ticket } = issueStreamTicket(key, { operationId: op, principal: "apikey:k-1" });
    fc.assert(
      fc.property(fc.nat({ max: ticket.length - 1 }), fc.string({ minLength: 1, maxLength: 1 }), (i, c) => {
        const tampered = ticket.slice(0, i) + c + ticket.slice(i + 1);
        fc.pre(tampered !== ticket);
        expect(verifyStreamTicket(key, tampered, op).ok).toBe(false);
      }),
      { numRuns: 500 },
    );
    fc.assert(
      fc.property(fc.string({ maxLength: 600 }), (s) => {
        expect(verifyStreamTicket(key, s, op).ok).toBe(false);
      }),
    );
  });
});
