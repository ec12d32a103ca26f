/**
 * The one database port. Both adapters speak PostgreSQL SQL with `$n` parameters:
 * PGlite (embedded, default, persisted in DATA_DIR) and `pg` (DATABASE_URL, production, several replicas).
 */
export interface Queryable {
  query<R extends Record<string, unknown> = Record<string, unknown>>(sql: string, params?: readonly unknown[]): Promise<R[]>;
}

export interface Db extends Queryable {
  /** Runs `fn` in one transaction: committed when it resolves, rolled back when it throws. */
  transaction<T>(fn: (tx: Queryable) => Promise<T>): Promise<T>;
  /**
   * Subscribes to a NOTIFY channel. PGlite has one process, so it only needs the in-process path;
   * `pg` delivers notifications from every replica, and re-establishes its LISTEN connection when it
   * drops (a failover, a restart): `onResync` then says that notifications may have been missed.
   */
  listen(channel: string, onPayload: (payload: string) => void, onResync?: () => void): Promise<() => Promise<void>>;
  readonly kind: "pglite" | "postgres";
  /** Human description for logs and /readyz (never contains credentials). */
  readonly description: string;
  close(): Promise<void>;
}

/** SQLSTATE of a unique violation: used to detect lost races (idempotency, running-per-provider). */
export const UNIQUE_VIOLATION = "23505";

export function isUniqueViolation(err: unknown, constraint?: string): boolean {
  const e = err as { code?: unknown; constraint?: unknown } | null;
  return e?.code === UNIQUE_VIOLATION && (constraint === undefined || e.constraint === constraint);
}
