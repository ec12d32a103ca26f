import type { FastifyRequest } from "fastify";
import type { FastifyPluginAsyncZod } from "fastify-type-provider-zod";
import { z } from "zod";
import * as approvals from "../../approvals/approvals-service.js";
import { APPROVAL_STATUSES, getApproval, listApprovals } from "../../approvals/approvals-repo.js";
import { principalRef, recordAllowed, visibleTeams } from "../../auth/actor.js";
import { issueStreamTicket, DEFAULT_TICKET_SECONDS } from "../../auth/stream-tickets.js";
import { endedAtOrBefore } from "../../operations/events-repo.js";
import { decommissionOf } from "../../operations/operation.js";
import * as service from "../../operations/operations-service.js";
import { ApprovalDto, DecommissionDto, EventListDto, OperationDto, ProblemDto, opLinks, toApprovalDto, toOperationDto } from "../dto.js";
import { requestActor, type RouteAuth } from "../auth.js";
import { EventSeq, representationOf, ResumeHeaders, streamingRepresentationOf } from "../respond.js";
import { streamOperation, type StreamDeps } from "../streaming.js";

export interface OperationRoutesOptions {
  readonly deps: service.OperationsDeps;
  readonly approvals: approvals.ApprovalsDeps;
  readonly stream: StreamDeps;
  /** HMAC key of stream tickets. */
  readonly ticketKey: Buffer;
}

const Id = z.object({ id: z.string().min(1).max(64) });
const denied = { 401: ProblemDto, 403: ProblemDto, 404: ProblemDto, 429: ProblemDto };
const viewer: { auth: RouteAuth } = { auth: { role: "viewer" } };
const ApprovalList = z
  .object({
    items: z.array(
      z.object({
        operationId: z.uuid(),
        provider: z.string(),
        intent: z.string(),
        decommission: DecommissionDto.optional(),
        approval: ApprovalDto,
        spec: z.record(z.string(), z.unknown()).describe("the spec the operation runs once approved (its hash is approval.specHash): compare it with the provider's spec to read the change"),
        links: z.record(z.string(), z.string()),
      }),
    ),
    links: z.record(z.string(), z.string()),
  })
  .meta({ id: "ApprovalList", description: "A page of approval requests, oldest first; `links.next` continues" });
const StreamTicket = z
  .object({ ticket: z.string(), expiresAt: z.string(), links: z.object({ events: z.string() }) })
  .meta({ id: "StreamTicket", description: "A short-lived ticket for one operation's event stream (`links.events` carries it)" });
const Comment = z.string().max(1000).regex(/^[^\p{Cc}]*$/u, "must not contain control characters");

