import fc from "fast-check";
import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { blocksOverlap, blockWithin, lowestFreeBlocks } from "../../src/onboarding/cidr-blocks.js";
import { formatCidr, parseCidr, type Cidr } from "../../src/onboarding/cidr.js";
import {
  allocateSubnets,
  MAX_ALLOCATION_ATTEMPTS,
  releaseSubnets,
  SubnetAllocationConflictError,
  SubnetPoolExhaustedError,
  subnetsOf,
  type SubnetRequest,
} from "../../src/onboarding/subnet-allocator.js";
import type { Db, Queryable } from "../../src/store/db.js";
import { migrate } from "../../src/store/migrate.js";
import { openPostgres } from "../../src/store/postgres.js";
import { createTestDb } from "../helpers/db.js";
import { startPostgresCluster } from "../helpers/postgres-cluster.js";
import { deferred, within } from "./seed.js";

const cidr = (s: string): Cidr => parseCidr(s) ?? { base: Number.NaN, prefix: 0 };
const request = (provider: string, over: Partial<SubnetRequest> = {}): SubnetRequest => ({
  provider,
  region: "eu-west-1",
  pool: "10.20.0.0/22",
  prefixLength: 26,
  azIds: ["euw1-az1", "euw1-az2", "euw1-az3"],
  ...over,
});
const AZS = ["euw1-az1", "euw1-az2", "euw1-az3"] as const;

/** Brute force, independent of the allocator: the first `count` aligned blocks overlapping nothing taken. */
function reference(pool: Cidr, prefix: number, taken: readonly Cidr[], count: number): Cidr[] | undefined {
  const size = 2 ** (32 - prefix);
  const free: Cidr[] = [];
  for (let base = pool.base; base < pool.base + 2 ** (32 - pool.prefix) && free.length < count; base += size) {
    const block = { base, prefix };
    if (!taken.some((t) => blocksOverlap(t, block))) free.push(block);
  }
  return free.length === count ? free : undefined;
}

interface Row {
  provider: string;
  region: string;
  az_id: string;
  cidr: string;
}
const allRows = (q: Queryable) =>
  q.query<Row & Record<string, unknown>>("SELECT provider, region, az_id, cidr::text AS cidr FROM subnet_allocations ORDER BY cidr");

function expectDisjointWithin(cidrs: readonly string[], pools: readonly string[]): void {
  const blocks = cidrs.map(cidr);
  blocks.forEach((b, i) => {
    expect(formatCidr(b)).toBe(cidrs[i]); // canonical, hence aligned to its own size
    expect(pools.some((p) => blockWithin(b, cidr(p))), `${cidrs[i]} inside ${pools.join(" or ")}`).toBe(true);
    for (const other of blocks.slice(i + 1)) expect(blocksOverlap(b, other), `${cidrs[i]} vs ${formatCidr(other)}`).toBe(false);
  });
}

describe("lowestFreeBlocks", () => {
  it("matches a brute-force scan for any taken set (any sizes, partly outside the pool, overlapping)", () => {
    const block = (minPrefix: number, maxPrefix: number) =>
      fc.tuple(fc.integer({ min: 0, max: 2 ** 12 - 1 }), fc.integer({ min: minPrefix, max: maxPrefix })).map(([n, prefix]) => {
        const size = 2 ** (32 - prefix);
        return { base: Math.floor((0x0a000000 + n * 16) / size) * size, prefix };
      });
    fc.assert(
      fc.property(block(20, 24), fc.array(block(18, 30), { maxLength: 12 }), fc.integer({ min: 0, max: 8 }), fc.nat(8), (pool, taken, extra, count) => {
        const prefix = Math.min(pool.prefix + extra, 28);
        expect(lowestFreeBlocks(pool, prefix, taken, count)).toEqual(reference(pool, prefix, taken, count));
      }),
      { numRuns: 500 },
    );
  });
});

const cluster = await startPostgresCluster();
afterAll(async () => {
  if ("stop" in cluster) await cluster.stop();
});
if ("skipped" in cluster) console.warn(`[test/store] subnet allocator on PostgreSQL skipped: ${cluster.skipped}`);
const url = "url" in cluster ? cluster.url : "";

/** Several connections on PostgreSQL, so concurrent allocations really race. */
const openPg = async (max: number): Promise<Db> => openPostgres({ connectionString: url, max });

