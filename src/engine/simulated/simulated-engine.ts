import type { Db } from "../../store/db.js";
import { setTimeout as sleep } from "node:timers/promises";
import { assertPrepareFits, EngineCancelledError, EngineFailure, type Engine, type EngineEvent, type EngineRequest, type EngineResult, type EngineRunOptions, stackResources } from "../engine.js";
import { prepareThenDestroy } from "../prepare-then-destroy.js";
import { createInProcessEvaluator, type ProgramEvaluator } from "../evaluation-pool.js";
import { evaluateStack } from "./evaluate.js";
import { executeSteps } from "./execute.js";
import { deleteRefusal, physicalName } from "./cloud-rules.js";
import { planDestroy, planUp, summarize, type SimResource, type Step } from "./plan.js";
import { refreshSteps } from "./refresh.js";
import { createDbStateStore, type RetainedName, type SimStateStore } from "./state-repo.js";

export interface SimulatedEngineOptions {
  /** Where the simulated checkpoint lives: the service's database, or (in a child) the parent through IPC. */
  readonly state: SimStateStore | { readonly db: Db };
  /** Simulated duration of each changing resource step (0 in tests, visible in a demo). */
  readonly stepMs: number;
  /** Fault injection for tests only: a message makes that step fail. */
  readonly faultOf?: (step: Step) => string | undefined;
  /** Where programs are evaluated: the service's worker pool; default this thread (an engine child, tests). */
  readonly evaluator?: ProgramEvaluator;
}

/**
 * Runs the *real* provider program under Pulumi's mock runtime (programs/mock-cloud.ts), diffs the
 * resulting graph against the state it keeps, and reports the steps a real engine would take, in
 * dependency order. Nothing is created in AWS; every operation says `engine: simulated`.
 */
