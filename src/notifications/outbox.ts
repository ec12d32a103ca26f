import { randomUUID } from "node:crypto";
import type { Queryable } from "../store/db.js";
import type { Notice, NoticeType, Notify } from "./notice.js";

/** Every replica's delivery worker listens here; a NOTIFY sent inside a transaction arrives at its commit. */
export const DELIVERY_CHANNEL = "saas_bridge_webhooks";

/** The CloudEvents `type` of a notice type: reverse-DNS of the service, then the notice type. */
export const CLOUDEVENT_TYPE_PREFIX = "com.saas-bridge.";
export const cloudEventType = (type: NoticeType): string => `${CLOUDEVENT_TYPE_PREFIX}${type}`;

export interface NotifierOptions {
  /** The CloudEvents `source` (WEBHOOK_SOURCE, default `/saas-bridge`). */
  readonly source: string;
  /** Deliveries are retried for this long from their creation, then dead (WEBHOOK_MAX_AGE_HOURS). */
  readonly maxAgeMs: number;
}

/** The CloudEvents 1.0 structured-mode JSON of a notice (https://github.com/cloudevents/spec, JSON format). */
export function cloudEvent(notice: Notice, source: string, id: string = randomUUID(), time: Date = new Date()): string {
  return JSON.stringify({
    specversion: "1.0",
    id,
    source,
    type: cloudEventType(notice.type),
    subject: notice.subject,
    time: time.toISOString(),
    datacontenttype: "application/json",
    ...(notice.team === null ? {} : { team: notice.team }),
    data: notice.data,
  });
}

/**
 * The outbox writer (the `Notify` port): in the caller's transaction, one delivery per subscription of the
 * notice's team (or of every team) that lists its type, with a `webhook-id` of its own (`msg_` and 32 hex digits), numbered under the subscription's row lock (taken
 * in id order, so two transactions never wait on each other in a cycle), and a NOTIFY that wakes the
 * delivery workers when the transaction commits. Nothing is sent before the cause is committed, and a
 * rolled-back cause leaves no delivery.
 */
export function createNotifier(options: NotifierOptions): Notify {
  return async (tx: Queryable, notice: Notice) => {
    const payload = cloudEvent(notice, options.source);
    // One statement: the deliveries and, when there are any, the NOTIFY that wakes the workers at commit.
    await tx.query(
      `WITH matched AS (
         SELECT id FROM webhook_subscriptions
          WHERE (team IS NULL OR team = $1) AND $2 = ANY(event_types)
          ORDER BY id
          FOR UPDATE),
       numbered AS (
         UPDATE webhook_subscriptions s SET last_seq = s.last_seq + 1
           FROM matched m WHERE s.id = m.id
         RETURNING s.id, s.last_seq),
       inserted AS (
         INSERT INTO webhook_deliveries (id, webhook_id, subscription_id, seq, type, payload, status, give_up_at)
         SELECT gen_random_uuid(), 'msg_' || replace(gen_random_uuid()::text, '-', ''), n.id, n.last_seq, $2, $3, 'pending',
                now() + make_interval(secs => $4)
           FROM numbered n
         RETURNING 1)
       SELECT (SELECT count(*) FROM inserted)::int AS n,
              (SELECT pg_notify($5, '') WHERE EXISTS (SELECT 1 FROM inserted)) AS notified`,
      [notice.team, notice.type, payload, options.maxAgeMs / 1000, DELIVERY_CHANNEL],
    );
  };
}