describe.each([
  { kind: "PGlite", skip: false, open: () => createTestDb() },
  { kind: "PostgreSQL", skip: "skipped" in cluster, open: () => openPg(8) },
])("subnet allocator on $kind", ({ kind, skip, open }) => {
  let db: Db;
  beforeAll(async () => {
    if (skip) return;
    db = await open();
    await migrate(db);
  });
  afterAll(async () => db?.close());
  beforeEach(async () => {
    if (!skip) await db.query("DELETE FROM subnet_allocations");
  });

  it.skipIf(skip)("gives each AZ the lowest free aligned block inside the pool, skipping a partly used one", async () => {
    await db.query("INSERT INTO subnet_allocations VALUES ('rival', 'eu-west-1', 'euw1-az1', '10.20.0.0/28')");
    const got = await allocateSubnets(db, request("acme"));
    expect(got).toEqual([
      { azId: "euw1-az1", cidr: "10.20.0.64/26" },
      { azId: "euw1-az2", cidr: "10.20.0.128/26" },
      { azId: "euw1-az3", cidr: "10.20.0.192/26" },
    ]);
    expect((await subnetsOf(db, "acme")).map(({ azId, cidr: c, region }) => ({ azId, cidr: c, region }))).toEqual(
      got.map((g) => ({ ...g, region: "eu-west-1" })),
    );
  });

  it.skipIf(skip)("is idempotent: an existing subnet is returned unchanged, even when pool or prefix changed", async () => {
    const first = await allocateSubnets(db, request("acme", { azIds: ["euw1-az1", "euw1-az2"] }));
    const before = await subnetsOf(db, "acme");
    expect(await allocateSubnets(db, request("acme", { azIds: ["euw1-az1", "euw1-az2"] }))).toEqual(first);
    const moved = await allocateSubnets(db, request("acme", { pool: "10.99.0.0/24", prefixLength: 27, azIds: ["euw1-az2", "euw1-az3"] }));
    expect(moved).toEqual([first[1], { azId: "euw1-az3", cidr: "10.99.0.0/27" }]);
    const after = await subnetsOf(db, "acme");
    expect(after.filter((s) => s.azId !== "euw1-az3")).toEqual(before); // allocated_at too: no row rewritten
  });

  it.skipIf(skip)("releases every subnet of a provider and hands the blocks out again", async () => {
    const acme = await allocateSubnets(db, request("acme", { azIds: ["euw1-az1", "euw1-az2"] }));
    await allocateSubnets(db, request("acme", { region: "eu-central-1", pool: "10.30.0.0/24", azIds: ["euc1-az1"] }));
    await allocateSubnets(db, request("bolt", { azIds: ["euw1-az1"] }));
    expect(await releaseSubnets(db, "acme")).toBe(3);
    expect(await subnetsOf(db, "acme")).toEqual([]);
    expect(await releaseSubnets(db, "acme")).toBe(0);
    expect(await allocateSubnets(db, request("corp", { azIds: ["euw1-az3", "euw1-az1"] }))).toEqual([
      { azId: "euw1-az3", cidr: acme[0]?.cidr },
      { azId: "euw1-az1", cidr: acme[1]?.cidr },
    ]);
  });

  it.skipIf(skip)("rejects a direct INSERT overlapping any subnet, in any region: the database guarantees it", async () => {
    await allocateSubnets(db, request("acme", { azIds: ["euw1-az1"] })); // 10.20.0.0/26
    const insert = (c: string) =>
      db.query("INSERT INTO subnet_allocations VALUES ('rival', 'us-east-1', 'use1-az1', $1)", [c]);
    for (const overlapping of ["10.20.0.32/28", "10.20.0.0/24", "10.20.0.0/26"]) {
      await expect(insert(overlapping)).rejects.toMatchObject({ code: "23P01", message: expect.stringContaining("subnet_allocations_no_overlap") });
    }
    await expect(insert("10.20.0.0/29")).rejects.toMatchObject({ code: "23514" }); // smaller than AWS allows
    await expect(insert("fd00::/64")).rejects.toMatchObject({ code: "23514" }); // IPv4 only
    await insert("10.20.0.64/26"); // adjacent is fine
    expect((await allRows(db)).map((r) => r.cidr)).toEqual(["10.20.0.0/26", "10.20.0.64/26"]);
  });

  it.skipIf(skip)("never reuses a range allocated in another region", async () => {
    await allocateSubnets(db, request("acme", { region: "eu-central-1", pool: "10.40.0.0/24", azIds: ["euc1-az1"] }));
    const got = await allocateSubnets(db, request("acme", { pool: "10.40.0.0/23", azIds: ["euw1-az1"] }));
    expect(got).toEqual([{ azId: "euw1-az1", cidr: "10.40.0.64/26" }]);
  });

  it.skipIf(skip)("fails with a typed error when the pool is exhausted, allocating nothing", async () => {
    const small = { pool: "10.50.0.0/26", prefixLength: 28 };
    await allocateSubnets(db, request("acme", small));
    const err = await allocateSubnets(db, request("bolt", { ...small, azIds: ["euw1-az1", "euw1-az2"] })).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(SubnetPoolExhaustedError);
    expect(err).toMatchObject({ pool: "10.50.0.0/26", prefixLength: 28, missing: 2 });
    expect(await subnetsOf(db, "bolt")).toEqual([]); // all or none
    expect(await allocateSubnets(db, request("bolt", { ...small, azIds: ["euw1-az2"] }))).toEqual([
      { azId: "euw1-az2", cidr: "10.50.0.48/28" },
    ]);
  });

  it.skipIf(skip)("gives 20 providers allocating at once pairwise disjoint blocks, the lowest 60 of the pool", async () => {
    const pool = "10.64.0.0/20";
    const results = await Promise.all(
      Array.from({ length: 20 }, (_, i) => allocateSubnets(db, request(`provider-${i}`, { pool }))),
    );
    const cidrs = results.flat().map((r) => r.cidr);
    expectDisjointWithin(cidrs, [pool]);
    expect(cidrs.map(cidr).sort((a, b) => a.base - b.base)).toEqual(reference(cidr(pool), 26, [], 60));
    expect((await allRows(db)).map((r) => r.cidr).sort()).toEqual([...cidrs].sort());
  });

  it.skipIf(skip)("gives concurrent calls for the same provider the same subnets", async () => {
    const results = await Promise.all(Array.from({ length: 6 }, () => allocateSubnets(db, request("acme"))));
    for (const r of results) expect(r).toEqual(results[0]);
    expect(await allRows(db)).toHaveLength(3);
  });

  const PROVIDERS = ["acme", "bolt", "corp", "dyno"] as const;
  /** Overlapping pools on purpose: only the table-wide exclusion keeps the regions apart. */
  const REGIONS = [
    { region: "eu-west-1", pool: "10.0.0.0/24" },
    { region: "eu-central-1", pool: "10.0.0.0/23" },
  ] as const;
  const opArb = fc.oneof(
    fc.record({
      kind: fc.constant("allocate" as const),
      provider: fc.constantFrom(...PROVIDERS),
      where: fc.constantFrom(...REGIONS),
      prefixLength: fc.integer({ min: 25, max: 28 }),
      azIds: fc.subarray([...AZS], { minLength: 1 }),
    }),
    fc.record({ kind: fc.constant("release" as const), provider: fc.constantFrom(...PROVIDERS) }),
  );
  type Op = typeof opArb extends fc.Arbitrary<infer O> ? O : never;
  const run = (op: Op) =>
    op.kind === "release"
      ? releaseSubnets(db, op.provider)
      : allocateSubnets(db, { provider: op.provider, ...op.where, prefixLength: op.prefixLength, azIds: op.azIds });
  const keyOf = (provider: string, region: string, az: string) => `${provider}|${region}|${az}`;

  it.skipIf(skip)("property: allocate/release sequences match a brute-force model and never overlap", async () => {
    await fc.assert(
      fc.asyncProperty(fc.array(opArb, { maxLength: 25 }), async (ops) => {
        await db.query("DELETE FROM subnet_allocations");
        const model = new Map<string, string>();
        for (const op of ops) {
          if (op.kind === "release") {
            const mine = [...model.keys()].filter((k) => k.startsWith(`${op.provider}|`));
            expect(await run(op)).toBe(mine.length);
            mine.forEach((k) => model.delete(k));
          } else {
            const key = (az: string) => keyOf(op.provider, op.where.region, az);
            const missing = op.azIds.filter((az) => !model.has(key(az)));
            const fresh = reference(cidr(op.where.pool), op.prefixLength, [...model.values()].map(cidr), missing.length);
            const outcome = await run(op).catch((e: unknown) => e);
            if (fresh === undefined) {
              expect(outcome).toBeInstanceOf(SubnetPoolExhaustedError);
            } else {
              missing.forEach((az, i) => model.set(key(az), formatCidr(fresh[i]!)));
              expect(outcome).toEqual(op.azIds.map((az) => ({ azId: az, cidr: model.get(key(az)) })));
            }
          }
          const rows = await allRows(db);
          expect(new Map(rows.map((r) => [keyOf(r.provider, r.region, r.az_id), r.cidr]))).toEqual(model);
          expectDisjointWithin(rows.map((r) => r.cidr), [REGIONS[1].pool]);
        }
      }),
      { numRuns: 25 },
    );
  });

  it.skipIf(skip)("property: concurrent batches never overlap, never move a kept subnet, fail only on exhaustion", async () => {
    await fc.assert(
      fc.asyncProperty(fc.array(fc.array(opArb, { minLength: 1, maxLength: 8 }), { maxLength: 6 }), async (batches) => {
        await db.query("DELETE FROM subnet_allocations");
        for (const batch of batches) {
          const released = new Set<string>(batch.flatMap((op) => (op.kind === "release" ? [op.provider] : [])));
          const kept = (r: Row) => !released.has(r.provider);
          const before = (await allRows(db)).filter(kept);
          const outcomes = await Promise.allSettled(batch.map(run));
          const rows = await allRows(db);
          expectDisjointWithin(rows.map((r) => r.cidr), [REGIONS[1].pool]);
          for (const r of before) expect(rows).toContainEqual(r);
          outcomes.forEach((outcome, i) => {
            const op = batch[i];
            if (outcome.status === "rejected") expect(outcome.reason).toBeInstanceOf(SubnetPoolExhaustedError);
            else if (op?.kind === "allocate" && !released.has(op.provider) && Array.isArray(outcome.value)) {
              for (const a of outcome.value) {
                expect(rows).toContainEqual({ provider: op.provider, region: op.where.region, az_id: a.azId, cidr: a.cidr });
              }
            }
          });
        }
      }),
      { numRuns: 15 },
    );
  });

  // PGlite has one connection, so two transactions cannot race on it: the race exists on PostgreSQL only.
  if (kind === "PGlite") console.info("[test/store] the real-race retry test runs on PostgreSQL only (PGlite has a single connection)");
  it.skipIf(skip || kind !== "PostgreSQL")("retries with a fresh read after losing a real race on the exclusion constraint", async () => {
    const rival = await openPg(1);
    try {
      const inserted = deferred();
      const commit = deferred();
      const holder = rival.transaction(async (tx) => {
        await tx.query("INSERT INTO subnet_allocations VALUES ('rival', 'eu-west-1', 'euw1-az1', '10.9.0.0/26')");
        inserted.resolve();
        await commit.promise;
      });
      await inserted.promise;
      const allocation = allocateSubnets(db, request("acme", { pool: "10.9.0.0/24", azIds: ["euw1-az1"] }));
      // The allocator cannot see the uncommitted row, picks the same block, and its INSERT waits on it.
      const blocked = async (): Promise<void> => {
        const waiting = "SELECT count(*) AS n FROM pg_stat_activity WHERE wait_event_type = 'Lock' AND query LIKE 'INSERT INTO subnet_allocations%'";
        while ((await db.query<{ n: number }>(waiting))[0]?.n !== 1) await new Promise((r) => setTimeout(r, 20));
      };
      await within(blocked(), 5_000, "the allocator's INSERT to wait on the rival's uncommitted block");
      commit.resolve();
      await holder;
      expect(await allocation).toEqual([{ azId: "euw1-az1", cidr: "10.9.0.64/26" }]);
    } finally {
      await rival.close();
    }
  });
});

