import { basename } from "node:path";
import { PROJECTS } from "../../../programs/stacks.js";
import { repairCheckpointSidecars } from "./file-backend.js";
import type { Logger } from "pino";
import type { StackProgram } from "../../../programs/types.js";
import {
  assertPrepareFits,
  EngineCancelledError,
  EngineFailure,
  type Engine,
  type EngineEvent,
  type EngineRequest,
  type EngineResult,
  type EngineRunOptions,
} from "../engine.js";
import { prepareThenDestroy } from "../prepare-then-destroy.js";
import type { ChildSettings } from "../process/protocol.js";
import * as automation from "./automation.js";
import type { PulumiStack, StackOperation, WorkspaceSettings } from "./automation.js";
import { createEventMapper, type EventMapper, type MapMode } from "./event-map.js";

type PulumiChildSettings = Extract<ChildSettings, { engine: "pulumi" }>;

/** The adapter functions this engine drives (tests replay recorded engine events through a stand-in). */
export type AutomationAdapter = Pick<
  typeof automation,
  "openStack" | "runOperation" | "stackOutputs" | "clearStackLock" | "pendingOperations" | "stackResourceUrns" | "stackResourceList" | "isConcurrentUpdate"
>;

/**
 * The Pulumi engine, as it runs inside an engine child process: one stack per provider, the inline
 * program from programs/, structured engine events mapped to ours (./event-map.ts) and persisted in
 * order before the CLI's next event is forwarded. An `up` is previewed first, so its progress has a
 * total (the CLI itself does the same unless `--skip-preview`, which the Automation API always sets).
 */
