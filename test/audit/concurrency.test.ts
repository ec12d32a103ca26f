import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { createAuditWriter } from "../../src/audit/append.js";
import { listAudit } from "../../src/audit/list.js";
import { verifyAudit } from "../../src/audit/verify.js";
import type { Db } from "../../src/store/db.js";
import { deferred, within } from "../store/seed.js";
import { resetAudit, sampleInput, targets, testKeys } from "./support.js";

const { hmacKey, publicKey } = testKeys();
const audit = createAuditWriter({ hmacKey });
const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

/**
 * One linear chain from concurrent transactions on several connections ("replicas"). Only PostgreSQL has
 * several connections: PGlite has one, whose transactions run one after another by construction (its
 * adapter serializes them), so there is nothing concurrent to test there beyond the suite in audit-trail.test.ts.
 */
const postgres = (await targets()).find((t) => t.name === "postgres");
if (postgres === undefined) throw new Error("no postgres target");

describe.skipIf(postgres.skipped !== undefined)(`concurrent appends on PostgreSQL${postgres.skipped ? ` (skipped: ${postgres.skipped})` : ""}`, () => {
  let replicas: Db[] = [];
  beforeAll(async () => {
    replicas = await Promise.all([postgres.open(), postgres.open(), postgres.open()]);
  });
  afterAll(async () => {
    await Promise.all(replicas.map((r) => r.close()));
  });
  beforeEach(async () => {
    await resetAudit(replicas[0]!);
  });

  it("makes a second appender wait for the first transaction's commit, then chain after it", async () => {
    const [a, b] = replicas as [Db, Db];
    const appended = deferred();
    const commit = deferred();
    const first = a.transaction(async (tx) => {
      const record = await audit.append(tx, sampleInput());
      appended.resolve();
      await commit.promise;
      return record;
    });
    await appended.promise;
    let secondDone = false;
    const second = b
      .transaction((tx) => audit.append(tx, sampleInput()))
      .finally(() => {
        secondDone = true;
      });
    await sleep(300);
    expect(secondDone).toBe(false); // blocked on the head row lock
    commit.resolve();
    const [r1, r2] = await within(Promise.all([first, second]), 10_000, "both appends");
    expect([r1.seq, r2.seq]).toEqual([1, 2]);
    expect(r2.prevHash).toBe(r1.hash);
  });

  it("gives the seq of a rolled-back transaction to the next one: no gap", async () => {
    const [a, b] = replicas as [Db, Db];
    const appended = deferred();
    const abort = deferred();
    const failing = a.transaction(async (tx) => {
      await audit.append(tx, sampleInput());
      appended.resolve();
      await abort.promise;
      throw new Error("the change failed");
    });
    await appended.promise;
    const waiting = b.transaction((tx) => audit.append(tx, sampleInput()));
    await sleep(100);
    abort.resolve();
    await expect(failing).rejects.toThrow("the change failed");
    expect((await waiting).seq).toBe(1);
  });

  it("forms one gap-free chain from 3 replicas × 40 transactions, each transaction's records contiguous", async () => {
    const PER_REPLICA = 40;
    const results = await within(
      Promise.all(
        replicas.map(async (db, replica) => {
          const mine: { tx: string; seqs: number[]; committed: boolean }[] = [];
          for (let i = 0; i < PER_REPLICA; i++) {
            const tx = `r${replica}-t${i}`;
            const records = 1 + (i % 3);
            const rollBack = i % 7 === 3;
            const seqs: number[] = [];
            try {
              await db.transaction(async (t) => {
                for (let k = 0; k < records; k++) {
                  seqs.push((await audit.append(t, sampleInput({ requestId: tx, details: { k } }))).seq);
                  if (Math.random() < 0.3) await sleep(1); // let others queue up on the lock
                }
                if (rollBack) throw new Error("rolled back on purpose");
              });
              mine.push({ tx, seqs, committed: true });
            } catch (err) {
              // Only the deliberate rollbacks may fail: a lost race (unique violation on seq) is a bug.
              if (!rollBack) throw err;
              mine.push({ tx, seqs, committed: false });
            }
          }
          return mine;
        }),
      ),
      60_000,
      "the concurrent appends",
    );
    const committed = results.flat().filter((r) => r.committed);
    expect(committed).toHaveLength(replicas.length * (PER_REPLICA - Math.ceil((PER_REPLICA - 3) / 7)));
    const total = committed.reduce((n, r) => n + r.seqs.length, 0);

    expect(await verifyAudit(replicas[0]!, publicKey, { batchSize: 50 })).toMatchObject({ ok: true, records: total, lastSeq: total });
    const stored = [];
    for (let after: string | null = "0"; after !== null; ) {
      const page = await listAudit(replicas[1]!, { after, limit: 500 });
      stored.push(...page.records);
      after = page.nextCursor;
    }
    expect(stored.map((r) => r.seq)).toEqual(Array.from({ length: total }, (_, i) => i + 1));
    // A transaction holds the head until it commits: nobody else's record lands between its records.
    for (const tx of committed) {
      const seqs = stored.filter((r) => r.requestId === tx.tx).map((r) => r.seq);
      expect(seqs).toEqual(tx.seqs);
      expect(seqs.at(-1)! - seqs[0]!).toBe(seqs.length - 1);
    }
    expect(stored.some((r) => results.flat().some((x) => !x.committed && x.tx === r.requestId))).toBe(false);
  });
});