describe.skipIf("skipped" in cluster)("allocateSubnets on PostgreSQL under contention", () => {
  /** Deadlocks and rolled-back transactions so far (a lost race rolls its attempt back). */
  const counters = async (): Promise<{ deadlocks: number; rollbacks: number }> => {
    const probe = await openPg(1);
    try {
      const [row] = await probe.query<{ d: string; r: string }>(
        "SELECT deadlocks::text AS d, xact_rollback::text AS r FROM pg_stat_database WHERE datname = current_database()",
      );
      return { deadlocks: Number(row?.d), rollbacks: Number(row?.r) };
    } finally {
      await probe.close();
    }
  };

  it("allocations racing for one pool, AZs in opposite orders, take turns: no deadlock, no lost race, all disjoint", async () => {
    const setup = await openPg(1);
    await migrate(setup);
    await setup.query("DELETE FROM subnet_allocations");
    await setup.close();
    const before = await counters();
    for (let round = 0; round < 5; round++) {
      // A pool of its own per round, so that every round races from an empty pool.
      const db = await openPg(8);
      try {
        const pool = `10.${40 + round}.0.0/22`;
        const racers = Array.from({ length: 8 }, (_, i) => allocateSubnets(db, request(`racer-${round}-${i}`, { pool, prefixLength: 28, azIds: i % 2 ? [...AZS] : [...AZS].reverse() })));
        const got = (await Promise.all(racers)).flat().map((a) => a.cidr);
        expect(got).toHaveLength(24);
        expectDisjointWithin(got, [pool]);
      } finally {
        // Closing ends the backends, which flushes their statistics (the deadlock count).
        await db.close();
      }
    }
    await new Promise((r) => setTimeout(r, 200));
    const after = await counters();
    // Without the turns: about 40 lost races (23P01) per run here, and deadlocks once releases mix in.
    expect({ deadlocks: after.deadlocks - before.deadlocks, rollbacks: after.rollbacks - before.rollbacks }).toEqual({ deadlocks: 0, rollbacks: 0 });
  }, 60_000);
});

