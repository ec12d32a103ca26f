import { createHash } from "node:crypto";
import { mkdirSync, readdirSync, readFileSync, renameSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";

/**
 * TEST DOUBLE — the durable state of the fake AWS cloud behind the stand-in `aws` resource plugin
 * (./provider.ts). One folder per test: `resources/` holds one JSON record per live resource (what
 * "AWS" has; editing a record is drift), `faults.json` says how the cloud misbehaves, `claims/` counts
 * calls across the plugin processes (the engine starts one per provider instance), `caller.json` names
 * the account of the ambient credentials. Every write is a rename, so concurrent plugin processes never
 * see half a file.
 */
export interface CloudRecord {
  readonly type: string;
  readonly id: string;
  readonly urn: string;
  readonly inputs: Record<string, unknown>;
  readonly outputs: Record<string, unknown>;
}

export type FaultAction =
  /** Fails with an AWS-style API error (the message is what the AWS provider would print). */
  | { readonly kind: "error"; readonly code: string; readonly message: string; readonly status?: number }
  /** Never answers (until the engine gives up on the plugin or the plugin is killed). */
  | { readonly kind: "hang" }
  /** The plugin process exits at once, in the middle of the call. */
  | { readonly kind: "crash" };

export interface Fault {
  readonly op: "create" | "update" | "delete" | "read";
  /** A type token (`aws:kms/key:Key`); every type when absent. */
  readonly type?: string;
  /** The Nth matching call fails (1-based, counted across plugin processes); every call when absent. */
  readonly nth?: number;
  readonly action: FaultAction;
}

export interface CloudBehaviour {
  /** Latency of create/update/delete, per type token, with a default. */
  readonly latencyMs?: { readonly default?: number } & Readonly<Record<string, number>>;
  readonly faults?: readonly Fault[];
}

export const FAKE_AWS_DIR_ENV = "SAAS_BRIDGE_FAKE_AWS_DIR";
const DEFAULT_CALLER = "000000000000";

const fileOf = (dir: string, type: string, id: string) =>
  join(dir, "resources", `${createHash("sha256").update(`${type}\0${id}`).digest("hex").slice(0, 32)}.json`);

function writeAtomic(path: string, text: string): void {
  const tmp = `${path}.${process.pid}.${Date.now()}.tmp`;
  writeFileSync(tmp, text);
  renameSync(tmp, path);
}

export function createCloudStore(dir: string) {
  mkdirSync(join(dir, "resources"), { recursive: true });
  mkdirSync(join(dir, "claims"), { recursive: true });
  return {
    dir,
    get(type: string, id: string): CloudRecord | undefined {
      try {
        return JSON.parse(readFileSync(fileOf(dir, type, id), "utf8")) as CloudRecord;
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code === "ENOENT") return undefined;
        throw err;
      }
    },
    put(record: CloudRecord): void {
      writeAtomic(fileOf(dir, record.type, record.id), JSON.stringify(record, null, 2));
    },
    remove(type: string, id: string): void {
      rmSync(fileOf(dir, type, id), { force: true });
    },
    list(): CloudRecord[] {
      return readdirSync(join(dir, "resources"))
        .filter((f) => f.endsWith(".json"))
        .map((f) => JSON.parse(readFileSync(join(dir, "resources", f), "utf8")) as CloudRecord);
    },
    behaviour(): CloudBehaviour {
      try {
        return JSON.parse(readFileSync(join(dir, "behaviour.json"), "utf8")) as CloudBehaviour;
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code === "ENOENT") return {};
        throw err;
      }
    },
    setBehaviour(behaviour: CloudBehaviour): void {
      writeAtomic(join(dir, "behaviour.json"), JSON.stringify(behaviour, null, 2));
    },
    /**
     * The account of the ambient credentials, i.e. of a provider instance that pins no account and
     * assumes no role (the programs' default provider: the Organizations management account). Set once
     * per test, apart from the behaviour, so it holds across behaviour changes. Default `000000000000`.
     */
    callerAccountId(): string {
      try {
        const { accountId } = JSON.parse(readFileSync(join(dir, "caller.json"), "utf8")) as { accountId?: unknown };
        return typeof accountId === "string" ? accountId : DEFAULT_CALLER;
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code === "ENOENT") return DEFAULT_CALLER;
        throw err;
      }
    },
    setCallerAccountId(accountId: string): void {
      writeAtomic(join(dir, "caller.json"), JSON.stringify({ accountId }));
    },
    /** Counts one call of `key` across processes (mkdir is atomic) and returns its 1-based number. */
    claim(key: string): number {
      const safe = key.replace(/[^A-Za-z0-9._-]/g, "_");
      for (let n = 1; n < 100_000; n++) {
        try {
          mkdirSync(join(dir, "claims", `${safe}.${n}`));
          return n;
        } catch (err) {
          if ((err as NodeJS.ErrnoException).code !== "EEXIST") throw err;
        }
      }
      throw new Error(`fake-aws: too many calls of ${key}`);
    },
  };
}

export type CloudStore = ReturnType<typeof createCloudStore>;
