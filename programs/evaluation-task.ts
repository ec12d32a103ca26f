import { createMockCloud } from "./mock-cloud.js";
import { evaluateProgram, type Evaluation } from "./evaluate-program.js";
import { inlineProgram, PROJECTS } from "./stacks.js";
import type { StackProgram } from "./types.js";

/**
 * One evaluation of a stack program under the mock cloud, as plain data: what the service's worker pool
 * sends a worker thread (src/engine/evaluation-pool.ts), and what the in-process evaluator runs.
 */
export interface EvaluationTask {
  readonly stack: string;
  readonly program: StackProgram;
  /** Secret stack config (full keys, `namespace:key`), read by the program as secrets. */
  readonly secretConfig?: Readonly<Record<string, string>>;
}

/** What a worker answers: the evaluation, or the program's own refusal (its guard clauses), as text. */
export type EvaluationAnswer = { readonly ok: true; readonly evaluation: Evaluation } | { readonly ok: false; readonly message: string };

/** An inline program (a PulumiFn). */
export type InlineProgram = () => Promise<Record<string, unknown>>;

/**
 * Evaluates the task's program (`inline`: another program for the same arguments, which tests substitute).
 * The default provider is the service's own credentials: the Organizations management account; the hub
 * uses no default provider, so its caller is left unset.
 */
export function evaluateTask(task: EvaluationTask, inline: InlineProgram = inlineProgram(task.program)): Promise<Evaluation> {
  const { program } = task;
  const callerAccountId = program.program === "provider" ? program.args.managementAccountId : undefined;
  return evaluateProgram(inline, {
    stack: task.stack,
    project: PROJECTS[program.program],
    mocks: createMockCloud({ region: program.args.region, ...(callerAccountId ? { callerAccountId } : {}) }),
    ...(task.secretConfig ? { config: { values: task.secretConfig, secretKeys: Object.keys(task.secretConfig) } } : {}),
  });
}

/** The same, with a refusal as an answer rather than a throw (only a failure of the worker itself rejects). */
export async function answerTask(task: EvaluationTask, inline?: InlineProgram): Promise<EvaluationAnswer> {
  try {
    return { ok: true, evaluation: await evaluateTask(task, inline) };
  } catch (err) {
    return { ok: false, message: err instanceof Error ? err.message : String(err) };
  }
}
