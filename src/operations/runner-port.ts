import type { StackProgram } from "../../programs/types.js";
import type { EngineEvent, EngineFailure, PrepareRequest } from "../engine/engine.js";
import type { Queryable } from "../store/db.js";
import type { Operation, OperationStatus } from "./operation.js";

/** Lifecycle hooks, provided by onboarding (operations does not know about providers). */
export interface Prepared {
  readonly program: StackProgram;
  /** Destroy only: an `up` of this program runs first, in the same operation (EngineRequest.prepare). */
  readonly prepare?: PrepareRequest;
  /** Found while preparing (guardrail results, actions a person must take): emitted before the run. */
  readonly findings: readonly EngineEvent[];
  /** Set when the findings block the run (a guardrail violation): the operation fails with it. */
  readonly failure?: EngineFailure;
  /** Secret stack config for the engine run(s) (EngineRequest.secretConfig). */
  readonly secretConfig?: Readonly<Record<string, string>>;
  /**
   * After the engine run succeeded, in the same operation: a cloud step no resource performs (connecting a
   * CloudHSM key store), which may ask for one more engine run with another program. Its events are the
   * operation's; what it throws ends the operation like an engine failure; it stops when `signal` aborts.
   */
  readonly afterRun?: (
    outputs: Readonly<Record<string, unknown>>,
    context: { readonly emit: (event: EngineEvent) => Promise<void>; readonly signal: AbortSignal },
  ) => Promise<{ readonly program: StackProgram } | undefined>;
  /**
   * Access verification (issue 17): after the engine run succeeded (a revoke, a decommission), or instead of
   * one (a `verify` operation). It reads the cloud, emits its events and returns the result the operation
   * keeps as `verification`; a cloud it cannot read is a verdict (not verifiable), not a throw.
   */
  readonly verify?: (
    outputs: Readonly<Record<string, unknown>>,
    context: { readonly emit: (event: EngineEvent) => Promise<void>; readonly signal: AbortSignal },
  ) => Promise<Record<string, unknown>>;
}

export interface RunnerHooks {
  /** What to run, or why not (EngineFailure thrown, or `failure` after the findings are emitted). */
  readonly prepare: (op: Operation) => Promise<Prepared>;
  readonly onStart: (tx: Queryable, op: Operation) => Promise<void>;
  readonly onFinish: (tx: Queryable, op: Operation, status: OperationStatus, outputs?: Record<string, unknown>) => Promise<void>;
}
