import { createMockCloud, evaluateProgram } from "../../programs/mock-cloud.js";
import { providerStackProgram } from "../../programs/provider-stack.js";
import { PROJECTS } from "../../programs/stacks.js";
import { KMSUSER_PASSWORD_CONFIG, type AccessState, type ProviderStackArgs } from "../../programs/types.js";
import { evaluateGuardrails, guardrailExpectations, type GuardrailViolation } from "./guardrails.js";
import type { ProviderSpec } from "./spec.js";

/** The full stack-config key of the kmsuser password (namespace `saas-bridge`). */
export const KMSUSER_PASSWORD_CONFIG_KEY = `saas-bridge:${KMSUSER_PASSWORD_CONFIG}`;

/** The program a preflight builds; tests substitute a faulty one to prove that violations are caught. */
export type ProviderProgram = (args: ProviderStackArgs) => () => Promise<Record<string, unknown>>;

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
 * on create/update/preview (422) and before every run (events). Mock evaluations are serialized per
 * process, so this costs one program evaluation of time on the accept path (bench: `program`).
 */
export async function preflight(
  spec: ProviderSpec,
  args: ProviderStackArgs,
  accessState: AccessState,
  program: ProviderProgram = providerStackProgram,
): Promise<Preflight> {
  let evaluation;
  try {
    evaluation = await evaluateProgram(program(args), {
      project: PROJECTS.provider,
      stack: args.name,
      mocks: createMockCloud({ region: args.region, callerAccountId: args.managementAccountId }),
      // The program reads the kmsuser password from secret config; no guardrail looks at its value.
      ...(args.kms.cloudHsm?.keyStore ? { config: { values: { [KMSUSER_PASSWORD_CONFIG_KEY]: "preflight-placeholder" }, secretKeys: [KMSUSER_PASSWORD_CONFIG_KEY] } } : {}),
    });
  } catch (err) {
    return { violations: [], actionsRequired: [], rejected: (err as Error).message };
  }
  const actions = evaluation.outputs["actionsRequired"];
  return {
    violations: evaluateGuardrails(evaluation.resources, guardrailExpectations(spec, accessState)),
    actionsRequired: Array.isArray(actions) ? actions.filter((a): a is string => typeof a === "string") : [],
  };
}
