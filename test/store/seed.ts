import { randomUUID } from "node:crypto";
import type { Queryable } from "../../src/store/db.js";

/** Minimal valid rows, inserted with plain SQL, for the store tests. Names are unique per call. */
export async function insertProvider(q: Queryable, name = `p-${randomUUID().slice(0, 8)}`): Promise<string> {
  await q.query(
    `INSERT INTO providers (name, team, spec, spec_hash, lifecycle, engine)
     VALUES ($1, 'team-a', $2, 'hash', 'provisioning', 'simulated')`,
    [name, JSON.stringify({ name })],
  );
  return name;
}

export type OperationStatus = "queued" | "running" | "succeeded" | "failed" | "cancelled" | "interrupted";

export async function insertOperation(q: Queryable, provider: string, status: OperationStatus): Promise<string> {
  const id = randomUUID();
  await q.query(
    `INSERT INTO operations (id, provider, intent, kind, access_state, status, engine, spec, spec_hash, program_version)
     VALUES ($1, $2, 'create', 'up', 'active', $3, 'simulated', $4, 'hash', 'v1')`,
    [id, provider, status, JSON.stringify({ provider })],
  );
  return id;
}

export async function insertEvent(q: Queryable, operationId: string, seq: number): Promise<void> {
  await q.query("INSERT INTO operation_events (operation_id, seq, type, data) VALUES ($1, $2, 'log', $3)", [
    operationId,
    seq,
    JSON.stringify({ seq }),
  ]);
}

/** The runner's claim (DESIGN §9): the oldest queued operation nobody else holds. */
export const CLAIM_SQL = `
  UPDATE operations SET status = 'running', attempt = attempt + 1, started_at = now()
  WHERE id = (
    SELECT id FROM operations WHERE status = 'queued' AND provider = ANY($1::text[])
    ORDER BY queue_seq FOR UPDATE SKIP LOCKED LIMIT 1
  )
  RETURNING id`;

export function deferred<T = void>(): { promise: Promise<T>; resolve(value: T): void } {
  let resolve!: (value: T) => void;
  const promise = new Promise<T>((r) => {
    resolve = r;
  });
  return { promise, resolve };
}

/** Rejects after `ms` so a missing notification fails the test instead of hanging it. */
export function within<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`timed out after ${ms} ms waiting for ${what}`)), ms);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}
