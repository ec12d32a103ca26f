import { z } from "zod";
import type { Queryable } from "../store/db.js";
import { NOTICE_TYPES } from "./notice.js";

const timestamp = z.union([z.date(), z.string()]).transform((v) => new Date(v).toISOString());

export const SubscriptionRow = z.object({
  id: z.string(),
  team: z.string().nullable(),
  url: z.string(),
  event_types: z.array(z.enum(NOTICE_TYPES)),
  description: z.string(),
  created_by: z.string(),
  created_at: timestamp,
  /** The expiry of the secret(s) that still sign beside the current one after a rotation (null: none). */
  previous_secret_until: timestamp.nullable(),
});
export type Subscription = z.output<typeof SubscriptionRow>;

const COLUMNS = `s.id, s.team, s.url, s.event_types, s.description, s.created_by, s.created_at,
  (SELECT max(x.expires_at) FROM webhook_secrets x WHERE x.subscription_id = s.id AND x.expires_at > now()) AS previous_secret_until`;

/** Who may see a subscription: `teams` undefined = every one (admins); else those of these teams only. */
const VISIBLE = "($1::text[] IS NULL OR s.team = ANY($1::text[]))";

export interface NewSubscription {
  readonly id: string;
  readonly team: string | null;
  readonly url: string;
  readonly types: readonly string[];
  readonly description: string;
  readonly createdBy: string;
}

export async function insertSubscription(tx: Queryable, s: NewSubscription): Promise<void> {
  await tx.query(
    `INSERT INTO webhook_subscriptions (id, team, url, event_types, description, created_by) VALUES ($1, $2, $3, $4::text[], $5, $6)`,
    [s.id, s.team, s.url, [...s.types], s.description, s.createdBy],
  );
}

export async function insertSecret(tx: Queryable, subscriptionId: string, secretId: string, sealed: string): Promise<void> {
  await tx.query("INSERT INTO webhook_secrets (id, subscription_id, sealed) VALUES ($1, $2, $3)", [secretId, subscriptionId, sealed]);
}

export async function listSubscriptions(q: Queryable, teams: readonly string[] | undefined): Promise<Subscription[]> {
  const rows = await q.query(`SELECT ${COLUMNS} FROM webhook_subscriptions s WHERE ${VISIBLE} ORDER BY s.created_at, s.id`, [teams ?? null]);
  return rows.map((r) => SubscriptionRow.parse(r));
}

/** Undefined when it does not exist or the caller's teams do not see it (the two look the same). */
export async function getSubscription(q: Queryable, teams: readonly string[] | undefined, id: string, lock = false): Promise<Subscription | undefined> {
  const rows = await q.query(
    `SELECT ${COLUMNS} FROM webhook_subscriptions s WHERE ${VISIBLE} AND s.id::text = $2${lock ? " FOR UPDATE OF s" : ""}`,
    [teams ?? null, id],
  );
  return rows[0] === undefined ? undefined : SubscriptionRow.parse(rows[0]);
}

/** Its deliveries, their attempts and its secrets go with it (ON DELETE CASCADE). */
export async function deleteSubscription(tx: Queryable, id: string): Promise<void> {
  await tx.query("DELETE FROM webhook_subscriptions WHERE id = $1", [id]);
}

/**
 * Rotation: the secrets signing now keep signing for `overlapSeconds` more at most (0: not at all), those
 * already expired are dropped, and the caller inserts the new current one.
 */
export async function retireSecrets(tx: Queryable, subscriptionId: string, overlapSeconds: number): Promise<void> {
  await tx.query("DELETE FROM webhook_secrets WHERE subscription_id = $1 AND expires_at <= now()", [subscriptionId]);
  await tx.query(
    `UPDATE webhook_secrets
        SET expires_at = least(coalesce(expires_at, 'infinity'), now() + make_interval(secs => $2))
      WHERE subscription_id = $1`,
    [subscriptionId, overlapSeconds],
  );
}
