import { z } from "zod";
import type { Queryable } from "../store/db.js";

/**
 * What a CloudHSM key store's phase 2 has reached (migration 012): `submitted` (handed over, no run yet),
 * `created` (a key-store run has started: every run builds phase 2 from then on; `custom_key_store_id` once
 * the store exists), `connected`.
 */
export const KEY_STORE_STATES = ["submitted", "created", "connected"] as const;
export type KeyStoreState = (typeof KEY_STORE_STATES)[number];

const timestamp = z.union([z.date(), z.string()]).transform((v) => new Date(v).toISOString());

const KeyStoreRow = z.object({
  provider: z.string(),
  generation: z.number().int().positive(),
  trust_anchor_certificate: z.string(),
  /** Null once connected: the password is forgotten then. */
  password_sealed: z.string().nullable(),
  state: z.enum(KEY_STORE_STATES),
  custom_key_store_id: z.string().nullable(),
  updated_at: timestamp,
});
export type KeyStoreRecord = z.output<typeof KeyStoreRow>;

/** The provider's key-store row for this generation (a row of an earlier generation is none). */
export async function getKeyStore(q: Queryable, provider: string, generation: number): Promise<KeyStoreRecord | undefined> {
  const rows = await q.query(`SELECT * FROM key_stores WHERE provider = $1 AND generation = $2`, [provider, generation]);
  return rows.map((r) => KeyStoreRow.parse(r))[0];
}

/**
 * What the operator handed over. A store that exists keeps its id (a new password is applied to it by the
 * next run), and its state: only the run that connects it moves it on.
 */
export async function submitKeyStore(
  q: Queryable,
  k: { provider: string; generation: number; trustAnchorCertificate: string; passwordSealed: string },
): Promise<void> {
  await q.query(
    `INSERT INTO key_stores (provider, generation, trust_anchor_certificate, password_sealed, state)
     VALUES ($1, $2, $3, $4, 'submitted')
     ON CONFLICT (provider) DO UPDATE SET generation = EXCLUDED.generation, trust_anchor_certificate = EXCLUDED.trust_anchor_certificate,
            password_sealed = EXCLUDED.password_sealed,
            state = CASE WHEN key_stores.generation = EXCLUDED.generation THEN key_stores.state ELSE 'submitted' END,
            custom_key_store_id = CASE WHEN key_stores.generation = EXCLUDED.generation THEN key_stores.custom_key_store_id END,
            updated_at = now()`,
    [k.provider, k.generation, k.trustAnchorCertificate, k.passwordSealed],
  );
}

/** `connected` also forgets the password: KMS rotated kmsuser's, and the stack ignores changes to it from then on. */
export async function setKeyStoreState(q: Queryable, provider: string, state: Exclude<KeyStoreState, "submitted">, customKeyStoreId: string | null): Promise<void> {
  await q.query(
    `UPDATE key_stores SET state = $2, custom_key_store_id = coalesce($3, custom_key_store_id),
            password_sealed = CASE WHEN $2 = 'connected' THEN NULL ELSE password_sealed END, updated_at = now()
      WHERE provider = $1`,
    [provider, state, customKeyStoreId],
  );
}

/** A decommissioned provider's credentials are not needed by anything any more. */
export async function deleteKeyStore(q: Queryable, provider: string): Promise<void> {
  await q.query(`DELETE FROM key_stores WHERE provider = $1`, [provider]);
}
