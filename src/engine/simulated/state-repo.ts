import { z } from "zod";
import type { Queryable } from "../../store/db.js";
import type { SimResource } from "./plan.js";

/** The simulated backend's checkpoint: one row per resource, written as each step completes. */
const Row = z.object({
  urn: z.string(),
  type: z.string(),
  name: z.string(),
  parent: z.string().nullable(),
  custom: z.boolean(),
  inputs: z.record(z.string(), z.unknown()),
  outputs: z.record(z.string(), z.unknown()),
  dependencies: z.array(z.string()),
  retain_on_delete: z.boolean(),
}).transform(({ retain_on_delete, ...r }) => ({ ...r, retainOnDelete: retain_on_delete }));

export async function loadState(db: Queryable, stack: string): Promise<SimResource[]> {
  const rows = await db.query(
    `SELECT urn, type, name, parent, custom, inputs, outputs, dependencies, retain_on_delete
       FROM simulated_resources WHERE stack = $1 ORDER BY position`,
    [stack],
  );
  return rows.map((r) => Row.parse(r));
}

export async function putResource(db: Queryable, stack: string, r: SimResource, position: number): Promise<void> {
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
}

export async function deleteResource(db: Queryable, stack: string, urn: string): Promise<void> {
  await db.query(`DELETE FROM simulated_resources WHERE stack = $1 AND urn = $2`, [stack, urn]);
}
