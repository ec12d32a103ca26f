import * as pulumi from "@pulumi/pulumi";
import { createMockCloud, evaluateProgram, type RegisteredResource } from "../../../programs/mock-cloud.js";
import { inlineProgram, PROJECTS } from "../../../programs/stacks.js";
import type { StackProgram } from "../../../programs/types.js";
import { EngineFailure } from "../engine.js";
import type { SimResource } from "./plan.js";

export interface Evaluation {
  readonly resources: SimResource[];
  readonly outputs: Record<string, unknown>;
}

/** Runs the stack's program under the mock cloud (evaluations are serialized by evaluateProgram). */
export async function evaluateStack(stack: string, program: StackProgram, secretConfig?: Readonly<Record<string, string>>): Promise<Evaluation> {
  // The default provider is the service's own credentials: the Organizations management account. The hub
  // uses no default provider, so its caller is left unset.
  const callerAccountId = program.program === "provider" ? program.args.managementAccountId : undefined;
  const mocks = createMockCloud({ region: program.args.region, ...(callerAccountId ? { callerAccountId } : {}) });
  let result;
  try {
    result = await evaluateProgram(inlineProgram(program), {
      stack,
      project: PROJECTS[program.program],
      mocks,
      ...(secretConfig ? { config: { values: secretConfig, secretKeys: Object.keys(secretConfig) } } : {}),
    });
  } catch (err) {
    // The program's guard clauses refuse arguments it cannot build safely; their messages are ours.
    throw new EngineFailure("PROGRAM_REJECTED", `the ${program.program} program refused the arguments: ${(err as Error).message}`);
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
