import type { Db } from "../../store/db.js";
import type { Engine, EngineEvent, EngineRequest, EngineResult, EngineRunOptions } from "../engine.js";
import { evaluateStack } from "./evaluate.js";
import { executeSteps } from "./execute.js";
import { planDestroy, planUp, summarize, type SimResource, type Step } from "./plan.js";
import { createDbStateStore, type SimStateStore } from "./state-repo.js";

export interface SimulatedEngineOptions {
  /** Where the simulated checkpoint lives: the service's database, or (in a child) the parent through IPC. */
  readonly state: SimStateStore | { readonly db: Db };
  /** Simulated duration of each changing resource step (0 in tests, visible in a demo). */
  readonly stepMs: number;
  /** Fault injection for tests only: a message makes that step fail. */
  readonly faultOf?: (step: Step) => string | undefined;
}

/**
 * Runs the *real* provider program under Pulumi's mock runtime (programs/mock-cloud.ts), diffs the
 * resulting graph against the state it keeps, and reports the steps a real engine would take, in
 * dependency order. Nothing is created in AWS; every operation says `engine: simulated`.
 */
export function createSimulatedEngine(options: SimulatedEngineOptions): Engine {
  const store = "db" in options.state ? createDbStateStore(options.state.db) : options.state;

  /** Like a Pulumi refresh after an interruption: every step that was in flight is reported, never dropped. */
  async function recover(request: EngineRequest, interruptedOperationId: string, onEvent: EngineRunOptions["onEvent"]): Promise<void> {
    const pending = await store.takePending(request.stack);
    for (const p of pending) {
      await onEvent({
        type: "diagnostic",
        severity: "warning",
        urn: p.urn,
        message:
          `pending operation from interrupted operation ${p.operationId}: ${p.op} of ${p.type} ${p.name} had started and not completed; ` +
          `it may exist in the cloud without being in the stack (simulated: nothing was created). Check it before relying on the stack.`,
      });
    }
    await onEvent({
      type: "diagnostic",
      severity: pending.length > 0 ? "warning" : "info",
      message: `recovered the stack after interrupted operation ${interruptedOperationId}: ${pending.length} pending operation(s) reported`,
    });
  }

  async function run(request: EngineRequest, { signal, onEvent, onRecovered }: EngineRunOptions): Promise<EngineResult> {
    if (request.recover) {
      await recover(request, request.recover.interruptedOperationId, onEvent);
      await onRecovered?.();
    }
    const previous = await store.load(request.stack);
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
    const emit = (event: EngineEvent) => onEvent(event);
    await executeSteps(steps, {
      signal,
      // Components and provider instances are bookkeeping, not cloud calls: they take no time.
      // Retained deletes only drop the resource from the stack: no cloud call either.
      durationOf: (s) => (s.custom && !s.retain && !s.type.startsWith("pulumi:providers:") ? options.stepMs : 0),
      ...(options.faultOf ? { faultOf: options.faultOf } : {}),
      onStarted: async (s) => {
        // Recorded before the step starts, like a checkpoint's pending operation.
        await store.markPending(request.stack, { urn: s.urn, type: s.type, name: s.name, op: s.op, operationId: request.operationId });
        await emit({ type: "resource.started", ...ref(s) });
      },
      onCompleted: async (s, durationMs) => {
        // State first, like a checkpoint: a crash after this point never loses a completed step.
        if (s.desired) await store.put(request.stack, s.desired, position.get(s.urn) ?? 0);
        else await store.delete(request.stack, s.urn);
        if (s.op !== "same") await store.clearPending(request.stack, s.urn);
        await emit({ type: "resource.completed", ...ref(s), durationMs });
        if (s.retain) {
          await emit({ type: "diagnostic", severity: "info", urn: s.urn, message: `${s.type} ${s.name} stays in AWS (retainOnDelete): removed from the stack only` });
        }
        done += 1;
        await emit({ type: "progress", done, total: steps.length });
      },
      onFailed: async (s, durationMs, message) => {
        // The engine knows the step failed: nothing is left pending.
        await store.clearPending(request.stack, s.urn);
        await emit({ type: "resource.failed", ...ref(s), durationMs, message });
      },
    });
    return { outputs: request.kind === "destroy" ? {} : outputs, summary };
  }

  /** The root stack's outputs are not stored per resource: re-derive them from the program and state. */
  async function outputs(stack: string, program: EngineRequest["program"]): Promise<Record<string, unknown>> {
    if ((await store.load(stack)).length === 0) return {};
    return (await evaluateStack(stack, program)).outputs;
  }

  return {
    name: "simulated",
    run,
    outputs,
    readiness: () => ({ ok: true, detail: "simulated (nothing is created in AWS)" }),
    ready: async () => {},
    close: async () => {},
  };
}
