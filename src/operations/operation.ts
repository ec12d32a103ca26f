import { z } from "zod";
import { KEY_DISPOSITIONS, type KeyDisposition } from "../../programs/types.js";
import { OperationError } from "./events.js";

/** The operation row, parsed at the store edge. */
export const OPERATION_STATUSES = ["awaiting_approval", "queued", "running", "succeeded", "failed", "cancelled", "interrupted"] as const;
export const OperationStatus = z.enum(OPERATION_STATUSES);
export type OperationStatus = z.infer<typeof OperationStatus>;

/** `hub-update` runs the region's network-hub stack, as may `drift-check`; the others act on one provider's stack. */
export const INTENTS = ["create", "update", "revoke", "reinstate", "decommission", "preview", "drift-check", "hub-update", "key-store", "verify"] as const;
export const Intent = z.enum(INTENTS);

/** A network hub's stack (`network-hub.<region>`; no provider name has a dot): hub updates and drift checks. */
export function isHubStack(stack: string): boolean {
  return stack.startsWith("network-hub.");
}

/** The region of a hub stack (`network-hub.<region>`). */
export function regionOfHubStack(stack: string): string {
  return stack.slice("network-hub.".length);
}
export type Intent = z.infer<typeof Intent>;

/** `verify`: an access verification (issue 17), read from the cloud; no engine run. */
export const OperationKind = z.enum(["up", "preview", "refresh", "destroy", "verify"]);
export const AccessStateSchema = z.enum(["active", "revoked"]);

const timestamp = z.union([z.date(), z.string()]).transform((v) => new Date(v).toISOString());

export const OperationRow = z.object({
  id: z.string(),
  queue_seq: z.union([z.string(), z.number(), z.bigint()]).transform(String),
  provider: z.string(),
  intent: Intent,
  kind: OperationKind,
  access_state: AccessStateSchema,
  status: OperationStatus,
  engine: z.string(),
  spec: z.record(z.string(), z.unknown()),
  spec_hash: z.string(),
  program_version: z.string(),
  attempt: z.number().int(),
  lease_owner: z.string().nullable(),
  lease_expires_at: timestamp.nullable(),
  cancel_requested_at: timestamp.nullable(),
  last_seq: z.number().int(),
  progress_done: z.number().int(),
  progress_total: z.number().int().nullable(),
  result: z.record(z.string(), z.unknown()).nullable(),
  blocked_by: z.string().nullable().default(null),
  /** Queued again after an interrupted attempt: the next attempt starts no earlier than this. */
  resume_after: timestamp.nullable().default(null),
  /** Decommission only: `retain` (disable and keep the BYOK key) or `shred` (schedule its deletion). */
  key_disposition: z.enum(KEY_DISPOSITIONS).nullable().default(null),
  /** The fleet rollout that queued it (issue 15), or null for a person's request. */
  rollout_id: z.string().nullable().default(null),
  /** 0: a person's request; 1: a rollout's, claimed only when no person's request is waiting; 2: a schedule's (drift check), after both. */
  priority: z.number().int().default(0),
  error: OperationError.nullable(),
  created_at: timestamp,
  started_at: timestamp.nullable(),
  finished_at: timestamp.nullable(),
});

export type Operation = z.output<typeof OperationRow>;

/** A decommission keeps the BYOK key unless shredding is asked for (and did so before the option existed). */
export const DEFAULT_KEY_DISPOSITION: KeyDisposition = "retain";

/** What a decommission does with the key (the default for one queued before the option existed). */
export function keyOf(op: Pick<Operation, "key_disposition">): KeyDisposition {
  return op.key_disposition ?? DEFAULT_KEY_DISPOSITION;
}

/** The key option as the API, events and audit records show it: only on decommissions. */
export function decommissionOf(op: Pick<Operation, "intent" | "key_disposition">): { decommission?: { key: KeyDisposition } } {
  return op.intent === "decommission" ? { decommission: { key: keyOf(op) } } : {};
}

/** What the audit record of a queued operation says about it (a person's request, a schedule's, a rollout's). */
export function queuedDetails(op: Operation) {
  return { operationId: op.id, intent: op.intent, kind: op.kind, specHash: op.spec_hash, programVersion: op.program_version, status: op.status };
}

export const TERMINAL_STATUSES: ReadonlySet<OperationStatus> = new Set([
  "succeeded",
  "failed",
  "cancelled",
  "interrupted",
]);

/** Proof that a worker holds the lease on an attempt; every write of that worker carries it. */
export interface Fence {
  readonly attempt: number;
  readonly owner: string;
}

/** The worker's lease was taken away (expired and interrupted, or the row changed): stop writing. */
export class LeaseLostError extends Error {
  constructor(operationId: string) {
    super(`lease lost on operation ${operationId}`);
    this.name = "LeaseLostError";
  }
}
