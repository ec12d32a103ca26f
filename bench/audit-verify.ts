import { setFlagsFromString } from "node:v8";
import { runInNewContext } from "node:vm";
import { createHash, createSecretKey, generateKeyPairSync, randomBytes, type KeyObject } from "node:crypto";
import { createAuditWriter } from "../src/audit/append.js";
import { GENESIS_HASH, recordHash, type ChainedFields } from "../src/audit/chain.js";
import { AuditRow, RECORD_COLUMNS, type AuditInput } from "../src/audit/record.js";
import { auditHash } from "../src/audit/sensitive.js";
import { signHead } from "../src/audit/signing.js";
import { DEFAULT_VERIFY_BATCH_SIZE, verifyAudit } from "../src/audit/verify.js";
import type { Db, Queryable } from "../src/store/db.js";
import { migrate } from "../src/store/migrate.js";
import { openDb } from "../src/store/open.js";
import { openPostgres } from "../src/store/postgres.js";
import { startPostgresCluster } from "../test/helpers/postgres-cluster.js";
import type { Figure } from "./report.js";
import { median, now, tempDir, within } from "./support.js";

/**
 * Figure `audit-verify` (issue #5): verifyAudit over 100,000 records on PGlite (the default store, in a data
 * dir as `main.ts` opens it) ÷ reading the same rows with the same query in the same batches without
 * checking them. The issue names no target: reported only.
 */
const RECORDS = 100_000;
const PER_STATEMENT = 1_000;
/** The append diagnostic: this many transactions of one appendAudit each, after the verify runs. */
const APPENDS = 1_000;
const RUNS = 3;
const BATCH = DEFAULT_VERIFY_BATCH_SIZE;
const POSTGRES_RUNS = 1;
const CLUSTER_START_MS = 90_000;
const SEED_TIMEOUT_MS = 300_000;
const RUN_TIMEOUT_MS = 300_000;

const mib = (bytes: number): number => Math.round((bytes / 2 ** 20) * 10) / 10;
const round = (n: number, digits = 3): number => Math.round(n * 10 ** digits) / 10 ** digits;

interface Run {
  readonly seconds: number;
}

async function timed(what: string, fn: () => Promise<void>): Promise<Run> {
  const started = now();
  await within(RUN_TIMEOUT_MS, what, fn());
  return { seconds: (now() - started) / 1000 };
}

/** Node's gc(), without --expose-gc on the command line (the flag can be set at run time, before first use). */
const gc: () => void = (() => {
  setFlagsFromString("--expose-gc");
  return runInNewContext("gc") as () => void;
})();

/**
 * Live heap growth of one (untimed) run through `db`: after every query's rows arrive (the moment a batch is
 * held, with the one being hashed), a full gc() and heapUsed, so garbage waiting for collection is not
 * counted; the peak minus heapUsed after a gc() just before the run.
 */
async function retainedGrowth(what: string, db: Db, fn: (q: Queryable) => Promise<void>): Promise<number> {
  gc();
  const before = process.memoryUsage().heapUsed;
  let peak = before;
  const sampling: Queryable = {
    query: async (sql, params) => {
      const rows = await db.query(sql, params);
      gc();
      peak = Math.max(peak, process.memoryUsage().heapUsed);
      return rows as never;
    },
  };
  await within(RUN_TIMEOUT_MS, what, fn(sampling));
  return peak - before;
}

const COLUMNS = [
  ["seq", "bigint"],
  ["at", "timestamptz"],
  ["action", "text"],
  ["outcome", "text"],
  ["principal_kind", "text"],
  ["principal_id", "text"],
  ["principal_name", "text"],
  ["resource_kind", "text"],
  ["resource_id", "text"],
  ["request_id", "text"],
  ["source_ip", "text"],
  ["details", "jsonb"],
  ["sensitive", "jsonb"],
  ["prev_hash", "text"],
  ["hash", "text"],
] as const;
const BULK_SQL =
  `INSERT INTO audit_log (${COLUMNS.map(([c]) => c).join(", ")}) ` +
  `SELECT * FROM unnest(${COLUMNS.map(([, type], i) => `$${i + 1}::${type}[]`).join(", ")})`;

