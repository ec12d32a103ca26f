import { readdir, readFile } from "node:fs/promises";
import type { Db, Queryable } from "./db.js";

/** Next to this module both in src/ (tsx, vitest) and in dist/src/store/ (the build copies the .sql files). */
const MIGRATIONS_DIR = new URL("./migrations/", import.meta.url);
const MIGRATION_FILE = /^(\d{3})_[a-z0-9_]+\.sql$/;
/**
 * Serializes migrations across replicas starting at once. Transaction-scoped, so it is released at
 * COMMIT/ROLLBACK even when the process dies. PGlite (one connection) takes it trivially.
 */
const MIGRATION_LOCK_KEY = 0x5aa5_b41d_6e;

export interface MigrateOptions {
  /** Directory of `NNN_name.sql` files; defaults to ./migrations next to this module. */
  directory?: URL;
}

/**
 * Applies the pending migrations in file-name order, each in its own transaction, exactly once each.
 * Returns the versions (file names without `.sql`) this call applied.
 */
export async function migrate(db: Db, options: MigrateOptions = {}): Promise<string[]> {
  const migrations = await readMigrations(options.directory ?? MIGRATIONS_DIR);
  const applied = await db.transaction(async (tx) => {
    await lock(tx);
    await tx.query(
      "CREATE TABLE IF NOT EXISTS schema_migrations (version text PRIMARY KEY, applied_at timestamptz NOT NULL DEFAULT now())",
    );
    const rows = await tx.query<{ version: string }>("SELECT version FROM schema_migrations");
    return new Set(rows.map((r) => r.version));
  });

  const done: string[] = [];
  for (const migration of migrations) {
    if (applied.has(migration.version)) continue;
    const ran = await db.transaction(async (tx) => {
      await lock(tx);
      // Another replica may have applied it between our read and our lock.
      const already = await tx.query("SELECT 1 FROM schema_migrations WHERE version = $1", [migration.version]);
      if (already.length > 0) return false;
      try {
        await tx.query(migration.sql);
      } catch (err) {
        throw new Error(`migration ${migration.version} failed: ${err instanceof Error ? err.message : String(err)}`, {
          cause: err,
        });
      }
      await tx.query("INSERT INTO schema_migrations (version) VALUES ($1)", [migration.version]);
      return true;
    });
    if (ran) done.push(migration.version);
  }
  return done;
}

interface Migration {
  version: string;
  sql: string;
}

async function readMigrations(directory: URL): Promise<Migration[]> {
  const names = (await readdir(directory)).filter((name) => name.endsWith(".sql")).sort();
  const numbers = new Set<string>();
  const migrations: Migration[] = [];
  for (const name of names) {
    const number = MIGRATION_FILE.exec(name)?.[1];
    if (number === undefined) throw new Error(`migration file name must look like 001_name.sql: ${name}`);
    if (numbers.has(number)) throw new Error(`two migrations are numbered ${number}`);
    numbers.add(number);
    migrations.push({ version: name.slice(0, -".sql".length), sql: await readFile(new URL(name, directory), "utf8") });
  }
  return migrations;
}

async function lock(tx: Queryable): Promise<void> {
  await tx.query("SELECT pg_advisory_xact_lock($1)", [MIGRATION_LOCK_KEY]);
}
