import { createHash, randomBytes } from "node:crypto";
import { mkdir, readdir, readFile, rename, rm, writeFile } from "node:fs/promises";
import { createRequire } from "node:module";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { migrate } from "../../src/store/migrate.js";
import { openPglite, type PgliteDb } from "../../src/store/pglite.js";

/**
 * A fresh, migrated, in-memory PGlite per call; the caller closes it.
 *
 * initdb + migrate takes ~3–5 s, loading a data-dir image ~0.4 s. So the migrated image is built once
 * and cached on disk (vitest runs each test file in its own process), keyed by the PGlite version and
 * the migration files: changing either builds a new one.
 */
export async function createTestDb(options: { onError?: (err: unknown) => void } = {}): Promise<PgliteDb> {
  golden ??= loadGoldenImage().catch((err: unknown) => {
    golden = undefined;
    throw err;
  });
  return openPglite({ ...options, loadDataDir: await golden });
}

let golden: Promise<Blob> | undefined;

const CACHE_DIR = fileURLToPath(new URL("../../node_modules/.cache/saas-bridge/", import.meta.url));
const MIGRATIONS_DIR = new URL("../../src/store/migrations/", import.meta.url);
const PREFIX = "pglite-golden-";

async function loadGoldenImage(): Promise<Blob> {
  const file = join(CACHE_DIR, `${PREFIX}${await cacheKey()}.tar`);
  try {
    return new Blob([await readFile(file)]);
  } catch {
    // Not built yet (or removed concurrently): build it.
  }
  const image = await buildGoldenImage();
  await mkdir(CACHE_DIR, { recursive: true });
  // Atomic publish: parallel test processes may build it at the same time.
  const partial = `${file}.${process.pid}.${randomBytes(4).toString("hex")}.partial`;
  await writeFile(partial, new Uint8Array(await image.arrayBuffer()));
  await rename(partial, file);
  await removeStaleImages(file);
  return image;
}

async function buildGoldenImage(): Promise<Blob> {
  const db = await openPglite({});
  try {
    await migrate(db);
    return await db.dumpDataDir();
  } finally {
    await db.close();
  }
}

async function cacheKey(): Promise<string> {
  const hash = createHash("sha256");
  const entry = createRequire(import.meta.url).resolve("@electric-sql/pglite");
  hash.update(await readFile(join(dirname(entry), "..", "package.json")));
  for (const name of (await readdir(MIGRATIONS_DIR)).sort()) {
    hash.update(name).update(await readFile(new URL(name, MIGRATIONS_DIR)));
  }
  return hash.digest("hex").slice(0, 16);
}

async function removeStaleImages(current: string): Promise<void> {
  for (const name of await readdir(CACHE_DIR)) {
    const path = join(CACHE_DIR, name);
    if (name.startsWith(PREFIX) && name.endsWith(".tar") && path !== current) {
      await rm(path, { force: true });
    }
  }
}

