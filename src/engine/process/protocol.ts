import { z } from "zod";
import { ChangeSummary, EventData } from "../../operations/events.js";
import { PendingOperationSchema, RetainedNameSchema, SimResourceSchema } from "../simulated/state-repo.js";

/**
 * The typed message protocol between the service (parent) and an engine child process. Both sides
 * parse what they receive: a message that does not parse is a protocol error, never guessed at.
 *
 * parent → child: one `task`, then `reply`s to the child's requests (events to persist, state calls).
 * child → parent: `hello` (started, with its environment's key names), `heartbeat` (memory), requests
 * (`event`, `state`, `recovered`) answered by `reply`, then exactly one `done` or `failed`.
 * Cancel is a signal, not a message: SIGTERM asks the child to stop gracefully; SIGKILL ends it.
 */

const StackProgramWire = z.object({
  program: z.enum(["provider", "network-hub"]),
  args: z.record(z.string(), z.unknown()),
});

export const EngineRequestWire = z.object({
  operationId: z.string(),
  stack: z.string(),
  kind: z.enum(["up", "preview", "refresh", "destroy"]),
  program: StackProgramWire,
  prepare: z.object({ program: StackProgramWire, existingOnly: z.boolean() }).optional(),
  recover: z.object({ interruptedOperationId: z.string() }).optional(),
  secretConfig: z.record(z.string(), z.string()).optional(),
});

/** Non-secret settings of the engine that runs inside the child (secrets travel in its environment only). */
const common = {
  heartbeatMs: z.number().int().positive(),
  /** The service died: how long the child may stop gracefully before it kills its own process group. */
  orphanGraceMs: z.number().int().positive(),
};

export const ChildSettings = z.discriminatedUnion("engine", [
  z.object({ engine: z.literal("simulated"), stepMs: z.number().int().nonnegative(), ...common }),
  z.object({
    engine: z.literal("pulumi"),
    ...common,
    /** Per-stack work directories live under it (`<workRoot>/<project>/<stack>`). */
    workRoot: z.string(),
    pulumiHome: z.string(),
    secretsProvider: z.string(),
    parallel: z.number().int().positive().optional(),
    /** The `file://` backend's directory, when the state is in files (recovery repairs crash damage there). */
    stateDir: z.string().optional(),
  }),
]);
export type ChildSettings = z.infer<typeof ChildSettings>;

export const ChildTask = z.discriminatedUnion("kind", [
  z.object({ kind: z.literal("run"), request: EngineRequestWire }),
  z.object({ kind: z.literal("outputs"), stack: z.string(), program: StackProgramWire }),
  /** After a killed operation: removes the stack's stale lock (`pulumi cancel`). */
  z.object({ kind: z.literal("clear-lock"), stack: z.string(), program: StackProgramWire }),
]);
export type ChildTask = z.infer<typeof ChildTask>;

/** A call on the simulated engine's state store, served by the parent from the service's database. */
export const StateCall = z.discriminatedUnion("method", [
  z.object({ method: z.literal("load"), stack: z.string() }),
  z.object({ method: z.literal("put"), stack: z.string(), resource: SimResourceSchema, position: z.number().int() }),
  z.object({ method: z.literal("delete"), stack: z.string(), urn: z.string() }),
  z.object({ method: z.literal("markPending"), stack: z.string(), pending: PendingOperationSchema }),
  z.object({ method: z.literal("clearPending"), stack: z.string(), urn: z.string() }),
  z.object({ method: z.literal("takePending"), stack: z.string() }),
  z.object({ method: z.literal("retain"), entry: RetainedNameSchema }),
  z.object({ method: z.literal("retained") }),
  z.object({ method: z.literal("drifted"), stack: z.string() }),
]);
export type StateCall = z.infer<typeof StateCall>;

export const ToChild = z.discriminatedUnion("t", [
  z.object({ t: z.literal("task"), task: ChildTask, settings: ChildSettings }),
  /** `ok: false` carries a message safe to show (never the service's internals). */
  z.object({ t: z.literal("reply"), id: z.number().int(), ok: z.boolean(), value: z.unknown().optional(), message: z.string().optional() }),
]);
export type ToChild = z.infer<typeof ToChild>;

export const ChildFailure = z.object({
  kind: z.enum(["cancelled", "failure", "unexpected"]),
  /** EngineFailure code (kind `failure`). */
  code: z.string().optional(),
  /** Safe for users for `cancelled` and `failure`; log-only for `unexpected`. */
  message: z.string(),
});
export type ChildFailure = z.infer<typeof ChildFailure>;

export const EngineResultWire = z.object({
  outputs: z.record(z.string(), z.unknown()),
  summary: ChangeSummary,
  steps: z
    .array(
      z.object({
        urn: z.string(),
        resourceType: z.string(),
        name: z.string(),
        op: z.enum(["create", "update", "delete", "replace", "same"]),
        keys: z.array(z.string()).optional(),
      }),
    )
    .optional(),
  resources: z.array(z.object({ urn: z.string(), type: z.string(), id: z.string().optional() })).optional(),
});

export const FromChild = z.discriminatedUnion("t", [
  z.object({ t: z.literal("hello"), pid: z.number().int(), envKeys: z.array(z.string()) }),
  z.object({ t: z.literal("heartbeat"), rss: z.number(), heapUsed: z.number() }),
  z.object({ t: z.literal("event"), id: z.number().int(), event: EventData }),
  z.object({ t: z.literal("state"), id: z.number().int(), call: StateCall }),
  z.object({ t: z.literal("recovered"), id: z.number().int() }),
  z.object({ t: z.literal("done"), value: z.unknown() }),
  z.object({ t: z.literal("failed"), error: ChildFailure }),
]);
export type FromChild = z.infer<typeof FromChild>;