/** Record i of the bench trail: an update or a denied request, ~0.5 KB of JSON with one keyed hash. */
function benchRecord(i: number, hmacKey: KeyObject): Omit<ChainedFields, "seq" | "at"> {
  const denied = i % 10 === 0;
  return {
    action: denied ? "auth.denied" : "provider.update",
    outcome: denied ? "denied" : "allowed",
    principal: { kind: "apikey", id: `sbk_${(i % 50).toString(36).padStart(8, "0")}`, name: "ci-bot" },
    resource: { kind: "provider", id: `provider-${i % 400}` },
    requestId: `req-${i.toString(36)}`,
    sourceIp: "10.20.30.40",
    details: {
      specHash: createHash("sha256").update(String(i)).digest("hex"),
      programVersion: "2026.12.1",
      changed: ["displayName", "outbound.ports"],
      operationId: `00000000-0000-4000-8000-${i.toString(16).padStart(12, "0")}`,
      engine: { passphrase: auditHash(hmacKey, `passphrase-${i}`) },
    },
    sensitive: {},
  };
}

/**
 * RECORDS records chained here with the verifier's own recordHash and inserted PER_STATEMENT at a time (the
 * same rows appendAudit would write: test/audit proves the two hash alike; appending 100,000 one by one takes
 * minutes on PGlite), the head row set to the last one, then one head signed by signHead.
 */
async function seed(db: Db, hmacKey: KeyObject, privateKey: KeyObject): Promise<number> {
  const started = now();
  const epoch = Date.parse("2026-12-01T00:00:00Z");
  let prevHash = GENESIS_HASH;
  let lastPrev = GENESIS_HASH;
  for (let base = 1; base <= RECORDS; base += PER_STATEMENT) {
    const columns: unknown[][] = COLUMNS.map(() => []);
    for (let seq = base; seq < base + PER_STATEMENT && seq <= RECORDS; seq++) {
      const at = `${new Date(epoch + seq * 7).toISOString().slice(0, -1)}${String(seq % 1000).padStart(3, "0")}Z`;
      const record: ChainedFields = { seq, at, ...benchRecord(seq, hmacKey) };
      const hash = recordHash(prevHash, record);
      const row = [seq, at, record.action, record.outcome, record.principal.kind, record.principal.id, record.principal.name ?? null,
        record.resource.kind, record.resource.id, record.requestId, record.sourceIp, JSON.stringify(record.details),
        JSON.stringify(record.sensitive), prevHash, hash];
      row.forEach((value, c) => columns[c]?.push(value));
      lastPrev = prevHash;
      prevHash = hash;
    }
    await db.query(BULK_SQL, columns);
  }
  await db.query("UPDATE audit_head SET seq = $1, hash = $2, prev_hash = $3 WHERE id", [RECORDS, prevHash, lastPrev]);
  await signHead(db, privateKey);
  return (now() - started) / 1000;
}

/** verifyAudit's record query: the rows with seq in [from, from + BATCH). */
const RANGE_SQL = `SELECT ${RECORD_COLUMNS} FROM audit_log WHERE seq >= $1 AND seq < $2 ORDER BY seq`;

/** The baseline: the same queries in the same batches, rows discarded (`parse` only for the diagnostic). */
async function readAll(db: Queryable, parse = false): Promise<void> {
  let rows = 0;
  for (let from = 1; from <= RECORDS; from += BATCH) {
    const batch = await db.query(RANGE_SQL, [from, Math.min(from + BATCH, RECORDS + 1)]);
    if (parse) for (const row of batch) AuditRow.parse(row);
    rows += batch.length;
  }
  if (rows !== RECORDS) throw new Error(`audit-verify: read ${rows} rows, expected ${RECORDS}`);
}

interface Measured {
  readonly reads: Run[];
  readonly verifies: Run[];
  readonly parses: Run[];
  readonly seedSeconds: number;
  readonly tableBytes: number;
  /** Live heap growth of one verify run and one read run, and of a verify run with 10× the batch. */
  readonly heap: { readonly verify: number; readonly read: number; readonly verifyBigBatch: number };
}

