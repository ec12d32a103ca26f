import { z } from "zod";
import { ChangeSummary, OperationError } from "../operations/events.js";
import type { Db, Queryable } from "../store/db.js";
import { RolloutEventData, RolloutStackStatus, type RolloutEvent, type RolloutEventData as EventData } from "./rollout-events.js";

const timestamp = z.union([z.date(), z.string()]).transform((v) => new Date(v).toISOString());

export const ROLLOUT_STATUSES = ["previewing", "awaiting_approval", "applying", "paused", "halted", "succeeded", "cancelled"] as const;
export const RolloutStatus = z.enum(ROLLOUT_STATUSES);
export type RolloutStatus = z.infer<typeof RolloutStatus>;
/** A rollout in one of these holds the one open place (a new one is refused until it ends). */
export const OPEN_STATUSES: ReadonlySet<RolloutStatus> = new Set(["previewing", "awaiting_approval", "applying", "paused"]);

export const RolloutRow = z.object({
  id: z.string(),
  program_version: z.string(),
  status: RolloutStatus,
  paused_phase: z.enum(["previewing", "applying"]).nullable(),
  canary: z.number().int(),
  batch_size: z.number().int(),
  max_parallel: z.number().int(),
  max_failures: z.number().int(),
  wave: z.number().int(),
  waves: z.number().int(),
  total: z.number().int(),
  requested_by: z.string(),
  requested_by_name: z.string(),
  approval_rule: z.enum(["restricted", "all"]).nullable(),
  decided_by: z.string().nullable(),
  decided_by_name: z.string().nullable(),
  decided_at: timestamp.nullable(),
  reason: z.string().nullable(),
  lease_owner: z.string().nullable(),
  last_seq: z.number().int(),
  created_at: timestamp,
  applying_at: timestamp.nullable(),
  finished_at: timestamp.nullable(),
});
export type Rollout = z.output<typeof RolloutRow>;

export const RolloutStackRow = z.object({
  provider: z.string(),
  position: z.number().int(),
  from_version: z.string().nullable(),
  access_state: z.enum(["active", "revoked"]),
  wave: z.number().int().nullable(),
  status: RolloutStackStatus,
  preview_operation_id: z.string().nullable(),
  operation_id: z.string().nullable(),
  changes: ChangeSummary.nullable(),
  error: OperationError.nullable(),
});
export type RolloutStack = z.output<typeof RolloutStackRow>;

/** A provider with the program version its stack last ran (an `up` that succeeded), for the fleet view. */
export const FleetRow = z.object({
  name: z.string(),
  team: z.string(),
  lifecycle: z.string(),
  spec: z.record(z.string(), z.unknown()),
  last_version: z.string().nullable(),
});
export type FleetRow = z.output<typeof FleetRow>;

/**
 * Every provider (of `teams`, or all) with the program version of the last `up` that succeeded on its
 * stack: create, update, revoke, reinstate and key-store runs all run the whole program.
 */
export async function fleetRows(q: Queryable, options: { teams?: readonly string[] | undefined; names?: readonly string[] | undefined } = {}): Promise<FleetRow[]> {
  const rows = await q.query(
    `SELECT p.name, p.team, p.lifecycle, p.spec, v.program_version AS last_version
       FROM providers p
       LEFT JOIN LATERAL (SELECT o.program_version FROM operations o
                           WHERE o.provider = p.name AND o.status = 'succeeded' AND o.kind = 'up'
                           ORDER BY o.queue_seq DESC LIMIT 1) v ON true
      WHERE ($1::text[] IS NULL OR p.team = ANY($1::text[])) AND ($2::text[] IS NULL OR p.name = ANY($2::text[]))
      ORDER BY p.name`,
    [options.teams ?? null, options.names ?? null],
  );
  return rows.map((r) => FleetRow.parse(r));
}

