import { spawn, type ChildProcess } from "node:child_process";
import { fileURLToPath } from "node:url";
import { within } from "./support.js";

/**
 * Benchmark processes talk over Node's IPC channel with typed messages, so the measured server or the
 * clients never share an event loop with the process that measures them.
 */
export interface Message {
  readonly type: string;
}

export interface Child<In extends Message, Out extends Message> {
  /** The next message of this type (earlier ones are kept in order), within `timeoutMs`. */
  next<K extends Out["type"]>(type: K, timeoutMs: number): Promise<Extract<Out, { type: K }>>;
  send(message: In): void;
  /** Asks the child to stop, then kills it if it has not exited within `graceMs`. */
  stop(graceMs: number): Promise<void>;
}

export interface SpawnOptions {
  /** Extra node flags, e.g. --expose-gc. */
  readonly nodeFlags?: readonly string[];
  /** Extra environment variables (added to this process's), e.g. a database URL that must not show in `ps`. */
  readonly env?: Readonly<Record<string, string>>;
  /** Start it in a process group of its own, and kill the whole group if it does not stop (its own children too). */
  readonly processGroup?: boolean;
}

export function spawnChild<In extends Message, Out extends Message>(
  script: string,
  args: readonly string[],
  options: SpawnOptions = {},
): Child<In, Out> {
  const path = fileURLToPath(new URL(script, import.meta.url));
  const child: ChildProcess = spawn(process.execPath, [...(options.nodeFlags ?? []), "--import", "tsx", path, ...args], {
    stdio: ["ignore", "inherit", "inherit", "ipc"],
    env: { ...process.env, ...options.env },
    detached: options.processGroup === true,
  });
  const inbox: Out[] = [];
  const waiters = new Set<() => void>();
  const wake = () => {
    for (const w of waiters) w();
  };
  let exit: Error | undefined;
  const exited = new Promise<void>((resolve) => {
    child.once("exit", (code, signal) => {
      exit = new Error(`${script} exited (code ${String(code)}, signal ${String(signal)})`);
      wake();
      resolve();
    });
  });
  child.on("message", (message) => {
    inbox.push(message as Out);
    wake();
  });

  const take = async <K extends Out["type"]>(type: K): Promise<Extract<Out, { type: K }>> => {
    for (;;) {
      const index = inbox.findIndex((m) => m.type === type);
      if (index >= 0) return inbox.splice(index, 1)[0] as Extract<Out, { type: K }>;
      if (exit) throw exit;
      await new Promise<void>((resolve) => {
        const done = () => {
          waiters.delete(done);
          resolve();
        };
        waiters.add(done);
      });
    }
  };

  return {
    next: (type, timeoutMs) => within(timeoutMs, `${script}: waiting for "${type}"`, take(type)),
    send: (message) => {
      child.send(message);
    },
    stop: async (graceMs) => {
      if (exit) return;
      child.send({ type: "stop" });
      await within(graceMs, `${script}: stop`, exited).catch(() => {
        if (options.processGroup === true && child.pid !== undefined) {
          try {
            process.kill(-child.pid, "SIGKILL");
          } catch {
            // ESRCH: the group is gone already.
          }
        } else child.kill("SIGKILL");
        return exited;
      });
    },
  };
}

/** Child side: sends one message to the parent. */
export function toParent<M extends Message>(message: M): void {
  if (!process.send) throw new Error("this benchmark module runs as a child of bench/run.ts (no IPC channel)");
  process.send(message);
}

/** Child side: handles the parent's messages; "stop" runs `onStop` and then exits. */
export function fromParent<M extends Message>(handle: (message: M) => void, onStop: () => Promise<void>): void {
  // An orphan (the parent died) must not keep a server or 100 sockets open.
  process.once("disconnect", () => process.exit(1));
  process.on("message", (raw) => {
    const message = raw as M | { type: "stop" };
    if (message.type !== "stop") {
      handle(message as M);
      return;
    }
    onStop().then(
      () => process.exit(0),
      (err: unknown) => {
        console.error(err);
        process.exit(1);
      },
    );
  });
}
