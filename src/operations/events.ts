import { z } from "zod";
import { KEY_DISPOSITIONS } from "../../programs/types.js";
import { CHECK_CODES, CHECK_STATUSES, EXPECTATIONS, VERIFICATION_STATUSES } from "../verification/types.js";

/**
 * OperationEvent: our own discriminated union (DESIGN §5), never raw engine text. Each persisted event
 * has a gap-free per-operation `seq` and a timestamp; the payload (`EventData`) is what engines and the
 * runner produce.
 */
export const RESOURCE_OPS = ["create", "update", "delete", "replace", "same"] as const;
export const ResourceOp = z.enum(RESOURCE_OPS);
export type ResourceOp = z.infer<typeof ResourceOp>;

const resourceRef = {
  urn: z.string(),
  resourceType: z.string(),
  name: z.string(),
  op: ResourceOp,
};

export const ChangeSummary = z.record(ResourceOp, z.number().int().nonnegative());
export type ChangeSummary = z.infer<typeof ChangeSummary>;

export const OperationError = z.object({ code: z.string(), message: z.string() });
export type OperationError = z.infer<typeof OperationError>;

/** A drifted resource a security rule flagged, with why (key names only, never values). */
const FlaggedResource = z.object({ urn: z.string(), type: z.string(), change: z.enum(["update", "delete"]), keys: z.array(z.string()), reason: z.string() });

/** One access check's verdict (issue 17): a stable code, pass/fail/not-verifiable/not-applicable, the AWS ids it saw. */
const VerificationCheck = z.object({
  code: z.enum(CHECK_CODES),
  status: z.enum(CHECK_STATUSES),
  message: z.string(),
  evidence: z.record(z.string(), z.unknown()),
});

export const EventData = z.discriminatedUnion("type", [
  z.object({ type: z.literal("operation.queued"), position: z.number().int().nonnegative() }),
  /** A second person must approve before it runs (it waits in `awaiting_approval`). */
  z.object({
    type: z.literal("approval.requested"),
    rule: z.string(),
    requestedBy: z.string(),
    expiresAt: z.string(),
    /** A decommission's choice for the BYOK key, so the approver sees what it approves. */
    decommission: z.object({ key: z.enum(KEY_DISPOSITIONS) }).optional(),
  }),
  z.object({ type: z.literal("approval.approved"), approvedBy: z.string() }),
  z.object({ type: z.literal("operation.started"), attempt: z.number().int().positive(), engine: z.string() }),
  z.object({ type: z.literal("operation.succeeded"), summary: ChangeSummary, durationMs: z.number() }),
  z.object({ type: z.literal("operation.failed"), error: OperationError, durationMs: z.number() }),
  z.object({ type: z.literal("operation.cancelled"), reason: z.string() }),
  z.object({ type: z.literal("operation.interrupted"), reason: z.string() }),
  /**
   * The attempt boundary: attempt `attempt` stopped without finishing (`reason`), and the operation is queued
   * again; attempt `nextAttempt` (of at most `maxAttempts`) starts no earlier than `notBefore`, with the
   * engine's recovery step first. The stream goes on, with the same operation id and gap-free seqs.
   */
  z.object({
    type: z.literal("operation.resuming"),
    attempt: z.number().int().positive(),
    reason: z.string(),
    nextAttempt: z.number().int().positive(),
    maxAttempts: z.number().int().positive(),
    notBefore: z.string(),
  }),
  z.object({ type: z.literal("resource.planned"), ...resourceRef }),
  z.object({ type: z.literal("resource.started"), ...resourceRef }),
  z.object({ type: z.literal("resource.completed"), ...resourceRef, durationMs: z.number() }),
  z.object({ type: z.literal("resource.failed"), ...resourceRef, durationMs: z.number(), message: z.string() }),
  z.object({
    type: z.literal("diagnostic"),
    severity: z.enum(["info", "warning", "error"]),
    message: z.string(),
    urn: z.string().optional(),
  }),
  z.object({
    type: z.literal("guardrail.violation"),
    code: z.string(),
    message: z.string(),
    urn: z.string().optional(),
  }),
  z.object({ type: z.literal("progress"), done: z.number().int().nonnegative(), total: z.number().int().nonnegative() }),
  /**
   * A drift check of a revoked provider found a change outside the engine that re-opens access (an ingress
   * rule, a key policy, the deny NACL or the quarantine policy): a security event (issue 16), audited.
   */
  z.object({
    type: z.literal("security.access-reopened"),
    severity: z.literal("critical"),
    message: z.string(),
    resources: z.array(FlaggedResource),
  }),
  /** Access verification (issue 17): the verifier started reading the cloud for this expectation. */
  z.object({ type: z.literal("verification.started"), expectation: z.enum(EXPECTATIONS), reader: z.string(), checks: z.number().int().nonnegative() }),
  /** One check's verdict, as it is known. */
  z.object({ type: z.literal("verification.checked"), ...VerificationCheck.shape }),
  /** All checks done: `failed` when one failed, `incomplete` when one could not be verified, else `passed`. */
  z.object({
    type: z.literal("verification.finished"),
    status: z.enum(VERIFICATION_STATUSES),
    expectation: z.enum(EXPECTATIONS),
    calls: z.number().int().nonnegative(),
    durationMs: z.number(),
    failed: z.array(z.enum(CHECK_CODES)),
    notVerifiable: z.array(z.enum(CHECK_CODES)),
  }),
  /**
   * Verification found the provider's access not as it must be: still there after a revoke or decommission,
   * or different from the spec while active (a grant made by hand). A security event, audited.
   */
  z.object({
    type: z.literal("security.access-verification-failed"),
    severity: z.literal("critical"),
    message: z.string(),
    expectation: z.enum(EXPECTATIONS),
    failed: z.array(z.enum(CHECK_CODES)),
  }),
  /**
   * A drift check of a network hub found the central firewall policy changed or gone outside the engine: the
   * providers' rule groups may no longer be enforced (issue 16), audited.
   */
  z.object({
    type: z.literal("security.hub-policy-drifted"),
    severity: z.literal("critical"),
    message: z.string(),
    resources: z.array(FlaggedResource),
  }),
]);
export type EventData = z.infer<typeof EventData>;
export type EventType = EventData["type"];

/**
 * Each event type with its position. Not an intersection: in the OpenAPI document that is an `allOf` of two
 * closed objects, which no real event can satisfy (issue 13); each member carries `seq` and `at` itself.
 */
const positioned = { seq: z.number().int().positive(), at: z.string() };
export const OperationEvent = z.discriminatedUnion(
  "type",
  EventData.options.map((member) => member.extend(positioned)) as unknown as [typeof EventData.options[number], ...(typeof EventData.options[number])[]],
);
export type OperationEvent = { seq: number; at: string } & EventData;

export const TERMINAL_EVENT_TYPES: ReadonlySet<EventType> = new Set([
  "operation.succeeded",
  "operation.failed",
  "operation.cancelled",
  "operation.interrupted",
]);

export function isTerminal(event: { type: EventType }): boolean {
  return TERMINAL_EVENT_TYPES.has(event.type);
}
