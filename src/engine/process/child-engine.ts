import { fork, type ChildProcess } from "node:child_process";
import { existsSync } from "node:fs";
import { dirname, join } from "node:path";
import { createInterface } from "node:readline";
import { fileURLToPath } from "node:url";
import type { Logger } from "pino";
import type { StackProgram } from "../../../programs/types.js";
import { EngineCancelledError, EngineFailure, EngineInterruptedError, SHUTDOWN_REASON, stackResources } from "../engine.js";
import type { Engine, EngineEvent, EngineName, EngineReadiness, EngineRequest, EngineResult, EngineRunOptions } from "../engine.js";
import type { SimStateStore } from "../simulated/state-repo.js";
import { redact, redactWhileRunning, secretValuesOf } from "./child-env.js";
import { EngineResultWire, FromChild, type ChildSettings, type ChildTask, type StateCall, type ToChild } from "./protocol.js";
import { killTree } from "./process-tree.js";

export interface ChildEngineOptions {
  readonly name: EngineName;
  readonly settings: ChildSettings;
  /** The child's whole environment (src/engine/process/child-env.ts). */
  readonly env: Readonly<Record<string, string>>;
  /** Secret values that are not in the environment (a passphrase read from its file): redacted from child output. */
  readonly redact?: readonly string[];
  readonly memoryMb: number;
  /** After the graceful signal, how long the child may take before it is killed. */
  readonly cancelGraceMs: number;
  /** The same when the service shuts down (it must end before the process is made to exit). */
  readonly shutdownGraceMs: number;
  /** A child silent for this long is killed and its operation interrupted. */
  readonly heartbeatTimeoutMs: number;
  /** Children started ahead of time (each runs exactly one task). */
  readonly warmChildren: number;
  readonly log: Logger;
  /** Simulated children keep their checkpoint in the service's database, through this process. */
  readonly state?: SimStateStore;
  /** Must succeed before operations run (the Pulumi engine: the AWS plugin); resolves with a detail. Its errors are redacted here. */
  readonly prepare?: () => Promise<string>;
}

/** What the tests and the bench can see of the children (pids to kill, memory). */
export interface ChildEngine extends Engine {
  /** Children running an operation now, by operation id. */
  running(): ReadonlyMap<string, number>;
}

const here = fileURLToPath(import.meta.url);
const fromSource = here.endsWith(".ts");
const CHILD_ENTRY = join(dirname(here), fromSource ? "child-main.ts" : "child-main.js");

/** The package root (where tsx resolves from when the service runs from source). */
function packageRoot(start: string): string {
  let dir = dirname(start);
  for (let i = 0; i < 10 && !existsSync(join(dir, "package.json")); i++) dir = dirname(dir);
  return dir;
}
const ROOT = packageRoot(here);

interface ChildHandle {
  readonly proc: ChildProcess;
  readonly pid: number;
  readonly hello: Promise<{ envKeys: string[] }>;
  readonly exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  onMessage: ((message: FromChild) => void) | undefined;
}

/**
 * The engine port over child processes: every operation runs in a process of its own, started with an
 * explicit environment, speaking the typed protocol of ./protocol.ts. A crash, an out-of-memory kill or
 * an unhandled rejection in one child ends that operation only (`interrupted`); cancel is SIGTERM,
 * then SIGKILL of the child's whole process group (CLI and plugins included) after a grace period,
 * then the stack's lock is cleared.
 */
