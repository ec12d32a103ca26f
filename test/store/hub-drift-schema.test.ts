import { randomUUID } from "node:crypto";
import { copyFile, mkdtemp, readdir, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { pathToFileURL } from "node:url";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { Db } from "../../src/store/db.js";
import { migrate } from "../../src/store/migrate.js";
import { openPglite } from "../../src/store/pglite.js";
import { createTestDb } from "../helpers/db.js";
import { insertProvider } from "./seed.js";

/**
 * Migrations 021/022 (issue 16): a hub stack takes hub updates and drift checks, a provider stack never a hub
 * update; a hub's drift check names a hub that exists; the hubs that existed before 021 are registered by it.
 */
const MIGRATIONS = new URL("../../src/store/migrations/", import.meta.url);
let db: Db;
beforeAll(async () => {
  db = await createTestDb();
});
afterAll(async () => {
  await db?.close();
});

async function insertOp(q: Db, stack: string, intent: string, status = "queued"): Promise<string> {
  const id = randomUUID();
  await q.query(
    `INSERT INTO operations (id, provider, intent, kind, access_state, status, engine, spec, spec_hash, program_version)
     VALUES ($1, $2, $3, 'refresh', 'active', $4, 'simulated', $5, 'hash', 'v1')`,
    [id, stack, intent, status, JSON.stringify({ region: stack.replace("network-hub.", "") })],
  );
  return id;
}

describe("operations on hub stacks (021, 022)", () => {
  it("the stack-kind constraint is the new one, validated", async () => {
    const rows = await db.query<{ conname: string; convalidated: boolean }>(
      `SELECT conname, convalidated FROM pg_constraint WHERE conrelid = 'operations'::regclass AND conname LIKE 'operations_stack_kind%'`,
    );
    expect(rows).toEqual([{ conname: "operations_stack_kind_check_v2", convalidated: true }]);
  });

  it("admits a drift check of an existing hub, refuses one of a hub that does not exist and any other intent on a hub stack", async () => {
    await expect(insertOp(db, "network-hub.xx-test-1", "drift-check")).rejects.toMatchObject({ code: "23503" });
    await db.query(`INSERT INTO network_hubs (region, stack) VALUES ('xx-test-1', 'network-hub.xx-test-1')`);
    await insertOp(db, "network-hub.xx-test-1", "drift-check");
    await insertOp(db, "network-hub.xx-test-1", "hub-update");
    await expect(insertOp(db, "network-hub.xx-test-1", "update")).rejects.toMatchObject({ code: "23514" });
    // A hub update needs no row (it is what makes the hub exist); on a provider's stack it is refused.
    await insertOp(db, "network-hub.xx-test-2", "hub-update");
    const provider = await insertProvider(db);
    await insertOp(db, provider, "drift-check");
    await expect(insertOp(db, provider, "hub-update")).rejects.toMatchObject({ code: "23514" });
    await expect(insertOp(db, "no-such-provider", "drift-check")).rejects.toMatchObject({ code: "23503" });
    await expect(db.query(`INSERT INTO network_hubs (region, stack) VALUES ('xx-test-3', 'network-hub.elsewhere')`)).rejects.toMatchObject({ code: "23514" });
  });

  it("021 registers the hubs whose hub update succeeded before it", async () => {
    const before = await mkdtemp(join(tmpdir(), "saas-bridge-migrations-"));
    try {
      for (const f of (await readdir(MIGRATIONS)).filter((f) => f.endsWith(".sql") && f < "021")) await copyFile(new URL(f, MIGRATIONS), join(before, f));
      const old = await openPglite({});
      try {
        await migrate(old, { directory: pathToFileURL(`${before}/`) });
        await insertOp(old, "network-hub.xx-done-1", "hub-update", "succeeded");
        await insertOp(old, "network-hub.xx-failed-1", "hub-update", "failed");
        // Then the later ones (023 onward).
        expect((await migrate(old)).slice(0, 2)).toEqual(["021_hub_drift", "022_hub_drift_validate"]);
        expect(await old.query(`SELECT region, stack, drift FROM network_hubs`)).toEqual([{ region: "xx-done-1", stack: "network-hub.xx-done-1", drift: null }]);
      } finally {
        await old.close();
      }
    } finally {
      await rm(before, { recursive: true, force: true });
    }
  }, 60_000);
});