export interface NewRollout {
  readonly id: string;
  readonly programVersion: string;
  readonly canary: number;
  readonly batchSize: number;
  readonly maxParallel: number;
  readonly maxFailures: number;
  readonly requestedBy: string;
  readonly requestedByName: string;
  readonly approvalRule: "restricted" | "all" | undefined;
  readonly stacks: readonly { readonly provider: string; readonly fromVersion: string | null; readonly accessState: "active" | "revoked" }[];
}

export async function insertRollout(q: Queryable, r: NewRollout): Promise<Rollout> {
  const rows = await q.query(
    `INSERT INTO rollouts (id, program_version, status, canary, batch_size, max_parallel, max_failures, total, requested_by, requested_by_name, approval_rule)
     VALUES ($1, $2, 'previewing', $3, $4, $5, $6, $7, $8, $9, $10) RETURNING *`,
    [r.id, r.programVersion, r.canary, r.batchSize, r.maxParallel, r.maxFailures, r.stacks.length, r.requestedBy, r.requestedByName, r.approvalRule ?? null],
  );
  await q.query(
    `INSERT INTO rollout_stacks (rollout_id, provider, position, from_version, access_state, status)
     SELECT $1, s.provider, s.position, s.from_version, s.access_state, 'pending'
       FROM unnest($2::text[], $3::int[], $4::text[], $5::text[]) AS s(provider, position, from_version, access_state)`,
    [r.id, r.stacks.map((s) => s.provider), r.stacks.map((_, i) => i), r.stacks.map((s) => s.fromVersion), r.stacks.map((s) => s.accessState)],
  );
  return RolloutRow.parse(rows[0]);
}

export async function getRollout(q: Queryable, id: string, forUpdate = false): Promise<Rollout | undefined> {
  const rows = await q.query(`SELECT * FROM rollouts WHERE id = $1${forUpdate ? " FOR UPDATE" : ""}`, [id]);
  return rows[0] === undefined ? undefined : RolloutRow.parse(rows[0]);
}

/** Newest first; `before`: the created_at/id of the last item of the previous page. */
export async function listRollouts(q: Queryable, limit: number, before?: string): Promise<Rollout[]> {
  const rows = await q.query(
    `SELECT * FROM rollouts WHERE ($1::uuid IS NULL OR (created_at, id) < (SELECT created_at, id FROM rollouts WHERE id = $1::uuid))
      ORDER BY created_at DESC, id DESC LIMIT $2`,
    [before ?? null, limit],
  );
  return rows.map((r) => RolloutRow.parse(r));
}

export async function openRollout(q: Queryable): Promise<Rollout | undefined> {
  const rows = await q.query(`SELECT * FROM rollouts WHERE status IN ('previewing','awaiting_approval','applying','paused')`);
  return rows[0] === undefined ? undefined : RolloutRow.parse(rows[0]);
}

export async function listStacks(q: Queryable, id: string): Promise<RolloutStack[]> {
  const rows = await q.query(`SELECT * FROM rollout_stacks WHERE rollout_id = $1 ORDER BY position`, [id]);
  return rows.map((r) => RolloutStackRow.parse(r));
}

export async function updateStack(
  q: Queryable,
  id: string,
  provider: string,
  change: Partial<Pick<RolloutStack, "status" | "wave" | "preview_operation_id" | "operation_id" | "changes" | "error">>,
): Promise<void> {
  const columns = Object.keys(change) as (keyof typeof change)[];
  if (columns.length === 0) return;
  const json = new Set(["changes", "error"]);
  const values = columns.map((c) => (json.has(c) && change[c] !== null ? JSON.stringify(change[c]) : change[c]));
  await q.query(
    `UPDATE rollout_stacks SET ${columns.map((c, i) => `${c} = $${i + 3}`).join(", ")} WHERE rollout_id = $1 AND provider = $2`,
    [id, provider, ...values],
  );
}

