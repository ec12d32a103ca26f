import type { Intent, Operation } from "./operation.js";

/**
 * Automatic resumption (issue 14): an attempt that ended without finishing — its replica was lost, its lease
 * expired (the database stayed away past it), the service shut down past its grace, the engine process
 * died — is queued again under the same operation id, and any live replica runs the next attempt, the
 * engine's recovery step first (stack_recovery). Failures the engine or a guardrail reports are final.
 */
export interface ResumePolicy {
  /** Attempts in all, the first included; 1 = never resume (every interruption is final). */
  readonly maxAttempts: number;
  /** Back-off before the second resumption; doubled each time after (the first resumes at once). */
  readonly backoffSeconds: number;
}

/** Never wait longer than this between two attempts, whatever the back-off doubles to. */
const MAX_BACKOFF_SECONDS = 3_600;

/**
 * Why each kind of operation is safe to run again after an attempt that stopped anywhere (an entry that
 * says otherwise would exclude its kind: `resumable: false`). Every attempt runs the operation's own
 * stored spec (the approved one: its row never changes), after the recovery step has cleared the stack's
 * pending operations, so what a repeat does is decided by the program, not by how far the last one got.
 */
export const RESUMPTION: Readonly<Record<Intent, { readonly resumable: boolean; readonly why: string }>> = {
  create: { resumable: true, why: "an up is declarative: a repeat creates what is missing and leaves what already matches" },
  update: { resumable: true, why: "an up is declarative: a repeat converges on the same spec" },
  revoke: { resumable: true, why: "an up to the revoked variant: re-applying a deny, a removed rule or a detached grant changes nothing" },
  reinstate: { resumable: true, why: "an up to the active variant: re-creating access that already exists changes nothing" },
  decommission: {
    resumable: true,
    why: "a later attempt's preparing up only updates what the stack still holds (nothing deleted is re-created), and a destroy deletes only what is left; the key's fate is a resource option, the same on every attempt",
  },
  preview: { resumable: true, why: "a preview changes nothing" },
  "drift-check": { resumable: true, why: "a refresh preview changes nothing" },
  verify: { resumable: true, why: "a verification only reads the cloud: a repeat reads it again" },
  "hub-update": { resumable: true, why: "an up of the hub stack that reads the rule groups to list when it starts" },
  "key-store": {
    resumable: true,
    why: "each phase's result is recorded (created, connected) and a later attempt continues from it; the connect step reads the store's state first and never connects a connected store again",
  },
};

export type AttemptEnd =
  | { readonly resume: true; readonly nextAttempt: number; readonly delaySeconds: number }
  | { readonly resume: false; readonly why: string };

/** What happens after `op`'s current attempt stopped without finishing. `random` is for tests of the jitter. */
export function afterInterruption(op: Pick<Operation, "intent" | "attempt">, policy: ResumePolicy, random: () => number = Math.random): AttemptEnd {
  const kind = RESUMPTION[op.intent];
  if (!kind.resumable) return { resume: false, why: `a ${op.intent} is not resumed automatically: ${kind.why}` };
  if (op.attempt >= policy.maxAttempts) {
    return {
      resume: false,
      why: policy.maxAttempts === 1 ? "automatic resumption is off (RESUME_MAX_ATTEMPTS=1)" : `attempt ${op.attempt} of ${policy.maxAttempts} was the last`,
    };
  }
  return { resume: true, nextAttempt: op.attempt + 1, delaySeconds: backoffSeconds(op.attempt, policy.backoffSeconds, random) };
}

/**
 * The first resumption starts at once: a lost replica is only noticed a lease later, which is back-off
 * enough, and waiting longer would only keep the stack locked. After that: base, 2 × base, 4 × base …,
 * ±20 % jitter so operations interrupted together do not all come back together.
 */
export function backoffSeconds(endedAttempt: number, base: number, random: () => number = Math.random): number {
  if (endedAttempt <= 1 || base === 0) return 0;
  const nominal = Math.min(MAX_BACKOFF_SECONDS, base * 2 ** (endedAttempt - 2));
  return Math.round(nominal * (0.8 + 0.4 * random()) * 1000) / 1000;
}
