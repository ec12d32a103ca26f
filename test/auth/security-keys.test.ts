import { mkdtemp, readdir, rm, stat, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { loadAuditHmacKeyOnly, loadSecurityKeys, SecuritySetupError, type SecurityConfig } from "../../src/auth/security-keys.js";
import { createLogger } from "../../src/logger.js";

/** Where the security keys come from: files in production (required), generated once in development. */
let dir: string;
const log = createLogger("silent");
const base = (over: Partial<SecurityConfig> = {}): SecurityConfig => ({
  MODE: "production",
  DATA_DIR: dir,
  AUDIT_HMAC_KEY_FILE: undefined,
  AUDIT_SIGNING_KEY_FILE: undefined,
  AUDIT_VERIFY_KEY_FILES: [],
  STREAM_TICKET_KEY_FILE: undefined,
  ...over,
});

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), "saas-bridge-keys-"));
});
afterAll(() => rm(dir, { recursive: true, force: true }));

describe("security keys", () => {
  it("production refuses to start without both audit keys, naming them", async () => {
    const error = await loadSecurityKeys(base(), log).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(SecuritySetupError);
    expect((error as Error).message).toMatch(/AUDIT_HMAC_KEY_FILE.*AUDIT_SIGNING_KEY_FILE/);
    await expect(loadAuditHmacKeyOnly(base(), log)).rejects.toThrow(/AUDIT_HMAC_KEY_FILE/);
  });

  it("development generates the keys once (0600) and reuses them, so the trail stays verifiable across restarts", async () => {
    const first = await loadSecurityKeys(base({ MODE: "development" }), log);
    const second = await loadSecurityKeys(base({ MODE: "development" }), log);
    expect(second.auditHmac.export().equals(first.auditHmac.export())).toBe(true);
    expect(second.ticketKey.equals(first.ticketKey)).toBe(true);
    expect(second.auditVerify[0]!.export({ type: "spki", format: "pem" })).toEqual(first.auditVerify[0]!.export({ type: "spki", format: "pem" }));
    for (const file of ["audit-hmac.key", "audit-signing.pem"]) expect((await stat(join(dir, "keys", file))).mode & 0o777).toBe(0o600);
    // The keys tool finds the same HMAC key.
    expect((await loadAuditHmacKeyOnly(base({ MODE: "development" }), log)).export().equals(first.auditHmac.export())).toBe(true);
    // The ticket key is derived, not the HMAC key itself.
    expect(first.ticketKey.equals(first.auditHmac.export())).toBe(false);
  });

  it("development replicas started together on one DATA_DIR get the same keys (none half-written), so verify agrees across them", async () => {
    const shared = await mkdtemp(join(tmpdir(), "saas-bridge-keys-shared-"));
    try {
      const config = { ...base({ MODE: "development" }), DATA_DIR: shared };
      const all = await Promise.all(Array.from({ length: 8 }, () => loadSecurityKeys(config, log)));
      const signing = all.map((k) => k.auditSigning.export({ format: "pem", type: "pkcs8" }).toString());
      const hmac = all.map((k) => k.auditHmac.export().toString("hex"));
      expect(new Set(signing).size).toBe(1);
      expect(new Set(hmac).size).toBe(1);
      // No temporary files are left beside the keys.
      expect((await readdir(join(shared, "keys"))).filter((f) => f.endsWith(".tmp"))).toEqual([]);
    } finally {
      await rm(shared, { recursive: true, force: true });
    }
  });

  it("a configured file that is unusable is refused with its path and the problem, never its contents", async () => {
    const hmac = join(dir, "short.key");
    await writeFile(hmac, "too-short-SECRETVALUE");
    const error = (await loadSecurityKeys(base({ AUDIT_HMAC_KEY_FILE: hmac, AUDIT_SIGNING_KEY_FILE: join(dir, "missing.pem") }), log).catch((e: unknown) => e)) as Error;
    expect(error).toBeInstanceOf(SecuritySetupError);
    expect(error.message).toContain(hmac);
    expect(error.message).not.toContain("SECRETVALUE");
    const good = join(dir, "good.key");
    await writeFile(good, `${"ab".repeat(32)}\n`);
    const ticket = join(dir, "ticket.key");
    await writeFile(ticket, "short");
    const dev = await loadSecurityKeys(base({ MODE: "development", AUDIT_HMAC_KEY_FILE: good, STREAM_TICKET_KEY_FILE: ticket }), log).catch((e: unknown) => e);
    expect((dev as Error).message).toMatch(/stream-ticket key needs at least 32 bytes/);
  });
});
