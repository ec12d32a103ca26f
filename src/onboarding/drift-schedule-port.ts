import { randomUUID } from "node:crypto";
import type { AuditWriter } from "../audit/append.js";
import { recordAllowed, SYSTEM_ACTOR } from "../auth/actor.js";
import * as ops from "../operations/operations-repo.js";
import type { Logger } from "pino";
import type { EventHub } from "../operations/event-hub.js";
import { createDriftSchedule, type DriftSchedule, type DriftSchedulePort } from "../operations/schedules/drift-schedule.js";
import type { Db, Queryable } from "../store/db.js";
import { admit } from "./lifecycle.js";
import * as providers from "./providers-repo.js";

export interface DriftSchedulePortDeps {
  readonly audit: AuditWriter;
  readonly engine: string;
  readonly programVersion: string;
}

const CHECKED = ["active", "revoked"] as const;

/**
 * What the drift schedule (src/operations/schedules) needs from onboarding: which stacks to check, and an
 * ordinary `drift-check` operation queued as the system (priority 2, audited), never beside another operation
 * of the same stack (queued, running or awaiting approval): then it is `busy` and the schedule tries later.
 */
export function createDriftSchedulePort(deps: DriftSchedulePortDeps): DriftSchedulePort {
  return {
    async stacks(q: Queryable) {
      const rows = await q.query<{ name: string }>(`SELECT name FROM providers WHERE lifecycle = ANY($1::text[]) ORDER BY name`, [[...CHECKED]]);
      return rows.map((r) => r.name);
    },
    async enqueue(tx, stack) {
      const p = await providers.getProvider(tx, stack, true);
      if (p === undefined || !(CHECKED as readonly string[]).includes(p.lifecycle)) return { outcome: "gone" };
      const active = await ops.activeOperations(tx, stack);
      const first = active[0];
      if (first !== undefined) return { outcome: "busy", reason: `operation ${first.id} (${first.intent}) is ${first.status}` };
      const admission = admit("drift-check", p.lifecycle, []);
      if (!admission.ok) return { outcome: "gone" };
      const { operation, event } = await ops.enqueueOperation(tx, {
        id: randomUUID(),
        provider: stack,
        intent: "drift-check",
        kind: "refresh",
        accessState: admission.accessState,
        engine: deps.engine,
        spec: p.spec,
        specHash: p.spec_hash,
        programVersion: deps.programVersion,
        background: true,
      });
      await recordAllowed(deps.audit, tx, SYSTEM_ACTOR, "provider.drift-check", { kind: "provider", id: stack }, {
        operationId: operation.id,
        intent: operation.intent,
        kind: operation.kind,
        specHash: operation.spec_hash,
        programVersion: operation.program_version,
        status: operation.status,
        scheduled: true,
      });
      return { outcome: "queued", operationId: operation.id, event };
    },
  };
}

/** The providers' drift schedule as the composition root wires it (DRIFT_CHECK_INTERVAL). */
export function createProviderDriftSchedule(
  deps: DriftSchedulePortDeps & { readonly db: Db; readonly hub: EventHub; readonly log: Logger },
  intervalMs: number | null,
  kickRunner: () => void,
): DriftSchedule {
  return createDriftSchedule({ db: deps.db, hub: deps.hub, log: deps.log, port: createDriftSchedulePort(deps), intervalMs, kickRunner });
}
