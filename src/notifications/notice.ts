import type { Queryable } from "../store/db.js";

/**
 * What the service tells subscribers (issue 16). A use case that causes a notice hands it to `Notify` inside
 * the transaction that records the cause (the terminal event, the approval decision, the drift result, the
 * expiry step), so the outbox row commits with it or not at all.
 */
export const NOTICE_TYPES = [
  "operation.finished",
  "approval.requested",
  "approval.decided",
  "drift.found",
  "expiry.approaching",
  "access.expired",
  /** An access verification (issue 17) found access that must be gone, or access the spec does not give. */
  "access.verification-failed",
] as const;
export type NoticeType = (typeof NOTICE_TYPES)[number];

export interface Notice {
  readonly type: NoticeType;
  /** The team owning the subject: its subscriptions receive it, and those for all teams. Null: only those. */
  readonly team: string | null;
  /** What it is about, as an API path without `/v1`: `providers/<name>`, `network-hubs/<region>`. */
  readonly subject: string;
  /** The payload: ids, states, names and links only, never a secret or a value the API does not show. */
  readonly data: Readonly<Record<string, unknown>>;
}

/** Writes the notice to the outbox in the caller's transaction: one delivery per matching subscription. */
export type Notify = (tx: Queryable, notice: Notice) => Promise<void>;

/** For compositions without notifications (unit tests of a use case that only needs the port). */
export const notifyNobody: Notify = async () => undefined;
