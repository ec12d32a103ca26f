import { randomUUID } from "node:crypto";
import { approvalRuleFor, type ApprovalRules } from "../approvals/policy.js";
import { principalRef, recordAllowed, visibleTeams, type Actor } from "../auth/actor.js";
import { DeniedError } from "../auth/denied.js";
import type { Principal } from "../auth/principal.js";
import { AppError } from "../errors.js";
import { isUniqueViolation, type Db } from "../store/db.js";
import * as repo from "./fleet-repo.js";
import { ROLLABLE_LIFECYCLES, standingOf, type VersionStanding } from "./program-version.js";
import { countsOf, Effects, stepOf, type RolloutDeps } from "./rollout-advance.js";

/** Use cases of the fleet and its rollouts (issue 15). No Fastify here; the worker advances rollouts. */
export interface FleetDeps extends RolloutDeps {
  readonly db: Db;
  readonly approvalRules: ApprovalRules;
  /** Wakes this replica's rollout worker (after a create, resume or approval). */
  readonly kickWorker: () => void;
}

export interface FleetVersion {
  readonly programVersion: string | null;
  readonly standing: VersionStanding;
  readonly providers: number;
  readonly lifecycles: Readonly<Record<string, number>>;
}

export interface FleetView {
  readonly programVersion: string;
  readonly providers: number;
  /** Active or revoked stacks that last ran an older program version: what a rollout would take. */
  readonly behind: number;
  readonly versions: readonly FleetVersion[];
  readonly rollout: repo.Rollout | undefined;
}

/** Providers per program version (the one their stack last ran) and lifecycle, of the caller's teams. */
export async function fleetView(deps: Pick<FleetDeps, "db" | "programVersion">, principal: Principal): Promise<FleetView> {
  const rows = await repo.fleetRows(deps.db, { teams: visibleTeams(principal) });
  const byVersion = new Map<string | null, { providers: number; lifecycles: Record<string, number> }>();
  let behind = 0;
  for (const row of rows) {
    const v = byVersion.get(row.last_version) ?? { providers: 0, lifecycles: {} };
    v.providers++;
    v.lifecycles[row.lifecycle] = (v.lifecycles[row.lifecycle] ?? 0) + 1;
    byVersion.set(row.last_version, v);
    if (ROLLABLE_LIFECYCLES.has(row.lifecycle) && standingOf(row.last_version, deps.programVersion) === "behind") behind++;
  }
  const versions = [...byVersion.entries()]
    .map(([programVersion, v]) => ({ programVersion, standing: standingOf(programVersion, deps.programVersion), ...v }))
    .sort((a, b) => String(a.programVersion).localeCompare(String(b.programVersion)));
  return { programVersion: deps.programVersion, providers: rows.length, behind, versions, rollout: await repo.openRollout(deps.db) };
}

export interface RolloutRequest {
  readonly canary: number;
  readonly batchSize: number;
  readonly maxParallel: number;
  readonly maxFailures: number;
  /** Only these providers (those of them that are behind); default every behind stack. */
  readonly providers?: readonly string[] | undefined;
}

const link = (id: string) => `/v1/rollouts/${id}`;

function conflict(message: string, rollout?: repo.Rollout): AppError {
  return new AppError("ROLLOUT_CONFLICT", message, rollout ? { links: { rollout: link(rollout.id) } } : {});
}

/**
 * Starts a rollout of this service's program version to every behind stack (active or revoked; a revoked
 * one is run in its revoked state). It previews them first; if an approval rule applies to any of them the
 * rollout then waits for a second person; then it applies in waves. One rollout is open at a time.
 */
export async function createRollout(deps: FleetDeps, actor: Actor, request: RolloutRequest): Promise<repo.Rollout> {
  const fx = new Effects();
  let rollout: repo.Rollout;
  try {
    rollout = await deps.db.transaction(async (tx) => {
      const open = await repo.openRollout(tx);
      if (open) throw conflict(`Rollout ${open.id} is ${open.status}; one rollout is open at a time.`, open);
      const rows = await repo.fleetRows(tx, { names: request.providers });
      if (request.providers !== undefined) {
        const known = new Set(rows.map((r) => r.name));
        const errors = request.providers.flatMap((name, i) => (known.has(name) ? [] : [{ path: `/providers/${i}`, message: `no provider named "${name}"` }]));
        if (errors.length > 0) throw new AppError("VALIDATION_FAILED", "The rollout names providers that do not exist.", { errors });
      }
      const behind = rows.filter((r) => ROLLABLE_LIFECYCLES.has(r.lifecycle) && standingOf(r.last_version, deps.programVersion) === "behind");
      if (behind.length === 0) throw conflict(`No active or revoked stack is behind program version ${deps.programVersion}: there is nothing to roll out.`);
      const rule = approvalRuleFor(deps.approvalRules, "update", behind.map((r) => r.spec));
      const created = await repo.insertRollout(tx, {
        id: randomUUID(),
        programVersion: deps.programVersion,
        canary: request.canary,
        batchSize: request.batchSize,
        maxParallel: request.maxParallel,
        maxFailures: request.maxFailures,
        requestedBy: principalRef(actor.principal),
        requestedByName: actor.principal.name,
        approvalRule: rule === "all" || rule === "restricted" ? rule : undefined,
        stacks: behind.map((r) => ({ provider: r.name, fromVersion: r.last_version, accessState: r.lifecycle === "revoked" ? "revoked" : "active" })),
      });
      const step = (await stepOf(tx, deps, created.id, fx))!;
      await step.emit({
        type: "rollout.created",
        programVersion: created.program_version,
        total: created.total,
        canary: created.canary,
        batchSize: created.batch_size,
        maxParallel: created.max_parallel,
        maxFailures: created.max_failures,
        requestedBy: created.requested_by_name,
      });
      await recordAllowed(deps.audit, tx, actor, "rollout.create", { kind: "rollout", id: created.id }, {
        programVersion: created.program_version,
        stacks: behind.map((r) => r.name),
        canary: created.canary,
        batchSize: created.batch_size,
        maxParallel: created.max_parallel,
        maxFailures: created.max_failures,
        approvalRule: created.approval_rule,
      });
      return created;
    });
  } catch (err) {
    // Another request opened one between our check and our insert.
    if (isUniqueViolation(err, "rollouts_one_open")) {
      const open = await repo.openRollout(deps.db);
      throw conflict(`Rollout ${open?.id ?? "?"} is open; one rollout is open at a time.`, open);
    }
    throw err;
  }
  await fx.publish(deps);
  deps.kickWorker();
  return rollout;
}

