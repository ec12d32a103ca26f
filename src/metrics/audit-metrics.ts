import { Gauge, type Registry } from "prom-client";
import type { Queryable } from "../store/db.js";

/**
 * Audit trail health (issue 18). The verify result is the last run on this replica (a verification reads the
 * whole trail, so it is never run for a scrape); the signed head's age is read from audit_signatures at
 * scrape time, so it is the same on every replica and grows when the head signer stops.
 */
export interface AuditMetrics {
  verified(ok: boolean, at?: Date): void;
}

export function createAuditMetrics(registry: Registry, db: Queryable): AuditMetrics {
  const registers = [registry];
  const status = new Gauge({
    name: "saas_bridge_audit_verify_ok",
    help: "1 when the last audit verification on this replica found the chain and its signed heads intact, else 0 (0 before any run: see the timestamp).",
    registers,
  });
  const lastRun = new Gauge({
    name: "saas_bridge_audit_verify_last_run_timestamp_seconds",
    help: "When the last audit verification on this replica finished (Unix seconds; 0: none yet).",
    registers,
  });
  new Gauge({
    name: "saas_bridge_audit_signed_head_age_seconds",
    help: "Seconds since the newest signed audit head was signed (NaN when none is signed yet).",
    registers,
    async collect() {
      // The primary key (seq, key_id) serves ORDER BY seq DESC LIMIT 1: cheap however long the table grows.
      const rows = await db.query<{ age: string | number | null }>(
        `SELECT extract(epoch FROM now() - signed_at) AS age FROM audit_signatures ORDER BY seq DESC LIMIT 1`,
      );
      const age = rows[0]?.age;
      this.set(age === undefined || age === null ? Number.NaN : Math.max(0, Number(age)));
    },
  });
  return {
    verified(ok, at = new Date()) {
      status.set(ok ? 1 : 0);
      lastRun.set(at.getTime() / 1000);
    },
  };
}
