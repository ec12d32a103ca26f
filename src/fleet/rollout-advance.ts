import { randomUUID } from "node:crypto";
import type { AuditWriter } from "../audit/append.js";
import { recordAllowed, SYSTEM_ACTOR } from "../auth/actor.js";
import { AppError } from "../errors.js";
import { admitWith } from "../onboarding/providers-service.js";
import type { EventHub } from "../operations/event-hub.js";
import { ChangeSummary, type OperationError, type OperationEvent } from "../operations/events.js";
import { queuedDetails, TERMINAL_STATUSES, type Operation, type OperationStatus } from "../operations/operation.js";
import * as ops from "../operations/operations-repo.js";
import type { Queryable } from "../store/db.js";
import * as repo from "./fleet-repo.js";
import { ROLLABLE_LIFECYCLES, standingOf } from "./program-version.js";
import type { RolloutEvent, RolloutEventData } from "./rollout-events.js";

/** What the rollout use cases and the worker need; passed in at composition (no transport, no runner). */
export interface RolloutDeps {
  readonly hub: EventHub;
  readonly audit: AuditWriter;
  readonly engine: string;
  /** This replica's provider program version: a rollout of another version is left to a replica that runs it. */
  readonly programVersion: string;
  /** Wakes the runner after operations were queued. */
  readonly kickRunner: () => void;
  /** Provider lifecycle reaction to a queued operation being cancelled (onboarding owns it). */
  readonly onFinish: (tx: Queryable, op: Operation, status: OperationStatus) => Promise<void>;
}

/** Events to send once the transaction that wrote them has committed. */
export class Effects {
  readonly rollout: { id: string; event: RolloutEvent }[] = [];
  readonly operations: { id: string; event: OperationEvent }[] = [];
  /** Operations of the rollout still queued or running after this step (the worker follows them). */
  readonly inFlight: string[] = [];
  queued = 0;

  async publish(deps: Pick<RolloutDeps, "hub" | "kickRunner">): Promise<void> {
    for (const { id, event } of this.operations) await deps.hub.publish(id, event);
    // The hub keys streams by id; a rollout's uuid never equals an operation's.
    for (const { id, event } of this.rollout) await deps.hub.publish(id, event as unknown as OperationEvent);
    if (this.queued > 0) deps.kickRunner();
  }
}

type Stack = { -readonly [K in keyof repo.RolloutStack]: repo.RolloutStack[K] };
const IN_FLIGHT = new Set(["previewing", "applying"]);
const inFlight = (s: Stack) => IN_FLIGHT.has(s.status);

export function countsOf(stacks: readonly Pick<repo.RolloutStack, "status">[], total: number): { done: number; failed: number; total: number } {
  let done = 0;
  let failed = 0;
  for (const s of stacks) {
    if (s.status === "succeeded" || s.status === "skipped") done++;
    else if (s.status === "failed") failed++;
  }
  return { done, failed, total };
}

/** One step of a rollout, in the caller's transaction with the rollout's row locked. */
class Step {
  constructor(
    readonly tx: Queryable,
    readonly deps: RolloutDeps,
    public r: repo.Rollout,
    readonly stacks: Stack[],
    readonly fx: Effects,
  ) {}

  async emit(data: RolloutEventData): Promise<void> {
    this.fx.rollout.push({ id: this.r.id, event: await repo.appendRolloutEvent(this.tx, this.r.id, data) });
  }

  async stackEvent(s: Stack, phase: "preview" | "apply", extra: { error?: OperationError; changes?: ChangeSummary } = {}): Promise<void> {
    const operationId = phase === "preview" ? s.preview_operation_id : s.operation_id;
    await this.emit({
      type: "rollout.stack",
      provider: s.provider,
      phase,
      status: s.status,
      ...(operationId ? { operationId } : {}),
      ...extra,
      ...countsOf(this.stacks, this.r.total),
    });
  }

  async set(s: Stack, change: Partial<Stack>): Promise<void> {
    Object.assign(s, change);
    await repo.updateStack(this.tx, this.r.id, s.provider, change);
  }

  /** Reads the outcome of every preview or apply in flight. */
  async settle(): Promise<void> {
    for (const s of this.stacks.filter(inFlight)) {
      const phase = s.status === "previewing" ? "preview" : "apply";
      const id = (phase === "preview" ? s.preview_operation_id : s.operation_id)!;
      const op = await ops.getOperation(this.tx, id);
      if (op === undefined || !TERMINAL_STATUSES.has(op.status)) {
        this.fx.inFlight.push(id);
        continue;
      }
      if (op.status === "succeeded") {
        const changes = ChangeSummary.safeParse(op.result?.["summary"]);
        await this.set(s, { status: phase === "preview" ? "previewed" : "succeeded", ...(changes.success && phase === "preview" ? { changes: changes.data } : {}) });
        await this.stackEvent(s, phase, changes.success ? { changes: changes.data } : {});
      } else {
        const error = op.error ?? { code: op.status.toUpperCase(), message: `the ${phase} operation was ${op.status}` };
        await this.set(s, { status: "failed", error });
        await this.stackEvent(s, phase, { error });
      }
    }
  }