/** Seeds a migrated, empty trail, then one discarded warm-up of each and `runs` rounds of read, verify, read + parse. */
async function measureOn(db: Db, runs: number): Promise<Measured> {
  const hmacKey = createSecretKey(randomBytes(32));
  const { privateKey, publicKey } = generateKeyPairSync("ed25519");
  const seedSeconds = await within(SEED_TIMEOUT_MS, "seed the audit trail", seed(db, hmacKey, privateKey));
  const [size] = await db.query<{ bytes: number }>("SELECT pg_total_relation_size('audit_log')::bigint AS bytes");
  const verify = async (batchSize = BATCH, q: Queryable = db): Promise<void> => {
    const result = await verifyAudit(q, publicKey, { batchSize });
    if (!result.ok || result.records !== RECORDS || result.signedSeq !== RECORDS) {
      throw new Error(`audit-verify: expected ${RECORDS} intact, signed records, got ${JSON.stringify(result)}`);
    }
  };
  await timed("warm-up read", () => readAll(db));
  await timed("warm-up verify", () => verify());
  const reads: Run[] = [];
  const verifies: Run[] = [];
  const parses: Run[] = [];
  for (let i = 0; i < runs; i++) {
    reads.push(await timed("read", () => readAll(db)));
    verifies.push(await timed("verify", () => verify()));
    parses.push(await timed("read + parse", () => readAll(db, true)));
  }
  const heap = {
    verify: await retainedGrowth("verify (heap)", db, (q) => verify(BATCH, q)),
    read: await retainedGrowth("read (heap)", db, (q) => readAll(q)),
    verifyBigBatch: await retainedGrowth("verify, 10× batch (heap)", db, (q) => verify(BATCH * 10, q)),
  };
  return { reads, verifies, parses, seedSeconds, tableBytes: Number(size?.bytes ?? Number.NaN), heap };
}

/** Milliseconds per transaction: one appendAudit vs `SELECT 1`, APPENDS each, alternating in tens (after the 100,000). */
async function appendCost(db: Db): Promise<{ appendMs: number; emptyMs: number }> {
  const hmacKey = createSecretKey(randomBytes(32));
  const audit = createAuditWriter({ hmacKey });
  const input = (i: number): AuditInput => {
    const record = benchRecord(i, hmacKey);
    // As a use case would: the raw value, and its path declared sensitive.
    return { ...record, details: { ...record.details, engine: { passphrase: `passphrase-${i}` } }, sensitivePaths: ["/engine/passphrase"] };
  };
  let appendMs = 0;
  let emptyMs = 0;
  for (let done = 0; done < APPENDS; done += 10) {
    let started = now();
    for (let i = done; i < done + 10; i++) await db.transaction((tx) => audit.append(tx, input(i)));
    appendMs += now() - started;
    started = now();
    for (let i = 0; i < 10; i++) await db.transaction((tx) => tx.query("SELECT 1"));
    emptyMs += now() - started;
  }
  return { appendMs: appendMs / APPENDS, emptyMs: emptyMs / APPENDS };
}

const seconds = (runs: readonly Run[]): number => median(runs.map((r) => r.seconds));

/** PostgreSQL (DATABASE_URL's server or a throwaway cluster): one round, as a diagnostic; undefined when there is none. */
async function onPostgres(): Promise<{ values: Record<string, number>; note: string } | { skipped: string }> {
  const cluster = await within(CLUSTER_START_MS, "start PostgreSQL", startPostgresCluster());
  if ("skipped" in cluster) return { skipped: cluster.skipped };
  try {
    const db = await openPostgres({ connectionString: cluster.url, max: 2 });
    try {
      await migrate(db);
      const m = await measureOn(db, POSTGRES_RUNS);
      const { appendMs, emptyMs } = await appendCost(db);
      return {
        values: {
          verifySeconds: round(seconds(m.verifies)),
          recordsPerSecond: Math.round(RECORDS / seconds(m.verifies)),
          readSeconds: round(seconds(m.reads)),
          ratio: round(seconds(m.verifies) / seconds(m.reads)),
          appendTxMs: round(appendMs),
          emptyTxMs: round(emptyMs),
        },
        note: `PostgreSQL (${db.description}, unix socket, fsync off): ${POSTGRES_RUNS === 1 ? "one round" : `median of ${POSTGRES_RUNS} rounds`} after one warm-up of each`,
      };
    } finally {
      await db.close();
    }
  } finally {
    await within(CLUSTER_START_MS, "stop PostgreSQL", cluster.stop());
  }
}

