import { spawn } from "node:child_process";
import { randomUUID } from "node:crypto";
import { existsSync } from "node:fs";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { authenticateApiKey, getApiKey } from "../../src/auth/api-keys.js";
import { openDb } from "../../src/store/open.js";

/** The bootstrap command end to end: its own process, a fresh DATA_DIR, the store the service would open. */
const root = new URL("../../", import.meta.url).pathname;
let dataDir: string;

beforeAll(async () => {
  dataDir = await mkdtemp(join(tmpdir(), "saas-bridge-keys-"));
});
afterAll(async () => {
  await rm(dataDir, { recursive: true, force: true });
});

interface Run {
  code: number | null;
  stdout: string;
  stderr: string;
}

function keys(args: string[], env: Record<string, string> = {}): Promise<Run> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ["--import", "tsx", "tools/keys.ts", ...args], {
      cwd: root,
      // Development: the tool uses (or creates) the data dir's audit HMAC key, as `npm run dev` does.
      env: { PATH: process.env["PATH"] ?? "", DATA_DIR: dataDir, MODE: "development", ...env },
      stdio: ["ignore", "pipe", "pipe"],
    });
    let stdout = "";
    let stderr = "";
    child.stdout.on("data", (c: Buffer) => (stdout += c.toString()));
    child.stderr.on("data", (c: Buffer) => (stderr += c.toString()));
    child.on("error", reject);
    child.on("close", (code) => resolve({ code, stdout, stderr }));
  });
}

/** Opens the tool's data dir in this process (the tool has exited, so the PGlite lock is free). */
async function withStore<T>(fn: (db: Awaited<ReturnType<typeof openDb>>) => Promise<T>): Promise<T> {
  const db = await openDb({ dataDir });
  try {
    return await fn(db);
  } finally {
    await db.close();
  }
}

