import { z } from "zod";
import type { Db, Queryable } from "../store/db.js";
import type { SendOutcome } from "./http-sender.js";

const timestamp = z.union([z.date(), z.string()]).transform((v) => new Date(v).toISOString());
const int = z.coerce.number().int();

export const DELIVERY_STATUSES = ["pending", "delivered", "dead"] as const;
export const DeliveryStatus = z.enum(DELIVERY_STATUSES);
export type DeliveryStatus = z.infer<typeof DeliveryStatus>;

export const DeliveryRow = z.object({
  id: z.string(),
  webhook_id: z.string(),
  subscription_id: z.string(),
  seq: int,
  type: z.string(),
  payload: z.string(),
  status: DeliveryStatus,
  attempts: int,
  next_attempt_at: timestamp,
  give_up_at: timestamp,
  created_at: timestamp,
  delivered_at: timestamp.nullable(),
  dead_at: timestamp.nullable(),
  last_error: z.string().nullable(),
});
export type Delivery = z.output<typeof DeliveryRow>;

export const AttemptRow = z.object({
  number: int,
  at: timestamp,
  status_code: int.nullable(),
  error: z.string().nullable(),
  duration_ms: int,
  response_excerpt: z.string().nullable(),
});
export type Attempt = z.output<typeof AttemptRow>;

const COLUMNS = `d.id, d.webhook_id, d.subscription_id, d.seq, d.type, d.payload, d.status, d.attempts, d.next_attempt_at,
  d.give_up_at, d.created_at, d.delivered_at, d.dead_at, d.last_error`;

/** A delivery this replica holds the lease of, for one attempt. */
export interface Claimed {
  readonly id: string;
  readonly webhookId: string;
  readonly subscriptionId: string;
  readonly seq: number;
  readonly payload: string;
  /** This attempt's number (1 = the first). */
  readonly attempt: number;
  readonly url: string;
  /** The secrets that sign now, sealed: the current one first, then those of a rotation overlap. */
  readonly secrets: readonly { readonly id: string; readonly sealed: string }[];
}

/**
 * Leases up to `limit` deliveries that are due: of each subscription only the first pending one (by seq),
 * so a later notice never overtakes an earlier one that is still being retried; a dead or delivered one no
 * longer holds the next back. SKIP LOCKED: replicas claiming at once take different rows.
 */
export async function claimDeliveries(db: Db, owner: string, leaseSeconds: number, limit: number): Promise<Claimed[]> {
  const rows = await db.query(
    `WITH candidates AS (
       SELECT p.id FROM webhook_deliveries p
        WHERE p.status = 'pending' AND p.next_attempt_at <= now() AND p.lease_owner IS NULL
          AND NOT EXISTS (SELECT 1 FROM webhook_deliveries e
                           WHERE e.subscription_id = p.subscription_id AND e.status = 'pending' AND e.seq < p.seq)
        ORDER BY p.next_attempt_at, p.seq
        LIMIT $3
        FOR UPDATE SKIP LOCKED)
     UPDATE webhook_deliveries d
        SET lease_owner = $1, lease_expires_at = now() + make_interval(secs => $2), attempts = d.attempts + 1
       FROM candidates c, webhook_subscriptions s
      WHERE d.id = c.id AND s.id = d.subscription_id
     RETURNING d.id, d.webhook_id, d.subscription_id, d.seq, d.payload, d.attempts, s.url,
       (SELECT coalesce(json_agg(json_build_object('id', x.id::text, 'sealed', x.sealed) ORDER BY x.created_at DESC, x.id), '[]')
          FROM webhook_secrets x
         WHERE x.subscription_id = d.subscription_id AND (x.expires_at IS NULL OR x.expires_at > now())) AS secrets`,
    [owner, leaseSeconds, limit],
  );
  return rows.map((r) => ({
    id: String(r["id"]),
    webhookId: String(r["webhook_id"]),
    subscriptionId: String(r["subscription_id"]),
    seq: Number(r["seq"]),
    payload: String(r["payload"]),
    attempt: Number(r["attempts"]),
    url: String(r["url"]),
    secrets: (typeof r["secrets"] === "string" ? JSON.parse(r["secrets"]) : r["secrets"]) as { id: string; sealed: string }[],
  }));
}

/** Renews the lease of an attempt in flight; false when it was lost (expired and swept, or the row is gone). */
export async function renewLease(db: Db, id: string, owner: string, leaseSeconds: number): Promise<boolean> {
  const rows = await db.query(
    `UPDATE webhook_deliveries SET lease_expires_at = now() + make_interval(secs => $3)
      WHERE id = $1 AND lease_owner = $2 AND status = 'pending' RETURNING 1`,
    [id, owner, leaseSeconds],
  );
  return rows.length > 0;
}

/**
 * Records an attempt and its effect together. A success is recorded even if the lease was lost
 * meanwhile (the receiver has it); a failure changes the delivery only under this attempt's lease, and then
 * schedules the next attempt `retryInMs` from now, never past `give_up_at`, or ends it as dead once that has
 * passed. Returns the delivery's status afterwards (undefined: it no longer exists).
 */