export async function measureAuditVerify(): Promise<Figure> {
  const dir = await tempDir();
  let measured: Measured;
  let cost: { appendMs: number; emptyMs: number };
  const db = await openDb({ dataDir: dir.path });
  try {
    measured = await measureOn(db, RUNS);
    cost = await appendCost(db);
  } finally {
    await db.close();
    await dir.remove();
  }
  const postgres = await onPostgres();
  const { reads, verifies, parses } = measured;
  const verifySeconds = seconds(verifies);
  const readSeconds = seconds(reads);
  return {
    id: "audit-verify",
    title: "Audit verify: 100,000 records (PGlite)",
    ratio: verifySeconds / readSeconds,
    ratioMeaning: "verifyAudit wall time ÷ reading the same rows with the same queries and batches, unchecked (lower is better)",
    subject: {
      seconds: round(verifySeconds),
      recordsPerSecond: Math.round(RECORDS / verifySeconds),
      minSeconds: round(Math.min(...verifies.map((r) => r.seconds))),
      maxSeconds: round(Math.max(...verifies.map((r) => r.seconds))),
      liveHeapGrowthMiB: mib(measured.heap.verify),
      runs: verifies.length,
    },
    baseline: {
      seconds: round(readSeconds),
      recordsPerSecond: Math.round(RECORDS / readSeconds),
      liveHeapGrowthMiB: mib(measured.heap.read),
      runs: reads.length,
    },
    diagnostics: {
      "read + zod parse": { seconds: round(seconds(parses)), ratioToRead: round(seconds(parses) / readSeconds) },
      [`verify with batches of ${BATCH * 10}`]: { liveHeapGrowthMiB: mib(measured.heap.verifyBigBatch) },
      "appendAudit, one record per transaction": {
        txMs: round(cost.appendMs),
        emptyTxMs: round(cost.emptyMs),
        addedMs: round(cost.appendMs - cost.emptyMs),
        transactions: APPENDS,
      },
      seed: { seconds: round(measured.seedSeconds, 1), tableMiB: mib(measured.tableBytes) },
      ...("values" in postgres ? { postgres: postgres.values } : {}),
    },
    notes: [
      "no target: the issue asks for the time to verify 100,000 records, not a bound; reported only",
      `the trail: ${RECORDS} records (~0.5 KB of JSON each, one keyed hash) chained with the verifier's recordHash and inserted ` +
        `${PER_STATEMENT} per statement, the head row set to the last, one head signed by signHead; verify recomputes every hash and ` +
        "link, parses every row with zod and checks the signature",
      `batches of ${BATCH} rows (verifyAudit's default, ranges of seq) for both; median of ${RUNS} rounds each after one discarded ` +
        "warm-up of each, rounds alternating read, verify, read + parse",
      "liveHeapGrowth = in one more, untimed run: the highest heapUsed right after a full gc() as each query's rows arrive, minus " +
        `heapUsed after a gc() before the run. Bounded by the batch (verify reads one range ahead), not the trail: compare batches of ` +
        `${BATCH * 10}. PGlite's WASM memory is not in heapUsed`,
      "PGlite runs in this process: its query execution and the hashing share one thread, so the two costs add up",
      `appendAudit diagnostic: ${APPENDS} transactions of one appendAudit each vs ${APPENDS} of SELECT 1, alternating in tens, ` +
        "on top of the 100,000 records: what one audit record adds to a mutating transaction",
      "values" in postgres ? postgres.note : `PostgreSQL diagnostic skipped: ${postgres.skipped}`,
    ].filter((n) => n !== ""),
  };
}