export async function setRollout(
  q: Queryable,
  id: string,
  change: Partial<Pick<Rollout, "status" | "paused_phase" | "wave" | "waves" | "reason" | "decided_by" | "decided_by_name">> & {
    readonly decided?: true;
    readonly applying?: true;
    readonly finished?: true;
  },
): Promise<Rollout> {
  const { decided, applying, finished, ...plain } = change;
  const columns = Object.keys(plain) as (keyof typeof plain)[];
  const sets = [
    ...columns.map((c, i) => `${c} = $${i + 2}`),
    ...(decided ? ["decided_at = now()"] : []),
    ...(applying ? ["applying_at = now()"] : []),
    ...(finished ? ["finished_at = now()", "lease_owner = NULL", "lease_expires_at = NULL"] : []),
  ];
  const rows = await q.query(`UPDATE rollouts SET ${sets.join(", ")} WHERE id = $1 RETURNING *`, [id, ...columns.map((c) => plain[c])]);
  return RolloutRow.parse(rows[0]);
}

/** Appends one event with the next gap-free seq (the UPDATE takes the rollout's row lock). */
export async function appendRolloutEvent(q: Queryable, id: string, data: EventData): Promise<RolloutEvent> {
  const rows = await q.query<{ seq: number; at: Date | string }>(
    `WITH r AS (UPDATE rollouts SET last_seq = last_seq + 1 WHERE id = $1 RETURNING last_seq)
     INSERT INTO rollout_events (rollout_id, seq, type, data) SELECT $1, last_seq, $2, $3 FROM r RETURNING seq, at`,
    [id, data.type, JSON.stringify(data)],
  );
  const row = rows[0]!;
  return { ...data, seq: row.seq, at: new Date(row.at).toISOString() } as RolloutEvent;
}

const EventRow = z.object({ seq: z.number().int(), at: z.union([z.date(), z.string()]), data: z.unknown() });

export async function listRolloutEvents(q: Queryable, id: string, after: number, limit: number): Promise<RolloutEvent[]> {
  const rows = await q.query(`SELECT seq, at, data FROM rollout_events WHERE rollout_id = $1 AND seq > $2 ORDER BY seq LIMIT $3`, [id, after, limit]);
  return rows.map((r) => {
    const row = EventRow.parse(r);
    return { ...RolloutEventData.parse(row.data), seq: row.seq, at: new Date(row.at).toISOString() } as RolloutEvent;
  });
}

/** The rollout's final event has seq ≤ after: a stream resumed from there ends at once. */
export async function rolloutEndedAtOrBefore(q: Queryable, id: string, after: number): Promise<boolean> {
  const rows = await q.query<{ ended: boolean }>(
    `SELECT EXISTS (SELECT 1 FROM rollouts WHERE id = $1 AND finished_at IS NOT NULL AND last_seq <= $2) AS ended`,
    [id, after],
  );
  return rows[0]?.ended === true;
}

/**
 * Takes (or renews) the lease on every unfinished rollout that is free, expired or already this worker's:
 * an open one only when it is of `programVersion` (a replica of another release does not advance it), an
 * ended one (halted, cancelled) whatever its version, to record what its last operations did and write its
 * final event. SKIP LOCKED leaves a rollout another replica is advancing right now to that replica.
 */
export async function claimRollouts(db: Db, owner: string, leaseSeconds: number, programVersion: string): Promise<string[]> {
  const rows = await db.query<{ id: string }>(
    `UPDATE rollouts SET lease_owner = $1, lease_expires_at = now() + make_interval(secs => $2)
      WHERE id IN (SELECT id FROM rollouts
                    WHERE finished_at IS NULL
                      AND (program_version = $3 OR status NOT IN ('previewing','awaiting_approval','applying','paused'))
                      AND (lease_owner IS NULL OR lease_owner = $1 OR lease_expires_at < now())
                    FOR UPDATE SKIP LOCKED)
      RETURNING id`,
    [owner, leaseSeconds, programVersion],
  );
  return rows.map((r) => r.id);
}

/** Gives the leases of this worker back (a clean shutdown), so another replica goes on at once. */
export async function releaseRollouts(db: Db, owner: string): Promise<void> {
  await db.query(`UPDATE rollouts SET lease_owner = NULL, lease_expires_at = NULL WHERE lease_owner = $1 AND finished_at IS NULL`, [owner]);
}
