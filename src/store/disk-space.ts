import { statfs } from "node:fs/promises";
import { dirname, resolve } from "node:path";
import type { Config } from "../config.js";

/**
 * Disk and resource exhaustion (issue 14, part 4). What the service writes lives on local disk: the PGlite
 * database (DATA_DIR/pglite), the engine's HOME, TMPDIR and stack work dirs (DATA_DIR/engine), the file
 * backend's state (DATA_DIR/pulumi-state) and PULUMI_HOME. When the device holding them runs low, changes
 * are refused with a 507 naming it and /readyz is 503, instead of writes failing half-way as 500s; a write
 * that fails for lack of space anyway is recognised by `isOutOfSpace` and reported by `storageCause`.
 */
export const MIB = 1024 * 1024;

/** A directory the service writes to, named as the operator configures it (`DATA_DIR`, `PULUMI_HOME`…). */
export interface WatchedDir {
  readonly name: string;
  readonly path: string;
}

export interface SpaceReading {
  readonly dir: WatchedDir;
  /** Bytes an unprivileged writer may still use on the device; undefined when statfs failed. */
  readonly freeBytes: number | undefined;
  /** Why the free space is unknown (statfs failed). */
  readonly error?: string;
}

export interface DiskSpaceStatus {
  /** Every known reading is at or above the threshold (an unknown one does not block). */
  readonly ok: boolean;
  readonly minFreeBytes: number;
  readonly readings: readonly SpaceReading[];
  /** The reading with the least free space below the threshold, when one is. */
  readonly low: SpaceReading | undefined;
}

export type StatFs = (path: string) => Promise<{ bavail: number | bigint; bsize: number | bigint }>;

export interface DiskSpaceOptions {
  readonly dirs: readonly WatchedDir[];
  readonly minFreeBytes: number;
  /** How long a reading is reused, so a burst of requests does not stat the disk per request. */
  readonly cacheMs?: number;
  /** Tests only: a file-system reading other than the real statfs. */
  readonly statfs?: StatFs;
  readonly now?: () => number;
}

export interface DiskSpace {
  readonly minFreeBytes: number;
  readonly dirs: readonly WatchedDir[];
  /** The free space now (a reading at most `cacheMs` old unless `fresh`). Never throws. */
  status(options?: { fresh?: boolean }): Promise<DiskSpaceStatus>;
  /** Forgets the cached reading (a write just failed for lack of space: the next check looks again). */
  invalidate(): void;
}

export const DISK_CACHE_MS = 1_000;

/** The directories the service writes to under this configuration (deduplicated, absolute). */
export function watchedDirs(config: Pick<Config, "DATA_DIR" | "ENGINE" | "PULUMI_HOME" | "PULUMI_BACKEND_URL">): WatchedDir[] {
  const dirs: WatchedDir[] = [{ name: "DATA_DIR", path: resolve(config.DATA_DIR) }];
  if (config.ENGINE === "pulumi") {
    if (config.PULUMI_HOME !== undefined) dirs.push({ name: "PULUMI_HOME", path: resolve(config.PULUMI_HOME) });
    const backend = config.PULUMI_BACKEND_URL;
    if (backend?.startsWith("file:///")) dirs.push({ name: "PULUMI_BACKEND_URL", path: resolve(backend.slice("file://".length)) });
  }
  return dirs.filter((d, i) => dirs.findIndex((o) => o.path === d.path) === i);
}

export function createDiskSpace(options: DiskSpaceOptions): DiskSpace {
  const read = options.statfs ?? statfs;
  const now = options.now ?? Date.now;
  const cacheMs = options.cacheMs ?? DISK_CACHE_MS;
  let cached: { at: number; value: Promise<DiskSpaceStatus> } | undefined;

  const measure = async (): Promise<DiskSpaceStatus> => {
    const readings = await Promise.all(
      options.dirs.map(async (dir): Promise<SpaceReading> => {
        try {
          return { dir, freeBytes: await freeBytes(dir.path, read) };
        } catch (err) {
          return { dir, freeBytes: undefined, error: errorText(err) };
        }
      }),
    );
    return evaluate(readings, options.minFreeBytes);
  };

  return {
    minFreeBytes: options.minFreeBytes,
    dirs: options.dirs,
    status: ({ fresh = false } = {}) => {
      const at = now();
      if (!fresh && cached !== undefined && at - cached.at < cacheMs) return cached.value;
      const value = measure();
      cached = { at, value };
      return value;
    },
    invalidate: () => {
      cached = undefined;
    },
  };
}

/** The threshold logic: not ok when a known reading is below `minFreeBytes` (0 turns the check off). */
export function evaluate(readings: readonly SpaceReading[], minFreeBytes: number): DiskSpaceStatus {
  const below = readings.filter((r) => r.freeBytes !== undefined && r.freeBytes < minFreeBytes);
  const low = below.sort((a, b) => (a.freeBytes ?? 0) - (b.freeBytes ?? 0))[0];
  return { ok: low === undefined, minFreeBytes, readings, low };
}

/**
 * Free bytes of the device holding `path`, or of its nearest existing ancestor (DATA_DIR may not exist
 * before the first start).
 */
async function freeBytes(path: string, read: StatFs): Promise<number> {
  for (let p = resolve(path); ; p = dirname(p)) {
    try {
      const s = await read(p);
      return Number(s.bavail) * Number(s.bsize);
    } catch (err) {
      const code = (err as { code?: unknown }).code;
      if ((code !== "ENOENT" && code !== "ENOTDIR") || dirname(p) === p) throw err;
    }
  }
}

const mib = (bytes: number): string => `${Math.floor(bytes / MIB)} MiB`;

