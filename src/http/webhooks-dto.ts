import { z } from "zod";
import { DELIVERY_STATUSES, type Attempt, type Delivery } from "../notifications/deliveries-repo.js";
import { NOTICE_TYPES } from "../notifications/notice.js";
import type { Subscription } from "../notifications/subscriptions-repo.js";
import { printableText, teamSlug } from "../onboarding/spec-fields.js";

/** Request and response bodies of `/v1/webhooks` (issue 16); nothing outside them is sent. */
const links = z.record(z.string(), z.string());
const NoticeTypeDto = z.enum(NOTICE_TYPES);

export const NewWebhookRequest = z
  .strictObject({
    team: teamSlug.optional().describe("whose notices: a team of the caller; omitted = every team's (admins only)"),
    url: z
      .string()
      .min(1)
      .max(2048)
      .regex(/^https?:\/\/[^\s]+$/, "must be an absolute http:// or https:// URL")
      .describe("where notices are POSTed: https:// (http:// only to destinations in WEBHOOK_ALLOWED_CIDRS in production); no credentials"),
    types: z
      .array(NoticeTypeDto)
      .min(1)
      .max(NOTICE_TYPES.length)
      .refine((t) => new Set(t).size === t.length, "must not name a type twice")
      .describe("the notice types sent to it"),
    description: printableText(0, 500).optional(),
  })
  .describe("A webhook subscription");

export const RotateSecretRequest = z
  .strictObject({
    overlapHours: z.number().int().min(0).max(168).default(24).describe("how long the old secret keeps signing beside the new one (0: stops at once)"),
  })
  .describe("Secret rotation options");

export const WebhookDto = z
  .object({
    id: z.uuid(),
    team: z.string().nullable().describe("null: every team's notices"),
    url: z.string(),
    types: z.array(NoticeTypeDto),
    description: z.string(),
    createdBy: z.string(),
    createdAt: z.string(),
    previousSecretValidUntil: z.string().nullable().describe("during a rotation overlap: until when the previous secret still signs"),
    links,
  })
  .meta({ id: "Webhook", description: "A webhook subscription (never its secret)" });

export const WebhookCreatedDto = z
  .object({
    webhook: WebhookDto,
    secret: z.string().describe("`whsec_<base64>`: verifies `webhook-signature` (Standard Webhooks); shown in this response only, stored sealed"),
  })
  .meta({ id: "WebhookWithSecret", description: "A webhook subscription and its new signing secret (in this response only)" });

export const WebhookListDto = z.object({ items: z.array(WebhookDto) }).meta({ id: "WebhookList", description: "The webhook subscriptions the caller sees" });

const AttemptDto = z.object({
  number: z.number().int(),
  at: z.string(),
  statusCode: z.number().int().nullable(),
  error: z.string().nullable(),
  durationMs: z.number().int(),
  responseExcerpt: z.string().nullable().describe("at most 256 characters of the receiver's answer"),
});

export const DeliveryDto = z
  .object({
    id: z.uuid(),
    webhookId: z.string().describe("the `webhook-id` header: the same on every attempt and redelivery (receivers dedupe on it)"),
    seq: z.number().int().describe("its place in the subscription's order"),
    type: NoticeTypeDto,
    status: z.enum(DELIVERY_STATUSES),
    attempts: z.number().int(),
    createdAt: z.string(),
    nextAttemptAt: z.string().nullable().describe("pending only"),
    giveUpAt: z.string().describe("retried until then, then dead"),
    deliveredAt: z.string().nullable(),
    deadAt: z.string().nullable(),
    lastError: z.string().nullable(),
    event: z.record(z.string(), z.unknown()).describe("the CloudEvent sent (the request body)"),
    attemptList: z.array(AttemptDto).optional().describe("every attempt, first first (GET of one delivery only)"),
    links,
  })
  .meta({ id: "WebhookDelivery", description: "One notice to one subscription, and its attempts" });

export const DeliveryListDto = z
  .object({ items: z.array(DeliveryDto), links })
  .meta({ id: "WebhookDeliveryList", description: "A subscription's deliveries, newest first" });

const self = (id: string) => `/v1/webhooks/${id}`;

export function toWebhookDto(s: Subscription): z.input<typeof WebhookDto> {
  return {
    id: s.id,
    team: s.team,
    url: s.url,
    types: s.event_types,
    description: s.description,
    createdBy: s.created_by,
    createdAt: s.created_at,
    previousSecretValidUntil: s.previous_secret_until,
    links: { self: self(s.id), deliveries: `${self(s.id)}/deliveries` },
  };
}

export function toDeliveryDto(d: Delivery, attempts?: readonly Attempt[]): z.input<typeof DeliveryDto> {
  const at = `${self(d.subscription_id)}/deliveries/${d.id}`;
  return {
    id: d.id,
    webhookId: d.webhook_id,
    seq: d.seq,
    type: d.type as (typeof NOTICE_TYPES)[number],
    status: d.status,
    attempts: d.attempts,
    createdAt: d.created_at,
    nextAttemptAt: d.status === "pending" ? d.next_attempt_at : null,
    giveUpAt: d.give_up_at,
    deliveredAt: d.delivered_at,
    deadAt: d.dead_at,
    lastError: d.last_error,
    event: JSON.parse(d.payload) as Record<string, unknown>,
    ...(attempts === undefined
      ? {}
      : {
          attemptList: attempts.map((a) => ({
            number: a.number,
            at: a.at,
            statusCode: a.status_code,
            error: a.error,
            durationMs: a.duration_ms,
            responseExcerpt: a.response_excerpt,
          })),
        }),
    links: { self: at, ...(d.status === "pending" ? {} : { redeliver: `${at}/redeliver` }), webhook: self(d.subscription_id) },
  };
}