  /** Cancels the rollout's queued operations (running ones finish); their stacks become `cancelled`. */
  async cancelQueued(reason: string): Promise<void> {
    for (const s of this.stacks.filter(inFlight)) {
      const phase = s.status === "previewing" ? "preview" : "apply";
      const id = (phase === "preview" ? s.preview_operation_id : s.operation_id)!;
      const cancelled = await ops.cancelQueued(this.tx, id);
      if (!cancelled) continue;
      await this.deps.onFinish(this.tx, cancelled, "cancelled");
      const data = { type: "operation.cancelled" as const, reason };
      const { seq, at } = await ops.appendEvent(this.tx, id, null, data);
      this.fx.operations.push({ id, event: { ...data, seq, at } });
      const followed = this.fx.inFlight.indexOf(id);
      if (followed >= 0) this.fx.inFlight.splice(followed, 1);
      await this.set(s, { status: "cancelled" });
      await this.stackEvent(s, phase);
    }
  }

  /** Halts past maxFailures: nothing more starts; queued operations are cancelled; pending stacks are left as they are. */
  async haltIfPastFailures(): Promise<void> {
    const { failed } = countsOf(this.stacks, this.r.total);
    if (!repo.OPEN_STATUSES.has(this.r.status) || failed <= this.r.max_failures) return;
    const reason = `${failed} stack(s) failed, more than maxFailures (${this.r.max_failures})`;
    this.r = await repo.setRollout(this.tx, this.r.id, { status: "halted", paused_phase: null, reason });
    await this.cancelQueued(`cancelled: rollout ${this.r.id} halted (${reason})`);
    await recordAllowed(this.deps.audit, this.tx, SYSTEM_ACTOR, "rollout.halt", { kind: "rollout", id: this.r.id }, { reason, ...countsOf(this.stacks, this.r.total) });
  }

  /**
   * Queues the preview or the update of one stack (an ordinary operation of priority 1, audited as the
   * service acting for the rollout), or skips the stack with the reason it cannot run now.
   */
  async enqueue(s: Stack, phase: "preview" | "apply"): Promise<boolean> {
    const skip = async (message: string) => {
      await this.set(s, { status: "skipped", error: { code: "SKIPPED", message } });
      await this.stackEvent(s, phase, { error: { code: "SKIPPED", message } });
      return false;
    };
    const [row] = await repo.fleetRows(this.tx, { names: [s.provider] });
    if (row === undefined || !ROLLABLE_LIFECYCLES.has(row.lifecycle)) return skip(`the provider is ${row?.lifecycle ?? "gone"}`);
    if (phase === "apply" && standingOf(row.last_version, this.r.program_version) !== "behind") {
      return skip(`the stack already ran ${row.last_version ?? "?"} (an operation since the preview brought it up to date)`);
    }
    const intent = phase === "preview" ? "preview" : "update";
    let admitted: Awaited<ReturnType<typeof admitWith>>;
    try {
      admitted = await admitWith(this.tx, SYSTEM_ACTOR, s.provider, intent);
    } catch (err) {
      if (err instanceof AppError) return skip(err.message);
      throw err;
    }
    const { provider, admission } = admitted;
    const { operation, event } = await ops.enqueueOperation(this.tx, {
      id: randomUUID(),
      provider: s.provider,
      intent,
      kind: phase === "preview" ? "preview" : "up",
      accessState: admission.accessState,
      engine: this.deps.engine,
      spec: provider.spec,
      specHash: provider.spec_hash,
      programVersion: this.r.program_version,
      rolloutId: this.r.id,
    });
    this.fx.operations.push({ id: operation.id, event });
    this.fx.inFlight.push(operation.id);
    this.fx.queued++;
    await this.set(s, phase === "preview" ? { status: "previewing", preview_operation_id: operation.id } : { status: "applying", operation_id: operation.id });
    await recordAllowed(this.deps.audit, this.tx, SYSTEM_ACTOR, phase === "preview" ? "provider.preview" : "provider.update", { kind: "provider", id: s.provider }, {
      ...queuedDetails(operation),
      accessState: operation.access_state,
      rolloutId: this.r.id,
      requestedBy: this.r.requested_by_name,
    });
    return true;
  }

  /** Previews up to maxParallel at once; then waits for approval, or starts applying. */
  async preview(): Promise<void> {
    let running = this.stacks.filter((s) => s.status === "previewing").length;
    for (const s of this.stacks.filter((x) => x.status === "pending")) {
      if (running >= this.r.max_parallel) break;
      if (await this.enqueue(s, "preview")) running++;
    }
    if (this.stacks.some((s) => s.status === "pending" || s.status === "previewing")) return;
    const rule = this.r.approval_rule;
    if (rule !== null && this.r.decided_by === null) {
      this.r = await repo.setRollout(this.tx, this.r.id, { status: "awaiting_approval" });
      await this.emit({ type: "rollout.awaiting-approval", rule, requestedBy: this.r.requested_by_name });
      return;
    }
    await this.startApplying();
  }

