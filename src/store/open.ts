import { join } from "node:path";
import type { Db } from "./db.js";
import { migrate } from "./migrate.js";
import { openPgliteThread } from "./pglite-thread.js";
import { openPostgres } from "./postgres.js";

export interface OpenDbOptions {
  /**
   * PostgreSQL (production, several replicas) when set; else embedded PGlite in `<dataDir>/pglite`, run in a
   * worker thread of its own so that its queries never hold the service's event loop (issue 15).
   */
  databaseUrl?: string | undefined;
  dataDir: string;
  /** Background errors (idle pool clients, the LISTEN connection, notification subscribers). */
  onError?: (err: unknown) => void;
}

/** Opens the store and applies pending migrations; closes it again when migrating fails. */
export async function openDb(options: OpenDbOptions): Promise<Db> {
  const onError = options.onError === undefined ? {} : { onError: options.onError };
  const db =
    options.databaseUrl === undefined
      ? await openPgliteThread({ dataDir: join(options.dataDir, "pglite"), ...onError })
      : await openPostgres({ connectionString: options.databaseUrl, ...onError });
  try {
    await migrate(db);
  } catch (err) {
    await db.close().catch(() => undefined);
    throw err;
  }
  return db;
}
