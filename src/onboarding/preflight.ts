import { KMSUSER_PASSWORD_CONFIG, type AccessState, type ProviderStackArgs } from "../../programs/types.js";
import { ProgramRejectedError, type ProgramEvaluator } from "../engine/evaluation-pool.js";
import { evaluateGuardrails, guardrailExpectations, type GuardrailViolation } from "./guardrails.js";
import type { ProviderSpec } from "./spec.js";

/** The full stack-config key of the kmsuser password (namespace `saas-bridge`). */
export const KMSUSER_PASSWORD_CONFIG_KEY = `saas-bridge:${KMSUSER_PASSWORD_CONFIG}`;

/** What the service learns by building the provider's graph without touching AWS. */
export interface Preflight {
  readonly violations: readonly GuardrailViolation[];
  /** Steps a person must still take (the program's `actionsRequired` output). */
  readonly actionsRequired: readonly string[];
  /** The program refused the arguments (its guard clauses); the message is the program's. */
  readonly rejected?: string;
}

/**
 * Evaluates the provider program under the mock cloud and runs the guardrails over the resources it
 * registers (DESIGN §3). Engine-independent: the same check guards the simulated and the Pulumi engine,
 * on create/update/preview (422) and before every run (events). The evaluation runs in the evaluator's
 * worker pool (issue 15), off the event loop; EvaluationUnavailableError passes through (retry).
 */
export async function preflight(spec: ProviderSpec, args: ProviderStackArgs, accessState: AccessState, evaluator: ProgramEvaluator): Promise<Preflight> {
  let evaluation;
  try {
    evaluation = await evaluator.evaluate({
      stack: args.name,
      program: { program: "provider", args },
      // The program reads the kmsuser password from secret config; no guardrail looks at its value.
      ...(args.kms.cloudHsm?.keyStore ? { secretConfig: { [KMSUSER_PASSWORD_CONFIG_KEY]: "preflight-placeholder" } } : {}),
    });
  } catch (err) {
    if (err instanceof ProgramRejectedError) return { violations: [], actionsRequired: [], rejected: err.message };
    throw err;
  }
  const actions = evaluation.outputs["actionsRequired"];
  return {
    violations: evaluateGuardrails(evaluation.resources, guardrailExpectations(spec, accessState)),
    actionsRequired: Array.isArray(actions) ? actions.filter((a): a is string => typeof a === "string") : [],
  };
}
