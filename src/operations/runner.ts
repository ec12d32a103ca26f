import { randomUUID } from "node:crypto";
import { hostname } from "node:os";
import { setImmediate } from "node:timers/promises";
import type { Logger } from "pino";
import {
  addSummaries,
  EngineCancelledError,
  EngineFailure,
  EngineInterruptedError,
  NO_CHANGES,
  SHUTDOWN_REASON,
  type Engine,
  type EngineRequest,
  type EngineResult,
} from "../engine/engine.js";
import type { Db, Queryable } from "../store/db.js";
import type { EventHub } from "./event-hub.js";
import { EvaluationUnavailableError } from "../engine/evaluation-pool.js";
import { storageCause } from "../store/disk-space.js";
import { DatabaseUnavailableError } from "../store/unavailable.js";
import { appendedAfter, batchAppendedAfter, Lease, whileLeased } from "./leased-writes.js";
import type { EventData, OperationEvent } from "./events.js";
import { LeaseLostError, type Fence, type Operation, type OperationStatus } from "./operation.js";
import * as ops from "./operations-repo.js";
import { attemptEndAfter, endInterruptedAttempt, sweepExpiredLeases, type AttemptEnded } from "./interruption.js";
import { createNap } from "./nap.js";
import { clearRecovery, getRecovery, markForRecovery } from "./recovery-repo.js";
import type { ResumePolicy } from "./resumption.js";

export type { Prepared, RunnerHooks } from "./runner-port.js";
import type { Prepared, RunnerHooks } from "./runner-port.js";

export interface RunnerOptions {
  readonly db: Db;
  readonly engine: Engine;
  readonly hub: EventHub;
  readonly log: Logger;
  readonly hooks: RunnerHooks;
  readonly leaseSeconds: number;
  readonly concurrency: number;
  /** Which interrupted attempts are queued again, and how often (RESUME_MAX_ATTEMPTS, RESUME_BACKOFF_SECONDS). */
  readonly resume: ResumePolicy;
  /** Why this replica should claim nothing now (its disk below DISK_MIN_FREE_MB), or undefined. */
  readonly mayClaim?: () => Promise<string | undefined>;
  /** How often to look for work when nobody kicks (other replicas enqueue too). */
  readonly pollMs?: number;
  /** At most this many scheduled (background) operations run at once here (default concurrency − 1, at least 1): people find a slot. */
  readonly backgroundConcurrency?: number;
}

export interface Runner {
  readonly owner: string;
  /** Ends the attempts whose lease expired (resumed or interrupted), then starts claiming. */
  start(): Promise<void>;
  /** Wakes the claim loop (called after an enqueue). */
  kick(): void;
  /** Fast path for a cancel requested on this replica (others notice it on their next heartbeat). */
  cancelLocal(operationId: string): void;
  /** Stops claiming, lets running operations finish for up to `graceMs`, then interrupts the rest. */
  drain(graceMs: number): Promise<void>;
}

type StopReason = "cancel" | typeof SHUTDOWN_REASON | "lease";

