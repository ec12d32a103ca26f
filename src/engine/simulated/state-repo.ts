import { z } from "zod";
import type { Queryable } from "../../store/db.js";
import { retryingQueryable } from "../../store/unavailable.js";
import type { SimResource } from "./plan.js";

/**
 * The simulated backend's checkpoint: one row per resource, written as each step completes, and the
 * steps in flight (`pending`), written as each starts. A port, so that an engine running in a child
 * process keeps its state in the service's database through the parent (src/engine/process).
 */
export interface PendingOperation {
  readonly urn: string;
  readonly type: string;
  readonly name: string;
  readonly op: string;
  readonly operationId: string;
}

/** A resource a destroy left in the cloud (retainOnDelete), by the unique name AWS knows it by. */
export interface RetainedName {
  readonly type: string;
  readonly name: string;
  readonly stack: string;
  readonly urn: string;
}

export interface SimStateStore {
  load(stack: string): Promise<SimResource[]>;
  put(stack: string, resource: SimResource, position: number): Promise<void>;
  delete(stack: string, urn: string): Promise<void>;
  markPending(stack: string, pending: PendingOperation): Promise<void>;
  clearPending(stack: string, urn: string): Promise<void>;
  /** Returns the stack's pending operations and forgets them (recovery reports each one). */
  takePending(stack: string): Promise<PendingOperation[]>;
  /** Remembers a name a destroy left in the cloud: the simulated cloud refuses to create it again. */
  retain(entry: RetainedName): Promise<void>;
  /** Every retained name, in every stack (the simulated cloud is one namespace). */
  retained(): Promise<RetainedName[]>;
  /** Where the simulated cloud differs from the stack's state (written only by the test double, simulated-drift.ts). */
  drifted(stack: string): Promise<CloudDrift[]>;
}

/**
 * A resource changed or deleted in the simulated cloud behind the stack's back. `inputs`: for a change, the
 * inputs whose values the cloud now holds (key → value); the drift check reports only their names.
 */
export interface CloudDrift {
  readonly urn: string;
  readonly change: "update" | "delete";
  readonly inputs: Readonly<Record<string, unknown>>;
}

const CloudDriftRow = z.object({ urn: z.string(), change: z.enum(["update", "delete"]), inputs: z.record(z.string(), z.unknown()) });

/** A recorded resource (also what an engine child sends to be stored). */
export const SimResourceSchema = z.object({
  urn: z.string(),
  type: z.string(),
  name: z.string(),
  parent: z.string().nullable(),
  custom: z.boolean(),
  inputs: z.record(z.string(), z.unknown()),
  outputs: z.record(z.string(), z.unknown()),
  dependencies: z.array(z.string()),
  retainOnDelete: z.boolean(),
});

export const PendingOperationSchema = z.object({ urn: z.string(), type: z.string(), name: z.string(), op: z.string(), operationId: z.string() });

export const RetainedNameSchema = z.object({ type: z.string(), name: z.string(), stack: z.string(), urn: z.string() });

const Row = SimResourceSchema.omit({ retainOnDelete: true })
  .extend({ retain_on_delete: z.boolean() })
  .transform(({ retain_on_delete, ...r }) => ({ ...r, retainOnDelete: retain_on_delete }));

const PendingRow = PendingOperationSchema.omit({ operationId: true })
  .extend({ operation_id: z.string() })
  .transform(({ operation_id, ...p }) => ({ ...p, operationId: operation_id }));

/**
 * The simulated cloud outlives a short database outage, as a real cloud outlives ours: its statements are
 * retried for as long as a default lease (all but `takePending`, which must not run twice).
 */
const OUTAGE_MS = 30_000;

export function createDbStateStore(raw: Queryable): SimStateStore {
  const db = retryingQueryable(raw, OUTAGE_MS);
  return {
    async load(stack) {
      const rows = await db.query(
        `SELECT urn, type, name, parent, custom, inputs, outputs, dependencies, retain_on_delete
           FROM simulated_resources WHERE stack = $1 ORDER BY position`,
        [stack],
      );
      return rows.map((r) => Row.parse(r));
    },
    async put(stack, r, position) {
      await db.query(
        `INSERT INTO simulated_resources (stack, urn, type, name, parent, custom, inputs, outputs, dependencies, position, retain_on_delete)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)
         ON CONFLICT (stack, urn) DO UPDATE SET
           type = EXCLUDED.type, name = EXCLUDED.name, parent = EXCLUDED.parent, custom = EXCLUDED.custom,
           inputs = EXCLUDED.inputs, outputs = EXCLUDED.outputs, dependencies = EXCLUDED.dependencies,
           position = EXCLUDED.position, retain_on_delete = EXCLUDED.retain_on_delete, updated_at = now()`,
        [
          stack,
          r.urn,
          r.type,
          r.name,
          r.parent,
          r.custom,
          JSON.stringify(r.inputs),
          JSON.stringify(r.outputs),
          JSON.stringify(r.dependencies),
          position,
          r.retainOnDelete,
        ],
      );
    },
    async delete(stack, urn) {
      await db.query(`DELETE FROM simulated_resources WHERE stack = $1 AND urn = $2`, [stack, urn]);
    },
    async markPending(stack, p) {
      await db.query(
        `INSERT INTO simulated_pending_operations (stack, urn, type, name, op, operation_id) VALUES ($1, $2, $3, $4, $5, $6)
         ON CONFLICT (stack, urn) DO UPDATE SET op = EXCLUDED.op, operation_id = EXCLUDED.operation_id, started_at = now()`,
        [stack, p.urn, p.type, p.name, p.op, p.operationId],
      );
    },
    async clearPending(stack, urn) {
      await db.query(`DELETE FROM simulated_pending_operations WHERE stack = $1 AND urn = $2`, [stack, urn]);
    },
    async takePending(stack) {
      const rows = await raw.query(
        `WITH taken AS (DELETE FROM simulated_pending_operations WHERE stack = $1 RETURNING *)
         SELECT urn, type, name, op, operation_id FROM taken ORDER BY started_at, urn`,
        [stack],
      );
      return rows.map((r) => PendingRow.parse(r));
    },
    async retain(r) {
      await db.query(
        `INSERT INTO simulated_retained (type, name, stack, urn) VALUES ($1, $2, $3, $4)
         ON CONFLICT (type, name) DO UPDATE SET stack = EXCLUDED.stack, urn = EXCLUDED.urn, retained_at = now()`,
        [r.type, r.name, r.stack, r.urn],
      );
    },
    async retained() {
      const rows = await db.query(`SELECT type, name, stack, urn FROM simulated_retained ORDER BY type, name`);
      return rows.map((r) => RetainedNameSchema.parse(r));
    },
    async drifted(stack) {
      const rows = await db.query(`SELECT urn, change, inputs FROM simulated_drift WHERE stack = $1 ORDER BY urn`, [stack]);
      return rows.map((r) => CloudDriftRow.parse(r));
    },
  };
}