export function createPulumiEngine(
  settings: PulumiChildSettings,
  adapter: AutomationAdapter = automation,
): Engine & { clearLock(stack: string, program: StackProgram): Promise<void> } {
  const { openStack, stackOutputs, clearStackLock, pendingOperations, stackResourceUrns, stackResourceList } = adapter;
  const workspace: WorkspaceSettings = {
    workRoot: settings.workRoot,
    pulumiHome: settings.pulumiHome,
    secretsProvider: settings.secretsProvider,
    parallel: settings.parallel,
  };

  async function run(request: EngineRequest, { signal, onEvent, onRecovered, log }: EngineRunOptions): Promise<EngineResult> {
    assertPrepareFits(request);
    // With a prepare phase, the stack is opened once with the prepare program, and the destroy runs it too:
    // its resource options (what is retained on delete) are the decommissioning ones (EngineRequest.prepare).
    const program = request.prepare?.program ?? request.program;
    const forward = createForwarder(onEvent);
    // A crash can leave the file backend's checkpoint sidecar empty, which no CLI command can read past.
    const repaired = request.recover && settings.stateDir ? await repairCheckpointSidecars(settings.stateDir, PROJECTS[program.program], request.stack) : [];
    for (const path of repaired) {
      await forward.send({
        type: "diagnostic",
        severity: "warning",
        message: `removed the checkpoint's metadata sidecar ${basename(path)}, left unreadable by interrupted operation ${request.recover?.interruptedOperationId}`,
      });
    }
    const stack = await openStack(request.stack, program, workspace, true, request.secretConfig);
    if (!stack) throw new Error(`stack ${request.stack} could not be opened`);
    const step = (operation: StackOperation, mode: MapMode, total?: number, targets?: readonly string[]) =>
      runMapped({
        ...(targets === undefined ? {} : { targets }),
        stack,
        operation,
        mapper: createEventMapper({ mode, omitSame: operation === "destroy" || operation === "previewDestroy", ...(total === undefined ? {} : { total }) }),
        forward,
        signal,
        log,
        workspace,
        adapter,
      });

    if (request.recover) {
      await recover(stack, request.recover.interruptedOperationId, forward, signal, log);
      await onRecovered?.();
    }
    switch (request.kind) {
      case "preview":
      case "refresh": {
        const planned = await step(request.kind === "preview" ? "preview" : "previewRefresh", request.kind === "preview" ? "preview" : "drift");
        await forward.send({ type: "progress", done: 0, total: planned.mapper.steps().length });
        return { outputs: {}, summary: planned.mapper.summary(), steps: planned.mapper.steps() };
      }
      case "up":
      case "destroy": {
        const applied =
          request.kind === "destroy" && request.prepare
            ? await prepareThenDestroy(request.prepare, (e) => forward.send(e), {
                existing: () => stackResourceUrns(stack),
                up: (targets) => apply("up", targets),
                destroy: () => apply("destroy"),
              })
            : await apply(request.kind);
        // What the stack holds now, with cloud ids (a receipt names them); a destroy leaves none.
        return { ...applied, resources: await stackResourceList(stack) };
      }
    }

    /** Preview, then apply: the preview gives the progress its total. */
    async function apply(kind: "up" | "destroy", targets?: readonly string[]): Promise<EngineResult> {
      const planned = await step(kind === "up" ? "preview" : "previewDestroy", "preview", undefined, targets);
      // `same` steps are reported as completed too, so every planned step counts.
      const total = planned.mapper.steps().length;
      await forward.send({ type: "progress", done: 0, total });
      const applied = await step(kind, "apply", total, targets);
      return { outputs: kind === "up" ? applied.outputs : {}, summary: applied.mapper.summary() };
    }
  }

  /** After an interruption: clear the stale lock, report every pending operation, then refresh. */
  async function recover(stack: PulumiStack, interrupted: string, forward: Forwarder, signal: AbortSignal, log: Logger): Promise<void> {
    let lock = "stale lock cleared";
    try {
      await clearStackLock(stack);
    } catch (err) {
      // Nothing to clear is the common case; a real backend failure shows again in the refresh below.
      log.info({ err }, "pulumi cancel did not clear a lock");
      lock = "no lock to clear";
    }
    const pending = await pendingOperations(stack);
    for (const p of pending) {
      await forward.send({
        type: "diagnostic",
        severity: "warning",
        urn: p.urn,
        message:
          `pending operation from interrupted operation ${interrupted}: ${p.operation} ${p.type} ${nameOf(p.urn)} never finished. ` +
          (p.operation === "creating"
            ? "It may exist in AWS without being in the stack: the refresh drops it from the state; check AWS and `pulumi import` it, or delete it."
            : "The refresh reads its real state from AWS."),
      });
    }
    // Only what the refresh found (drift, errors) is reported: it is bookkeeping, not this operation's steps.
    const refreshed = await runMapped({
      stack,
      operation: "refresh",
      mapper: createEventMapper({ mode: "drift" }),
      forward,
      signal,
      log,
      workspace,
      adapter,
      keep: (e) => e.type === "diagnostic",
    });
    await forward.send({
      type: "diagnostic",
      severity: pending.length > 0 ? "warning" : "info",
      message: `recovered the stack after interrupted operation ${interrupted}: ${lock}, ${pending.length} pending operation(s) reported, ${refreshed.mapper.steps().length} resource(s) refreshed`,
    });
  }

  return {
    name: "pulumi",
    run,
    async outputs(stackName, program) {
      const stack = await openStack(stackName, program, workspace, false);
      return stack ? stackOutputs(stack) : {};
    },
    async clearLock(stackName, program) {
      const stack = await openStack(stackName, program, workspace, false);
      if (stack) await clearStackLock(stack);
    },
    readiness: () => ({ ok: true, detail: "pulumi (inside an engine child)" }),
    ready: async () => {},
    close: async () => {},
  };
}

function nameOf(urn: string): string {
  return urn.split("::").at(-1) ?? urn;
}

interface Forwarder {
  /** Queues an event (from the SDK's synchronous callback); never throws. */
  push(event: EngineEvent): void;
  /** Queues an event and waits until it and everything before it is persisted. */
  send(event: EngineEvent): Promise<void>;
  flush(): Promise<void>;
}

