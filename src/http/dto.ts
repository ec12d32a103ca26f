import type { KeyStoreView } from "../onboarding/key-store.js";
import { z } from "zod";
import { APPROVAL_STATUSES, type Approval } from "../approvals/approvals-repo.js";
import { KEY_DISPOSITIONS } from "../../programs/types.js";
import { Lifecycle } from "../onboarding/lifecycle.js";
import { DriftState, driftOf } from "../onboarding/drift.js";
import { VerificationResultSchema, VerificationState, verificationOf } from "../onboarding/verification.js";
import type { ExpiryView } from "../onboarding/expiry-steps-repo.js";
import type { ProviderRecord } from "../onboarding/providers-repo.js";
import { ChangeSummary, OperationError, OperationEvent, ResourceOp } from "../operations/events.js";
import { Intent, OperationKind, OperationStatus, AccessStateSchema, decommissionOf, isHubStack, regionOfHubStack, type Operation } from "../operations/operation.js";

/**
 * Response bodies. Fastify serializes through these schemas, so a field not listed here never leaks. The
 * named ones (`.meta({ id })`) are the OpenAPI document's `components.schemas`, referenced by `$ref`.
 */
const links = z.record(z.string(), z.string());

/** A decommission's choice for the provider's BYOK key (retain: disabled and kept; shred: scheduled for deletion). */
export const DecommissionDto = z
  .object({ key: z.enum(KEY_DISPOSITIONS) })
  .meta({
    id: "Decommission",
    description: "decommission only: retain = the BYOK key is disabled and kept; shred = it is scheduled for deletion (crypto-shredding)",
  });

export const ApprovalDto = z.object({
  rule: z.string().describe("why it needs one: decommission, restricted, revoke or all"),
  status: z.enum(APPROVAL_STATUSES),
  specHash: z.string().describe("the approver names this hash: an approval applies to exactly this spec"),
  programVersion: z.string(),
  requestedBy: z.string(),
  requestedAt: z.string(),
  expiresAt: z.string(),
  decidedBy: z.string().nullable(),
  decidedAt: z.string().nullable(),
  comment: z.string().nullable(),
}).meta({ id: "Approval", description: "A second person's approval of an operation" });

export function toApprovalDto(a: Approval): z.input<typeof ApprovalDto> {
  return {
    rule: a.rule,
    status: a.status,
    specHash: a.specHash,
    programVersion: a.programVersion,
    requestedBy: a.requestedByName,
    requestedAt: a.requestedAt,
    expiresAt: a.expiresAt,
    decidedBy: a.decidedByName,
    decidedAt: a.decidedAt,
    comment: a.comment,
  };
}

export const OperationDto = z
  .object({
    id: z.uuid(),
    provider: z.string(),
    intent: Intent,
    kind: OperationKind,
    status: OperationStatus,
    accessState: AccessStateSchema,
    decommission: DecommissionDto.optional(),
    engine: z.string().describe("`simulated` means nothing was created in AWS"),
    specHash: z.string(),
    programVersion: z.string(),
    attempt: z.number().int().describe("attempts started so far; an attempt that stopped without finishing is resumed as the next one"),
    resumesAt: z.string().optional().describe("queued again after an interrupted attempt: the next attempt starts no earlier than this"),
    queuePosition: z.number().int().optional().describe("operations ahead of this one on its provider (queued only)"),
    cancelRequested: z.boolean(),
    progress: z.object({ done: z.number().int(), total: z.number().int().nullable() }),
    result: z
      .object({
        outputs: z.record(z.string(), z.unknown()),
        summary: ChangeSummary,
        steps: z.array(z.object({ urn: z.string(), resourceType: z.string(), name: z.string(), op: ResourceOp })).optional(),
        engineProcess: z
          .object({ pid: z.number().int(), peakRssBytes: z.number().int().nonnegative() })
          .optional()
          .describe("the child process the operation ran in, and its peak resident memory"),
        resources: z
          .array(z.object({ urn: z.string(), type: z.string(), id: z.string().optional() }))
          .optional()
          .describe("up and destroy: the stack's resources after the run and the ids the cloud gave them (none after a destroy)"),
        verification: VerificationResultSchema.optional().describe(
          "revoke, decommission and verify: what the access verification read from AWS (issue 17); a failed check is also a security event",
        ),
      })
      .nullable(),
    error: OperationError.nullable(),
    approval: ApprovalDto.optional().describe("present when the operation needs (or needed) a second person's approval"),
    createdAt: z.string(),
    startedAt: z.string().nullable(),
    finishedAt: z.string().nullable(),
    links,
  })
  .meta({ id: "Operation", description: "One run of the engine on a provider's stack (or a region's network hub)" });

