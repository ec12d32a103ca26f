import { createPublicKey, generateKeyPairSync, hkdfSync, randomBytes, type KeyObject } from "node:crypto";
import { link, mkdir, open, readFile, rm } from "node:fs/promises";
import { join } from "node:path";
import type { Logger } from "pino";
import { loadAuditHmacKey, loadAuditSigningKey, loadAuditVerifyKey, parseAuditHmacKey, parseAuditSigningKey } from "../audit/keys.js";
import type { Config } from "../config.js";

/**
 * The keys the security layer needs, all kept outside the database (issue #5): the audit trail's HMAC
 * key and Ed25519 signing key, extra verify keys (rotation), and the stream-ticket key.
 */
export interface SecurityKeys {
  readonly auditHmac: KeyObject;
  /** Signs the chain head; its public half verifies. */
  readonly auditSigning: KeyObject;
  /** Every public key verify accepts: the signing key's, then AUDIT_VERIFY_KEY_FILES. */
  readonly auditVerify: readonly KeyObject[];
  readonly ticketKey: Buffer;
}

export class SecuritySetupError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "SecuritySetupError";
  }
}

export type SecurityConfig = Pick<
  Config,
  "MODE" | "DATA_DIR" | "AUDIT_HMAC_KEY_FILE" | "AUDIT_SIGNING_KEY_FILE" | "AUDIT_VERIFY_KEY_FILES" | "STREAM_TICKET_KEY_FILE"
>;

/** Where `npm run dev` keeps the keys it generated (development only; production mounts its own). */
export const DEV_KEY_DIR = "keys";

/**
 * Loads the configured key files. In production the audit keys are required (the service refuses to
 * start without them); in development missing ones are generated once under DATA_DIR/keys (0600) and
 * reused, so a restart keeps the trail verifiable.
 */
export async function loadSecurityKeys(config: SecurityConfig, log: Logger): Promise<SecurityKeys> {
  const missing = [
    config.AUDIT_HMAC_KEY_FILE === undefined ? "AUDIT_HMAC_KEY_FILE (e.g. `openssl rand -hex 32 > audit-hmac.key`)" : undefined,
    config.AUDIT_SIGNING_KEY_FILE === undefined ? "AUDIT_SIGNING_KEY_FILE (e.g. `openssl genpkey -algorithm ed25519 -out audit-signing.pem`)" : undefined,
  ].filter((m): m is string => m !== undefined);
  if (missing.length > 0 && config.MODE === "production") {
    throw new SecuritySetupError(`MODE=production needs the audit keys outside the database: set ${missing.join(" and ")}`);
  }
  try {
    const devDir = join(config.DATA_DIR, DEV_KEY_DIR);
    const auditHmac =
      config.AUDIT_HMAC_KEY_FILE === undefined
        ? parseAuditHmacKey(await devKey(join(devDir, "audit-hmac.key"), newHmacText, log))
        : await loadAuditHmacKey(config.AUDIT_HMAC_KEY_FILE);
    const auditSigning =
      config.AUDIT_SIGNING_KEY_FILE === undefined
        ? parseAuditSigningKey((await devKey(join(devDir, "audit-signing.pem"), newSigningPem, log)).toString("utf8"))
        : await loadAuditSigningKey(config.AUDIT_SIGNING_KEY_FILE);
    const extra = await Promise.all(config.AUDIT_VERIFY_KEY_FILES.map((f) => loadAuditVerifyKey(f)));
    const ticketKey =
      config.STREAM_TICKET_KEY_FILE === undefined ? deriveTicketKey(auditHmac) : ticketKeyFrom(await readFile(config.STREAM_TICKET_KEY_FILE), config.STREAM_TICKET_KEY_FILE);
    return { auditHmac, auditSigning, auditVerify: [createPublicKey(auditSigning), ...extra], ticketKey };
  } catch (err) {
    if (err instanceof SecuritySetupError) throw err;
    // Messages name the file and the problem, never key material.
    throw new SecuritySetupError(err instanceof Error ? err.message : String(err));
  }
}

/**
 * The audit HMAC key alone, for tools that write audit records but sign nothing (`npm run keys`): the
 * configured file, or in development the one `npm run dev` generates (the same file, so both agree).
 */
export async function loadAuditHmacKeyOnly(config: Pick<SecurityConfig, "MODE" | "DATA_DIR" | "AUDIT_HMAC_KEY_FILE">, log: Logger): Promise<KeyObject> {
  if (config.AUDIT_HMAC_KEY_FILE !== undefined) return loadAuditHmacKey(config.AUDIT_HMAC_KEY_FILE);
  if (config.MODE === "production") throw new SecuritySetupError("MODE=production needs AUDIT_HMAC_KEY_FILE (the same file the service uses): key events are audited");
  return parseAuditHmacKey(await devKey(join(config.DATA_DIR, DEV_KEY_DIR, "audit-hmac.key"), newHmacText, log));
}

/** Fresh keys in memory: tests and benchmarks. */
export function generateSecurityKeys(): SecurityKeys {
  // As text, like a key file: raw random bytes could end in what the parser trims as whitespace.
  const auditHmac = parseAuditHmacKey(Buffer.from(newHmacText()));
  const auditSigning = parseAuditSigningKey(newSigningPem());
  return { auditHmac, auditSigning, auditVerify: [createPublicKey(auditSigning)], ticketKey: deriveTicketKey(auditHmac) };
}

const newHmacText = (): string => `${randomBytes(32).toString("hex")}\n`;

function newSigningPem(): string {
  return generateKeyPairSync("ed25519").privateKey.export({ type: "pkcs8", format: "pem" }).toString();
}

/** A key of its own for tickets, derived (HKDF-SHA256, own label) so one file serves both purposes. */
function deriveTicketKey(auditHmac: KeyObject): Buffer {
  return Buffer.from(hkdfSync("sha256", auditHmac.export(), Buffer.alloc(0), "saas-bridge stream tickets v1", 32));
}

function ticketKeyFrom(bytes: Buffer, path: string): Buffer {
  const key = Buffer.from(bytes.toString("utf8").trim(), "utf8");
  if (key.length < 32) throw new SecuritySetupError(`${path}: a stream-ticket key needs at least 32 bytes (try \`openssl rand -hex 32\`)`);
  return key;
}

/**
 * Reads a development key file, creating it (0600) the first time. Written whole under a temporary name and
 * then hard-linked into place (link never replaces a file): replicas started together on one DATA_DIR end
 * up with the same key, and none reads a half-written one.
 */
async function devKey(path: string, create: () => string, log: Logger): Promise<Buffer> {
  try {
    return await readFile(path);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== "ENOENT") throw err;
  }
  await mkdir(join(path, ".."), { recursive: true, mode: 0o700 });
  const temporary = `${path}.${process.pid}.${randomBytes(6).toString("hex")}.tmp`;
  const file = await open(temporary, "wx", 0o600);
  let created = false;
  try {
    await file.chmod(0o600);
    await file.writeFile(create());
    await file.close();
    await link(temporary, path);
    created = true;
  } catch (err) {
    // Another process linked its key first: use that one.
    if ((err as NodeJS.ErrnoException).code !== "EEXIST") throw err;
  } finally {
    await file.close().catch(() => undefined);
    await rm(temporary, { force: true });
  }
  if (created) log.warn({ path }, "development: generated an audit key (production needs AUDIT_HMAC_KEY_FILE and AUDIT_SIGNING_KEY_FILE)");
  return readFile(path);
}
