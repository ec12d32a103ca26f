import { createMockCloud, evaluateProgram, type RegisteredResource } from "../../../programs/mock-cloud.js";
import { providerStackProgram } from "../../../programs/provider-stack.js";
import type { ProviderStackArgs } from "../../../programs/types.js";
import { EngineFailure } from "../engine.js";
import type { SimResource } from "./plan.js";

export const PROJECT = "saas-bridge";

/**
 * Pulumi's mock runtime is process-global (one monitor, one settings store: research
 * pulumi-automation.md §5, pitfall 4), so evaluations are serialized. They take milliseconds; the
 * slow part, applying the steps, runs concurrently outside this lock.
 */
let tail: Promise<unknown> = Promise.resolve();

function serialized<T>(fn: () => Promise<T>): Promise<T> {
  const next = tail.then(fn, fn);
  tail = next.catch(() => undefined);
  return next;
}

export interface Evaluation {
  readonly resources: SimResource[];
  readonly outputs: Record<string, unknown>;
}

export function evaluateSerially(stack: string, args: ProviderStackArgs): Promise<Evaluation> {
  return serialized(async () => {
    const mocks = createMockCloud({ region: args.region, callerAccountId: args.network.accountId });
    let result;
    try {
      result = await evaluateProgram(providerStackProgram(args), { stack, project: PROJECT, mocks });
    } catch (err) {
      // The program's guard clauses refuse arguments it cannot build safely; their messages are ours.
      throw new EngineFailure("PROGRAM_REJECTED", `the provider program refused the arguments: ${(err as Error).message}`);
    }
    return { resources: toSimResources(result.resources), outputs: jsonClone(result.outputs ?? {}) };
  });
}

/** Drops the root stack and records every ordering edge the engine would honour. */
function toSimResources(registered: readonly RegisteredResource[]): SimResource[] {
  const root = registered.find((r) => r.type === "pulumi:pulumi:Stack")?.urn;
  return registered
    .filter((r) => r.urn !== root)
    .map((r) => {
      const edges = new Set(r.dependencies);
      if (r.provider) edges.add(r.provider);
      if (r.parent && r.parent !== root) edges.add(r.parent);
      return {
        urn: r.urn,
        type: r.type,
        name: r.name,
        parent: r.parent && r.parent !== root ? r.parent : null,
        custom: r.custom,
        inputs: jsonClone(r.inputs),
        outputs: jsonClone({ id: r.id, ...r.state }),
        dependencies: [...edges],
      };
    });
}

/** Stored as jsonb and compared after a round trip, so normalize the same way now. */
function jsonClone<T>(value: T): T {
  return JSON.parse(JSON.stringify(value ?? {})) as T;
}
