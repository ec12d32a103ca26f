import { answerTask, type EvaluationAnswer, type EvaluationTask } from "./evaluation-task.js";

/**
 * A worker thread of the evaluation pool (src/engine/evaluation-pool.ts). Pulumi's mock runtime is global
 * to a JavaScript realm, so each worker has its own, and evaluations in different workers run in parallel;
 * within one worker they are serialized (evaluateProgram), and the pool gives each worker one task at a time.
 */
export default function evaluate(task: EvaluationTask): Promise<EvaluationAnswer> {
  return answerTask(task);
}