/** `no space left on the device holding DATA_DIR (/var/lib/x): 0 MiB free, 256 MiB required (DISK_MIN_FREE_MB)` */
export function lowSpaceText(reading: SpaceReading, minFreeBytes: number): string {
  const free = reading.freeBytes ?? 0;
  const what = free < MIB ? "no space left" : "not enough free space";
  return `${what} on the device holding ${reading.dir.name} (${reading.dir.path}): ${mib(free)} free, ${mib(minFreeBytes)} required (DISK_MIN_FREE_MB)`;
}

/** One line per watched directory for /readyz: its free space against the threshold. */
export function spaceSummary(status: DiskSpaceStatus): string {
  if (status.low !== undefined) return lowSpaceText(status.low, status.minFreeBytes);
  return status.readings
    .map((r) =>
      r.freeBytes === undefined
        ? `${r.dir.name} (${r.dir.path}): free space unknown (${r.error ?? "statfs failed"})`
        : `${r.dir.name} (${r.dir.path}): ${mib(r.freeBytes)} free, ${mib(status.minFreeBytes)} required`,
    )
    .join("; ");
}

/** Start-up found too little space: main prints the message and exits 1, before the database is opened. */
export class DiskSpaceError extends Error {
  override name = "DiskSpaceError";
}

/** Throws DiskSpaceError naming the directory, the free space and the threshold when space is low. */
export async function assertSpaceToStart(disk: DiskSpace): Promise<void> {
  const status = await disk.status({ fresh: true });
  if (status.low === undefined) return;
  throw new DiskSpaceError(
    `cannot start: ${lowSpaceText(status.low, status.minFreeBytes)}. Free some space on that device, or point ${status.low.dir.name} at another one.`,
  );
}

// ——— Classifying errors ———

const NODE_CODES = new Set(["ENOSPC", "EDQUOT"]);
/** PostgreSQL's disk_full (class 53, insufficient resources). PGlite raises it too: `could not extend file …`. */
const SQLSTATE_DISK_FULL = "53100";
/**
 * PGlite's WASM file system throws an Emscripten `ErrnoError` with no message, only an errno in
 * Emscripten's numbering (ENOSPC 51, EDQUOT 19): seen when initdb runs on a full disk.
 */
const EMSCRIPTEN_ERRNOS = new Map([
  [51, "ENOSPC"],
  [19, "EDQUOT"],
]);
const MESSAGES = /no space left on device|disk quota exceeded|\bENOSPC\b|\bEDQUOT\b/i;
const MAX_DEPTH = 8;

interface ErrorLike {
  readonly code?: unknown;
  readonly errno?: unknown;
  readonly name?: unknown;
  readonly message?: unknown;
  readonly path?: unknown;
  readonly cause?: unknown;
}

/** The error, or the first of its causes, that says the disk is full or a quota is exhausted. */
function outOfSpace(err: unknown): ErrorLike | undefined {
  let e: unknown = err;
  for (let depth = 0; typeof e === "object" && e !== null && depth < MAX_DEPTH; depth++) {
    const x = e as ErrorLike;
    if (typeof x.code === "string" && (NODE_CODES.has(x.code) || x.code === SQLSTATE_DISK_FULL)) return x;
    if (x.name === "ErrnoError" && typeof x.errno === "number" && EMSCRIPTEN_ERRNOS.has(x.errno)) return x;
    // The errno's text inside a message (a WASM abort, a wrapped error); not a database error of another
    // SQLSTATE, whose message may quote a value someone sent (`invalid input syntax …: "…"`).
    const sqlState = typeof x.code === "string" && /^[0-9A-Z]{5}$/.test(x.code);
    if (!sqlState && typeof x.message === "string" && MESSAGES.test(x.message)) return x;
    e = x.cause;
  }
  return undefined;
}

/** ENOSPC/EDQUOT (Node or PGlite's file system), PostgreSQL 53100 disk_full, anywhere in the cause chain. */
export function isOutOfSpace(err: unknown): boolean {
  return outOfSpace(err) !== undefined;
}

/**
 * What an operation's failure or a 507 should say when disk space is the cause, undefined otherwise:
 * `the database ran out of disk space (53100: could not extend file "base/5/16391": No space left on device)`,
 * `no space left on the device holding /var/lib/x/engine/tmp/a (ENOSPC)`.
 */
export function storageCause(err: unknown): string | undefined {
  const e = outOfSpace(err);
  if (e === undefined) return undefined;
  const message = typeof e.message === "string" && e.message !== "" ? e.message : undefined;
  if (e.code === SQLSTATE_DISK_FULL) return `the database ran out of disk space (${SQLSTATE_DISK_FULL}: ${message ?? "disk full"})`;
  if (e.name === "ErrnoError") {
    const code = EMSCRIPTEN_ERRNOS.get(e.errno as number) ?? "ENOSPC";
    return `the embedded database (PGlite) could not write its files: ${code === "EDQUOT" ? "disk quota exceeded" : "no space left on device"} (${code})`;
  }
  const code = typeof e.code === "string" && NODE_CODES.has(e.code) ? e.code : /quota/i.test(message ?? "") ? "EDQUOT" : "ENOSPC";
  const what = code === "EDQUOT" ? "the disk quota is exhausted" : "no space left";
  if (typeof e.path === "string") return `${what} on the device holding ${e.path} (${code})`;
  return `${what} on a device the service writes to (${message ?? code})`;
}

function errorText(err: unknown): string {
  const e = err as ErrorLike | null;
  return typeof e?.code === "string" ? e.code : typeof e?.message === "string" ? e.message : String(err);
}