export const AcceptedDto = z.object({
  operation: OperationDto,
  queuePosition: z.number().int().describe("operations ahead of this one on its provider; 0 = runs next"),
  replayed: z.boolean().describe("true when an Idempotency-Key matched an earlier identical request"),
  links,
}).meta({ id: "Accepted", description: "The operation a change request created (or, replayed, the one an earlier identical request created)" });

export const ProviderDto = z.object({
  name: z.string(),
  displayName: z.string(),
  team: z.string(),
  lifecycle: Lifecycle,
  engine: z.string(),
  generation: z.number().int().describe("this onboarding of the name: 1, then +1 each time a decommissioned name is onboarded again"),
  spec: z.record(z.string(), z.unknown()),
  specHash: z.string(),
  outputs: z.record(z.string(), z.unknown()),
  activeOperations: z.array(z.object({ id: z.string(), intent: Intent, status: OperationStatus, links })),
  keyStore: z
    .object({
      state: z.enum(["awaiting-initialisation", "submitted", "created", "connected"]),
      clusterId: z.string().optional(),
      customKeyStoreId: z.string().optional(),
      steps: z.array(z.object({ step: z.string(), by: z.enum(["operator", "saas-bridge"]), done: z.boolean() })),
    })
    .optional()
    .describe('keyStore "cloudhsm" only: each step to the HSM-backed BYOK key, the operator\'s and the service\'s, and which are done'),
  drift: DriftState.describe(
    "what the last drift check found: in_sync, drifted (resources changed or deleted outside the engine, key names only, never values), " +
      "or unknown (never checked, the last check failed, or an operation changed the stack since; `reason` says which)",
  ),
  verification: VerificationState.nullable().describe(
    "the last access verification read from AWS (issue 17): after every revoke and decommission, and on request; one check per capability " +
      "(KMS_GRANTS, KMS_KEY_POLICY, SG_INGRESS, NACL_DENY, ENDPOINT_CONNECTIONS, FIREWALL_RULES, QUARANTINE_POLICY) with pass, fail, not-verifiable or not-applicable " +
      "and the AWS ids it saw; null: never verified",
  ),
  expiry: z
    .object({
      expiresAt: z.string(),
      warnings: z.array(z.object({ daysBefore: z.number().int(), sentAt: z.string() })).describe("expiry.approaching notices sent, farthest first"),
      expiredAt: z.string().optional().describe("when the service found access expired"),
      revokeOperationId: z.string().optional().describe("the revoke the service queued then (absent: nothing was left to revoke)"),
    })
    .optional()
    .describe("with expiresAt only: the warnings sent before it and, once it passed, the service's revoke (nothing is destroyed by expiry)"),
  createdAt: z.string(),
  updatedAt: z.string(),
  links,
}).meta({ id: "Provider", description: "An onboarded SaaS provider: its spec, lifecycle, stack outputs and operations in flight" });

export const ProviderSummaryDto = ProviderDto.omit({ spec: true, activeOperations: true, outputs: true, keyStore: true, expiry: true, verification: true }).meta({
  id: "ProviderSummary",
  description: "A provider as listed (no spec, outputs or operations)",
});
export const OperationListDto = z
  .object({ items: z.array(OperationDto), links })
  .meta({ id: "OperationList", description: "A page of a provider's operations, newest first; `links.next` continues" });
export const ProviderListDto = z
  .object({ items: z.array(ProviderSummaryDto), nextCursor: z.string().optional(), links })
  .meta({ id: "ProviderList", description: "A page of providers; `links.next` keeps the filters" });
/** Each event type is its own member (`type` is the discriminator). */
export const OperationEventDto = OperationEvent.meta({ id: "OperationEvent", description: "One event of an operation, in `seq` order" });
export const EventListDto = z
  .object({ items: z.array(OperationEventDto), links })
  .meta({ id: "EventList", description: "A page of an operation's events; `links.next` continues after the last one" });

