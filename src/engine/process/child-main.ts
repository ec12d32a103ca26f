import pino from "pino";
import type { StackProgram } from "../../../programs/types.js";
import { EngineCancelledError, EngineFailure, type Engine, type EngineEvent, type EngineRequest } from "../engine.js";
import { createSimulatedEngine } from "../simulated/simulated-engine.js";
import type { CloudDrift, PendingOperation, RetainedName, SimStateStore } from "../simulated/state-repo.js";
import { FromChild, ToChild, type ChildFailure, type ChildSettings, type ChildTask, type StateCall } from "./protocol.js";
import { killTree } from "./process-tree.js";

/**
 * Entry point of an engine child process: one task (usually one operation), then exit. Its
 * environment is exactly what the parent gave it (src/engine/process/child-env.ts). Events are sent
 * to the parent and awaited (the parent persists them first), so progress never runs ahead of what a
 * client can read; a crash here ends this operation only.
 */
if (!process.send) {
  process.stderr.write("child-main runs as an engine child of the saas-bridge service (no IPC channel)\n");
  process.exit(2);
}

const log = pino({ level: "info", base: { engineChild: process.pid } }, pino.destination(2));
const controller = new AbortController();
let nextId = 1;
const waiting = new Map<number, { resolve: (value: unknown) => void; reject: (err: Error) => void }>();
let heartbeat: NodeJS.Timeout | undefined;
let taskStarted = false;

function send(message: FromChild): Promise<void> {
  return new Promise((resolve, reject) => {
    if (!process.connected) {
      reject(new Error("the service is gone (IPC channel closed)"));
      return;
    }
    process.send!(message, (err: Error | null) => (err ? reject(err) : resolve()));
  });
}

/** A request the parent answers with a `reply` of the same id. */
function ask(message: { t: "event"; event: EngineEvent } | { t: "state"; call: StateCall } | { t: "recovered" }): Promise<unknown> {
  const id = nextId++;
  return new Promise((resolve, reject) => {
    waiting.set(id, { resolve, reject });
    send({ ...message, id } as FromChild).catch((err: Error) => {
      waiting.delete(id);
      reject(err);
    });
  });
}

function beat(): void {
  const m = process.memoryUsage();
  send({ t: "heartbeat", rss: m.rss, heapUsed: m.heapUsed }).catch(() => undefined);
}

async function finish(outcome: { t: "done"; value: unknown } | { t: "failed"; error: ChildFailure }, code: number): Promise<never> {
  clearInterval(heartbeat);
  // A last sample, so even a short operation reports its peak memory.
  if (taskStarted) beat();
  await send(outcome).catch(() => undefined);
  process.exit(code);
}

function remoteStateStore(): SimStateStore {
  const call = (c: StateCall) => ask({ t: "state", call: c });
  return {
    load: async (stack) => (await call({ method: "load", stack })) as Awaited<ReturnType<SimStateStore["load"]>>,
    put: async (stack, resource, position) => void (await call({ method: "put", stack, resource: { ...resource, dependencies: [...resource.dependencies] }, position })),
    delete: async (stack, urn) => void (await call({ method: "delete", stack, urn })),
    markPending: async (stack, pending) => void (await call({ method: "markPending", stack, pending })),
    clearPending: async (stack, urn) => void (await call({ method: "clearPending", stack, urn })),
    takePending: async (stack) => (await call({ method: "takePending", stack })) as PendingOperation[],
    retain: async (entry) => void (await call({ method: "retain", entry })),
    retained: async () => (await call({ method: "retained" })) as RetainedName[],
    drifted: async (stack) => (await call({ method: "drifted", stack })) as CloudDrift[],
  };
}

async function innerEngine(settings: ChildSettings): Promise<Engine & { clearLock?: (stack: string, program: StackProgram) => Promise<void> }> {
  if (settings.engine === "simulated") return createSimulatedEngine({ state: remoteStateStore(), stepMs: settings.stepMs });
  // Loaded only here: the Automation API is never imported by the service process itself.
  const { createPulumiEngine } = await import("../pulumi/pulumi-engine.js");
  return createPulumiEngine(settings);
}

