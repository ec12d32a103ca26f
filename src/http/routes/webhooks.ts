import type { FastifyPluginAsyncZod } from "fastify-type-provider-zod";
import { z } from "zod";
import type { AuditAction } from "../../audit/record.js";
import { DELIVERY_STATUSES } from "../../notifications/deliveries-repo.js";
import * as webhooks from "../../notifications/webhooks-service.js";
import { requestActor, type RouteAuth } from "../auth.js";
import { ProblemDto } from "../dto.js";
import {
  DeliveryDto,
  DeliveryListDto,
  NewWebhookRequest,
  RotateSecretRequest,
  toDeliveryDto,
  toWebhookDto,
  WebhookCreatedDto,
  WebhookDto,
  WebhookListDto,
} from "../webhooks-dto.js";

export interface WebhookRoutesOptions {
  readonly deps: webhooks.WebhooksDeps;
}

/**
 * `/v1/webhooks` (issue 16): operators subscribe their teams' endpoints to notices, admins those of every
 * team; the secret is in the create and rotate answers only. Another team's subscription is a 404. A URL
 * may carry a token, so viewers see none of this.
 */
const operator = (action?: AuditAction): { auth: RouteAuth } => ({ auth: action ? { role: "operator", action } : { role: "operator" } });
const denied = { 401: ProblemDto, 403: ProblemDto, 404: ProblemDto, 429: ProblemDto };
const Id = z.object({ id: z.string().min(1).max(64) });
const DeliveryParams = z.object({ id: z.string().min(1).max(64), deliveryId: z.string().min(1).max(64) });
const tags = ["webhooks"];

const webhookRoutes: FastifyPluginAsyncZod<WebhookRoutesOptions> = async (app, { deps }) => {
  app.post(
    "/v1/webhooks",
    {
      config: operator("webhook.create"),
      schema: {
        operationId: "createWebhook",
        summary: "Subscribe an endpoint to notices (the signing secret is in this response only)",
        tags,
        body: NewWebhookRequest,
        response: { 201: WebhookCreatedDto, 400: ProblemDto, 413: ProblemDto, 415: ProblemDto, ...denied },
      },
    },
    async (request, reply) => {
      const created = await webhooks.createWebhook(deps, requestActor(request), request.body);
      return reply
        .code(201)
        .header("location", `/v1/webhooks/${created.subscription.id}`)
        .header("cache-control", "no-store")
        .send({ webhook: toWebhookDto(created.subscription), secret: created.secret });
    },
  );

  app.get(
    "/v1/webhooks",
    { config: operator(), schema: { operationId: "listWebhooks", summary: "The webhook subscriptions of the caller's teams (admins: all)", tags, response: { 200: WebhookListDto, ...denied } } },
    async (request) => ({ items: (await webhooks.listWebhooks(deps, requestActor(request).principal)).map(toWebhookDto) }),
  );

  app.get(
    "/v1/webhooks/:id",
    { config: operator(), schema: { operationId: "getWebhook", summary: "A webhook subscription", tags, params: Id, response: { 200: WebhookDto, ...denied } } },
    async (request) => toWebhookDto(await webhooks.getWebhook(deps, requestActor(request).principal, request.params.id)),
  );

  app.delete(
    "/v1/webhooks/:id",
    {
      config: operator("webhook.delete"),
      schema: { operationId: "deleteWebhook", summary: "Delete a webhook subscription with its deliveries (nothing more is sent)", tags, params: Id, response: { 204: z.null().describe("Deleted"), ...denied } },
    },
    async (request, reply) => {
      await webhooks.deleteWebhook(deps, requestActor(request), request.params.id);
      return reply.code(204).send(null);
    },
  );

  app.post(
    "/v1/webhooks/:id/rotate-secret",
    {
      config: operator("webhook.rotate-secret"),
      schema: {
        operationId: "rotateWebhookSecret",
        summary: "A new signing secret (in this response only); the old one signs too until the overlap ends",
        tags,
        params: Id,
        // Fastify passes a missing body as null: the overlap takes its default.
        body: RotateSecretRequest.nullish(),
        response: { 200: WebhookCreatedDto, 400: ProblemDto, 413: ProblemDto, 415: ProblemDto, ...denied },
      },
    },
    async (request, reply) => {
      const { overlapHours } = request.body ?? RotateSecretRequest.parse({});
      const rotated = await webhooks.rotateSecret(deps, requestActor(request), request.params.id, overlapHours);
      return reply.header("cache-control", "no-store").send({ webhook: toWebhookDto(rotated.subscription), secret: rotated.secret });
    },
  );

  app.get(
    "/v1/webhooks/:id/deliveries",
    {
      config: operator(),
      schema: {
        operationId: "listWebhookDeliveries",
        summary: "A subscription's deliveries, newest first",
        tags,
        params: Id,
        querystring: z.strictObject({
          status: z.enum(DELIVERY_STATUSES).optional(),
          limit: z.coerce.number().int().min(1).max(100).default(20),
          before: z.coerce.number().int().min(1).max(Number.MAX_SAFE_INTEGER).optional().describe("the seq of the last delivery of the previous page"),
        }),
        response: { 200: DeliveryListDto, 400: ProblemDto, ...denied },
      },
    },
    async (request) => {
      const { status, limit, before } = request.query;
      const rows = await webhooks.listWebhookDeliveries(deps, requestActor(request).principal, request.params.id, { status, limit, beforeSeq: before });
      const last = rows.at(-1);
      const next = new URLSearchParams({ limit: String(limit), ...(status ? { status } : {}), ...(last ? { before: String(last.seq) } : {}) });
      return {
        items: rows.map((d) => toDeliveryDto(d)),
        links: last && rows.length === limit ? { next: `/v1/webhooks/${request.params.id}/deliveries?${next.toString()}` } : {},
      };
    },
  );

  app.get(
    "/v1/webhooks/:id/deliveries/:deliveryId",
    { config: operator(), schema: { operationId: "getWebhookDelivery", summary: "A delivery with its attempts", tags, params: DeliveryParams, response: { 200: DeliveryDto, ...denied } } },
    async (request) => {
      const { delivery, attempts } = await webhooks.getWebhookDelivery(deps, requestActor(request).principal, request.params.id, request.params.deliveryId);
      return toDeliveryDto(delivery, attempts);
    },
  );

  app.post(
    "/v1/webhooks/:id/deliveries/:deliveryId/redeliver",
    {
      config: operator("webhook.redeliver"),
      schema: {
        operationId: "redeliverWebhook",
        summary: "Send a delivered or dead delivery again (same webhook-id and body, after the subscription's pending ones)",
        tags,
        params: DeliveryParams,
        response: { 202: DeliveryDto, 409: ProblemDto, ...denied },
      },
    },
    async (request, reply) => {
      const queued = await webhooks.redeliver(deps, requestActor(request), request.params.id, request.params.deliveryId);
      return reply.code(202).send(toDeliveryDto(queued));
    },
  );
};

export default webhookRoutes;