export function createChildEngine(options: ChildEngineOptions): ChildEngine {
  const { log } = options;
  // Redacted from what children write: the environment's secrets, and running operations' secret config.
  const secrets = [...secretValuesOf(options.env), ...(options.redact ?? [])];
  const allowedKeys = new Set(Object.keys(options.env));
  const warm: ChildHandle[] = [];
  const running = new Map<string, number>();
  const live = new Set<ChildHandle>();
  let closed = false;
  let readiness: EngineReadiness = options.prepare ? { ok: false, detail: "preparing" } : { ok: true, detail: `${options.name} in child processes` };
  let ready: Promise<void> | undefined;

  function relay(child: number, stream: NodeJS.ReadableStream): void {
    const lines = createInterface({ input: stream });
    lines.on("line", (raw) => {
      const line = redact(raw, secrets);
      try {
        const entry = JSON.parse(line) as { level?: number; msg?: string };
        const level = (entry.level ?? 30) >= 50 ? "error" : (entry.level ?? 30) >= 40 ? "warn" : "debug";
        log[level]({ engineChild: child, child: entry }, entry.msg ?? "engine child");
      } catch {
        log.debug({ engineChild: child, line }, "engine child output");
      }
    });
  }

  function spawnChild(): ChildHandle {
    const proc = fork(CHILD_ENTRY, [], {
      cwd: ROOT,
      env: { ...options.env },
      execArgv: [...(fromSource ? ["--import", "tsx"] : []), `--max-old-space-size=${options.memoryMb}`],
      // Its own process group: a kill reaches the Pulumi CLI and its plugins too.
      detached: true,
      stdio: ["ignore", "pipe", "pipe", "ipc"],
      serialization: "json",
    });
    const pid = proc.pid ?? -1;
    let helloResolve: (v: { envKeys: string[] }) => void = () => undefined;
    let helloReject: (err: Error) => void = () => undefined;
    const handle: ChildHandle = {
      proc,
      pid,
      hello: new Promise((resolve, reject) => ((helloResolve = resolve), (helloReject = reject))),
      exited: new Promise((resolve) => proc.once("exit", (code, signal) => resolve({ code, signal }))),
      onMessage: undefined,
    };
    handle.hello.catch(() => undefined);
    live.add(handle);
    relay(pid, proc.stdout!);
    relay(pid, proc.stderr!);
    proc.on("error", (err) => helloReject(err));
    proc.on("message", (raw: unknown) => {
      const parsed = FromChild.safeParse(raw);
      if (!parsed.success) {
        log.error({ engineChild: pid, issue: parsed.error.issues[0]?.message }, "engine child sent a malformed message; killing it");
        killTree(handle.pid, "SIGKILL");
        return;
      }
      const message = parsed.data;
      if (message.t === "hello") {
        // Key names only (never values): an operator can check in the log what an operation could see.
        log.info({ engineChild: pid, envKeys: message.envKeys }, "engine child started");
        const unexpected = message.envKeys.filter((k) => !allowedKeys.has(k));
        if (unexpected.length > 0) log.warn({ engineChild: pid, unexpected }, "engine child sees environment keys it was not given");
        helloResolve({ envKeys: message.envKeys });
      } else {
        handle.onMessage?.(message);
      }
    });
    void handle.exited.then(({ code, signal }) => {
      live.delete(handle);
      const index = warm.indexOf(handle);
      if (index >= 0) warm.splice(index, 1);
      helloReject(new Error(`engine child exited before it started (code ${String(code)}, signal ${String(signal)})`));
      // Whatever it started (the CLI, plugins) goes with it.
      killTree(handle.pid, "SIGKILL");
    });
    return handle;
  }

  function park(child: ChildHandle): void {
    // An idle warm child must not keep the service's event loop alive.
    child.proc.unref();
    child.proc.channel?.unref();
    warm.push(child);
  }

  function replenish(): void {
    while (!closed && warm.length < options.warmChildren) park(spawnChild());
  }

  async function take(): Promise<ChildHandle> {
    const spare = warm.shift();
    if (spare) {
      spare.proc.ref();
      spare.proc.channel?.ref();
      try {
        await spare.hello;
        return spare;
      } catch (err) {
        // A spare that died while it waited is no reason to fail an operation: start a fresh one.
        log.warn({ err, engineChild: spare.pid }, "warm engine child was gone; starting another");
      }
    }
    const child = spawnChild();
    await child.hello;
    return child;
  }

  async function serveState(call: StateCall): Promise<unknown> {
    const store = options.state;
    if (!store) throw new Error("this engine keeps no state in the service");
    switch (call.method) {
      case "load":
        return store.load(call.stack);
      case "put":
        return store.put(call.stack, call.resource, call.position);
      case "delete":
        return store.delete(call.stack, call.urn);
      case "markPending":
        return store.markPending(call.stack, call.pending);
      case "clearPending":
        return store.clearPending(call.stack, call.urn);
      case "takePending":
        return store.takePending(call.stack);
      case "retain":
        return store.retain(call.entry);
      case "retained":
        return store.retained();
      case "drifted":
        return store.drifted(call.stack);
    }
  }

  interface TaskHooks {
    readonly signal?: AbortSignal;
    readonly onEvent?: EngineRunOptions["onEvent"];
    readonly onRecovered?: EngineRunOptions["onRecovered"];
    readonly operationId?: string;
  }

  async function runTask(task: ChildTask, hooks: TaskHooks): Promise<{ value: unknown; pid: number; peakRssBytes: number }> {
    if (closed) throw new Error("the engine is closed");
    const child = await take();
    const childLog = log.child({ engineChild: child.pid });
    if (hooks.operationId) running.set(hooks.operationId, child.pid);
    let peakRssBytes = 0;
    let lastBeat = Date.now();
    let outcome: Extract<FromChild, { t: "done" | "failed" }> | undefined;
    let hookError: unknown;
    let forced = false;
    let hung = false;
    let grace: NodeJS.Timeout | undefined;
    // The replacement spare starts once this child has evaluated its program (its first event) or
    // ended, not next to it: on a small machine the two would compete for the CPU (bench: child-overhead).
    let refilled = false;
    const refill = () => {
      if (refilled) return;
      refilled = true;
      replenish();
    };
    // Requests are served one at a time, in the order they arrived (events keep their order).
    let chain: Promise<void> = Promise.resolve();
    const reply = (message: ToChild) => {
      if (child.proc.connected) child.proc.send(message);
    };

    const stop = () => {
      if (grace) return;
      const graceMs = hooks.signal?.reason === SHUTDOWN_REASON ? Math.min(options.shutdownGraceMs, options.cancelGraceMs) : options.cancelGraceMs;
      childLog.info({ graceMs }, "asking the engine child to stop");
      child.proc.kill("SIGTERM");
      grace = setTimeout(() => {
        forced = true;
        childLog.warn({ graceMs }, "engine child did not stop within the grace period; killing its process group");
        killTree(child.pid, "SIGKILL");
      }, graceMs);
    };
    const serve = (id: number, work: () => Promise<unknown>) => {
      chain = chain.then(work).then(
        (value) => reply({ t: "reply", id, ok: true, value }),
        (err: unknown) => {
          hookError ??= err;
          reply({ t: "reply", id, ok: false, message: "the service could not record this (see the service log)" });
          stop();
        },
      );
    };
    child.onMessage = (message) => {
      switch (message.t) {
        case "heartbeat":
          lastBeat = Date.now();
          peakRssBytes = Math.max(peakRssBytes, message.rss);
          return;
        case "event": {
          refill();
          const event = message.event;
          // The runner owns the operation lifecycle: a child cannot claim it succeeded or failed.
          if (event.type.startsWith("operation.")) return serve(message.id, () => Promise.reject(new Error(`engine child sent ${event.type}`)));
          return serve(message.id, async () => hooks.onEvent?.(event as EngineEvent));
        }
        case "state":
          return serve(message.id, () => serveState(message.call));
        case "recovered":
          return serve(message.id, async () => hooks.onRecovered?.());
        case "done":
        case "failed":
          outcome = message;
          return;
      }
    };
    const watchdog = setInterval(() => {
      if (Date.now() - lastBeat > options.heartbeatTimeoutMs && !hung) {
        hung = true;
        childLog.error({ heartbeatTimeoutMs: options.heartbeatTimeoutMs }, "engine child stopped sending heartbeats; killing it");
        killTree(child.pid, "SIGKILL");
      }
    }, Math.min(1_000, options.heartbeatTimeoutMs / 2));
    hooks.signal?.addEventListener("abort", stop, { once: true });
    if (hooks.signal?.aborted) stop();

    try {
      reply({ t: "task", task, settings: options.settings });
      const exit = await child.exited;
      // Nothing the child started may outlive it: a CLI left by a crashed child is still in its group.
      // Every kill takes the whole tree: the CLI starts plugins in process groups of their own (process-tree.ts).
      if (outcome === undefined) killTree(child.pid, "SIGKILL");
      await chain;
      if (hookError !== undefined) throw hookError;
      if (outcome?.t === "done") return { value: outcome.value, pid: child.pid, peakRssBytes };
      if (outcome?.t === "failed") {
        const { kind, code, message } = outcome.error;
        if (kind === "cancelled") throw new EngineCancelledError(message);
        if (kind === "failure") throw new EngineFailure(code ?? "ENGINE_FAILED", message);
        childLog.error({ error: redact(message, secrets) }, "engine child failed");
        throw new Error("the engine child failed unexpectedly");
      }
      if (forced) throw new EngineCancelledError("cancelled: the engine process did not stop within its grace period and was killed", true);
      const how = exit.signal ? `killed by ${exit.signal}` : `exit code ${String(exit.code)}`;
      throw new EngineInterruptedError(
        hung
          ? `the engine process stopped answering (no heartbeat for ${options.heartbeatTimeoutMs / 1000}s) and was killed`
          : `the engine process ended before the operation finished (${how})`,
      );
    } finally {
      refill();
      clearInterval(watchdog);
      clearTimeout(grace);
      hooks.signal?.removeEventListener("abort", stop);
      if (hooks.operationId) running.delete(hooks.operationId);
      childLog.info({ peakRssBytes }, "engine child ended");
    }
  }

  async function run(request: EngineRequest, runOptions: EngineRunOptions): Promise<EngineResult> {
    await ensureReady();
    const scrub = redactWhileRunning(request.secretConfig, secrets);
    try {
      const { value, pid, peakRssBytes } = await runTask(
        { kind: "run", request: request as unknown as Extract<ChildTask, { kind: "run" }>["request"] },
        { signal: runOptions.signal, onEvent: (event) => runOptions.onEvent(scrub.value(event)), onRecovered: runOptions.onRecovered, operationId: request.operationId },
      );
      const { steps, resources, ...result } = EngineResultWire.parse(scrub.value(value));
      return { ...result, ...(steps ? { steps } : {}), ...(resources ? { resources: stackResources(resources) } : {}), process: { pid, peakRssBytes } };
    } catch (err) {
      if (err instanceof EngineCancelledError && err.forced) await clearLock(request.stack, request.program, runOptions.log);
      if (err instanceof EngineFailure) throw new EngineFailure(err.code, scrub.text(err.message));
      throw err;
    } finally {
      scrub.release();
    }
  }

  /** `pulumi cancel` in a fresh child: the killed CLI cannot release the lock itself. */
  async function clearLock(stack: string, program: StackProgram, opLog: Logger): Promise<void> {
    if (options.settings.engine !== "pulumi") return;
    try {
      await runTask({ kind: "clear-lock", stack, program: program as unknown as Extract<ChildTask, { kind: "clear-lock" }>["program"] }, {});
      opLog.info({ stack }, "stale stack lock cleared after a forced cancel");
    } catch (err) {
      opLog.warn({ err, stack }, "could not clear the stack lock; the next operation on the stack retries before it runs");
    }
  }

  function ensureReady(): Promise<void> {
    ready ??= (async () => {
      if (options.prepare) {
        readiness = { ok: false, detail: "preparing the engine" };
        try {
          readiness = { ok: true, detail: await options.prepare() };
        } catch (err) {
          // What /readyz and the log show: never a secret of the children's environment.
          const detail = redact(err instanceof Error ? err.message : String(err), secrets);
          readiness = { ok: false, detail };
          ready = undefined; // the next call tries again
          throw new Error(detail);
        }
      }
      // The first operation should not wait for a child to load either.
      replenish();
    })();
    return ready;
  }

  return {
    name: options.name,
    run,
    async outputs(stack, program) {
      await ensureReady();
      const { value } = await runTask({ kind: "outputs", stack, program: program as unknown as Extract<ChildTask, { kind: "outputs" }>["program"] }, {});
      return value as Record<string, unknown>;
    },
    readiness: () => readiness,
    ready: ensureReady,
    running: () => running,
    async close() {
      closed = true;
      for (const child of warm.splice(0)) killTree(child.pid, "SIGKILL");
      for (const child of live) {
        // A parked spare is unreferenced; waiting for its exit must keep the host alive until it comes.
        child.proc.ref();
        killTree(child.pid, "SIGKILL");
      }
      await Promise.all([...live].map((c) => c.exited));
    },
  };
}