  /** Waves over the stacks whose preview succeeded, in order: the canary first, then batches. */
  async startApplying(): Promise<void> {
    const ready = this.stacks.filter((s) => s.status === "previewed");
    const { canary, batch_size: batch } = this.r;
    let waves = 0;
    for (const [i, s] of ready.entries()) {
      const wave = i < canary ? 0 : (canary > 0 ? 1 : 0) + Math.floor((i - canary) / batch);
      s.wave = wave;
      waves = wave + 1;
    }
    if (ready.length > 0) {
      await this.tx.query(
        `UPDATE rollout_stacks s SET wave = w.wave FROM unnest($2::text[], $3::int[]) AS w(provider, wave)
          WHERE s.rollout_id = $1 AND s.provider = w.provider`,
        [this.r.id, ready.map((s) => s.provider), ready.map((s) => s.wave)],
      );
    }
    this.r = await repo.setRollout(this.tx, this.r.id, { status: "applying", wave: 0, waves, applying: true });
    if (waves > 0) await this.emit({ type: "rollout.wave", wave: 0, waves, stacks: ready.filter((s) => s.wave === 0).length });
  }

  /** Keeps maxParallel updates of the current wave queued or running; the next wave starts once this one has ended. */
  async apply(): Promise<void> {
    for (;;) {
      const wave = this.stacks.filter((s) => s.wave === this.r.wave);
      let running = this.stacks.filter((s) => s.status === "applying").length;
      for (const s of wave.filter((x) => x.status === "previewed")) {
        if (running >= this.r.max_parallel) break;
        if (await this.enqueue(s, "apply")) running++;
      }
      if (wave.some((s) => s.status === "previewed" || s.status === "applying")) return;
      if (this.r.wave + 1 >= this.r.waves) {
        this.r = await repo.setRollout(this.tx, this.r.id, { status: "succeeded" });
        return;
      }
      this.r = await repo.setRollout(this.tx, this.r.id, { wave: this.r.wave + 1 });
      await this.emit({ type: "rollout.wave", wave: this.r.wave, waves: this.r.waves, stacks: this.stacks.filter((s) => s.wave === this.r.wave).length });
    }
  }

  /** The final event, once the rollout has ended and nothing of it is queued or running any more. */
  async finishIfSettled(): Promise<void> {
    if (repo.OPEN_STATUSES.has(this.r.status) || this.r.finished_at !== null || this.stacks.some(inFlight)) return;
    const counts = countsOf(this.stacks, this.r.total);
    const data: RolloutEventData =
      this.r.status === "succeeded"
        ? {
            type: "rollout.succeeded",
            skipped: this.stacks.filter((s) => s.status === "skipped").length,
            durationMs: Date.now() - Date.parse(this.r.created_at),
            ...counts,
          }
        : this.r.status === "halted"
          ? { type: "rollout.halted", reason: this.r.reason ?? "halted", maxFailures: this.r.max_failures, ...counts }
          : { type: "rollout.cancelled", reason: this.r.reason ?? "cancelled", ...counts };
    await this.emit(data);
    this.r = await repo.setRollout(this.tx, this.r.id, { finished: true });
    await recordAllowed(this.deps.audit, this.tx, SYSTEM_ACTOR, "rollout.finish", { kind: "rollout", id: this.r.id }, { status: this.r.status, ...counts });
  }
}

/** Loads the rollout (row locked) and its stacks as a step. */
export async function stepOf(tx: Queryable, deps: RolloutDeps, id: string, fx: Effects): Promise<Step | undefined> {
  const r = await repo.getRollout(tx, id, true);
  if (r === undefined) return undefined;
  return new Step(tx, deps, r, (await repo.listStacks(tx, id)) as Stack[], fx);
}

/**
 * Advances a rollout as far as it can go now: reads the outcomes of its operations, halts past
 * maxFailures, queues more previews or updates (never more than maxParallel at once), moves to the next
 * wave, and writes the final event. Idempotent: every change commits with the rows that record it, so a
 * replica that dies halfway leaves nothing for the next one to repeat. Only the lease holder advances.
 */
export async function advanceRollout(tx: Queryable, deps: RolloutDeps, id: string, owner: string): Promise<Effects> {
  const fx = new Effects();
  const step = await stepOf(tx, deps, id, fx);
  if (step === undefined || step.r.finished_at !== null || step.r.lease_owner !== owner) return fx;
  await step.settle();
  // Another release's rollout is only wound down here (it has ended; claimRollouts gives no open one).
  if (step.r.program_version !== deps.programVersion) {
    if (!repo.OPEN_STATUSES.has(step.r.status)) await step.finishIfSettled();
    return fx;
  }
  await step.haltIfPastFailures();
  if (step.r.status === "previewing") await step.preview();
  if (step.r.status === "applying") await step.apply();
  await step.finishIfSettled();
  return fx;
}
