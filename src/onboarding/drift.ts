import { z } from "zod";
import type { AuditWriter } from "../audit/append.js";
import { recordAllowed, SYSTEM_ACTOR } from "../auth/actor.js";
import type { Notify } from "../notifications/notice.js";
import type { EventData } from "../operations/events.js";
import type { Operation, OperationStatus } from "../operations/operation.js";
import * as ops from "../operations/operations-repo.js";
import type { Queryable } from "../store/db.js";
import { flagged, reopensAccess } from "./access-drift.js";
import type { ProviderRecord } from "./providers-repo.js";

/**
 * A provider's drift (issue 16): what its last drift check found, kept on the provider row (`drift`).
 *
 * - `unknown` before any check, after a check that failed (or was cancelled or interrupted while running),
 *   and after any operation that may have changed the stack (an up or destroy that started, whatever its
 *   outcome): the last result no longer describes the stack, so a caller never sees an `in_sync` that is no
 *   longer known. `checkedAt`/`operationId` keep naming the last check; `reason` says why it is unknown.
 * - `in_sync` / `drifted`: the last check succeeded; `resources` lists each resource changed (`update`, with
 *   the top-level keys that differ, never values) or deleted outside the engine.
 * Nothing repairs drift by itself: an operator's `up` does (and makes the status `unknown` until the next check).
 */
export const DRIFT_STATUSES = ["in_sync", "drifted", "unknown"] as const;
export const DriftStatus = z.enum(DRIFT_STATUSES);
export type DriftStatus = z.infer<typeof DriftStatus>;

export const DriftResource = z.object({
  urn: z.string(),
  type: z.string(),
  change: z.enum(["update", "delete"]),
  keys: z.array(z.string()),
});
export type DriftResource = z.infer<typeof DriftResource>;

export const DriftState = z.object({
  status: DriftStatus,
  checkedAt: z.string().nullable(),
  operationId: z.string().nullable(),
  resources: z.array(DriftResource),
  reason: z.string().optional(),
});
export type DriftState = z.infer<typeof DriftState>;

const NEVER: DriftState = { status: "unknown", checkedAt: null, operationId: null, resources: [], reason: "never checked" };

/** The drift state of a provider row (`drift` column; null: never checked). */
export function driftOf(raw: unknown): DriftState {
  const parsed = DriftState.safeParse(raw);
  return parsed.success ? parsed.data : NEVER;
}

async function setDrift(tx: Queryable, provider: string, drift: DriftState): Promise<void> {
  await tx.query(`UPDATE providers SET drift = $2 WHERE name = $1`, [provider, JSON.stringify(drift)]);
}

export interface DriftDeps {
  readonly audit?: AuditWriter | undefined;
  readonly notify?: Notify | undefined;
}

/** The drifted resources of a finished drift check (its `result.steps`: update and delete steps). */
export function driftedResources(op: Pick<Operation, "result">): DriftResource[] {
  const steps = op.result?.["steps"];
  if (!Array.isArray(steps)) return [];
  const out: DriftResource[] = [];
  for (const s of steps as { urn?: unknown; resourceType?: unknown; op?: unknown; keys?: unknown }[]) {
    if ((s.op !== "update" && s.op !== "delete") || typeof s.urn !== "string" || typeof s.resourceType !== "string") continue;
    const keys = Array.isArray(s.keys) ? s.keys.filter((k): k is string => typeof k === "string") : [];
    out.push({ urn: s.urn, type: s.resourceType, change: s.op, keys: s.op === "update" ? keys : [] });
  }
  return out;
}

/**
 * What a finished operation makes of a stack's last drift result (`raw`: the stored one, null if never
 * checked), or undefined when it leaves it as it is. Shared by providers and network hubs (hub-drift.ts).
 */
export function nextDrift(raw: unknown, op: Operation, status: OperationStatus): DriftState | undefined {
  // Never started (cancelled in the queue, rejected), or changes nothing (a preview, a verification): the stack is as the last check saw it.
  if (op.started_at === null || op.kind === "preview" || op.kind === "verify") return undefined;
  const last = driftOf(raw);
  if (op.intent !== "drift-check") {
    // Never checked stays "never checked"; a create (or a re-onboarding) starts there too.
    if (last.operationId === null || op.intent === "create") return raw === null || raw === undefined ? undefined : NEVER;
    const reason = `the stack may have changed since the last check (operation ${op.id}, ${op.intent}, ${status})`;
    return { ...last, status: "unknown", resources: [], reason };
  }
  const checkedAt = op.finished_at ?? new Date().toISOString();
  if (status !== "succeeded") return { status: "unknown", checkedAt, operationId: op.id, resources: [], reason: `the last drift check ${status}` };
  const resources = driftedResources(op);
  return { status: resources.length > 0 ? "drifted" : "in_sync", checkedAt, operationId: op.id, resources };
}

/**
 * In the transaction that ends the operation (RunnerHooks.onFinish): a drift check records what it found (and a
 * revoked provider's re-opened access is a security event, audited as the system); any other operation that
 * ran an up or destroy makes the drift `unknown`.
 */
export async function onOperationFinished(tx: Queryable, deps: DriftDeps, op: Operation, status: OperationStatus, p: ProviderRecord): Promise<void> {
  const next = nextDrift(p.drift, op, status);
  if (next === undefined) return;
  await setDrift(tx, p.name, next);
  // Only a drift check that found something is `drifted` (anything else leaves `unknown` or `in_sync`).
  if (next.status !== "drifted") return;
  const { resources } = next;
  const checkedAt = next.checkedAt;
  const reopened = op.access_state === "revoked" && p.lifecycle === "revoked" ? flagged(resources, reopensAccess) : [];
  if (reopened.length > 0) {
    const message =
      `revoked provider ${p.name}: ${reopened.length} change(s) made outside the engine may re-open its access; ` +
      "check them, then repair with an up of the stored spec (revoke again)";
    const event: EventData = { type: "security.access-reopened", severity: "critical", message, resources: reopened };
    await ops.appendEvent(tx, op.id, null, event);
  }
  await deps.notify?.(tx, {
    type: "drift.found",
    team: p.team,
    subject: `providers/${p.name}`,
    data: {
      provider: p.name,
      operationId: op.id,
      status: "drifted",
      checkedAt,
      resources,
      accessReopened: reopened.length > 0,
      links: { provider: `/v1/providers/${encodeURIComponent(p.name)}`, operation: `/v1/operations/${op.id}` },
    },
  });
  if (reopened.length > 0 && deps.audit !== undefined) {
    // Last: the audit append holds the chain head until commit (src/audit/append.ts).
    await recordAllowed(deps.audit, tx, SYSTEM_ACTOR, "provider.access-reopened", { kind: "provider", id: p.name }, {
      operationId: op.id,
      severity: "critical",
      resources: reopened.map((r) => ({ urn: r.urn, type: r.type, change: r.change, keys: [...r.keys], reason: r.reason })),
    });
  }
}
