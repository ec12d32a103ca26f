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
}

export type EngineEvent = Exclude<EventData, { type: `operation.${string}` }>;

export interface EngineRunOptions {
  readonly signal: AbortSignal;
  readonly onEvent: (event: EngineEvent) => Promise<void>;
  readonly log: Logger;
}

export interface PlannedStep {
  readonly urn: string;
  readonly resourceType: string;
  readonly name: string;
  readonly op: ResourceOp;
}

export interface EngineResult {
  readonly outputs: Record<string, unknown>;
  readonly summary: ChangeSummary;
  /** Preview only: the planned steps. */
  readonly steps?: readonly PlannedStep[];
}

export interface Engine {
  readonly name: EngineName;
  run(request: EngineRequest, options: EngineRunOptions): Promise<EngineResult>;
  close(): Promise<void>;
}

/** Thrown by an engine that stopped because its signal was aborted (after in-flight steps settled). */
export class EngineCancelledError extends Error {
  constructor(message = "operation cancelled") {
    super(message);
    this.name = "EngineCancelledError";
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