export interface RolloutView {
  readonly rollout: repo.Rollout;
  readonly stacks: readonly repo.RolloutStack[];
  readonly counts: { readonly done: number; readonly failed: number; readonly total: number; readonly inFlight: number; readonly pending: number };
}

const notFound = (id: string) => new AppError("NOT_FOUND", `No rollout with id "${id}".`);
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

export async function getRollout(deps: Pick<FleetDeps, "db">, id: string): Promise<RolloutView> {
  const rollout = UUID.test(id) ? await repo.getRollout(deps.db, id) : undefined;
  if (rollout === undefined) throw notFound(id);
  const stacks = await repo.listStacks(deps.db, id);
  return {
    rollout,
    stacks,
    counts: {
      ...countsOf(stacks, rollout.total),
      inFlight: stacks.filter((s) => s.status === "previewing" || s.status === "applying").length,
      pending: stacks.filter((s) => s.status === "pending" || s.status === "previewed").length,
    },
  };
}

type Control = "pause" | "resume" | "cancel" | "approve" | "reject";

/**
 * Pause (nothing new starts; what runs finishes), resume, cancel (queued operations are cancelled, running
 * ones finish; final), approve (a second person; applying starts) and reject (final). Each writes an event
 * and an audit record in the rollout's transaction.
 */
export async function controlRollout(deps: FleetDeps, actor: Actor, id: string, control: Control, comment?: string): Promise<repo.Rollout> {
  if (!UUID.test(id)) throw notFound(id);
  const fx = new Effects();
  const by = actor.principal.name;
  const rollout = await deps.db.transaction(async (tx) => {
    const step = await stepOf(tx, deps, id, fx);
    if (step === undefined) throw notFound(id);
    const r = step.r;
    const refuse = (allowed: string) => conflict(`Cannot ${control} rollout ${id}: it is ${r.status} (${control} applies to a rollout that is ${allowed}).`, r);
    switch (control) {
      case "pause":
        if (r.status !== "previewing" && r.status !== "applying") throw refuse("previewing or applying");
        step.r = await repo.setRollout(tx, id, { status: "paused", paused_phase: r.status });
        await step.emit({ type: "rollout.paused", by });
        break;
      case "resume":
        if (r.status !== "paused") throw refuse("paused");
        step.r = await repo.setRollout(tx, id, { status: r.paused_phase!, paused_phase: null });
        await step.emit({ type: "rollout.resumed", by });
        break;
      case "cancel":
        if (!repo.OPEN_STATUSES.has(r.status)) throw refuse("open (previewing, awaiting approval, applying or paused)");
        step.r = await repo.setRollout(tx, id, { status: "cancelled", paused_phase: null, reason: `cancelled by ${by}` });
        await step.cancelQueued(`cancelled: rollout ${id} was cancelled by ${by}`);
        await step.finishIfSettled();
        break;
      case "approve":
      case "reject":
        if (r.status !== "awaiting_approval") throw refuse("awaiting approval");
        if (r.requested_by === principalRef(actor.principal)) {
          throw new DeniedError("SELF_APPROVAL", "A rollout needs a second person: its requester cannot decide it.", {
            action: `rollout.${control}`,
            resource: { kind: "rollout", id },
            reason: "self-approval",
          });
        }
        if (control === "approve") {
          step.r = await repo.setRollout(tx, id, { decided_by: principalRef(actor.principal), decided_by_name: by, decided: true });
          await step.emit({ type: "rollout.approved", approvedBy: by });
          await step.startApplying();
        } else {
          step.r = await repo.setRollout(tx, id, {
            status: "cancelled",
            decided_by: principalRef(actor.principal),
            decided_by_name: by,
            decided: true,
            reason: `rejected by ${by}${comment ? `: ${comment}` : ""}`,
          });
          await step.finishIfSettled();
        }
        break;
    }
    await recordAllowed(deps.audit, tx, actor, `rollout.${control}`, { kind: "rollout", id }, {
      was: r.status,
      now: step.r.status,
      ...(comment ? { comment } : {}),
    });
    return step.r;
  });
  await fx.publish(deps);
  deps.kickWorker();
  return rollout;
}
