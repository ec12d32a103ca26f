import type { ProviderStackArgs } from "../../programs/types.js";
import type { AuditWriter } from "../audit/append.js";
import { recordAllowed, SYSTEM_ACTOR } from "../auth/actor.js";
import type { Operation, OperationStatus } from "../operations/operation.js";
import type { Prepared } from "../operations/runner.js";
import type { Notice } from "../notifications/notice.js";
import { teamOf } from "../notifications/notices.js";
import type { Queryable } from "../store/db.js";
import { z } from "zod";
import {
  CHECK_CODES,
  CHECK_STATUSES,
  EXPECTATIONS,
  VERIFICATION_STATUSES,
  type AccessReader,
  type CheckCode,
  type CheckStatus,
  type Expectation,
  type VerificationResult,
} from "../verification/types.js";
import { verifyAccess } from "../verification/verifier.js";
import type { Lifecycle } from "./lifecycle.js";
import { verificationTarget } from "./verification-target.js";

/** One verification's result (VerificationResult), as an operation's result holds it. */
export const VerificationResultSchema = z.object({
  status: z.enum(VERIFICATION_STATUSES),
  expectation: z.enum(EXPECTATIONS),
  reader: z.string(),
  checkedAt: z.string(),
  durationMs: z.number(),
  calls: z.number().int().nonnegative(),
  checks: z.array(
    z.object({ code: z.enum(CHECK_CODES), status: z.enum(CHECK_STATUSES), message: z.string(), evidence: z.record(z.string(), z.unknown()) }),
  ),
});

/** A provider's last verification as stored (`providers.verification`) and shown: the result and its operation. */
export const VerificationState = VerificationResultSchema.extend({ operationId: z.string() });
export type VerificationState = z.infer<typeof VerificationState>;

/** The provider row's verification; null: never verified (or a row this version cannot read). */
export function verificationOf(raw: unknown): VerificationState | null {
  const parsed = VerificationState.safeParse(raw);
  return parsed.success ? parsed.data : null;
}

/** What access verification (issue 17) needs from the composition root. */
export interface VerificationDeps {
  /** The reader for one stack: the AWS SDK (every stack alike) or the simulated engine's cloud of that stack. */
  readonly readerFor: (stack: string) => AccessReader;
  /** Verify after every revoke and decommission (VERIFY_AFTER_OFFBOARDING); a `verify` operation always does. */
  readonly afterOffboarding: boolean;
}

/** What access should be after this operation: a verification asked for checks what the provider is now. */
export function expectationOf(op: Pick<Operation, "intent" | "access_state">, lifecycle: Lifecycle): Expectation | undefined {
  if (op.intent === "revoke") return "revoked";
  if (op.intent === "decommission") return "decommissioned";
  if (op.intent !== "verify") return undefined;
  return lifecycle === "decommissioned" || lifecycle === "decommissioning" ? "decommissioned" : op.access_state;
}

/**
 * The runner's verify step for this operation, or undefined when it has none. `before`: the provider's
 * outputs when the operation started (a decommission's destroy leaves no outputs of its own).
 */
export function verifyStep(
  deps: VerificationDeps | undefined,
  op: Operation,
  args: ProviderStackArgs,
  before: Readonly<Record<string, unknown>>,
  lifecycle: Lifecycle,
): Prepared["verify"] {
  const expectation = expectationOf(op, lifecycle);
  if (deps === undefined || expectation === undefined || (op.intent !== "verify" && !deps.afterOffboarding)) return undefined;
  return async (after, { emit, signal }) => {
    const reader = deps.readerFor(op.provider);
    const target = verificationTarget(args, { ...withFormerIds(before), ...after }, expectation);
    await emit({ type: "verification.started", expectation, reader: reader.name, checks: CHECK_CODES.length });
    const result = await verifyAccess(reader, target, { signal });
    for (const check of result.checks) await emit({ type: "verification.checked", ...check, evidence: { ...check.evidence } });
    const failed = codesWith(result, "fail");
    const notVerifiable = codesWith(result, "not-verifiable");
    await emit({ type: "verification.finished", status: result.status, expectation, calls: result.calls, durationMs: result.durationMs, failed, notVerifiable });
    if (failed.length > 0) {
      const what = expectation === "active" ? "the provider's access in the cloud differs from its spec" : "the provider's access is not gone in the cloud";
      await emit({ type: "security.access-verification-failed", severity: "critical", message: `${what}: ${failed.join(", ")} failed`, expectation, failed });
    }
    return { ...result };
  };
}

/** The codes of the checks that ended with `status`, in CHECK_CODES order. */
function codesWith(result: Pick<VerificationResult, "checks">, status: CheckStatus): CheckCode[] {
  return result.checks.filter((c) => c.status === status).map((c) => c.code);
}

/** A decommissioned provider keeps the ids its stack had (decommissionedOutputs): what must stay gone. */
function withFormerIds(outputs: Readonly<Record<string, unknown>>): Record<string, unknown> {
  const former = outputs["formerIds"];
  return typeof former === "object" && former !== null ? { ...(former as Record<string, unknown>), ...outputs } : { ...outputs };
}

/** The ids decommissionedOutputs keeps, so a later verification still knows where to look. */
export const FORMER_ID_KEYS = ["bridgeAccountId", "subnetIds", "endpointId", "endpointSecurityGroupId", "ruleGroupArn", "inboundServiceName"] as const;

/** The `access.verification-failed` notice of a finishing operation whose verification failed a check, if any. */
export function verificationNotice(op: Operation, status: OperationStatus): Notice | undefined {
  const verification = op.result?.["verification"] as VerificationResult | undefined;
  const failed = verification === undefined ? [] : codesWith(verification, "fail");
  if (status !== "succeeded" || verification === undefined || failed.length === 0) return undefined;
  return {
    type: "access.verification-failed",
    team: teamOf(op),
    subject: `providers/${op.provider}`,
    data: {
      operationId: op.id,
      provider: op.provider,
      intent: op.intent,
      expectation: verification.expectation,
      failed,
      checkedAt: verification.checkedAt,
      links: { operation: `/v1/operations/${op.id}`, events: `/v1/operations/${op.id}/events`, provider: `/v1/providers/${op.provider}` },
    },
  };
}

/**
 * When an operation with a verification ends: the provider shows it, and a failure is audited as the system
 * (the security event is the operation's). In the finishing transaction, after its notices.
 */
export async function onVerificationFinished(tx: Queryable, audit: AuditWriter | undefined, op: Operation, status: OperationStatus): Promise<void> {
  const verification = op.result?.["verification"] as VerificationResult | undefined;
  if (status !== "succeeded" || verification === undefined) return;
  await tx.query(`UPDATE providers SET verification = $2 WHERE name = $1`, [op.provider, JSON.stringify({ operationId: op.id, ...verification })]);
  const failed = codesWith(verification, "fail");
  if (failed.length === 0 || audit === undefined) return;
  await recordAllowed(audit, tx, SYSTEM_ACTOR, "provider.verification-failed", { kind: "provider", id: op.provider }, {
    operationId: op.id,
    intent: op.intent,
    severity: "critical",
    expectation: verification.expectation,
    failed,
  });
}
