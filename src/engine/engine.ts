import type { Logger } from "pino";
import type { StackProgram } from "../../programs/types.js";
import type { ChangeSummary, EventData, ResourceOp } from "../operations/events.js";

/**
 * The Engine port (DESIGN §6): runs one operation on one stack. Engines emit resource/diagnostic/progress
 * events; the runner owns the operation.* lifecycle events. `onEvent` resolves once the event is
 * persisted, and engines await it, so progress never runs ahead of what a reconnecting client can read.
 */
export type EngineName = "pulumi" | "simulated";
export type OperationKind = "up" | "preview" | "refresh" | "destroy";

export interface EngineRequest {
  readonly operationId: string;
  /** Stack name: the provider's name, or `network-hub.<region>`. */
  readonly stack: string;
  readonly kind: OperationKind;
  readonly program: StackProgram;
  /**
   * Destroy only: an `up` of this program (the same stack's, in another variant) runs first, in the same
   * operation; then the destroy, which runs with the prepare program too (its resource options, such as
   * what is retained on delete, are the ones that apply). A decommission uses it to turn deletion
   * protection off and disable the key before deleting (issue 12). Both phases report their steps and
   * progress; the summary adds them (./prepare-then-destroy.ts).
   */
  readonly prepare?: PrepareRequest;
  /**
   * Set when an earlier operation on this stack was interrupted (crash, kill, lease lost): before it
   * runs, the engine clears the stale lock, reports every pending operation that may have left a
   * resource behind, and reconciles the state (DESIGN §9). Then it calls `onRecovered`.
   */
  readonly recover?: { readonly interruptedOperationId: string };
  /**
   * Secret stack config for this run (full keys, `namespace:key`), e.g. the CloudHSM `kmsuser` password:
   * set as *secret* config before the program runs (the prepare phase's too), so the program reads it as a
   * secret Output and the state holds it only encrypted. Never logged, never in events or results.
   */
  readonly secretConfig?: Readonly<Record<string, string>>;
}

export interface PrepareRequest {
  readonly program: StackProgram;
  /**
   * The up changes only what the stack still holds and creates nothing (Pulumi: an up targeted at the
   * stack's resources), so a retry never re-creates what an earlier attempt deleted. Only for a retry: a
   * targeted up is refused when a changing resource depends on one it would skip creating, which a first
   * attempt (nothing deleted yet) avoids by running the whole up.
   */
  readonly existingOnly: boolean;
}

export type EngineEvent = Exclude<EventData, { type: `operation.${string}` }>;

/** A `prepare` program is only meaningful before a destroy: anything else is a caller's bug, refused. */
export function assertPrepareFits(request: EngineRequest): void {
  if (request.prepare !== undefined && request.kind !== "destroy") {
    throw new EngineFailure("BAD_ENGINE_REQUEST", `a prepare phase is only valid before a destroy, not a ${request.kind}`);
  }
}

/** No step at all (a verification runs no engine). */
export const NO_CHANGES: ChangeSummary = Object.freeze({ create: 0, update: 0, delete: 0, replace: 0, same: 0 });

/** The two phases' step counts added (a step of each phase is its own cloud call). */
export function addSummaries(a: ChangeSummary, b: ChangeSummary): ChangeSummary {
  return { create: a.create + b.create, update: a.update + b.update, delete: a.delete + b.delete, replace: a.replace + b.replace, same: a.same + b.same };
}

/**
 * The abort reason the runner uses when the service shuts down: engines then stop within a short
 * grace (the process is about to exit), instead of the full cancel grace.
 */
export const SHUTDOWN_REASON = "shutdown";

export interface EngineRunOptions {
  readonly signal: AbortSignal;
  readonly onEvent: (event: EngineEvent) => Promise<void>;
  /**
   * A burst of events at once (a plan's steps, a step and its progress): resolves once all of them are
   * persisted, in one write, in order. Same guarantees as `onEvent` for each; an engine without a burst
   * (or a runner without it) uses `onEvent`.
   */
  readonly onEvents?: (events: readonly EngineEvent[]) => Promise<void>;
  readonly log: Logger;
  /** The recovery asked for by `request.recover` is done (the stack is safe to run again). */
  readonly onRecovered?: () => Promise<void>;
}

export interface PlannedStep {
  readonly urn: string;
  readonly resourceType: string;
  readonly name: string;
  readonly op: ResourceOp;
  /** Drift checks only: the top-level keys that changed outside the engine (names, never values). */
  readonly keys?: readonly string[] | undefined;
}

export interface EngineResult {
  readonly outputs: Record<string, unknown>;
  readonly summary: ChangeSummary;
  /** Preview and drift check (refresh) only: the planned steps; a drift check's `update`/`delete` steps are the drift. */
  readonly steps?: readonly PlannedStep[];
  /** The process the operation ran in, when it had its own (memory is reported per child). */
  readonly process?: EngineProcessReport;
  /** `up` and `destroy`: the stack's resources after the run, with their cloud ids (a receipt names them, issue 17). */
  readonly resources?: readonly StackResource[];
}

/** A resource in the stack's state: its URN, type and the id the cloud gave it (absent for components). */
export interface StackResource {
  readonly urn: string;
  readonly type: string;
  readonly id?: string;
}

/** A state entry as a StackResource: the stack itself is bookkeeping and left out; an empty id is none. */
export function stackResources(entries: readonly { urn: string; type: string; id?: unknown }[]): StackResource[] {
  return entries.flatMap((e) =>
    e.type === "pulumi:pulumi:Stack" ? [] : [typeof e.id === "string" && e.id !== "" ? { urn: e.urn, type: e.type, id: e.id } : { urn: e.urn, type: e.type }],
  );
}

export interface EngineProcessReport {
  readonly pid: number;
  readonly peakRssBytes: number;
}

export interface EngineReadiness {
  readonly ok: boolean;
  readonly detail: string;
}

export interface Engine {
  readonly name: EngineName;
  run(request: EngineRequest, options: EngineRunOptions): Promise<EngineResult>;
  /** The stack's current outputs, read from its state (secret values masked). */
  outputs(stack: string, program: StackProgram): Promise<Record<string, unknown>>;
  /** Whether the engine can run operations now (the Pulumi engine installs its AWS plugin first). */
  readiness(): EngineReadiness;
  /** Resolves once the engine is ready (the runner claims nothing before). */
  ready(): Promise<void>;
  close(): Promise<void>;
}

/** Thrown by an engine that stopped because its signal was aborted (after in-flight steps settled). */
export class EngineCancelledError extends Error {
  constructor(
    message = "operation cancelled",
    /** The engine process had to be killed after the grace period: the stack may hold pending operations. */
    readonly forced = false,
  ) {
    super(message);
    this.name = "EngineCancelledError";
  }
}

/**
 * The process running the operation died (crash, out of memory, killed) or stopped answering. The
 * operation is `interrupted`, and the stack is recovered before it runs again.
 */
export class EngineInterruptedError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "EngineInterruptedError";
  }
}

/** A failure the engine can describe to the user (a resource failed, a guardrail blocked the plan). */
export class EngineFailure extends Error {
  constructor(
    readonly code: string,
    message: string,
  ) {
    super(message);
    this.name = "EngineFailure";
  }
}