async function runTask(task: ChildTask, settings: ChildSettings): Promise<unknown> {
  const engine = await innerEngine(settings);
  switch (task.kind) {
    case "run": {
      const request = task.request as unknown as EngineRequest;
      return engine.run(request, {
        signal: controller.signal,
        log,
        onEvent: async (event) => void (await ask({ t: "event", event })),
        onRecovered: async () => void (await ask({ t: "recovered" })),
      });
    }
    case "outputs":
      return engine.outputs(task.stack, task.program as unknown as StackProgram);
    case "clear-lock":
      await engine.clearLock?.(task.stack, task.program as unknown as StackProgram);
      return null;
  }
}

function failureOf(err: unknown): ChildFailure {
  if (err instanceof EngineCancelledError) return { kind: "cancelled", message: err.message };
  if (err instanceof EngineFailure) return { kind: "failure", code: err.code, message: err.message };
  return { kind: "unexpected", message: err instanceof Error ? `${err.name}: ${err.message}` : String(err) };
}

function start(task: ChildTask, settings: ChildSettings): void {
  if (taskStarted) return void finish({ t: "failed", error: { kind: "unexpected", message: "a second task was sent" } }, 70);
  taskStarted = true;
  orphanGraceMs = settings.orphanGraceMs;
  heartbeat = setInterval(beat, settings.heartbeatMs);
  beat();
  runTask(task, settings).then(
    (value) => finish({ t: "done", value }, 0),
    (err: unknown) => {
      const failure = failureOf(err);
      if (failure.kind === "unexpected") log.error({ err }, "engine task failed");
      return finish({ t: "failed", error: failure }, 0);
    },
  );
}

process.on("message", (raw: unknown) => {
  const parsed = ToChild.safeParse(raw);
  if (!parsed.success) {
    void finish({ t: "failed", error: { kind: "unexpected", message: `protocol error: ${parsed.error.issues[0]?.message ?? "bad message"}` } }, 70);
    return;
  }
  const message = parsed.data;
  if (message.t === "task") return start(message.task, message.settings);
  const waiter = waiting.get(message.id);
  waiting.delete(message.id);
  if (message.ok) waiter?.resolve(message.value);
  else waiter?.reject(new Error(message.message ?? "the service refused the request"));
});

// Graceful stop (cancel or shutdown): the engine stops starting steps and lets in-flight ones settle.
process.on("SIGTERM", () => controller.abort("signal"));
process.on("SIGINT", () => controller.abort("signal"));
// The service died: stop gracefully, then kill this process's tree (the CLI, and its plugins, which
// the CLI starts in groups of their own) before the operation's lease expires, so the replica that
// recovers the stack finds nothing running.
let orphanGraceMs = 20_000;
process.on("disconnect", () => {
  controller.abort("disconnect");
  setTimeout(() => {
    try {
      killTree(process.pid, "SIGKILL");
    } finally {
      process.exit(71);
    }
  }, orphanGraceMs).unref();
});
// Contained: a stray error ends this operation's process only, never the service or another operation.
// Two kinds are not stray, and the CLI's own result reports them (seen with the real CLI, issue #11):
// - while the inline program runs, the SDK's language server has its own handler: it reports the
//   program's error to the engine, and the update fails with it;
// - when the engine aborts an update (a failed step, a crashed plugin), it closes the resource monitor,
//   and the program's pending calls reject with UNAVAILABLE ("Resource monitor is terminating").
const GRPC_UNAVAILABLE = 14;
const reportedByTheCli = (err: unknown): boolean =>
  process.listenerCount("unhandledRejection") > ownListeners ||
  (err instanceof Error && ((err as { code?: unknown }).code === GRPC_UNAVAILABLE || err.message === "Resource monitor is terminating"));
const fatal = (err: unknown) => {
  if (reportedByTheCli(err)) {
    log.warn({ err }, "error in the inline program while the engine ran it (the operation's result reports it)");
    return;
  }
  log.fatal({ err }, "uncaught error in the engine child");
  void finish({ t: "failed", error: { kind: "unexpected", message: `uncaught: ${err instanceof Error ? err.message : String(err)}` } }, 70);
};
process.on("uncaughtException", fatal);
process.on("unhandledRejection", fatal);
const ownListeners = process.listenerCount("unhandledRejection");

void send({ t: "hello", pid: process.pid, envKeys: Object.keys(process.env).sort() });
