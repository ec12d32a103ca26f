import type { FastifyPluginAsyncZod } from "fastify-type-provider-zod";
import { z } from "zod";
import * as service from "../../operations/operations-service.js";
import { EventListDto, OperationDto, ProblemDto, opLinks, toOperationDto } from "../dto.js";
import { representationOf } from "../respond.js";
import { streamOperation, type StreamDeps } from "../streaming.js";

export interface OperationRoutesOptions {
  readonly deps: service.OperationsDeps;
  readonly stream: StreamDeps;
}

const Id = z.object({ id: z.string().min(1).max(64) });
const seq = z.coerce.number().int().min(0).max(2_147_483_647);

const operationRoutes: FastifyPluginAsyncZod<OperationRoutesOptions> = async (app, { deps, stream }) => {
  app.get(
    "/v1/operations/:id",
    { schema: { summary: "Get an operation", tags: ["operations"], params: Id, response: { 200: OperationDto, 404: ProblemDto } } },
    async (request) => {
      const { operation, queuePosition } = await service.getOperation(deps, request.params.id);
      return toOperationDto(operation, queuePosition);
    },
  );

  app.post(
    "/v1/operations/:id/cancel",
    {
      schema: {
        summary: "Cancel a queued or running operation",
        tags: ["operations"],
        params: Id,
        response: { 202: OperationDto, 404: ProblemDto, 406: ProblemDto, 409: ProblemDto },
      },
    },
    async (request, reply) => {
      const rep = representationOf(request);
      const op = await service.cancelOperation(deps, request.params.id);
      if (rep === "json") return reply.code(202).send(toOperationDto(op));
      return streamOperation(reply, stream, {
        operationId: op.id,
        after: 0,
        format: rep,
        status: 202,
        textHeader: `cancel ${op.provider} — operation ${op.id}`,
        log: request.log,
      });
    },
  );

  app.get(
    "/v1/operations/:id/events",
    {
      schema: {
        summary: "Operation events: a JSON page, or a live stream (SSE resumable with Last-Event-ID or ?after=, NDJSON, text)",
        tags: ["operations"],
        params: Id,
        querystring: z.strictObject({ after: seq.optional(), limit: z.coerce.number().int().min(1).max(1000).default(500) }),
        headers: z.looseObject({ "last-event-id": seq.optional() }),
        response: { 200: EventListDto, 400: ProblemDto, 404: ProblemDto, 406: ProblemDto },
      },
    },
    async (request, reply) => {
      const rep = representationOf(request);
      const after = request.query.after ?? request.headers["last-event-id"] ?? 0;
      if (rep === "json") {
        const items = await service.eventPage(deps, request.params.id, after, request.query.limit);
        const last = items.at(-1)?.seq;
        const self = `/v1/operations/${request.params.id}/events`;
        return { items, links: last !== undefined && items.length === request.query.limit ? { next: `${self}?after=${last}` } : {} };
      }
      const { operation } = await service.getOperation(deps, request.params.id);
      return streamOperation(reply, stream, {
        operationId: operation.id,
        after,
        format: rep,
        status: 200,
        headers: { link: `<${opLinks(operation.id, operation.provider).self}>; rel="operation"` },
        textHeader: `${operation.intent} ${operation.provider} — operation ${operation.id} (engine: ${operation.engine})`,
        log: request.log,
      });
    },
  );
};

export default operationRoutes;
