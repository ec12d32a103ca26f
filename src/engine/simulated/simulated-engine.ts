import type { Db } from "../../store/db.js";
import type { Engine, EngineRequest, EngineResult, EngineRunOptions } from "../engine.js";
import { evaluateStack } from "./evaluate.js";
import { executeSteps } from "./execute.js";
import { planDestroy, planUp, summarize, type SimResource, type Step } from "./plan.js";
import { deleteResource, loadState, putResource } from "./state-repo.js";

export interface SimulatedEngineOptions {
  readonly db: Db;
  /** Simulated duration of each changing resource step (0 in tests, visible in a demo). */
  readonly stepMs: number;
  /** Fault injection for tests only: a message makes that step fail. */
  readonly faultOf?: (step: Step) => string | undefined;
}

/**
 * Runs the *real* provider program under Pulumi's mock runtime (programs/mock-cloud.ts), diffs the
 * resulting graph against the state it keeps in the database, and reports the steps a real engine
 * would take, in dependency order. Nothing is created in AWS; every operation says `engine: simulated`.
 */
export function createSimulatedEngine(options: SimulatedEngineOptions): Engine {
  const { db } = options;

  async function run(request: EngineRequest, { signal, onEvent }: EngineRunOptions): Promise<EngineResult> {
    const previous = await loadState(db, request.stack);
    let desired: SimResource[] = [];
    let outputs: Record<string, unknown> = {};
    if (request.kind !== "destroy") {
      ({ resources: desired, outputs } = await evaluateStack(request.stack, request.program));
    }
    const steps =
      request.kind === "destroy"
        ? planDestroy(previous)
        : request.kind === "refresh"
          ? // The simulated cloud never drifts from what it recorded.
            previous.map((r) => ({ op: "same" as const, urn: r.urn, type: r.type, name: r.name, custom: r.custom, desired: r, after: [] }))
          : planUp(previous, desired);
    const summary = summarize(steps);

    for (const s of steps) {
      await onEvent({ type: "resource.planned", urn: s.urn, resourceType: s.type, name: s.name, op: s.op });
    }
    await onEvent({ type: "progress", done: 0, total: steps.length });
    if (request.kind === "preview" || request.kind === "refresh") {
      return { outputs: {}, summary, steps: steps.map(({ urn, type, name, op }) => ({ urn, resourceType: type, name, op })) };
    }

    const position = new Map(desired.map((r, i) => [r.urn, i]));
    let done = 0;
    const ref = (s: Step) => ({ urn: s.urn, resourceType: s.type, name: s.name, op: s.op });
    await executeSteps(steps, {
      signal,
      // Components and provider instances are bookkeeping, not cloud calls: they take no time.
      // Retained deletes only drop the resource from the stack: no cloud call either.
      durationOf: (s) => (s.custom && !s.retain && !s.type.startsWith("pulumi:providers:") ? options.stepMs : 0),
      ...(options.faultOf ? { faultOf: options.faultOf } : {}),
      onStarted: (s) => onEvent({ type: "resource.started", ...ref(s) }),
      onCompleted: async (s, durationMs) => {
        // State first, like a checkpoint: a crash after this point never loses a completed step.
        if (s.desired) await putResource(db, request.stack, s.desired, position.get(s.urn) ?? 0);
        else await deleteResource(db, request.stack, s.urn);
        await onEvent({ type: "resource.completed", ...ref(s), durationMs });
        if (s.retain) {
          await onEvent({ type: "diagnostic", severity: "info", urn: s.urn, message: `${s.type} ${s.name} stays in AWS (retainOnDelete): removed from the stack only` });
        }
        done += 1;
        await onEvent({ type: "progress", done, total: steps.length });
      },
      onFailed: (s, durationMs, message) => onEvent({ type: "resource.failed", ...ref(s), durationMs, message }),
    });
    return { outputs: request.kind === "destroy" ? {} : outputs, summary };
  }

  return { name: "simulated", run, close: async () => {} };
}
