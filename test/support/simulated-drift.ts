import type { Queryable } from "../../src/store/db.js";

/**
 * TEST DOUBLE: changes the simulated cloud behind a stack's back (someone edits a resource in the console,
 * or deletes it). The simulated engine's drift check compares its state with these records; nothing in
 * src/ writes them, and no configuration selects them.
 */
export async function changeInCloud(db: Queryable, stack: string, urn: string, inputs: Record<string, unknown>): Promise<void> {
  await db.query(
    `INSERT INTO simulated_drift (stack, urn, change, inputs) VALUES ($1, $2, 'update', $3)
     ON CONFLICT (stack, urn) DO UPDATE SET change = 'update', inputs = simulated_drift.inputs || EXCLUDED.inputs`,
    [stack, urn, JSON.stringify(inputs)],
  );
}

export async function deleteInCloud(db: Queryable, stack: string, urn: string): Promise<void> {
  await db.query(
    `INSERT INTO simulated_drift (stack, urn, change) VALUES ($1, $2, 'delete')
     ON CONFLICT (stack, urn) DO UPDATE SET change = 'delete', inputs = '{}'::jsonb`,
    [stack, urn],
  );
}

/** The recorded resources of a stack (type, name, urn, inputs), to pick one to drift. */
export async function stackResources(db: Queryable, stack: string): Promise<{ urn: string; type: string; name: string; inputs: Record<string, unknown> }[]> {
  return db.query(`SELECT urn, type, name, inputs FROM simulated_resources WHERE stack = $1 ORDER BY position`, [stack]);
}
