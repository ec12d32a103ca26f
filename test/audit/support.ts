import { createSecretKey, generateKeyPairSync, randomBytes, type KeyObject } from "node:crypto";
import { afterAll } from "vitest";
import type { AuditInput } from "../../src/audit/record.js";
import type { Db, Queryable } from "../../src/store/db.js";
import { migrate } from "../../src/store/migrate.js";
import { openPostgres } from "../../src/store/postgres.js";
import { createTestDb } from "../helpers/db.js";
import { startPostgresCluster, type PostgresCluster } from "../helpers/postgres-cluster.js";

/** Keys of one test file: the HMAC key and an Ed25519 pair, generated fresh (never stored in the database). */
export function testKeys(): { hmacKey: KeyObject; privateKey: KeyObject; publicKey: KeyObject } {
  const { privateKey, publicKey } = generateKeyPairSync("ed25519");
  return { hmacKey: createSecretKey(randomBytes(32)), privateKey, publicKey };
}

let counter = 0;

/** A plausible record: a provider update by an API key, with a request and an IP. */
export function sampleInput(overrides: Partial<AuditInput> = {}): AuditInput {
  counter++;
  return {
    action: "provider.update",
    outcome: "allowed",
    principal: { kind: "apikey", id: `key-${counter % 7}`, name: "ci-bot" },
    resource: { kind: "provider", id: `acme-${counter % 5}` },
    requestId: `req-${counter}`,
    sourceIp: "10.0.0.7",
    details: { specHash: `h${counter}`, changed: ["displayName"], n: counter },
    ...overrides,
  };
}

export interface Target {
  readonly name: "pglite" | "postgres";
  readonly skipped: string | undefined;
  open(): Promise<Db>;
}

/**
 * The same suites on PGlite and on PostgreSQL (a throwaway cluster, or DATABASE_URL), as test/store does.
 * Call at the top level of a test file.
 */
export async function targets(): Promise<Target[]> {
  const cluster: PostgresCluster = await startPostgresCluster();
  afterAll(async () => {
    if ("stop" in cluster) await cluster.stop();
  });
  if ("skipped" in cluster) console.warn(`[test/audit] PostgreSQL audit tests skipped: ${cluster.skipped}`);
  return [
    { name: "pglite", skipped: undefined, open: () => createTestDb() },
    {
      name: "postgres",
      skipped: "skipped" in cluster ? cluster.skipped : undefined,
      async open() {
        if (!("url" in cluster)) throw new Error("no cluster");
        const db = await openPostgres({ connectionString: cluster.url, max: 6 });
        await migrate(db);
        return db;
      },
    },
  ];
}

/** Back to migration 006's empty trail (the append-only triggers are bypassed, as an attacker would). */
export async function resetAudit(db: Queryable): Promise<void> {
  await tamper(db, "DELETE FROM audit_log; DELETE FROM audit_signatures; UPDATE audit_head SET seq = 0, hash = repeat('0', 64), prev_hash = repeat('0', 64)");
}

/** Runs `sql` with the append-only triggers disabled: what someone with the database owner's rights can do. */
export async function tamper(db: Queryable, sql: string, params?: readonly unknown[]): Promise<void> {
  await db.query("ALTER TABLE audit_log DISABLE TRIGGER USER");
  await db.query("ALTER TABLE audit_signatures DISABLE TRIGGER USER");
  try {
    if (params === undefined) await db.query(sql);
    else await db.query(sql, params);
  } finally {
    await db.query("ALTER TABLE audit_log ENABLE TRIGGER USER");
    await db.query("ALTER TABLE audit_signatures ENABLE TRIGGER USER");
  }
}
