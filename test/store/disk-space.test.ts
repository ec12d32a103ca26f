import { writeFile, mkdtemp, rm } from "node:fs/promises";
import { existsSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import pg from "pg";
import { afterAll, describe, expect, it } from "vitest";
import { loadConfig } from "../../src/config.js";
import {
  assertSpaceToStart,
  createDiskSpace,
  DiskSpaceError,
  evaluate,
  isOutOfSpace,
  lowSpaceText,
  MIB,
  spaceSummary,
  storageCause,
  watchedDirs,
  type SpaceReading,
  type StatFs,
} from "../../src/store/disk-space.js";
import { DatabaseUnavailableError } from "../../src/store/unavailable.js";

const temp: string[] = [];
afterAll(async () => {
  await Promise.all(temp.map((d) => rm(d, { recursive: true, force: true })));
});

const dir = (name: string, path = `/srv/${name.toLowerCase()}`) => ({ name, path });
const reading = (name: string, freeMib: number | undefined): SpaceReading => ({
  dir: dir(name),
  freeBytes: freeMib === undefined ? undefined : freeMib * MIB,
  ...(freeMib === undefined ? { error: "EACCES" } : {}),
});

/** A statfs that answers `freeMib` for every path and counts its calls. */
function fakeStatfs(freeMib: () => number): StatFs & { calls: number } {
  const fn = Object.assign(
    async () => {
      fn.calls++;
      return { bavail: (freeMib() * MIB) / 4096, bsize: 4096 };
    },
    { calls: 0 },
  );
  return fn;
}

describe("disk space: the threshold", () => {
  it("is not ok when a reading is below the minimum, and names the lowest one", () => {
    const status = evaluate([reading("DATA_DIR", 300), reading("PULUMI_HOME", 12), reading("PULUMI_BACKEND_URL", 40)], 256 * MIB);
    expect(status.ok).toBe(false);
    expect(status.low?.dir.name).toBe("PULUMI_HOME");
    expect(lowSpaceText(status.low!, status.minFreeBytes)).toBe(
      "not enough free space on the device holding PULUMI_HOME (/srv/pulumi_home): 12 MiB free, 256 MiB required (DISK_MIN_FREE_MB)",
    );
  });

  it("is ok at exactly the minimum; an unknown reading does not block; 0 turns the check off", () => {
    expect(evaluate([reading("DATA_DIR", 256)], 256 * MIB).ok).toBe(true);
    expect(evaluate([reading("DATA_DIR", undefined)], 256 * MIB).ok).toBe(true);
    expect(evaluate([{ dir: dir("DATA_DIR"), freeBytes: 0 }], 0).ok).toBe(true);
    expect(spaceSummary(evaluate([reading("DATA_DIR", undefined)], MIB))).toContain("free space unknown (EACCES)");
  });

  it("says 'no space left' below 1 MiB", () => {
    expect(lowSpaceText({ dir: dir("DATA_DIR", "/d"), freeBytes: 4096 }, 256 * MIB)).toBe(
      "no space left on the device holding DATA_DIR (/d): 0 MiB free, 256 MiB required (DISK_MIN_FREE_MB)",
    );
  });

  it("reuses a reading for cacheMs, reads again after it, on fresh and after invalidate", async () => {
    let free = 500;
    let now = 1_000;
    const statfs = fakeStatfs(() => free);
    const disk = createDiskSpace({ dirs: [dir("DATA_DIR")], minFreeBytes: 256 * MIB, cacheMs: 1_000, statfs, now: () => now });
    const burst = await Promise.all(Array.from({ length: 50 }, () => disk.status()));
    expect(burst.every((s) => s.ok)).toBe(true);
    expect(statfs.calls).toBe(1);
    free = 10;
    now += 999;
    expect((await disk.status()).ok).toBe(true); // still the cached reading
    now += 1;
    expect((await disk.status()).ok).toBe(false);
    expect(statfs.calls).toBe(2);
    free = 400;
    expect((await disk.status({ fresh: true })).ok).toBe(true);
    free = 5;
    disk.invalidate();
    expect((await disk.status()).ok).toBe(false);
    expect(statfs.calls).toBe(4);
  });

  it("reads the nearest existing directory when the watched one does not exist yet (a first start)", async () => {
    const base = await mkdtemp(join(tmpdir(), "saas-bridge-disk-"));
    temp.push(base);
    const disk = createDiskSpace({ dirs: [{ name: "DATA_DIR", path: join(base, "not", "yet") }], minFreeBytes: 0 });
    const status = await disk.status();
    expect(status.readings[0]?.freeBytes).toBeGreaterThan(0);
    expect(status.readings[0]?.error).toBeUndefined();
  });

  it("start-up refuses below the threshold with one line naming the directory and the numbers", async () => {
    const disk = createDiskSpace({ dirs: [dir("DATA_DIR", "/var/lib/saas-bridge")], minFreeBytes: 256 * MIB, statfs: fakeStatfs(() => 12) });
    const err = await assertSpaceToStart(disk).then(() => undefined, (e: unknown) => e);
    expect(err).toBeInstanceOf(DiskSpaceError);
    expect((err as Error).message).toBe(
      "cannot start: not enough free space on the device holding DATA_DIR (/var/lib/saas-bridge): 12 MiB free, 256 MiB required (DISK_MIN_FREE_MB). Free some space on that device, or point DATA_DIR at another one.",
    );
    await expect(assertSpaceToStart(createDiskSpace({ dirs: [dir("DATA_DIR")], minFreeBytes: MIB, statfs: fakeStatfs(() => 2) }))).resolves.toBeUndefined();
  });

  it("watches DATA_DIR, and PULUMI_HOME and a file:// backend elsewhere with the Pulumi engine", () => {
    const base = { LANDING_ZONE_FILE: "lz.json", DATA_DIR: "/data" };
    expect(watchedDirs(loadConfig({ ...base, ENGINE: "simulated", PULUMI_HOME: "/ph" }))).toEqual([{ name: "DATA_DIR", path: "/data" }]);
    expect(watchedDirs(loadConfig({ ...base, PULUMI_HOME: "/ph", PULUMI_BACKEND_URL: "file:///state" }))).toEqual([
      { name: "DATA_DIR", path: "/data" },
      { name: "PULUMI_HOME", path: "/ph" },
      { name: "PULUMI_BACKEND_URL", path: "/state" },
    ]);
    expect(watchedDirs(loadConfig({ ...base, PULUMI_HOME: "/data", PULUMI_BACKEND_URL: "s3://bucket" }))).toEqual([{ name: "DATA_DIR", path: "/data" }]);
  });

  it("DISK_MIN_FREE_MB defaults to 256 and is bounded", () => {
    expect(loadConfig({ LANDING_ZONE_FILE: "lz.json" }).DISK_MIN_FREE_MB).toBe(256);
    expect(loadConfig({ LANDING_ZONE_FILE: "lz.json", DISK_MIN_FREE_MB: "0" }).DISK_MIN_FREE_MB).toBe(0);
    expect(() => loadConfig({ LANDING_ZONE_FILE: "lz.json", DISK_MIN_FREE_MB: "-1" })).toThrow(/DISK_MIN_FREE_MB/);
    expect(() => loadConfig({ LANDING_ZONE_FILE: "lz.json", DISK_MIN_FREE_MB: "2000000" })).toThrow(/DISK_MIN_FREE_MB/);
  });
});

describe("disk space: recognising out-of-space errors", () => {
  it.skipIf(!existsSync("/dev/full"))("an ENOSPC from a real write (/dev/full), also as the cause of a wrapper", async () => {
    const err = await writeFile("/dev/full", "x").then(() => undefined, (e: unknown) => e);
    expect((err as { code?: string }).code).toBe("ENOSPC");
    expect(isOutOfSpace(err)).toBe(true);
    expect(isOutOfSpace(new Error("saving the state failed", { cause: new Error("write failed", { cause: err }) }))).toBe(true);
    expect(storageCause(err)).toBe("no space left on a device the service writes to (ENOSPC: no space left on device, write)");
  });

  it("an ENOSPC or EDQUOT naming its path", () => {
    const enospc = Object.assign(new Error("ENOSPC: no space left on device, open '/data/engine/tmp/x'"), { code: "ENOSPC", path: "/data/engine/tmp/x" });
    expect(storageCause(enospc)).toBe("no space left on the device holding /data/engine/tmp/x (ENOSPC)");
    const quota = Object.assign(new Error("EDQUOT: disk quota exceeded, write"), { code: "EDQUOT", path: "/data/pglite" });
    expect(storageCause(quota)).toBe("the disk quota is exhausted on the device holding /data/pglite (EDQUOT)");
  });

  it("PostgreSQL's 53100 disk_full as node-postgres raises it, wrapped or not", () => {
    const db = new pg.DatabaseError('could not extend file "base/16384/16399": No space left on device', 120, "error");
    db.code = "53100";
    db.severity = "ERROR";
    expect(isOutOfSpace(db)).toBe(true);
    expect(isOutOfSpace(new Error("accept failed", { cause: db }))).toBe(true);
    expect(storageCause(db)).toBe('the database ran out of disk space (53100: could not extend file "base/16384/16399": No space left on device)');
    // Not a lost connection: the database answers, it only cannot grow.
    expect(isOutOfSpace(new DatabaseUnavailableError(Object.assign(new Error("Connection terminated"), { code: "57P01" })))).toBe(false);
  });

  it("PGlite's file system error (an Emscripten ErrnoError: errno 51 ENOSPC, 19 EDQUOT, no message)", () => {
    const errnoError = (errno: number) => Object.assign(Object.create(Error.prototype) as Error, { name: "ErrnoError", errno });
    expect(storageCause(errnoError(51))).toBe("the embedded database (PGlite) could not write its files: no space left on device (ENOSPC)");
    expect(storageCause(errnoError(19))).toBe("the embedded database (PGlite) could not write its files: disk quota exceeded (EDQUOT)");
    expect(isOutOfSpace(errnoError(44))).toBe(false); // ENOENT in Emscripten's numbering
  });

  it("the errno's text inside a message (an abort, a wrapped error)", () => {
    expect(isOutOfSpace(new Error("RuntimeError: Aborted(could not write to file \"pg_wal/xlogtemp.1\": No space left on device)"))).toBe(true);
  });

  it("is not fooled by other errors, a value quoted in another SQLSTATE's message, or a cause cycle", () => {
    expect(isOutOfSpace(undefined)).toBe(false);
    expect(isOutOfSpace("No space left on device")).toBe(false);
    expect(isOutOfSpace(Object.assign(new Error("ENOENT: no such file"), { code: "ENOENT" }))).toBe(false);
    const quoted = Object.assign(new Error('invalid input syntax for type uuid: "No space left on device"'), { code: "22P02" });
    expect(isOutOfSpace(quoted)).toBe(false);
    const other = Object.assign(new Error("out of memory"), { code: "53200" });
    expect(isOutOfSpace(other)).toBe(false);
    const a = new Error("a");
    const b = new Error("b", { cause: a });
    (a as { cause?: unknown }).cause = b;
    expect(isOutOfSpace(a)).toBe(false);
    expect(storageCause(a)).toBeUndefined();
  });
});
