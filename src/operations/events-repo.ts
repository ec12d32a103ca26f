import { z } from "zod";
import type { Queryable } from "../store/db.js";
import { EventData, type OperationEvent } from "./events.js";

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