/** Persists events one at a time, in order; the first failure is kept and rethrown by `flush`. */
function createForwarder(onEvent: EngineRunOptions["onEvent"]): Forwarder {
  let chain: Promise<void> = Promise.resolve();
  let failure: unknown;
  const forwarder: Forwarder = {
    push(event) {
      chain = chain.then(async () => {
        if (failure !== undefined) return;
        try {
          await onEvent(event);
        } catch (err) {
          failure = err;
        }
      });
    },
    async send(event) {
      forwarder.push(event);
      await forwarder.flush();
    },
    async flush() {
      await chain;
      if (failure !== undefined) throw failure;
    },
  };
  return forwarder;
}

interface MappedRun {
  readonly stack: PulumiStack;
  readonly operation: StackOperation;
  readonly mapper: EventMapper;
  readonly forward: Forwarder;
  readonly signal: AbortSignal;
  readonly log: Logger;
  readonly workspace: WorkspaceSettings;
  readonly adapter: AutomationAdapter;
  /** Which mapped events are forwarded (all by default). */
  readonly keep?: (event: EngineEvent) => boolean;
  /** preview and up only: the resources the operation may change (automation.ts). */
  readonly targets?: readonly string[];
}

async function runMapped(run: MappedRun): Promise<{ mapper: EventMapper; outputs: Record<string, unknown> }> {
  const { stack, operation, mapper, forward, signal, log, keep = () => true } = run;
  const errors: string[] = [];
  const onEvent = (raw: unknown) => {
    for (const event of mapper.map(raw)) {
      if (event.type === "diagnostic" && event.severity === "error") errors.push(event.message);
      if (keep(event)) forward.push(event);
    }
  };
  let outputs: Record<string, unknown> = {};
  let failure: { error: unknown } | undefined;
  try {
    ({ outputs } = await run.adapter.runOperation(stack, operation, { onEvent, signal, ...(run.targets ? { targets: run.targets } : {}) }, run.workspace));
  } catch (err) {
    failure = { error: err };
  }
  // First: an event the service could not record (lease lost, database down) is the real failure.
  await forward.flush();
  if (failure) throw describeFailure(failure.error, operation, mapper, errors, signal, log, run.adapter.isConcurrentUpdate(failure.error));
  return { mapper, outputs };
}

/** What the user is told when a CLI operation fails: resource failures and diagnostics, never CLI output. */
function describeFailure(
  err: unknown,
  operation: StackOperation,
  mapper: EventMapper,
  errors: readonly string[],
  signal: AbortSignal,
  log: Logger,
  locked: boolean,
): Error {
  if (err instanceof EngineFailure || err instanceof EngineCancelledError) return err;
  if (signal.aborted) return new EngineCancelledError("cancelled: the engine stopped after in-flight resource operations settled");
  if (locked) {
    return new EngineFailure(
      "STACK_LOCKED",
      "another update holds the stack's lock (a person running the Pulumi CLI, or a process that died): nothing was changed; " +
        "if nothing else is running, `pulumi cancel` clears it",
    );
  }
  const failures = mapper.failures();
  const crashed = mapper.crashedPlugins();
  if (crashed.length > 0) {
    const inFlight = failures.length > 0 ? `; ${failures.length} resource operation(s) in flight failed with it (${failures.map((f) => `${f.resourceType} ${f.name}`).slice(0, 5).join(", ")}${failures.length > 5 ? ", …" : ""})` : "";
    return new EngineFailure("PLUGIN_CRASHED", `the ${crashed.join(", ")} resource plugin exited during ${operation}${inFlight}; retry the operation`);
  }
  if (failures.length > 0) {
    const [first] = failures;
    const more = failures.length > 1 ? ` (+${failures.length - 1} more; see the operation's events)` : "";
    return new EngineFailure("RESOURCE_FAILED", `${first!.resourceType} ${first!.name}: ${first!.message}${more}`);
  }
  if (errors.length > 0) return new EngineFailure("ENGINE_COMMAND_FAILED", `${operation} failed: ${errors[0]}`);
  // No diagnostic to show: the CLI's own output may hold internals, so it goes to the log only.
  log.error({ err }, `pulumi ${operation} failed without a diagnostic`);
  return new EngineFailure("ENGINE_COMMAND_FAILED", `${operation} failed without a diagnostic; the service log has the details`);
}
