import { z } from "zod";
import type { Queryable } from "../store/db.js";
import { EventData, TERMINAL_EVENT_TYPES, type OperationEvent } from "./events.js";

const EventRow = z.object({ seq: z.number().int(), at: z.union([z.date(), z.string()]), data: z.unknown() });

/** Events of an operation with seq > `after`, oldest first. */
export async function listEvents(q: Queryable, operationId: string, after: number, limit: number): Promise<OperationEvent[]> {
  const rows = await q.query(
    `SELECT seq, at, data FROM operation_events WHERE operation_id = $1 AND seq > $2 ORDER BY seq LIMIT $3`,
    [operationId, after, limit],
  );
  return rows.map((r) => {
    const row = EventRow.parse(r);
    return { ...EventData.parse(row.data), seq: row.seq, at: new Date(row.at).toISOString() };
  });
}

/**
 * The operation has ended at or before `after` (its terminal event, always its last, has seq ≤ after):
 * nothing will ever follow, so a stream resumed from there must end at once (issue 13).
 */
export async function endedAtOrBefore(q: Queryable, operationId: string, after: number): Promise<boolean> {
  const rows = await q.query<{ ended: boolean }>(
    `SELECT EXISTS (SELECT 1 FROM operation_events WHERE operation_id = $1 AND seq <= $2 AND data->>'type' = ANY($3::text[])) AS ended`,
    [operationId, after, [...TERMINAL_EVENT_TYPES]],
  );
  return rows[0]?.ended === true;
}
