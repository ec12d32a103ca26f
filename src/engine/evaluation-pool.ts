import { availableParallelism } from "node:os";
import type { Worker } from "node:worker_threads";
import { Piscina } from "piscina";
import type { Evaluation } from "../../programs/evaluate-program.js";
import { answerTask, type EvaluationAnswer, type EvaluationTask } from "../../programs/evaluation-task.js";
import type { ProviderStackArgs } from "../../programs/types.js";

/**
 * Program evaluation under Pulumi's mocks (the guardrail gate, previews of proposed specs, the simulated
 * engine) costs tens of milliseconds of CPU each, and the mock runtime is global to a JavaScript realm, so
 * evaluations in one thread are serialized (issue 15). The pool runs them in worker threads, each with its
 * own runtime: in parallel, and never on the service's event loop.
 */
export interface ProgramEvaluator {
  /** Throws ProgramRejectedError (the program refused the arguments) or EvaluationUnavailableError. */
  evaluate(task: EvaluationTask): Promise<Evaluation>;
  /** `pool of N worker threads` or `in-process (serialized)`. */
  readonly description: string;
  stats(): { readonly workers: number; readonly running: number; readonly queued: number };
  close(): Promise<void>;
}

/** The program refused its arguments (its guard clauses): the message is the program's. */
export class ProgramRejectedError extends Error {
  override name = "ProgramRejectedError";
}

/** No answer from the pool (a worker crashed, hung past the timeout, or the queue is full): retry. */
export class EvaluationUnavailableError extends Error {
  override name = "EvaluationUnavailableError";
}

export interface EvaluationPoolOptions {
  /** Worker threads (EVALUATION_WORKERS); default: the machine's available parallelism. */
  readonly workers?: number;
  /** An evaluation not answered in this time fails, and its worker is replaced (EVALUATION_TIMEOUT_SECONDS). */
  readonly timeoutMs: number;
  /** Evaluations waiting for a worker beyond this are refused at once (EvaluationUnavailableError). */
  readonly maxQueue?: number;
  /**
   * A worker that fails while it has no evaluation (piscina's pool-level 'error'); it is replaced either way.
   * Without a listener that event would end the process.
   */
  readonly onIdleWorkerError?: (err: Error) => void;
}

const WORKER_ENTRY = new URL("../../programs/evaluate-worker-entry.mjs", import.meta.url);
/** The worker module next to the entry: TypeScript in the source tree (tests, `npm run dev`), JavaScript in dist/. */
const WORKER_MODULE = new URL(`../../programs/evaluate-worker${import.meta.url.endsWith(".ts") ? ".ts" : ".js"}`, import.meta.url);

export function defaultEvaluationWorkers(): number {
  return Math.max(1, availableParallelism());
}

export function createEvaluationPool(options: EvaluationPoolOptions): ProgramEvaluator {
  const workers = options.workers ?? defaultEvaluationWorkers();
  const pool = new Piscina<EvaluationTask, EvaluationAnswer>({
    filename: WORKER_ENTRY.href,
    workerData: { evaluateWorker: WORKER_MODULE.href },
    minThreads: workers,
    maxThreads: workers,
    // One evaluation per worker at a time: a worker's mock runtime serializes them anyway.
    concurrentTasksPerWorker: 1,
    maxQueue: options.maxQueue ?? 1_000,
    // The mock runtime finishes asynchronously after a task; a worker blocked in Atomics.wait would stall it.
    atomics: "disabled",
    // Workers are never retired for being idle (a fresh one pays for loading the Pulumi SDK again).
    idleTimeout: Infinity,
  });
  pool.on("error", (err: Error) => options.onIdleWorkerError?.(err));
  let running = 0;
  return {
    description: `pool of ${workers} worker thread(s)`,
    async evaluate(task) {
      running++;
      let answer: EvaluationAnswer;
      try {
        answer = await pool.run(task, { signal: AbortSignal.timeout(options.timeoutMs) });
      } catch (err) {
        throw new EvaluationUnavailableError(unavailableReason(err, options.timeoutMs), { cause: err });
      } finally {
        running--;
      }
      if (!answer.ok) throw new ProgramRejectedError(answer.message);
      return answer.evaluation;
    },
    stats: () => ({ workers: pool.threads.length, running, queued: pool.queueSize }),
    close: () => pool.close({ force: true }),
    // The live threads, for diagnostics and for the test that kills one mid-evaluation.
    get threads(): readonly Worker[] {
      return pool.threads;
    },
  } as ProgramEvaluator & { readonly threads: readonly Worker[] };
}

function unavailableReason(err: unknown, timeoutMs: number): string {
  const e = err as { name?: unknown; message?: unknown };
  if (e?.name === "AbortError" || e?.name === "TimeoutError") {
    return `the program evaluation did not finish within ${timeoutMs / 1000} s; its worker was replaced`;
  }
  if (typeof e?.message === "string" && /queue is at limit/i.test(e.message)) return "every program evaluation worker is busy and the queue is full";
  return `the program evaluation worker stopped before answering (${typeof e?.message === "string" ? e.message : String(err)})`;
}

/** A provider program other than the built-in one: tests substitute a faulty program to prove violations are caught. */
export type ProviderProgram = (args: ProviderStackArgs) => () => Promise<Record<string, unknown>>;

/**
 * Evaluations on the calling thread, one at a time (what the service did before the pool): the benchmark's
 * baseline, engine children (already a process of their own), and tests that substitute the provider program.
 */
export function createInProcessEvaluator(substitute?: { readonly provider: ProviderProgram }): ProgramEvaluator {
  let running = 0;
  const answer = (task: EvaluationTask): Promise<EvaluationAnswer> =>
    substitute && task.program.program === "provider" ? answerTask(task, substitute.provider(task.program.args)) : answerTask(task);
  return {
    description: substitute ? "in-process (serialized), substituted provider program" : "in-process (serialized)",
    async evaluate(task) {
      running++;
      try {
        const result = await answer(task);
        if (!result.ok) throw new ProgramRejectedError(result.message);
        return result.evaluation;
      } finally {
        running--;
      }
    },
    stats: () => ({ workers: 0, running, queued: 0 }),
    close: async () => undefined,
  };
}
