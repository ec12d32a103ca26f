import { createHash } from "node:crypto";
import type { FastifyReply, FastifyRequest } from "fastify";
import { z } from "zod";
import { principalRef } from "../auth/actor.js";
import { AppError } from "../errors.js";
import type { Accepted, Idempotency } from "../onboarding/accept.js";
import { canonicalJson } from "../onboarding/spec.js";
import { opLinks, toOperationDto } from "./dto.js";
import { negotiate, type Representation } from "./negotiate.js";
import { streamOperation, type StreamDeps } from "./streaming.js";

/** Shared by every mutating route: content negotiation, Idempotency-Key, and the 202 (JSON or stream). */
export const MutationHeaders = z.looseObject({
  "idempotency-key": z
    .string()
    .max(255, { message: "must be 1–255 visible ASCII characters", abort: true })
    .regex(/^[\x21-\x7e]{1,255}$/, "must be 1–255 visible ASCII characters")
    .optional()
    .describe("same key + same request → the same operation; same key + another request → 422"),
});

/** An event sequence's seq in a query (`?after=`). */
export const EventSeq = z.coerce.number().int().min(0).max(2_147_483_647);

/** The headers of a route that streams events: `Last-Event-ID` is text, documented as digits, read as the seq it names. */
export const ResumeHeaders = z.looseObject({
  "last-event-id": z
    .string()
    .max(10)
    .regex(/^[0-9]{1,10}$/, "must be an event's seq (its SSE id)")
    .transform(Number)
    .pipe(z.number().int().max(2_147_483_647))
    .optional()
    .describe("resume after this event (EventSource sends the last id it saw)"),
});

/** Decided before any work is done, so an unacceptable Accept header changes nothing (406). */
export function representationOf(request: FastifyRequest): Representation {
  const rep = negotiate(request.headers.accept);
  if (!rep) {
    throw new AppError(
      "NOT_ACCEPTABLE",
      "Accept one of application/json, text/event-stream, application/x-ndjson or text/plain.",
    );
  }
  return rep;
}

/**
 * Keys are scoped to the principal: another caller's key is a different key, so a replay can never hand
 * one caller another's operation (nor tell it that the key was used).
 */
/**
 * representationOf for a request that creates something and may then stream it: a principal already at
 * its open-stream cap is refused (429) before anything is created, not after.
 */
export function streamingRepresentationOf(request: FastifyRequest, deps: StreamDeps): Representation {
  const rep = representationOf(request);
  if (rep !== "json" && request.principal) deps.open.reserve(principalRef(request.principal), deps.maxPerOwner);
  return rep;
}

export function idempotencyOf(request: FastifyRequest, body: unknown): Idempotency | undefined {
  const presented = (request.headers as { "idempotency-key"?: string })["idempotency-key"];
  if (presented === undefined) return undefined;
  const key = `${request.principal ? principalRef(request.principal) : "anonymous"}|${presented}`;
  const path = request.url.split("?")[0] ?? "";
  const fingerprint = createHash("sha256")
    .update(`${request.method} ${path}\n${canonicalJson(body ?? null)}`)
    .digest("hex");
  return { key, fingerprint };
}

export function respondAccepted(
  request: FastifyRequest,
  reply: FastifyReply,
  deps: StreamDeps,
  accepted: Accepted,
  representation: Representation,
): FastifyReply {
  const op = accepted.operation;
  const links = opLinks(op.id, op.provider);
  const headers = { location: links.self, "operation-id": op.id };
  if (representation === "json") {
    return reply
      .code(202)
      .headers(headers)
      .send({ operation: toOperationDto(op, accepted.queuePosition), queuePosition: accepted.queuePosition, replayed: accepted.replayed, links });
  }
  return streamOperation(reply, deps, {
    operationId: op.id,
    after: 0,
    format: representation,
    status: 202,
    headers,
    // Counted towards the caller's cap, not checked again: streamingRepresentationOf admitted it before the
    // operation was created, and refusing now would answer 429 for a change that was made.
    ...(request.principal ? { owner: principalRef(request.principal) } : {}),
    textHeader: `${op.intent} ${op.provider} — operation ${op.id} (engine: ${op.engine}${op.engine === "simulated" ? ", nothing is created in AWS" : ""})`,
    log: request.log,
  });
}
