import { z } from "zod";
import { ChangeSummary, OperationError } from "../operations/events.js";

/**
 * A rollout's own stream (issue 15): what a person following it needs — each stack's outcome with the
 * running counts, the phase and wave, who paused, resumed or approved, and the final event. Persisted in
 * `rollout_events` with a gap-free seq before it is sent, like an operation's events.
 */
export const ROLLOUT_STACK_STATUSES = ["pending", "previewing", "previewed", "applying", "succeeded", "failed", "skipped", "cancelled"] as const;
export const RolloutStackStatus = z.enum(ROLLOUT_STACK_STATUSES);
export type RolloutStackStatus = z.infer<typeof RolloutStackStatus>;

/** Counts after the event: stacks finished (succeeded or skipped), failed, and in all. */
const counts = {
  done: z.number().int().nonnegative(),
  failed: z.number().int().nonnegative(),
  total: z.number().int().nonnegative(),
};

export const RolloutEventData = z.discriminatedUnion("type", [
  z.object({
    type: z.literal("rollout.created"),
    programVersion: z.string(),
    total: z.number().int().nonnegative(),
    canary: z.number().int().nonnegative(),
    batchSize: z.number().int().positive(),
    maxParallel: z.number().int().positive(),
    maxFailures: z.number().int().nonnegative(),
    requestedBy: z.string(),
  }),
  /** One stack's preview or apply ended (or the stack was skipped, or cancelled with the rollout). */
  z.object({
    type: z.literal("rollout.stack"),
    provider: z.string(),
    phase: z.enum(["preview", "apply"]),
    status: RolloutStackStatus,
    operationId: z.string().optional(),
    /** The preview's change summary (what the apply will do). */
    changes: ChangeSummary.optional(),
    error: OperationError.optional(),
    ...counts,
  }),
  z.object({ type: z.literal("rollout.awaiting-approval"), rule: z.string(), requestedBy: z.string() }),
  z.object({ type: z.literal("rollout.approved"), approvedBy: z.string() }),
  /** Applying wave `wave` (0 = the canary) of `waves`, `stacks` of them. */
  z.object({ type: z.literal("rollout.wave"), wave: z.number().int().nonnegative(), waves: z.number().int().nonnegative(), stacks: z.number().int().nonnegative() }),
  z.object({ type: z.literal("rollout.paused"), by: z.string() }),
  z.object({ type: z.literal("rollout.resumed"), by: z.string() }),
  z.object({ type: z.literal("rollout.succeeded"), skipped: z.number().int().nonnegative(), durationMs: z.number(), ...counts }),
  z.object({ type: z.literal("rollout.halted"), reason: z.string(), maxFailures: z.number().int().nonnegative(), ...counts }),
  z.object({ type: z.literal("rollout.cancelled"), reason: z.string(), ...counts }),
]);
export type RolloutEventData = z.infer<typeof RolloutEventData>;
export type RolloutEventType = RolloutEventData["type"];

const positioned = { seq: z.number().int().positive(), at: z.string() };
export const RolloutEvent = z.discriminatedUnion(
  "type",
  RolloutEventData.options.map((member) => member.extend(positioned)) as unknown as [
    (typeof RolloutEventData.options)[number],
    ...(typeof RolloutEventData.options)[number][],
  ],
);
export type RolloutEvent = { seq: number; at: string } & RolloutEventData;

/** Written once nothing of the rollout is queued or running any more; always its last event. */
export const FINAL_ROLLOUT_EVENTS: ReadonlySet<RolloutEventType> = new Set(["rollout.succeeded", "rollout.halted", "rollout.cancelled"]);

export function isFinalRolloutEvent(event: { type: string }): boolean {
  return FINAL_ROLLOUT_EVENTS.has(event.type as RolloutEventType);
}
