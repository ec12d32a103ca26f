import * as pulumi from "@pulumi/pulumi";
import type { RegisteredResource } from "../../../programs/evaluate-program.js";
import type { StackProgram } from "../../../programs/types.js";
import { EngineFailure } from "../engine.js";
import { ProgramRejectedError, type ProgramEvaluator } from "../evaluation-pool.js";
import type { SimResource } from "./plan.js";

export interface Evaluation {
  readonly resources: SimResource[];
  readonly outputs: Record<string, unknown>;
}

/**
 * Runs the stack's program under the mock cloud, through the evaluator (the service's worker pool, or this
 * thread in an engine child). EvaluationUnavailableError passes through: the runner resumes the attempt.
 */
export async function evaluateStack(
  evaluator: ProgramEvaluator,
  stack: string,
  program: StackProgram,
  secretConfig?: Readonly<Record<string, string>>,
): Promise<Evaluation> {
  let result;
  try {
    result = await evaluator.evaluate({ stack, program, ...(secretConfig ? { secretConfig } : {}) });
  } catch (err) {
    // The program's guard clauses refuse arguments it cannot build safely; their messages are ours.
    if (err instanceof ProgramRejectedError) throw new EngineFailure("PROGRAM_REJECTED", `the ${program.program} program refused the arguments: ${err.message}`);
    throw err;
  }
  return { resources: toSimResources(result.resources), outputs: jsonClone(result.outputs ?? {}) };
}

/** Drops the root stack and records every ordering edge the engine would honour (bench: critical path). */
export function toSimResources(registered: readonly RegisteredResource[]): SimResource[] {
  const root = registered.find((r) => r.type === "pulumi:pulumi:Stack")?.urn;
  return registered
    .filter((r) => r.urn !== root)
    .map((r) => {
      const edges = new Set(r.dependencies);
      if (r.provider) edges.add(r.provider);
      if (r.parent) edges.add(r.parent);
      if (root !== undefined) edges.delete(root);
      return {
        urn: r.urn,
        type: r.type,
        name: r.name,
        parent: r.parent && r.parent !== root ? r.parent : null,
        custom: r.custom,
        inputs: jsonClone(r.inputs),
        outputs: jsonClone({ id: r.id, ...r.state }),
        dependencies: [...edges],
        retainOnDelete: r.options.retainOnDelete,
      };
    });
}

/** What a secret value is stored and shown as (the Pulumi engine masks secret outputs the same way). */
export const SECRET_MASK = "[secret]";

/**
 * Stored as jsonb and compared after a round trip, so normalize the same way now. Secret values (a
 * `pulumi.secret` input, secret config read by the program) are masked: the simulated state is plain
 * JSON in the database, unlike Pulumi's, which encrypts them.
 */
function jsonClone<T>(value: T): T {
  return JSON.parse(JSON.stringify(value ?? {}), (_key, v: unknown) =>
    v !== null && typeof v === "object" && (v as Record<string, unknown>)[pulumi.runtime.specialSigKey] === pulumi.runtime.specialSecretSig ? SECRET_MASK : v,
  ) as T;
}
