import { addSummaries, type EngineEvent, type EngineResult, type PrepareRequest } from "./engine.js";

/** What an engine provides for a destroy with a prepare phase; the sequencing is the same for every engine. */
export interface PrepareThenDestroySteps {
  /** The URNs the stack holds now. */
  readonly existing: () => Promise<readonly string[]>;
  /** The up of the prepare program, limited to `targets` when given; it reports its own progress from 0. */
  readonly up: (targets: readonly string[] | undefined) => Promise<EngineResult>;
  /** The destroy (with the prepare program); it reports its own progress from 0. */
  readonly destroy: () => Promise<EngineResult>;
}

const NOTHING = { create: 0, update: 0, delete: 0, replace: 0, same: 0 };

/**
 * Phase 1, the up of the prepare program (the whole up, or only the stack's existing resources on a
 * retry), then phase 2, the destroy (EngineRequest.prepare). Each phase is announced and reports its own
 * progress; on an empty stack phase 1 runs nothing (an up would create the whole stack only to destroy it)
 * and reports 0 of 0. The summary adds both phases.
 */
export async function prepareThenDestroy(
  prepare: PrepareRequest,
  send: (event: EngineEvent) => Promise<void>,
  steps: PrepareThenDestroySteps,
): Promise<EngineResult> {
  const existing = await steps.existing();
  let prepared: EngineResult;
  if (existing.length === 0) {
    await send({ type: "diagnostic", severity: "info", message: "phase 1 of 2: nothing to prepare, the stack holds no resources" });
    await send({ type: "progress", done: 0, total: 0 });
    prepared = { outputs: {}, summary: NOTHING };
  } else {
    const scope = prepare.existingOnly ? "limited to the stack's existing resources (a retry: it creates nothing)" : "of the whole program";
    await send({ type: "diagnostic", severity: "info", message: `phase 1 of 2: an up of the prepare program, ${scope}, before the destroy` });
    prepared = await steps.up(prepare.existingOnly ? existing : undefined);
  }
  await send({ type: "diagnostic", severity: "info", message: "phase 2 of 2: the destroy" });
  const destroyed = await steps.destroy();
  return { outputs: {}, summary: addSummaries(prepared.summary, destroyed.summary) };
}