describe("npm run keys", () => {
  let secret: string;
  let id: string;

  test("MODE=production without AUDIT_HMAC_KEY_FILE: exit 1 naming it, nothing created", { timeout: 60_000 }, async () => {
    const r = await keys(["create", "--name", "no-audit", "--role", "admin"], { MODE: "production" });
    expect(r.code).toBe(1);
    expect(r.stdout).toBe("");
    expect(r.stderr).toMatch(/AUDIT_HMAC_KEY_FILE/);
    await withStore(async (db) => expect(await db.query(`SELECT 1 FROM api_keys WHERE name = 'no-audit'`)).toEqual([]));
  });

  test("create prints the key once on stdout, with a warning on stderr; the key authenticates", { timeout: 60_000 }, async () => {
    const r = await keys(["create", "--name", "ops-admin", "--role", "admin", "--team", "payments", "--team", "risk", "--expires-days", "30"]);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/^sbk_[0-9a-f]{12}_[A-Za-z0-9_-]{43}\n$/);
    secret = r.stdout.trim();
    const warning = r.stderr.trim().split("\n");
    expect(warning).toHaveLength(1);
    expect(warning[0]).toMatch(/^keys: created API key [0-9a-f-]{36} "ops-admin" \(role admin, teams payments,risk, expires .*shown once/);
    expect(r.stderr).not.toContain(secret.slice(17));
    id = /created API key ([0-9a-f-]{36})/.exec(r.stderr)![1]!;

    await withStore(async (db) => {
      expect(await authenticateApiKey(db, secret)).toMatchObject({
        ok: true,
        principal: { kind: "apikey", id, name: "ops-admin", role: "admin", teams: ["payments", "risk"] },
      });
      const key = await getApiKey(db, id);
      expect((Date.parse(key!.expiresAt) - Date.parse(key!.createdAt)) / 86_400_000).toBe(30);
      expect(key!.createdBy).toMatch(/^cli(:.+)?$/);
      // Audited in the same transaction, as the operator at the command line.
      const [record] = await db.query<{ principal_kind: string; principal_id: string; action: string }>(
        `SELECT principal_kind, principal_id, action FROM audit_log WHERE resource_id = $1`,
        [id],
      );
      expect(record).toMatchObject({ principal_kind: "system", action: "apikey.create" });
      expect(record?.principal_id).toMatch(/^cli(:.+)?$/);
    });
  });

  test("list shows the keys and their state, never a secret", async () => {
    const r = await keys(["list"]);
    expect(r.code, r.stderr).toBe(0);
    const [header, ...rows] = r.stdout.trim().split("\n");
    expect(header).toBe("ID\tPREFIX\tNAME\tROLE\tTEAMS\tSTATE\tEXPIRES\tLAST_USED");
    expect(rows).toHaveLength(1);
    expect(rows[0]!.split("\t").slice(0, 6)).toEqual([id, secret.slice(4, 16), "ops-admin", "admin", "payments,risk", "active"]);
    expect(r.stdout + r.stderr).not.toContain(secret.slice(17));
  });

  test("revoke revokes (idempotently); the key no longer authenticates", async () => {
    const r = await keys(["revoke", id]);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toBe(`revoked ${id} "ops-admin"\n`);
    const again = await keys(["revoke", id]);
    expect(again.code).toBe(0);
    expect(again.stdout).toMatch(/^already revoked: /);
    await withStore(async (db) => expect(await authenticateApiKey(db, secret)).toEqual({ ok: false, reason: "revoked", keyId: id }));
    expect((await keys(["list"])).stdout).toContain("\trevoked\t");
  });

  // Usage errors are found before the store is opened: these run at once, on a data dir that must not appear.
  test.concurrent.each([
    ["no command", []],
    ["an unknown command", ["rotate"]],
    ["create without --name", ["create", "--role", "admin"]],
    ["create with an unknown role", ["create", "--name", "x", "--role", "root"]],
    ["create with an unknown option", ["create", "--name", "x", "--role", "admin", "--forever"]],
    ["create with a non-numeric expiry", ["create", "--name", "x", "--role", "admin", "--expires-days", "ninety"]],
    ["revoke without an id", ["revoke"]],
    ["list with an argument", ["list", "all"]],
  ])("%s: exit 2, one line on stderr, the store untouched", async (_, args) => {
    const untouched = join(dataDir, `never-${randomUUID()}`);
    const r = await keys(args, { DATA_DIR: untouched });
    expect(r.code).toBe(2);
    expect(r.stdout).toBe("");
    expect(r.stderr).toMatch(/^keys: \S[^\n]*\n$/);
    expect(existsSync(untouched)).toBe(false);
  });

  test.each([
    ["create above the maximum expiry", ["create", "--name", "x", "--role", "admin", "--expires-days", "366"], /must be at most 365 days/],
    ["create with an invalid team", ["create", "--name", "x", "--role", "admin", "--team", "Not A Slug"], /\/teams\/0 must be/],
    ["revoke an unknown id", ["revoke", "6a1f0f0e-0000-4000-8000-000000000000"], /no API key with id/],
  ])("%s: exit 1, one line on stderr", async (_, args, message) => {
    const r = await keys(args);
    expect(r.code).toBe(1);
    expect(r.stdout).toBe("");
    expect(r.stderr).toMatch(/^keys: \S[^\n]*\n$/);
    expect(r.stderr).toMatch(message);
  });

  test("a data dir the running service holds is refused in one line", async () => {
    await withStore(async () => {
      const r = await keys(["list"]);
      expect(r.code).toBe(1);
      expect(r.stderr).toMatch(/^keys: data dir .* is in use by process \d+@[^\n]*\n$/);
    });
  });

  test("the environment is checked like the service's config, before the store is touched", async () => {
    const untouched = join(dataDir, "never-env");
    const r = await keys(["list"], { DATA_DIR: untouched, DATABASE_URL: "mysql://db/x", API_KEY_MAX_EXPIRES_DAYS: "0" });
    expect(r.code).toBe(1);
    expect(existsSync(untouched)).toBe(false);
    expect(r.stderr).toMatch(/^keys: DATABASE_URL: must be a postgres:\/\/ or postgresql:\/\/ URL; API_KEY_MAX_EXPIRES_DAYS: .+\n$/);
  });

  test("API_KEY_MAX_EXPIRES_DAYS lowers the maximum", async () => {
    const r = await keys(["create", "--name", "x", "--role", "viewer", "--expires-days", "31"], { API_KEY_MAX_EXPIRES_DAYS: "30" });
    expect(r.code).toBe(1);
    expect(r.stderr).toBe("keys: the API key request is not valid: /expiresInDays must be at most 30 days (the configured maximum)\n");
  });
});
