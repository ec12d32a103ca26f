import { z } from "zod";
import { OperationRow, type Operation } from "../operations/operation.js";
import type { Queryable } from "../store/db.js";

/**
 * The network hubs that exist (migration 021): a row per region once a hub update there has succeeded, with
 * the hub stack's last drift result (onboarding/drift.ts DriftState; null: never checked).
 */
const timestamp = z.union([z.date(), z.string()]).transform((v) => new Date(v).toISOString());

export const NetworkHubRow = z.object({
  region: z.string(),
  stack: z.string(),
  created_at: timestamp,
  drift: z.unknown().default(null),
});
export type NetworkHubRecord = z.output<typeof NetworkHubRow>;

/** The hub stack of `region` exists from its first successful hub update on. */
export async function registerHub(q: Queryable, region: string, stack: string): Promise<void> {
  await q.query(`INSERT INTO network_hubs (region, stack) VALUES ($1, $2) ON CONFLICT (region) DO NOTHING`, [region, stack]);
}

export async function getHub(q: Queryable, region: string, forUpdate = false): Promise<NetworkHubRecord | undefined> {
  const rows = await q.query(`SELECT * FROM network_hubs WHERE region = $1${forUpdate ? " FOR UPDATE" : ""}`, [region]);
  return rows.map((r) => NetworkHubRow.parse(r))[0];
}

export async function listHubs(q: Queryable): Promise<NetworkHubRecord[]> {
  return (await q.query(`SELECT * FROM network_hubs ORDER BY region`)).map((r) => NetworkHubRow.parse(r));
}

export async function hubStacks(q: Queryable): Promise<string[]> {
  return (await q.query<{ stack: string }>(`SELECT stack FROM network_hubs ORDER BY stack`)).map((r) => r.stack);
}

export async function setHubDrift(q: Queryable, region: string, drift: unknown): Promise<void> {
  await q.query(`UPDATE network_hubs SET drift = $2 WHERE region = $1`, [region, JSON.stringify(drift)]);
}

/** The hub stack's latest operation (any intent), and its latest successful hub update (what the policy lists). */
export async function hubOperations(q: Queryable, stack: string): Promise<{ last: Operation | undefined; lastUpdate: Operation | undefined }> {
  const latest = async (where: string) =>
    (await q.query(`SELECT * FROM operations WHERE provider = $1${where} ORDER BY queue_seq DESC LIMIT 1`, [stack])).map((r) => OperationRow.parse(r))[0];
  return { last: await latest(""), lastUpdate: await latest(` AND intent = 'hub-update' AND status = 'succeeded'`) };
}
