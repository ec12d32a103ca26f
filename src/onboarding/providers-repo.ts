import { z } from "zod";
import type { Queryable } from "../store/db.js";
import { Lifecycle } from "./lifecycle.js";

const timestamp = z.union([z.date(), z.string()]).transform((v) => new Date(v).toISOString());

export const ProviderRow = z.object({
  name: z.string(),
  team: z.string(),
  spec: z.record(z.string(), z.unknown()),
  spec_hash: z.string(),
  lifecycle: Lifecycle,
  outputs: z.record(z.string(), z.unknown()),
  engine: z.string(),
  /** This onboarding of the name (1, then +1 each time a decommissioned name is onboarded again). */
  generation: z.number().int().positive().default(1),
  /** The last drift check's result (onboarding/drift.ts DriftState); null: never checked. */
  drift: z.unknown().default(null),
  /** The last access verification's result (issue 17: onboarding/verification.ts); null: never verified. */
  verification: z.unknown().default(null),
  created_at: timestamp,
  updated_at: timestamp,
});
export type ProviderRecord = z.output<typeof ProviderRow>;

const parse = (rows: Record<string, unknown>[]): ProviderRecord[] => rows.map((r) => ProviderRow.parse(r));

export async function getProvider(q: Queryable, name: string, forUpdate = false): Promise<ProviderRecord | undefined> {
  return parse(await q.query(`SELECT * FROM providers WHERE name = $1${forUpdate ? " FOR UPDATE" : ""}`, [name]))[0];
}

export interface ProviderListQuery {
  readonly limit: number;
  /** Names strictly after this one (keyset pagination). */
  readonly after?: string | undefined;
  readonly lifecycle?: Lifecycle | undefined;
  readonly team?: string | undefined;
  /** Only these teams (the caller's); undefined = every team. */
  readonly teams?: readonly string[] | undefined;
  /** Only providers whose drift status is this (never checked counts as `unknown`). */
  readonly drift?: string | undefined;
}

export async function listProviders(q: Queryable, query: ProviderListQuery): Promise<ProviderRecord[]> {
  return parse(
    await q.query(
      `SELECT * FROM providers
        WHERE ($1::text IS NULL OR name > $1)
          AND ($2::text IS NULL OR lifecycle = $2)
          AND ($3::text IS NULL OR team = $3)
          AND ($5::text[] IS NULL OR team = ANY($5::text[]))
          AND ($6::text IS NULL OR coalesce(drift->>'status', 'unknown') = $6)
        ORDER BY name LIMIT $4`,
      [query.after ?? null, query.lifecycle ?? null, query.team ?? null, query.limit, query.teams === undefined ? null : [...query.teams], query.drift ?? null],
    ),
  );
}

/**
 * Inserts a provider, or re-provisions a decommissioned one under the same name as its next generation
 * (its retained resources keep the names of the earlier one); false when the name is taken.
 */
export async function upsertForCreate(
  q: Queryable,
  p: { name: string; team: string; spec: unknown; specHash: string; engine: string },
): Promise<boolean> {
  const rows = await q.query(
    `INSERT INTO providers (name, team, spec, spec_hash, lifecycle, engine)
     VALUES ($1, $2, $3, $4, 'provisioning', $5)
     ON CONFLICT (name) DO UPDATE SET team = EXCLUDED.team, spec = EXCLUDED.spec, spec_hash = EXCLUDED.spec_hash,
            lifecycle = 'provisioning', outputs = '{}'::jsonb, engine = EXCLUDED.engine, generation = providers.generation + 1,
            updated_at = now()
      WHERE providers.lifecycle = 'decommissioned'
     RETURNING name`,
    [p.name, p.team, JSON.stringify(p.spec), p.specHash, p.engine],
  );
  return rows.length > 0;
}

export async function updateSpec(q: Queryable, name: string, spec: unknown, specHash: string, team: string): Promise<void> {
  await q.query(`UPDATE providers SET spec = $2, spec_hash = $3, team = $4, updated_at = now() WHERE name = $1`, [
    name,
    JSON.stringify(spec),
    specHash,
    team,
  ]);
}

export async function setLifecycle(
  q: Queryable,
  name: string,
  lifecycle: Lifecycle,
  outputs?: Record<string, unknown>,
): Promise<void> {
  await q.query(
    `UPDATE providers SET lifecycle = $2, outputs = coalesce($3::jsonb, outputs), updated_at = now() WHERE name = $1`,
    [name, lifecycle, outputs === undefined ? null : JSON.stringify(outputs)],
  );
}
