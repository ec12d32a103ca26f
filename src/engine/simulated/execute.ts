import { setTimeout as sleep } from "node:timers/promises";
import { EngineCancelledError, EngineFailure } from "../engine.js";
import type { Step } from "./plan.js";

export interface ExecuteOptions {
  readonly signal: AbortSignal;
  /** Simulated duration of a step. */
  readonly durationOf: (step: Step) => number;
  readonly onStarted: (step: Step) => Promise<void>;
  /** Persists the step's state change and reports it; called once per step, in completion order. */
  readonly onCompleted: (step: Step, durationMs: number) => Promise<void>;
  readonly onFailed: (step: Step, durationMs: number, message: string) => Promise<void>;
  /** Fault injection for tests: a message makes that step fail. */
  readonly faultOf?: (step: Step) => string | undefined;
}

/**
 * Runs steps the way the Pulumi engine does: every step whose dependencies are done starts at once
 * (unbounded parallelism), a failure or a cancel stops new steps from starting, and in-flight steps
 * always settle before this returns, so recorded state never disagrees with reported events.
 */
export async function executeSteps(steps: readonly Step[], options: ExecuteOptions): Promise<void> {
  const pending = new Map(steps.map((s) => [s.urn + "\u0000" + s.op, s]));
  const done = new Set<string>();
  const inFlight = new Map<string, Promise<void>>();
  const stepUrns = new Set(steps.map((s) => s.urn));
  let failure: Error | undefined;

  const attempt = async (step: Step): Promise<void> => {
    const quiet = step.op === "same";
    if (!quiet) await options.onStarted(step);
    // The step's own time, not the service's bookkeeping around it.
    const started = Date.now();
    const ms = quiet ? 0 : options.durationOf(step);
    if (ms > 0) await sleep(ms);
    const fault = options.faultOf?.(step);
    if (fault !== undefined) {
      failure ??= new EngineFailure("RESOURCE_FAILED", `${step.type} ${step.name}: ${fault}`);
      await options.onFailed(step, Date.now() - started, fault);
    } else {
      await options.onCompleted(step, Date.now() - started);
      done.add(step.urn);
    }
  };
  const run = (key: string, step: Step): Promise<void> =>
    attempt(step)
      .catch((err: unknown) => {
        failure ??= err instanceof Error ? err : new Error(String(err));
      })
      .finally(() => inFlight.delete(key));

  // Bounded: each iteration either starts a step or waits for one to settle.
  for (let guard = 0; guard <= steps.length * 2 + 1; guard++) {
    const stopping = options.signal.aborted || failure !== undefined;
    if (!stopping) {
      for (const [key, step] of pending) {
        if (step.after.every((u) => done.has(u) || !stepUrns.has(u))) {
          pending.delete(key);
          inFlight.set(key, run(key, step));
        }
      }
    }
    if (inFlight.size === 0) break;
    await Promise.race(inFlight.values());
  }
  if (failure) throw failure;
  if (options.signal.aborted && pending.size > 0) throw new EngineCancelledError();
  if (pending.size > 0) throw new Error(`simulated engine: dependency cycle among ${[...pending.keys()].join(", ")}`);
}