export async function recordAttempt(db: Db, claimed: Claimed, owner: string, outcome: SendOutcome, retryInMs: number): Promise<DeliveryStatus | undefined> {
  // One statement (atomic, one round trip): the delivery's change and the attempt's record.
  const change = outcome.ok
    ? `UPDATE webhook_deliveries
          SET status = 'delivered', delivered_at = now(), last_error = NULL,
              lease_owner = CASE WHEN lease_owner = $2 THEN NULL ELSE lease_owner END,
              lease_expires_at = CASE WHEN lease_owner = $2 THEN NULL ELSE lease_expires_at END
        WHERE id = $1 AND status = 'pending' RETURNING status`
    : `UPDATE webhook_deliveries
          SET status = CASE WHEN now() >= give_up_at THEN 'dead' ELSE 'pending' END,
              dead_at = CASE WHEN now() >= give_up_at THEN now() END,
              next_attempt_at = least(now() + make_interval(secs => $8), give_up_at),
              last_error = $5, lease_owner = NULL, lease_expires_at = NULL
        WHERE id = $1 AND lease_owner = $2 AND attempts = $3 AND status = 'pending' RETURNING status`;
  const rows = await db.query<{ status: DeliveryStatus | null }>(
    `WITH changed AS (${change}),
     noted AS (
       INSERT INTO webhook_attempts (delivery_id, number, status_code, error, duration_ms, response_excerpt)
       SELECT $1, $3, $4, $5, $6, $7 WHERE EXISTS (SELECT 1 FROM webhook_deliveries WHERE id = $1)
       ON CONFLICT DO NOTHING)
     SELECT coalesce((SELECT status FROM changed), (SELECT status FROM webhook_deliveries WHERE id = $1)) AS status`,
    [
      claimed.id,
      owner,
      claimed.attempt,
      outcome.statusCode ?? null,
      outcome.ok ? null : (outcome.error ?? "failed"),
      outcome.durationMs,
      outcome.excerpt ?? null,
      ...(outcome.ok ? [] : [retryInMs / 1000]),
    ],
  );
  return rows[0]?.status ?? undefined;
}

/**
 * Recovery (at start, then every half lease): attempts whose lease expired — their replica died or lost the
 * database — are recorded as interrupted and their deliveries become claimable again at once.
 */
export async function sweepExpiredLeases(db: Db): Promise<number> {
  const rows = await db.query(
    `WITH expired AS (
       SELECT id, attempts FROM webhook_deliveries
        WHERE status = 'pending' AND lease_owner IS NOT NULL AND lease_expires_at < now()
        FOR UPDATE SKIP LOCKED),
     noted AS (
       INSERT INTO webhook_attempts (delivery_id, number, error, duration_ms)
       SELECT id, attempts, 'interrupted: the replica sending it stopped (its lease expired)', 0 FROM expired
       ON CONFLICT DO NOTHING)
     UPDATE webhook_deliveries d SET lease_owner = NULL, lease_expires_at = NULL
       FROM expired e WHERE d.id = e.id
     RETURNING d.id`,
  );
  return rows.length;
}

/** On a clean stop: what this replica still holds is claimable by the others at once. */
export async function releaseLeases(db: Db, owner: string): Promise<void> {
  await db.query(
    "UPDATE webhook_deliveries SET lease_owner = NULL, lease_expires_at = NULL WHERE lease_owner = $1 AND status = 'pending'",
    [owner],
  );
}

export async function listDeliveries(
  q: Queryable,
  subscriptionId: string,
  options: { readonly status?: DeliveryStatus | undefined; readonly limit: number; readonly beforeSeq?: number | undefined },
): Promise<Delivery[]> {
  const rows = await q.query(
    `SELECT ${COLUMNS} FROM webhook_deliveries d
      WHERE d.subscription_id = $1 AND ($2::text IS NULL OR d.status = $2) AND ($3::bigint IS NULL OR d.seq < $3)
      ORDER BY d.seq DESC LIMIT $4`,
    [subscriptionId, options.status ?? null, options.beforeSeq ?? null, options.limit],
  );
  return rows.map((r) => DeliveryRow.parse(r));
}

export async function getDelivery(q: Queryable, subscriptionId: string, id: string): Promise<{ delivery: Delivery; attempts: Attempt[] } | undefined> {
  const rows = await q.query(`SELECT ${COLUMNS} FROM webhook_deliveries d WHERE d.subscription_id = $1 AND d.id::text = $2`, [subscriptionId, id]);
  if (rows[0] === undefined) return undefined;
  const attempts = await q.query(
    "SELECT number, at, status_code, error, duration_ms, response_excerpt FROM webhook_attempts WHERE delivery_id = $1 ORDER BY number",
    [rows[0]["id"]],
  );
  return { delivery: DeliveryRow.parse(rows[0]), attempts: attempts.map((a) => AttemptRow.parse(a)) };
}

/**
 * Queues a delivered or dead delivery again, with the same `webhook-id` and body, behind the subscription's
 * other deliveries (a new seq), with a new retry window. Undefined when it is not delivered or dead.
 */
export async function requeueDelivery(tx: Queryable, subscriptionId: string, id: string, maxAgeMs: number): Promise<Delivery | undefined> {
  const rows = await tx.query(
    `WITH numbered AS (
       UPDATE webhook_subscriptions SET last_seq = last_seq + 1 WHERE id = $1 RETURNING last_seq)
     UPDATE webhook_deliveries d
        SET seq = n.last_seq, status = 'pending', next_attempt_at = now(), give_up_at = now() + make_interval(secs => $3),
            delivered_at = NULL, dead_at = NULL, lease_owner = NULL, lease_expires_at = NULL
       FROM numbered n
      WHERE d.subscription_id = $1 AND d.id::text = $2 AND d.status IN ('delivered', 'dead')
     RETURNING ${COLUMNS}`,
    [subscriptionId, id, maxAgeMs / 1000],
  );
  return rows[0] === undefined ? undefined : DeliveryRow.parse(rows[0]);
}
