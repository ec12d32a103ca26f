import { randomUUID } from "node:crypto";
import { isIP } from "node:net";
import type { AuditWriter } from "../audit/append.js";
import type { AuditAction } from "../audit/record.js";
import { principalRef, recordAllowed, visibleTeams, type Actor } from "../auth/actor.js";
import type { CredentialSealer } from "../auth/credential-seal.js";
import { DeniedError } from "../auth/denied.js";
import type { Principal } from "../auth/principal.js";
import { AppError } from "../errors.js";
import type { Db, Queryable } from "../store/db.js";
import * as deliveries from "./deliveries-repo.js";
import { checkAddresses, createAddressCheck, hostOf, systemResolve, urlProblem, type DestinationPolicy } from "./destination.js";
import type { NoticeType } from "./notice.js";
import { DELIVERY_CHANNEL } from "./outbox.js";
import { generateSecret, secretContext } from "./signing.js";
import * as subscriptions from "./subscriptions-repo.js";

/** What the webhook use cases need (composed in src/compose.ts). */
export interface WebhooksDeps {
  readonly db: Db;
  readonly audit: AuditWriter;
  readonly sealer: CredentialSealer;
  readonly policy: DestinationPolicy;
  /** WEBHOOK_MAX_AGE_HOURS: a redelivery is retried for this long again. */
  readonly maxAgeMs: number;
}

export interface NewWebhook {
  /** Omitted: every team's notices (admins only). */
  readonly team?: string | undefined;
  readonly url: string;
  readonly types: readonly NoticeType[];
  readonly description?: string | undefined;
}

export interface WithSecret {
  readonly subscription: subscriptions.Subscription;
  /** Shown in this answer only; stored sealed. */
  readonly secret: string;
}

/** How long the create-time check waits for DNS; a name that does not answer is checked again at connect time. */
const RESOLVE_TIMEOUT_MS = 3_000;

const invalidUrl = (message: string) => new AppError("VALIDATION_FAILED", `The destination is refused: ${message}.`, { errors: [{ path: "/url", message }] });

/**
 * Refuses a destination the delivery would refuse: the URL (scheme, credentials) and where its name resolves
 * now. The same check runs again on every connection (http-sender.ts), which is what guarantees it; this one
 * answers the operator at once. A name that does not resolve yet is accepted unless it would need the
 * allow-list (plain http in production).
 */
export async function assertDestination(policy: DestinationPolicy, raw: string): Promise<void> {
  const { url, problem } = urlProblem(raw);
  if (url === undefined) throw invalidUrl(problem ?? "must be a URL");
  const host = hostOf(url);
  const check = createAddressCheck(policy.allowedCidrs);
  let addresses: { address: string; family: number }[] | undefined;
  if (isIP(host) !== 0) addresses = [{ address: host, family: isIP(host) }];
  else {
    const resolve = policy.resolve ?? systemResolve;
    let timer: NodeJS.Timeout | undefined;
    addresses = await Promise.race([
      resolve(host).then((a) => [...a]),
      new Promise<undefined>((r) => (timer = setTimeout(() => r(undefined), RESOLVE_TIMEOUT_MS))),
    ]).catch(() => undefined);
    clearTimeout(timer);
  }
  if (addresses === undefined) {
    if (url.protocol === "http:" && policy.httpsOnly) throw invalidUrl("must be https:// in production (MODE=production); http:// only to destinations in WEBHOOK_ALLOWED_CIDRS, and this name does not resolve");
    return;
  }
  const verdict = checkAddresses(check, policy, url.protocol, addresses);
  if (!verdict.ok) throw invalidUrl(`${host} ${verdict.reason}`);
}

const canSee = (principal: Principal, s: subscriptions.Subscription) =>
  principal.role === "admin" || (s.team !== null && principal.teams.includes(s.team));

/** Another team's subscription is answered like a missing one (404, same message); the refusal is audited. */
async function visibleSubscription(deps: WebhooksDeps, principal: Principal, id: string, action?: AuditAction): Promise<subscriptions.Subscription> {
  const found = await subscriptions.getSubscription(deps.db, undefined, id);
  const message = `No webhook subscription with id "${id}".`;
  if (found === undefined) throw new AppError("NOT_FOUND", message);
  if (!canSee(principal, found)) {
    throw new DeniedError("NOT_FOUND", message, { action: action ?? "auth.denied", resource: { kind: "webhook", id }, reason: "the subscription belongs to another team" });
  }
  return found;
}

async function sealNewSecret(deps: WebhooksDeps, tx: Queryable, subscriptionId: string): Promise<string> {
  const secret = generateSecret();
  const secretId = randomUUID();
  await subscriptions.insertSecret(tx, subscriptionId, secretId, deps.sealer.seal(secretContext(subscriptionId, secretId), secret));
  return secret;
}

/** Audit details of a subscription: never its secret; the URL only as a keyed hash (it may carry a token). */
const details = (s: { team: string | null; url: string; types: readonly string[] }) => ({
  team: s.team,
  host: new URL(s.url).host,
  types: [...s.types],
  url: s.url,
});