export function createRunner(options: RunnerOptions): Runner {
  const { db, engine, hub, hooks, leaseSeconds } = options;
  const interruption = { policy: options.resume, onFinish: (tx: Queryable, op: Operation, status: OperationStatus) => hooks.onFinish(tx, op, status) };
  const owner = `${hostname()}:${process.pid}:${randomUUID().slice(0, 8)}`;
  const log = options.log.child({ runner: owner });
  const running = new Map<string, { controller: AbortController; done: Promise<void>; background: boolean }>();
  const backgroundSlots = options.backgroundConcurrency ?? Math.max(1, options.concurrency - 1);
  let stopping = false;
  const nap = createNap();
  let loop: Promise<void> | undefined;
  let stopped: () => void = () => undefined;
  const stopSignal = new Promise<void>((resolve) => (stopped = resolve));

  async function emit(q: Queryable, op: Operation, fence: Fence | null, data: EventData): Promise<OperationEvent> {
    const { seq, at } = await ops.appendEvent(q, op.id, fence, data);
    return { ...data, seq, at } as OperationEvent;
  }

  /** Ends the operation, its provider's lifecycle and its terminal event in one transaction. */
  async function finish(
    op: Operation,
    fence: Fence,
    status: "succeeded" | "failed" | "cancelled",
    outcome: { result?: Record<string, unknown>; error?: { code: string; message: string } },
    terminal: EventData,
    outputs?: Record<string, unknown>,
    /** Why the stack must be recovered before it runs again (the engine did not finish cleanly). */
    recovery?: string,
    /** Retries across a short database outage while the lease lasts; the events so far end at `lastSeq`. */
    leased?: { readonly lease: Lease; readonly lastSeq: number },
  ): Promise<void> {
    const write = () =>
      db.transaction(async (tx) => {
        const ended = await ops.finishRunning(tx, op.id, fence, status, outcome);
        await hooks.onFinish(tx, ended, status, outputs);
        if (recovery !== undefined) await markForRecovery(tx, { stack: op.provider, operationId: op.id, reason: recovery });
        return emit(tx, op, null, terminal);
      });
    const event = leased
      ? await whileLeased(leased.lease, write, { settled: () => appendedAfter(db, op.id, leased.lastSeq, terminal) })
      : await write();
    await hub.publish(op.id, event);
  }

  /** `askedAt`: when the claim was sent (the lease the database granted runs from a moment after it). */
  async function runOne(op: Operation, controller: AbortController, askedAt: number): Promise<void> {
    const fence: Fence = { attempt: op.attempt, owner };
    const opLog = log.child({ operationId: op.id, provider: op.provider, attempt: op.attempt, kind: op.kind });
    const started = Date.now();
    // The first abort wins and carries its reason on the signal.
    const stop = (r: StopReason) => controller.abort(r);
    // Claimed just now: the lease runs from the claim, and every successful heartbeat extends it.
    const lease = new Lease(leaseSeconds, askedAt, () => {
      opLog.warn("the lease ran out without a renewal (the database was unavailable for longer); stopping this attempt");
      stop("lease");
    });
    const beat = setInterval(() => {
      const sent = Date.now();
      ops.heartbeat(db, op.id, fence, leaseSeconds).then(
        (hb) => {
          if (!hb) stop("lease");
          else {
            lease.renewed(sent);
            if (hb.cancelRequested) stop("cancel");
          }
        },
        (err: unknown) => opLog.warn({ err }, "heartbeat failed"),
      );
    }, (leaseSeconds * 1000) / 3);
    let lastSeq = op.last_seq;
    let outageLogged = false;
    const onRetry = (err: unknown, _attempt: number, delayMs: number) => {
      if (!outageLogged) opLog.warn({ err, delayMs, leaseLeftMs: lease.until - Date.now() }, "database unavailable; retrying while the lease lasts");
      outageLogged = true;
    };
    const durable = <T>(write: () => Promise<T>, settled?: () => Promise<T | undefined>) =>
      whileLeased(lease, write, { onRetry, ...(settled ? { settled } : {}) }).catch((err: unknown) => {
        // The database stayed away past the lease: stop the engine, this replica cannot record its work.
        if (err instanceof DatabaseUnavailableError) stop("lease");
        throw err;
      });
    const publishEmit = async (data: EventData) => {
      const event = await durable(
        () => emit(db, op, fence, data),
        () => appendedAfter(db, op.id, lastSeq, data),
      );
      lastSeq = event.seq;
      await hub.publish(op.id, event);
      // Give the event loop a turn: with PGlite running in this thread, back-to-back transactions
      // would otherwise keep stream writes queued until the engine pauses (bench: p99 113 → 34 ms).
      await setImmediate();
    };
    /** A burst from the engine in one write (a plan's steps: one statement, not one each). */
    const publishEmitMany = async (batch: readonly EventData[]) => {
      if (batch.length <= 1) return batch[0] === undefined ? undefined : publishEmit(batch[0]);
      const events = await durable(
        async () => (await ops.appendEvents(db, op.id, fence, batch)).map(({ seq, at }, i) => ({ ...batch[i], seq, at }) as OperationEvent),
        () => batchAppendedAfter(db, op.id, lastSeq, batch),
      );
      lastSeq = events.at(-1)!.seq;
      for (const event of events) await hub.publish(op.id, event);
      await setImmediate();
    };

    /** The engine run(s): the program, then what `afterRun` asks for (a second program, same operation). */
    const runEngine = async (kind: EngineRequest["kind"], prepared: Prepared): Promise<EngineResult> => {
      const recovery = await durable(() => getRecovery(db, op.provider));
      // A progress event sets the operation's progress in the same write (appendEvent).
      const onEvent = publishEmit;
      const request = { operationId: op.id, stack: op.provider, kind, ...(prepared.secretConfig ? { secretConfig: prepared.secretConfig } : {}) };
      let result = await engine.run(
        {
          ...request,
          program: prepared.program,
          ...(prepared.prepare ? { prepare: prepared.prepare } : {}),
          ...(recovery ? { recover: { interruptedOperationId: recovery.operationId } } : {}),
        },
        {
          signal: controller.signal,
          log: opLog,
          onEvent,
          onEvents: publishEmitMany,
          ...(recovery ? { onRecovered: () => clearRecovery(db, op.provider, recovery.operationId) } : {}),
        },
      );
      const next = await prepared.afterRun?.(result.outputs, { emit: publishEmit, signal: controller.signal });
      if (next) {
        const second = await engine.run({ ...request, program: next.program }, { signal: controller.signal, log: opLog, onEvent, onEvents: publishEmitMany });
        result = { ...second, summary: addSummaries(result.summary, second.summary) };
      }
      return result;
    };

    try {
      // These three are idempotent (a lifecycle step, reads, an allocation that returns the same subnets):
      // a connection lost under them is retried while the lease lasts, like the event writes.
      await durable(() => db.transaction((tx) => hooks.onStart(tx, op)));
      await publishEmit({ type: "operation.started", attempt: op.attempt, engine: engine.name });
      opLog.info("operation started");
      const prepared = await durable(() => hooks.prepare(op));
      for (const finding of prepared.findings) await publishEmit(finding);
      if (prepared.failure) throw prepared.failure;
      // A verification reads the cloud only: no engine run (and so no recovery of the stack either).
      const result: EngineResult = op.kind === "verify" ? { outputs: {}, summary: NO_CHANGES } : await runEngine(op.kind, prepared);
      const verification = await prepared.verify?.(result.outputs, { emit: publishEmit, signal: controller.signal });
      const durationMs = Date.now() - started;
      await finish(
        op,
        fence,
        "succeeded",
        {
          result: {
            outputs: result.outputs,
            summary: result.summary,
            ...(result.steps ? { steps: result.steps } : {}),
            ...(result.process ? { engineProcess: result.process } : {}),
            ...(result.resources ? { resources: result.resources } : {}),
            ...(verification ? { verification } : {}),
          },
        },
        { type: "operation.succeeded", summary: result.summary, durationMs },
        // A preview, a drift check (refresh preview) and a verification change nothing: the provider keeps its outputs.
        op.kind === "preview" || op.kind === "refresh" || op.kind === "verify" ? undefined : result.outputs,
        undefined,
        { lease, lastSeq },
      );
      opLog.info({ durationMs, summary: result.summary, engineProcess: result.process }, "operation succeeded");
    } catch (err) {
      const durationMs = Date.now() - started;
      const reason = controller.signal.aborted ? (controller.signal.reason as StopReason) : undefined;
      // The engine did not finish cleanly: the stack may hold a stale lock or pending operations.
      const unclean =
        err instanceof EngineInterruptedError ? err.message : err instanceof EngineCancelledError && err.forced ? err.message : undefined;
      if (err instanceof LeaseLostError || reason === "lease") {
        opLog.warn({ err }, "lease lost; another worker or the recovery sweep owns this operation now");
      } else if (err instanceof DatabaseUnavailableError) {
        // Only the store's own error: an engine's or a cloud call's ECONNRESET/ENOENT is an engine failure.
        // Unavailable for longer than the lease: nothing more can be recorded; the recovery sweep interrupts it.
        opLog.error({ err }, "the database stayed unavailable past the lease; the recovery sweep will interrupt this operation");
      } else if (reason === "cancel") {
        await finish(op, fence, "cancelled", {}, { type: "operation.cancelled", reason: "cancelled by request" }, undefined, unclean, { lease, lastSeq });
        opLog.info({ forced: unclean !== undefined }, "operation cancelled");
      } else if (reason === "shutdown" || err instanceof EngineInterruptedError || err instanceof EvaluationUnavailableError || storageCause(err) !== undefined) {
        // Out of disk space, or an evaluation worker that crashed or hung, is no fault of the operation's: it
        // ends this attempt, named as such, and resumes (a replica below DISK_MIN_FREE_MB claims nothing).
        const why =
          reason === "shutdown"
            ? "the service shut down before the operation finished"
            : (storageCause(err) ?? (err instanceof EvaluationUnavailableError ? err.message : undefined) ?? unclean ?? "interrupted");
        const ended = await whileLeased(
          lease,
          () => db.transaction((tx) => endInterruptedAttempt(tx, interruption, op.id, fence, why, unclean ?? why)),
          { settled: () => attemptEndAfter(db, op.id, lastSeq) },
        );
        await announce(op.id, ended);
        opLog.warn({ err, outcome: ended.outcome }, ended.outcome === "resuming" ? "attempt interrupted; the operation is queued to resume" : "operation interrupted");
      } else {
        // Engine failures are described to the user; anything else is logged here, once, and kept out of responses.
        const error =
          err instanceof EngineFailure
            ? { code: err.code, message: err.message }
            : { code: "ENGINE_ERROR", message: "the engine failed unexpectedly; the service log has the details" };
        if (!(err instanceof EngineFailure)) opLog.error({ err }, "engine error");
        await finish(op, fence, "failed", { error }, { type: "operation.failed", error, durationMs }, undefined, undefined, { lease, lastSeq });
        opLog.info({ error }, "operation failed");
      }
    } finally {
      clearInterval(beat);
      lease.release();
    }
  }

  function launch(op: Operation, askedAt: number): void {
    const controller = new AbortController();
    const done = runOne(op, controller, askedAt)
      .catch((err: unknown) => log.error({ err, operationId: op.id }, "operation bookkeeping failed"))
      .finally(() => {
        running.delete(op.id);
        nap.wake();
      });
    running.set(op.id, { controller, done, background: op.priority >= ops.BACKGROUND_PRIORITY });
  }

  async function announce(operationId: string, ended: AttemptEnded): Promise<void> {
    await hub.publish(operationId, ended.event);
    // Queued again: this replica may claim it too (once its back-off is over; drain stops claiming).
    if (ended.outcome === "resuming") nap.wake();
  }

  async function recoverExpired(): Promise<void> {
    const ended = await db.transaction((tx) => sweepExpiredLeases(tx, interruption));
    for (const e of ended) {
      log.warn({ operationId: e.op.id, attempt: e.op.attempt, outcome: e.outcome }, "lease expired: the attempt was ended");
      await announce(e.op.id, e);
    }
  }

  async function claimLoop(): Promise<void> {
    const pollMs = options.pollMs ?? 1_000;
    let lastSweep = Date.now();
    let pauseLogged = false;
    while (!stopping) {
      try {
        if (Date.now() - lastSweep > (leaseSeconds * 1000) / 2) {
          lastSweep = Date.now();
          await recoverExpired();
        }
        const paused = await options.mayClaim?.();
        if (paused !== undefined && !pauseLogged) log.warn({ reason: paused }, "not claiming operations until this clears");
        pauseLogged = paused !== undefined;
        while (paused === undefined && !stopping && running.size < options.concurrency) {
          const askedAt = Date.now();
          const background = [...running.values()].filter((r) => r.background).length < backgroundSlots;
          const op = await ops.claimNext(db, owner, leaseSeconds, background);
          if (!op) break;
          launch(op, askedAt);
        }
      } catch (err) {
        // The loop must survive a failed claim (database restart, lost race on the unique index).
        log.warn({ err }, "claim failed; retrying");
      }
      await nap.sleep(pollMs);
    }
  }

  /** Nothing is claimed before the engine is ready (the Pulumi engine installs its plugin first); retried until it is. */
  async function untilEngineReady(): Promise<boolean> {
    for (let attempt = 1; !stopping; attempt++) {
      try {
        const ready = await Promise.race([engine.ready().then(() => true), stopSignal.then(() => false)]);
        if (ready) return true;
      } catch (err) {
        const retryMs = Math.min(60_000, 1_000 * 2 ** Math.min(attempt, 6));
        log.error({ err, retryMs }, "the engine is not ready; this replica claims no operations until it is");
        await Promise.race([new Promise((r) => setTimeout(r, retryMs).unref()), stopSignal]);
      }
    }
    return false;
  }

  return {
    owner,
    async start() {
      await recoverExpired();
      loop = untilEngineReady().then((ready) => (ready ? claimLoop() : undefined));
    },
    kick: () => nap.wake(),
    cancelLocal(operationId) {
      running.get(operationId)?.controller.abort("cancel" satisfies StopReason);
    },
    async drain(graceMs) {
      stopping = true;
      stopped();
      nap.wake();
      await loop;
      const all = Promise.all([...running.values()].map((r) => r.done));
      const timedOut = await Promise.race([
        all.then(() => false),
        new Promise<boolean>((resolve) => setTimeout(() => resolve(true), graceMs).unref()),
      ]);
      if (timedOut) {
        log.warn({ running: running.size }, "grace period over; interrupting running operations");
        for (const r of running.values()) r.controller.abort("shutdown" satisfies StopReason);
        await all;
      }
    },
  };
}
