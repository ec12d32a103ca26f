import { mkdir, open, readFile, rm, stat, type FileHandle } from "node:fs/promises";
import { join } from "node:path";
import type { Queryable } from "../store/db.js";
import { authenticateApiKey, createApiKey, DEFAULT_API_KEY_EXPIRES_DAYS, revokeApiKey, type ClockOptions } from "./api-keys.js";

/**
 * `npm run dev` (MODE=development) only: the first start creates an admin key and writes it to
 * `DATA_DIR/admin.key` (0600), so the README's `-H "authorization: Bearer $(cat .data/admin.key)"` works
 * with no bootstrap step. Production creates its first key with `npm run keys -- create`.
 */
export const DEV_ADMIN_KEY_FILE = "admin.key";
const CREATED_BY = "dev-bootstrap";

export interface DevAdminKey {
  readonly path: string;
  /** False when the file already held a valid key, which is reused. */
  readonly created: boolean;
  readonly keyId: string;
}

/** The key file cannot be used and is not overwritten; the message says what to do. */
export class DevAdminKeyError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "DevAdminKeyError";
  }
}

export async function ensureDevAdminKey(q: Queryable, dataDir: string, options: ClockOptions = {}): Promise<DevAdminKey> {
  const path = join(dataDir, DEV_ADMIN_KEY_FILE);
  const existing = await readKeyFile(path);
  if (existing !== undefined) {
    const result = await authenticateApiKey(q, existing, options);
    if (result.ok) return { path, created: false, keyId: result.principal.id };
    throw new DevAdminKeyError(`${path} holds a key that is ${result.reason}; delete the file to have a new admin key created`);
  }

  await mkdir(dataDir, { recursive: true });
  // Exclusive create: never overwrites a key file, even one written since readKeyFile looked.
  let file: FileHandle;
  try {
    file = await open(path, "wx", 0o600);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === "EEXIST") throw new DevAdminKeyError(`${path} appeared while creating it; start again`);
    throw err;
  }
  let keyId: string | undefined;
  try {
    // The mode given to open() is reduced by the umask; state it exactly.
    await file.chmod(0o600);
    const { key, secret } = await createApiKey(q, {
      name: "dev-admin",
      role: "admin",
      teams: [],
      maxExpiresInDays: DEFAULT_API_KEY_EXPIRES_DAYS,
      createdBy: CREATED_BY,
      now: options.now,
    });
    keyId = key.id;
    await file.writeFile(`${secret}\n`);
    await file.close();
    return { path, created: true, keyId };
  } catch (err) {
    await file.close().catch(() => undefined);
    await rm(path, { force: true });
    // A key whose secret was never written down is of no use to anyone: do not leave it valid.
    if (keyId !== undefined) await revokeApiKey(q, keyId, CREATED_BY).catch(() => undefined);
    throw err;
  }
}

async function readKeyFile(path: string): Promise<string | undefined> {
  let mode: number;
  try {
    mode = (await stat(path)).mode;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === "ENOENT") return undefined;
    throw err;
  }
  // As ssh does with private keys: a key others could read may be in their hands already.
  if ((mode & 0o077) !== 0) {
    throw new DevAdminKeyError(`${path} is readable or writable by others (mode ${(mode & 0o777).toString(8)}): chmod 600 it, or delete it`);
  }
  return (await readFile(path, "utf8")).trim();
}