const operationRoutes: FastifyPluginAsyncZod<OperationRoutesOptions> = async (app, { deps, approvals: approvalDeps, stream, ticketKey }) => {
  const viewerOf = (request: FastifyRequest): service.OperationViewer => ({
    principal: requestActor(request).principal,
    ticketOperation: request.ticketOperation,
  });

  app.get(
    "/v1/operations/:id",
    { config: viewer, schema: { operationId: "getOperation", summary: "Get an operation", tags: ["operations"], params: Id, response: { 200: OperationDto, ...denied } } },
    async (request) => {
      const { operation, queuePosition } = await service.getOperation(deps, viewerOf(request), request.params.id);
      return toOperationDto(operation, queuePosition, await getApproval(deps.db, operation.id));
    },
  );

  app.post(
    "/v1/operations/:id/cancel",
    {
      config: { auth: { role: "operator", action: "operation.cancel" }, streams: true },
      schema: {
        operationId: "cancelOperation",
        summary: "Cancel a queued, awaiting or running operation",
        tags: ["operations"],
        params: Id,
        response: { 202: OperationDto, 406: ProblemDto, 409: ProblemDto, ...denied },
      },
    },
    async (request, reply) => {
      const rep = streamingRepresentationOf(request, stream);
      const actor = requestActor(request);
      const op = await service.cancelOperation(deps, actor, request.params.id);
      if (rep === "json") return reply.code(202).send(toOperationDto(op));
      return streamOperation(reply, stream, {
        operationId: op.id,
        after: 0,
        format: rep,
        status: 202,
        textHeader: `cancel ${op.provider} — operation ${op.id}`,
        log: request.log,
        owner: principalRef(actor.principal),
        maxPerOwner: stream.maxPerOwner,
      });
    },
  );

  app.post(
    "/v1/operations/:id/approve",
    {
      config: { auth: { role: "approver", action: "approval.approve" } },
      schema: {
        operationId: "approveOperation",
        summary: "Approve an operation awaiting approval (a second person; names the spec hash reviewed)",
        tags: ["approvals"],
        params: Id,
        body: z.strictObject({
          specHash: z
            .string()
            .max(64, { message: "must be the operation's specHash (64 hex digits)", abort: true })
            .regex(/^[0-9a-f]{64}$/, "must be the operation's specHash (64 hex digits)"),
          comment: Comment.optional(),
        }),
        response: { 200: OperationDto, 400: ProblemDto, 409: ProblemDto, ...denied },
      },
    },
    async (request) => {
      const op = await approvals.approveOperation(approvalDeps, requestActor(request), request.params.id, request.body);
      return toOperationDto(op, undefined, await getApproval(deps.db, op.id));
    },
  );

  app.post(
    "/v1/operations/:id/reject",
    {
      config: { auth: { role: "approver", action: "approval.reject" } },
      schema: {
        operationId: "rejectOperation",
        summary: "Reject an operation awaiting approval (it is cancelled)",
        tags: ["approvals"],
        params: Id,
        body: z.strictObject({ comment: Comment.optional() }).nullish(),
        response: { 200: OperationDto, 400: ProblemDto, 409: ProblemDto, ...denied },
      },
    },
    async (request) => {
      const op = await approvals.rejectOperation(approvalDeps, requestActor(request), request.params.id, request.body?.comment);
      return toOperationDto(op, undefined, await getApproval(deps.db, op.id));
    },
  );

  app.get(
    "/v1/approvals",
    {
      config: viewer,
      schema: {
        operationId: "listApprovals",
        summary: "Approval requests of the caller's teams (pending by default), oldest first",
        tags: ["approvals"],
        querystring: z.strictObject({
          status: z.enum(APPROVAL_STATUSES).default("pending"),
          limit: z.coerce.number().int().min(1).max(100).default(50),
          after: z.uuid().max(36).optional().describe("the operationId of the last item of the previous page"),
        }),
        response: {
          200: ApprovalList,
          400: ProblemDto,
          ...denied,
        },
      },
    },
    async (request) => {
      const { status, limit, after } = request.query;
      const rows = await listApprovals(deps.db, { status, limit, after, teams: visibleTeams(requestActor(request).principal) });
      const items = rows.map((r) => {
        const self = `/v1/operations/${r.approval.operationId}`;
        const decide = r.approval.status === "pending" ? { approve: `${self}/approve`, reject: `${self}/reject` } : {};
        return {
          operationId: r.approval.operationId,
          provider: r.provider,
          intent: r.intent,
          ...decommissionOf({ intent: r.intent, key_disposition: r.keyDisposition }),
          approval: toApprovalDto(r.approval),
          spec: r.spec,
          links: { operation: self, provider: `/v1/providers/${encodeURIComponent(r.provider)}`, ...decide },
        };
      });
      const last = items.at(-1);
      const next = last !== undefined && items.length === limit ? { next: `/v1/approvals?${new URLSearchParams({ status, limit: String(limit), after: last.operationId }).toString()}` } : {};
      return { items, links: next };
    },
  );

  app.post(
    "/v1/operations/:id/stream-tickets",
    {
      config: { auth: { role: "viewer", action: "stream-ticket.create" } },
      schema: {
        operationId: "createStreamTicket",
        summary: "A short-lived ticket for this operation's event stream (for EventSource, which cannot set headers)",
        tags: ["operations"],
        params: Id,
        response: {
          201: StreamTicket,
          ...denied,
        },
      },
    },
    async (request, reply) => {
      const actor = requestActor(request);
      const { operation } = await service.getOperation(deps, { principal: actor.principal }, request.params.id, "stream-ticket.create");
      const issued = issueStreamTicket(ticketKey, { operationId: operation.id, principal: principalRef(actor.principal) }, Date.now(), DEFAULT_TICKET_SECONDS);
      await deps.db.transaction((tx) =>
        recordAllowed(deps.audit, tx, actor, "stream-ticket.create", { kind: "operation", id: operation.id }, { expiresAt: issued.expiresAt }),
      );
      return reply.code(201).header("cache-control", "no-store").send({
        ...issued,
        links: { events: `/v1/operations/${operation.id}/events?ticket=${encodeURIComponent(issued.ticket)}` },
      });
    },
  );

  app.get(
    "/v1/operations/:id/events",
    {
      config: { auth: { role: "viewer", streamTicket: true }, streams: true },
      schema: {
        operationId: "listOperationEvents",
        summary: "Operation events: a JSON page, or a live stream (SSE resumable with Last-Event-ID or ?after=, NDJSON, text)",
        tags: ["operations"],
        params: Id,
        querystring: z.strictObject({
          after: EventSeq.optional(),
          limit: z.coerce.number().int().min(1).max(1000).default(500),
          ticket: z.string().max(512).optional().describe("a stream ticket, instead of the authorization header"),
        }),
        headers: ResumeHeaders,
        response: {
          200: EventListDto,
          204: z.null().describe("a stream resumed at or past the operation's terminal event: nothing more will come (EventSource stops reconnecting)"),
          400: ProblemDto,
          406: ProblemDto,
          ...denied,
        },
      },
    },
    async (request, reply) => {
      const rep = representationOf(request);
      const after = request.query.after ?? request.headers["last-event-id"] ?? 0;
      const who = viewerOf(request);
      if (rep === "json") {
        const items = await service.eventPage(deps, who, request.params.id, after, request.query.limit);
        const last = items.at(-1)?.seq;
        const self = `/v1/operations/${request.params.id}/events`;
        return { items, links: last !== undefined && items.length === request.query.limit ? { next: `${self}?after=${last}` } : {} };
      }
      const { operation } = await service.getOperation(deps, who, request.params.id);
      const link = `<${opLinks(operation.id, operation.provider).self}>; rel="operation"`;
      // Resumed at or past the end (an EventSource reconnects with the last id after every finished stream):
      // 204, which EventSource takes as "do not reconnect", and an immediate end for NDJSON and text.
      if (await endedAtOrBefore(deps.db, operation.id, after)) return reply.code(204).header("link", link).send(null);
      return streamOperation(reply, stream, {
        operationId: operation.id,
        after,
        format: rep,
        status: 200,
        headers: { link },
        textHeader: `${operation.intent} ${operation.provider} — operation ${operation.id} (engine: ${operation.engine})`,
        log: request.log,
        owner: principalRef(who.principal),
        maxPerOwner: stream.maxPerOwner,
      });
    },
  );
};

export default operationRoutes;