export function createSimulatedEngine(options: SimulatedEngineOptions): Engine {
  const store = "db" in options.state ? createDbStateStore(options.state.db) : options.state;
  const evaluator = options.evaluator ?? createInProcessEvaluator();

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

  async function run(request: EngineRequest, { signal, onEvent, onEvents, onRecovered }: EngineRunOptions): Promise<EngineResult> {
    assertPrepareFits(request);
    if (request.recover) {
      await recover(request, request.recover.interruptedOperationId, onEvent);
      await onRecovered?.();
    }
    // A burst (the plan, a step with its progress) in one write when the runner takes one.
    const emitAll = async (events: readonly EngineEvent[]): Promise<void> => {
      if (onEvents !== undefined) return onEvents(events);
      for (const e of events) await onEvent(e);
    };
    const { prepare } = request;
    if (prepare === undefined) return phase(request, signal, onEvent, false, emitAll);
    // The destroy runs with the prepare program too (EngineRequest.prepare): it plans from the state,
    // which phase 1 left with the prepare program's resource options.
    return prepareThenDestroy(prepare, onEvent, {
      existing: async () => (await store.load(request.stack)).map((r) => r.urn),
      up: (targets) => phase({ ...request, kind: "up", program: prepare.program }, signal, onEvent, targets !== undefined, emitAll),
      destroy: () => phase({ ...request, program: prepare.program }, signal, onEvent, false, emitAll),
    });
  }

  /**
   * One engine command (up, preview, refresh or destroy) over the recorded state, with its own progress.
   * `existingOnly`: an up that creates nothing (like Pulumi's up targeted at the stack's resources), so a
   * retried destroy never re-creates what its first attempt deleted.
   */
  async function phase(
    request: EngineRequest,
    signal: AbortSignal,
    onEvent: EngineRunOptions["onEvent"],
    existingOnly: boolean,
    emitAll: (events: readonly EngineEvent[]) => Promise<void>,
  ): Promise<EngineResult> {
    const previous = await store.load(request.stack);
    // A drift check compares the state with the cloud; the program's graph plays no part in it.
    if (request.kind === "refresh") {
      // Reading the cloud: every resource at once, one step's time (the stepMs a benchmark fixes).
      if (options.stepMs > 0) await sleep(options.stepMs, undefined, { signal }).catch(() => undefined);
      if (signal.aborted) throw new EngineCancelledError();
      // Compared with what the simulated cloud holds now (drift records only a test double writes).
      const refreshed = refreshSteps(previous, await store.drifted(request.stack));
      await emitAll([...refreshed.events, { type: "progress", done: 0, total: refreshed.steps.length }]);
      return { outputs: {}, summary: summarize(refreshed.steps), steps: refreshed.planned };
    }
    let desired: SimResource[] = [];
    let outputs: Record<string, unknown> = {};
    if (request.kind !== "destroy") {
      ({ resources: desired, outputs } = await evaluateStack(evaluator, request.stack, request.program, request.secretConfig));
    }
    const steps = request.kind === "destroy" ? planDestroy(previous) : existingOnly ? existingOnlySteps(planUp(previous, desired)) : planUp(previous, desired);
    const summary = summarize(steps);

    await emitAll([
      ...steps.map((s): EngineEvent => ({ type: "resource.planned", urn: s.urn, resourceType: s.type, name: s.name, op: s.op })),
      { type: "progress", done: 0, total: steps.length },
    ]);
    if (request.kind === "preview") {
      return { outputs: {}, summary, steps: steps.map(({ urn, type, name, op }) => ({ urn, resourceType: type, name, op })) };
    }

    const position = new Map(desired.map((r, i) => [r.urn, i]));
    const recorded = new Map(previous.map((r) => [r.urn, r]));
    const taken = await retainedNames();
    let done = 0;
    const ref = (s: Step) => ({ urn: s.urn, resourceType: s.type, name: s.name, op: s.op });
    const emit = (event: EngineEvent) => onEvent(event);
    await executeSteps(steps, {
      signal,
      // Components and provider instances are bookkeeping, not cloud calls: they take no time.
      // Retained deletes only drop the resource from the stack: no cloud call either.
      durationOf: (s) => (s.custom && !s.retain && !s.type.startsWith("pulumi:providers:") ? options.stepMs : 0),
      faultOf: (s) => options.faultOf?.(s) ?? nameTaken(s, taken) ?? refusedDelete(s, recorded),
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
        const events: EngineEvent[] = [{ type: "resource.completed", ...ref(s), durationMs }];
        if (s.retain) {
          const kept = recorded.get(s.urn);
          const name = kept === undefined ? undefined : physicalName(kept);
          if (name !== undefined) await store.retain({ type: s.type, name, stack: request.stack, urn: s.urn });
          events.push({ type: "diagnostic", severity: "info", urn: s.urn, message: `${s.type} ${s.name} stays in AWS (retainOnDelete): removed from the stack only` });
        }
        done += 1;
        // The step and its progress in one write.
        await emitAll([...events, { type: "progress", done, total: steps.length }]);
      },
      onFailed: async (s, durationMs, message) => {
        // The engine knows the step failed: nothing is left pending.
        await store.clearPending(request.stack, s.urn);
        await emit({ type: "resource.failed", ...ref(s), durationMs, message });
      },
    });
    // What the stack holds now, with cloud ids (a receipt names them); a destroy leaves none.
    const resources = stackResources((await store.load(request.stack)).map((r) => ({ urn: r.urn, type: r.type, id: r.outputs["id"] })));
    return { outputs: request.kind === "destroy" ? {} : outputs, summary, resources };
  }

  /** A delete AWS would refuse (a retained resource is only dropped from the stack: AWS is not asked). */
  function refusedDelete(s: Step, recorded: ReadonlyMap<string, SimResource>): string | undefined {
    const r = s.op === "delete" && !s.retain ? recorded.get(s.urn) : undefined;
    return r === undefined ? undefined : deleteRefusal(r);
  }

  async function retainedNames(): Promise<Map<string, RetainedName>> {
    return new Map((await store.retained()).map((r) => [`${r.type}\u0000${r.name}`, r]));
  }

  /** A create (or the create half of a replace) of a name a destroy left in the cloud fails, as in AWS. */
  function nameTaken(s: Step, taken: ReadonlyMap<string, RetainedName>): string | undefined {
    if ((s.op !== "create" && s.op !== "replace") || s.desired === undefined) return undefined;
    const name = physicalName(s.desired);
    const holder = name === undefined ? undefined : taken.get(`${s.type}\u0000${name}`);
    if (holder === undefined) return undefined;
    return `"${name}" already exists: stack ${holder.stack} left it in AWS when it was destroyed (retainOnDelete)`;
  }

  /** The root stack's outputs are not stored per resource: re-derive them from the program and state. */
  async function outputs(stack: string, program: EngineRequest["program"]): Promise<Record<string, unknown>> {
    if ((await store.load(stack)).length === 0) return {};
    return (await evaluateStack(evaluator, stack, program)).outputs;
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

/**
 * An up limited to the stack's resources drops every create. Like Pulumi's targeted up, it is refused
 * before anything runs when a resource it changes depends on (or is parented by) a create it drops
 * ("untargeted create"): the simulation is never more lenient than the CLI.
 */
function existingOnlySteps(planned: readonly Step[]): Step[] {
  const dropped = new Set(planned.filter((s) => s.op === "create").map((s) => s.urn));
  for (const s of planned) {
    if (s.op === "create" || s.op === "same" || s.op === "delete") continue;
    const missing = [...(s.desired?.dependencies ?? []), ...(s.desired?.parent ? [s.desired.parent] : [])].find((d) => dropped.has(d));
    if (missing !== undefined) {
      throw new EngineFailure(
        "ENGINE_COMMAND_FAILED",
        `preview failed: resource ${s.urn} (${s.op}) depends on ${missing}, which was not specified in --target list: ` +
          "an up limited to the stack's resources would skip creating it",
      );
    }
  }
  return planned.filter((s) => s.op !== "create");
}