export const ProblemDto = z.object({
  type: z.string(),
  title: z.string(),
  status: z.number().int(),
  detail: z.string(),
  instance: z.string(),
  code: z.string(),
  requestId: z.string(),
  errors: z.array(z.object({ path: z.string(), message: z.string(), code: z.string().optional() })).optional(),
  links: links.optional(),
  /** Guardrail violations of the planned resources (code GUARDRAIL_VIOLATION). */
  violations: z.array(z.object({ code: z.string(), message: z.string(), resource: z.string() })).optional(),
}).meta({ id: "Problem", description: "RFC 9457 problem details: `code` is stable, `errors[].path` a JSON Pointer into the request" });

/** An operation's links; `stack`: a provider's name, or a network hub's stack (`network-hub.<region>`). */
export const opLinks = (id: string, stack: string) => ({
  self: `/v1/operations/${id}`,
  events: `/v1/operations/${id}/events`,
  cancel: `/v1/operations/${id}/cancel`,
  ...(isHubStack(stack) ? { networkHub: `/v1/network-hubs/${encodeURIComponent(regionOfHubStack(stack))}` } : { provider: `/v1/providers/${encodeURIComponent(stack)}` }),
});

export function toOperationDto(op: Operation, queuePosition?: number, approval?: Approval): z.input<typeof OperationDto> {
  const result = op.result as z.input<typeof OperationDto>["result"];
  return {
    id: op.id,
    provider: op.provider,
    intent: op.intent,
    kind: op.kind,
    status: op.status,
    accessState: op.access_state,
    ...decommissionOf(op),
    engine: op.engine,
    specHash: op.spec_hash,
    programVersion: op.program_version,
    attempt: op.attempt,
    ...(op.status === "queued" && op.resume_after !== null ? { resumesAt: op.resume_after } : {}),
    ...(queuePosition !== undefined && op.status === "queued" ? { queuePosition } : {}),
    cancelRequested: op.cancel_requested_at !== null,
    progress: { done: op.progress_done, total: op.progress_total },
    result: result ?? null,
    error: op.error,
    ...(approval ? { approval: toApprovalDto(approval) } : {}),
    createdAt: op.created_at,
    startedAt: op.started_at,
    finishedAt: op.finished_at,
    links: operationLinks(op),
  };
}

/** Hub updates and hub drift checks act on a region's network-hub stack, not on a provider; a blocked operation links its blocker. */
function operationLinks(op: Operation): Record<string, string> {
  return {
    ...opLinks(op.id, op.provider),
    ...(op.blocked_by ? { blockedBy: `/v1/operations/${op.blocked_by}` } : {}),
    ...(op.status === "awaiting_approval" ? { approve: `/v1/operations/${op.id}/approve`, reject: `/v1/operations/${op.id}/reject` } : {}),
  };
}

function specField(p: ProviderRecord, key: string): string {
  const v = p.spec[key];
  return typeof v === "string" ? v : "";
}

export function toProviderSummaryDto(p: ProviderRecord): z.input<typeof ProviderSummaryDto> {
  return {
    name: p.name,
    displayName: specField(p, "displayName"),
    team: p.team,
    lifecycle: p.lifecycle,
    engine: p.engine,
    generation: p.generation,
    specHash: p.spec_hash,
    drift: driftOf(p.drift),
    createdAt: p.created_at,
    updatedAt: p.updated_at,
    links: { self: `/v1/providers/${encodeURIComponent(p.name)}` },
  };
}

export function toProviderDto(p: ProviderRecord, active: readonly Operation[], keyStore?: KeyStoreView, expiry?: ExpiryView): z.input<typeof ProviderDto> {
  return {
    ...toProviderSummaryDto(p),
    spec: p.spec,
    outputs: p.outputs,
    activeOperations: active.map((o) => ({ id: o.id, intent: o.intent, status: o.status, links: { self: `/v1/operations/${o.id}` } })),
    verification: verificationOf(p.verification),
    ...(keyStore ? { keyStore: { ...keyStore, steps: [...keyStore.steps] } } : {}),
    ...(expiry ? { expiry: { ...expiry, warnings: [...expiry.warnings] } } : {}),
  };
}
