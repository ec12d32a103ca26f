import type { Queryable } from "../../src/store/db.js";

/**
 * What a release upgrade leaves behind, written straight into the store: these stacks last ran the
 * previous program version. With `changedResources`, the simulated engine's recorded state of that many
 * resources per stack (the first custom ones, by position) also differs from what the program builds now,
 * so the rollout's update of each stack has that many real steps (each SIMULATED_STEP_MS) — as when a new
 * program version changes resources — instead of none.
 */
export async function markBehind(
  db: Queryable,
  names: readonly string[],
  options: { readonly version?: string; readonly changedResources?: number } = {},
): Promise<void> {
  await db.query(`UPDATE operations SET program_version = $1 WHERE provider = ANY($2::text[])`, [options.version ?? "provider-stack@1", names]);
  if ((options.changedResources ?? 0) === 0) return;
  await db.query(
    `UPDATE simulated_resources r SET inputs = r.inputs || '{"previousRelease": true}'::jsonb
       FROM (SELECT stack, urn, row_number() OVER (PARTITION BY stack ORDER BY position) AS n
               FROM simulated_resources WHERE stack = ANY($1::text[]) AND custom AND type NOT LIKE 'pulumi:providers:%') c
      WHERE r.stack = c.stack AND r.urn = c.urn AND c.n <= $2`,
    [names, options.changedResources],
  );
}
