import { randomUUID } from "node:crypto";
import type { AuditWriter } from "../audit/append.js";
import { recordAllowed, SYSTEM_ACTOR } from "../auth/actor.js";
import * as ops from "../operations/operations-repo.js";
import type { Logger } from "pino";
import type { EventHub } from "../operations/event-hub.js";
import { createDriftSchedule, type DriftSchedule, type DriftSchedulePort } from "../operations/schedules/drift-schedule.js";
import type { Db, Queryable } from "../store/db.js";
import type { AuditAction, AuditResource } from "../audit/record.js";
import { isHubStack, queuedDetails, regionOfHubStack } from "../operations/operation.js";
import { admit } from "./lifecycle.js";
import { hubStackOperation } from "./network-hub.js";
import { getHub, hubStacks } from "./network-hubs-repo.js";
import * as providers from "./providers-repo.js";

export interface DriftSchedulePortDeps {
  readonly audit: AuditWriter;
  readonly engine: string;
  readonly programVersion: string;
}

const CHECKED = ["active", "revoked"] as const;

/** What a scheduled check of one stack runs with and how it is audited, or undefined when the stack is gone. */
type Target = { readonly op: Omit<ops.NewOperation, "id" | "engine" | "background">; readonly action: AuditAction; readonly resource: AuditResource };

async function providerTarget(tx: Queryable, stack: string, programVersion: string): Promise<Target | undefined> {
  const p = await providers.getProvider(tx, stack, true);
  if (p === undefined || !(CHECKED as readonly string[]).includes(p.lifecycle)) return undefined;
  const admission = admit("drift-check", p.lifecycle, []);
  if (!admission.ok) return undefined;
  const op = { provider: stack, intent: "drift-check", kind: "refresh", accessState: admission.accessState, spec: p.spec, specHash: p.spec_hash, programVersion } as const;
  return { op, action: "provider.drift-check", resource: { kind: "provider", id: stack } };
}

async function hubTarget(tx: Queryable, stack: string): Promise<Target | undefined> {
  const region = regionOfHubStack(stack);
  if ((await getHub(tx, region, true)) === undefined) return undefined;
  return { op: { ...hubStackOperation(region), intent: "drift-check", kind: "refresh" }, action: "network-hub.drift-check", resource: { kind: "network-hub", id: region } };
}

/**
 * What the drift schedule (src/operations/schedules) needs from onboarding: which stacks to check (active or
 * revoked providers, and the network hubs that exist), and an ordinary `drift-check` operation queued as the
 * system (priority 2, audited), never beside another operation of the same stack (queued, running or awaiting
 * approval): then it is `busy` and the schedule tries later.
 */
export function createDriftSchedulePort(deps: DriftSchedulePortDeps): DriftSchedulePort {
  return {
    async stacks(q: Queryable) {
      const rows = await q.query<{ name: string }>(`SELECT name FROM providers WHERE lifecycle = ANY($1::text[]) ORDER BY name`, [[...CHECKED]]);
      return [...rows.map((r) => r.name), ...(await hubStacks(q))];
    },
    async enqueue(tx, stack) {
      const target = isHubStack(stack) ? await hubTarget(tx, stack) : await providerTarget(tx, stack, deps.programVersion);
      if (target === undefined) return { outcome: "gone" };
      const active = await ops.activeOperations(tx, stack);
      const first = active[0];
      if (first !== undefined) return { outcome: "busy", reason: `operation ${first.id} (${first.intent}) is ${first.status}` };
      const { operation, event } = await ops.enqueueOperation(tx, { id: randomUUID(), engine: deps.engine, background: true, ...target.op });
      await recordAllowed(deps.audit, tx, SYSTEM_ACTOR, target.action, target.resource, { ...queuedDetails(operation), scheduled: true });
      return { outcome: "queued", operationId: operation.id, event };
    },
  };
}

/** The drift schedule of providers and network hubs as the composition root wires it (DRIFT_CHECK_INTERVAL). */
export function createProviderDriftSchedule(
  deps: DriftSchedulePortDeps & { readonly db: Db; readonly hub: EventHub; readonly log: Logger },
  intervalMs: number | null,
  kickRunner: () => void,
): DriftSchedule {
  return createDriftSchedule({ db: deps.db, hub: deps.hub, log: deps.log, port: createDriftSchedulePort(deps), intervalMs, kickRunner });
}
