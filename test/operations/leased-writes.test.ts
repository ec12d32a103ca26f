import { describe, expect, it } from "vitest";
import { batchAppendedAfter, Lease, whileLeased } from "../../src/operations/leased-writes.js";
import type { EventData } from "../../src/operations/events.js";
import { listEvents } from "../../src/operations/events-repo.js";
import { LeaseLostError } from "../../src/operations/operation.js";
import { appendEvents } from "../../src/operations/operations-repo.js";
import { createTestDb } from "../helpers/db.js";
import { insertEvent, insertOperation, insertProvider } from "../store/seed.js";
import { DatabaseUnavailableError } from "../../src/store/unavailable.js";

/** Issue 14: a running operation's writes outlast a short database outage, for as long as its lease. */
const lost = () => Object.assign(new Error("Connection terminated unexpectedly"), {});

describe("whileLeased", () => {
  it("retries a write the database could not take until it is taken, while the lease lasts", async () => {
    let tries = 0;
    const retries: number[] = [];
    const result = await whileLeased(
      new Lease(30),
      async () => {
        tries++;
        if (tries < 4) throw lost();
        return "written";
      },
      { onRetry: (_err, attempt) => retries.push(attempt) },
    );
    expect(result).toBe("written");
    expect(tries).toBe(4);
    expect(retries).toEqual([1, 2, 3]);
  });

  it("gives up with the database error once the lease would lapse", async () => {
    const lease = new Lease(0.5);
    const started = Date.now();
    let tries = 0;
    await expect(
      whileLeased(lease, async () => {
        tries++;
        throw new DatabaseUnavailableError(lost());
      }),
    ).rejects.toBeInstanceOf(DatabaseUnavailableError);
    expect(Date.now() - started).toBeLessThan(1_000);
    expect(tries).toBeGreaterThan(1);
  });

  it("never retries another error (a lost lease, a constraint)", async () => {
    let tries = 0;
    const unique = Object.assign(new Error("duplicate key"), { code: "23505" });
    await expect(
      whileLeased(new Lease(30), async () => {
        tries++;
        throw unique;
      }),
    ).rejects.toBe(unique);
    expect(tries).toBe(1);
  });

  it("asks whether a try whose answer was lost took effect before writing again, so nothing is written twice", async () => {
    const written: string[] = [];
    let first = true;
    const result = await whileLeased(
      new Lease(30),
      async () => {
        written.push("event");
        if (first) {
          first = false;
          throw lost(); // committed, but the answer never came back
        }
        return written.length;
      },
      { settled: async () => (written.length > 0 ? written.length : undefined) },
    );
    expect(written).toEqual(["event"]);
    expect(result).toBe(1);
  });

  it("a renewed lease lasts from the heartbeat that renewed it, never less than before", () => {
    const lease = new Lease(30, 1_000);
    expect(lease.until).toBe(31_000);
    lease.renewed(11_000);
    expect(lease.until).toBe(41_000);
    lease.renewed(5_000);
    expect(lease.until).toBe(41_000);
  });

  it("a lease that runs out without a renewal says so once (the runner stops the attempt); a renewal postpones it, a release cancels it", async () => {
    // Half-second margins either side, so a loaded machine's late timers cannot flip the outcome.
    const lapsed: number[] = [];
    const started = Date.now();
    const lease = new Lease(1, started, () => lapsed.push(Date.now() - started));
    await new Promise((r) => setTimeout(r, 500));
    const renewedAt = Date.now();
    lease.renewed(renewedAt);
    await new Promise((r) => setTimeout(r, Math.max(0, renewedAt + 500 - Date.now())));
    expect(lapsed).toEqual([]);
    await new Promise((r) => setTimeout(r, Math.max(0, renewedAt + 1_500 - Date.now())));
    expect(lapsed).toHaveLength(1);
    expect(lapsed[0]).toBeGreaterThanOrEqual(renewedAt - started + 1_000 - 20);
    const released = new Lease(0.1, Date.now(), () => lapsed.push(-1));
    released.release();
    await new Promise((r) => setTimeout(r, 300));
    expect(lapsed).toHaveLength(1);
  });
});

describe("a burst of events in one write (appendEvents)", () => {
  it("appends consecutive seqs after the last, sets progress from the last progress, is recognised when its answer was lost, and is fenced", async () => {
    const db = await createTestDb();
    try {
      await insertProvider(db, "burst");
      const id = await insertOperation(db, "burst", "running");
      await insertEvent(db, id, 1);
      await db.query(`UPDATE operations SET attempt = 1, lease_owner = 'me', lease_expires_at = now() + interval '1 minute', last_seq = 1 WHERE id = $1`, [id]);
      const fence = { attempt: 1, owner: "me" };
      const batch: EventData[] = [
        { type: "resource.planned", urn: "urn:a", resourceType: "t", name: "a", op: "create" },
        { type: "progress", done: 0, total: 2 },
        { type: "progress", done: 1, total: 2 },
      ];
      const written = await appendEvents(db, id, fence, batch);
      expect(written.map((w) => w.seq)).toEqual([2, 3, 4]);
      const events = await listEvents(db, id, 1, 10);
      expect(events.map(({ seq: _s, at: _a, ...data }) => data)).toEqual(batch);
      const [row] = await db.query<{ last_seq: number; progress_done: number; progress_total: number }>(
        `SELECT last_seq, progress_done, progress_total FROM operations WHERE id = $1`,
        [id],
      );
      expect(row).toEqual({ last_seq: 4, progress_done: 1, progress_total: 2 });
      // A retry after a lost answer finds the whole burst in place (and another burst is not mistaken for it).
      expect((await batchAppendedAfter(db, id, 1, batch))?.map((e) => e.seq)).toEqual([2, 3, 4]);
      expect(await batchAppendedAfter(db, id, 1, [...batch.slice(0, 2), { type: "progress", done: 2, total: 2 }])).toBeUndefined();
      expect(await batchAppendedAfter(db, id, 4, batch)).toBeUndefined();
      // Another attempt's writer writes nothing.
      await expect(appendEvents(db, id, { attempt: 1, owner: "someone-else" }, batch)).rejects.toBeInstanceOf(LeaseLostError);
      expect((await db.query<{ n: number }>(`SELECT count(*)::int AS n FROM operation_events WHERE operation_id = $1`, [id]))[0]!.n).toBe(4);
    } finally {
      await db.close();
    }
  });
});
