import { chmod, mkdtemp, readFile, rm, stat, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, beforeEach, describe, expect, test } from "vitest";
import { authenticateApiKey, revokeApiKey } from "../../src/auth/api-keys.js";
import { DevAdminKeyError, ensureDevAdminKey } from "../../src/auth/dev-admin-key.js";
import type { PgliteDb } from "../../src/store/pglite.js";
import { createTestDb } from "../helpers/db.js";

let db: PgliteDb;
let dataDir: string;
beforeAll(async () => {
  db = await createTestDb();
});
afterAll(async () => {
  await db.close();
});
beforeEach(async (ctx) => {
  const parent = await mkdtemp(join(tmpdir(), "saas-bridge-devkey-"));
  dataDir = join(parent, "data"); // not there yet: it is created
  ctx.onTestFinished(() => rm(parent, { recursive: true, force: true }));
});

const modeOf = async (path: string) => (await stat(path)).mode & 0o777;

describe("ensureDevAdminKey", () => {
  test("the first start writes an admin key to DATA_DIR/admin.key, mode 0600 whatever the umask", async () => {
    const previous = process.umask(0);
    try {
      const result = await ensureDevAdminKey(db, dataDir);
      expect(result).toEqual({ path: join(dataDir, "admin.key"), created: true, keyId: expect.any(String) });
      expect(await modeOf(result.path)).toBe(0o600);
      const key = (await readFile(result.path, "utf8")).trim();
      expect(await authenticateApiKey(db, key)).toMatchObject({ ok: true, principal: { id: result.keyId, role: "admin", teams: [] } });
    } finally {
      process.umask(previous);
    }
  });

  test("later starts reuse the key while it is valid, without rewriting the file", async () => {
    const first = await ensureDevAdminKey(db, dataDir);
    const before = await readFile(first.path, "utf8");
    const second = await ensureDevAdminKey(db, dataDir);
    expect(second).toEqual({ ...first, created: false });
    expect(await readFile(first.path, "utf8")).toBe(before);
  });

  test("a revoked, expired or unknown key in the file is refused, and the file is not overwritten", async () => {
    const first = await ensureDevAdminKey(db, dataDir);
    const content = await readFile(first.path, "utf8");
    await expect(ensureDevAdminKey(db, dataDir, { now: new Date(Date.now() + 91 * 86_400_000) })).rejects.toThrow(/is expired; delete the file/);
    await revokeApiKey(db, first.keyId, "test");
    await expect(ensureDevAdminKey(db, dataDir)).rejects.toThrow(DevAdminKeyError);
    await expect(ensureDevAdminKey(db, dataDir)).rejects.toThrow(/is revoked/);
    expect(await readFile(first.path, "utf8")).toBe(content);

    await writeFile(first.path, "not a key\n", { mode: 0o600 });
    await expect(ensureDevAdminKey(db, dataDir)).rejects.toThrow(/is malformed/);
  });

  test("a key file others can read is refused", async () => {
    const { path } = await ensureDevAdminKey(db, dataDir);
    await chmod(path, 0o644);
    await expect(ensureDevAdminKey(db, dataDir)).rejects.toThrow(/readable or writable by others \(mode 644\)/);
  });
});
