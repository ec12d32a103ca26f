import { open, readFile, rm } from "node:fs/promises";
import { hostname } from "node:os";
import { resolve } from "node:path";

/**
 * PGlite does not stop a second process from opening the same data directory (its postmaster.pid
 * holds a fake pid), and two writers corrupt it. This pid file next to the directory does.
 * A lock whose process is gone (crash, container restart) is taken over.
 */
export interface DataDirLock {
  release(): Promise<void>;
}

const heldHere = new Set<string>();

export async function lockDataDir(dataDir: string): Promise<DataDirLock> {
  const path = `${resolve(dataDir)}.lock`;
  if (heldHere.has(path)) throw new Error(`data dir ${dataDir} is already open in this process`);
  const owner = `${process.pid}@${hostname()}`;
  // Two attempts: the second after removing a stale lock.
  for (let attempt = 0; attempt < 2; attempt++) {
    try {
      const file = await open(path, "wx");
      await file.writeFile(owner);
      await file.close();
      heldHere.add(path);
      let released = false;
      return {
        async release() {
          if (released) return;
          released = true;
          heldHere.delete(path);
          await rm(path, { force: true });
        },
      };
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== "EEXIST") throw err;
    }
    const holder = (await readFile(path, "utf8").catch(() => "")).trim();
    if (holderIsAlive(holder)) {
      throw new Error(
        `data dir ${dataDir} is in use by process ${holder} (${path}); ` +
          "PGlite allows one process per data dir: use DATABASE_URL (PostgreSQL) for several, " +
          "or delete the lock file if that process is gone",
      );
    }
    await rm(path, { force: true });
  }
  throw new Error(`could not lock data dir ${dataDir} (${path})`);
}

function holderIsAlive(holder: string): boolean {
  const match = /^(\d+)@(.*)$/.exec(holder);
  if (match === null) return false; // empty or torn write: the writer died before finishing
  const [, pid, host] = match;
  // Another host: no way to check, so assume it is alive.
  if (host !== hostname()) return true;
  // Our own pid but not held here: a previous incarnation (containers reuse pid 1).
  if (Number(pid) === process.pid) return false;
  try {
    process.kill(Number(pid), 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === "EPERM";
  }
}