describe("allocateSubnets: input checks and bounded retries", () => {
  let db: Db;
  beforeAll(async () => {
    db = await createTestDb();
  });
  afterAll(async () => db.close());

  it.each([
    [{ provider: "Acme!" }, /provider/],
    [{ region: "europe" }, /region/],
    [{ pool: "10.20.0.1/22" }, /pool: must be an IPv4 CIDR in canonical form/],
    [{ pool: "fd00::/48" }, /pool/],
    [{ prefixLength: 29 }, /prefixLength: must be an integer from 22 to 28/],
    [{ prefixLength: 21 }, /prefixLength/],
    [{ pool: "10.0.0.0/8", prefixLength: 15 }, /prefixLength: must be an integer from 16 to 28/],
    [{ prefixLength: 26.5 }, /prefixLength/],
    [{ azIds: [] }, /azIds: at least one/],
    [{ azIds: ["eu-west-1a"] }, /azIds: not an AZ id/],
    [{ azIds: ["euw1-az1", "euw1-az1"] }, /azIds: duplicate/],
  ] as const)("rejects %j", async (over, message) => {
    await expect(allocateSubnets(db, request("acme", over))).rejects.toThrow(message);
    expect(await allRows(db)).toEqual([]);
  });

  /** A Db whose first transactions fail with the given SQLSTATEs, as a lost race would. */
  const failing = (codes: readonly string[]) => {
    let attempts = 0;
    const flaky: Db = {
      ...db,
      transaction: async <T>(fn: (tx: Queryable) => Promise<T>): Promise<T> => {
        const code = codes[attempts++];
        if (code !== undefined) throw Object.assign(new Error(`simulated ${code}`), { code });
        return db.transaction(fn);
      },
    };
    return { flaky, attempts: () => attempts };
  };

  it("retries lost races (exclusion, primary key, deadlock) and then succeeds", async () => {
    const { flaky, attempts } = failing(["23P01", "23505", "40P01"]);
    expect(await allocateSubnets(flaky, request("acme", { azIds: ["euw1-az1"] }))).toEqual([{ azId: "euw1-az1", cidr: "10.20.0.0/26" }]);
    expect(attempts()).toBe(4);
  });

  it("gives up after a bounded number of lost races with a clear error", async () => {
    const { flaky, attempts } = failing(Array.from({ length: 50 }, () => "23P01"));
    const err = await allocateSubnets(flaky, request("bolt")).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(SubnetAllocationConflictError);
    expect(err).toMatchObject({ attempts: MAX_ALLOCATION_ATTEMPTS, message: expect.stringMatching(/lost 20 races/) });
    expect(attempts()).toBe(MAX_ALLOCATION_ATTEMPTS);
  });

  it("does not retry other errors", async () => {
    const { flaky, attempts } = failing(["42P01"]);
    await expect(allocateSubnets(flaky, request("corp"))).rejects.toThrow(/simulated 42P01/);
    expect(attempts()).toBe(1);
  });
});