export async function createWebhook(deps: WebhooksDeps, actor: Actor, input: NewWebhook): Promise<WithSecret> {
  const team = input.team ?? null;
  const { principal } = actor;
  if (team === null ? principal.role !== "admin" : !(principal.role === "admin" || principal.teams.includes(team))) {
    throw new DeniedError(
      "FORBIDDEN",
      team === null ? "A subscription for every team (no `team`) is for admins." : `team "${team}" is not one of the caller's teams.`,
      { action: "webhook.create", resource: { kind: "webhook", id: "(new)" }, reason: team === null ? "all-teams subscription by a non-admin" : `team ${team} is not a team of the caller` },
    );
  }
  await assertDestination(deps.policy, input.url);
  const id = randomUUID();
  return deps.db.transaction(async (tx) => {
    await subscriptions.insertSubscription(tx, { id, team, url: input.url, types: input.types, description: input.description ?? "", createdBy: principalRef(principal) });
    const secret = await sealNewSecret(deps, tx, id);
    await recordAllowed(deps.audit, tx, actor, "webhook.create", { kind: "webhook", id }, details({ team, url: input.url, types: input.types }), ["/url"]);
    return { subscription: (await subscriptions.getSubscription(tx, undefined, id))!, secret };
  });
}

export const listWebhooks = (deps: WebhooksDeps, principal: Principal) => subscriptions.listSubscriptions(deps.db, visibleTeams(principal));

export const getWebhook = (deps: WebhooksDeps, principal: Principal, id: string) => visibleSubscription(deps, principal, id);

export async function deleteWebhook(deps: WebhooksDeps, actor: Actor, id: string): Promise<void> {
  const s = await visibleSubscription(deps, actor.principal, id, "webhook.delete");
  await deps.db.transaction(async (tx) => {
    await subscriptions.deleteSubscription(tx, s.id);
    await recordAllowed(deps.audit, tx, actor, "webhook.delete", { kind: "webhook", id: s.id }, details({ team: s.team, url: s.url, types: s.event_types }), ["/url"]);
  });
}

/** A new secret, shown once; the old one(s) keep signing beside it for `overlapHours` (0: stop at once). */
export async function rotateSecret(deps: WebhooksDeps, actor: Actor, id: string, overlapHours: number): Promise<WithSecret> {
  const s = await visibleSubscription(deps, actor.principal, id, "webhook.rotate-secret");
  return deps.db.transaction(async (tx) => {
    // Locked: two rotations at once would each leave the other's new secret without an expiry.
    if ((await subscriptions.getSubscription(tx, undefined, s.id, true)) === undefined) throw new AppError("NOT_FOUND", `No webhook subscription with id "${id}".`);
    await subscriptions.retireSecrets(tx, s.id, overlapHours * 3600);
    const secret = await sealNewSecret(deps, tx, s.id);
    await recordAllowed(deps.audit, tx, actor, "webhook.rotate-secret", { kind: "webhook", id: s.id }, { overlapHours });
    return { subscription: (await subscriptions.getSubscription(tx, undefined, s.id))!, secret };
  });
}

export async function listWebhookDeliveries(
  deps: WebhooksDeps,
  principal: Principal,
  id: string,
  query: { readonly status?: deliveries.DeliveryStatus | undefined; readonly limit: number; readonly beforeSeq?: number | undefined },
): Promise<deliveries.Delivery[]> {
  const s = await visibleSubscription(deps, principal, id);
  return deliveries.listDeliveries(deps.db, s.id, query);
}

export async function getWebhookDelivery(deps: WebhooksDeps, principal: Principal, id: string, deliveryId: string) {
  const s = await visibleSubscription(deps, principal, id);
  const found = await deliveries.getDelivery(deps.db, s.id, deliveryId);
  if (found === undefined) throw new AppError("NOT_FOUND", `No delivery with id "${deliveryId}" for this subscription.`);
  return found;
}

/** A delivered or dead delivery sent again: same `webhook-id` and body, after the subscription's pending ones. */
export async function redeliver(deps: WebhooksDeps, actor: Actor, id: string, deliveryId: string): Promise<deliveries.Delivery> {
  const s = await visibleSubscription(deps, actor.principal, id, "webhook.redeliver");
  return deps.db.transaction(async (tx) => {
    const queued = await deliveries.requeueDelivery(tx, s.id, deliveryId, deps.maxAgeMs);
    if (queued === undefined) {
      const found = await deliveries.getDelivery(tx, s.id, deliveryId);
      if (found === undefined) throw new AppError("NOT_FOUND", `No delivery with id "${deliveryId}" for this subscription.`);
      throw new AppError("DELIVERY_PENDING", "The delivery is still pending: it is being sent or retried. Only a delivered or dead one can be redelivered.");
    }
    await recordAllowed(deps.audit, tx, actor, "webhook.redeliver", { kind: "webhook", id: s.id }, { deliveryId: queued.id, webhookId: queued.webhook_id });
    await tx.query("SELECT pg_notify($1, '')", [DELIVERY_CHANNEL]);
    return queued;
  });
}
