import type { KeyObject } from "node:crypto";
import type { Logger } from "pino";
import type { Queryable } from "../store/db.js";
import { signHead } from "./signing.js";

export interface HeadSignerOptions {
  readonly db: Queryable;
  /** Ed25519 private key (loadAuditSigningKey). */
  readonly key: KeyObject;
  /** Time between the end of one signing and the start of the next. */
  readonly intervalMs: number;
  readonly log: Logger;
  /** Bound on one signing (a hung database must not hang stop()); default 10 s. */
  readonly timeoutMs?: number;
}

export interface HeadSigner {
  /** Stops the timer, waits (bounded) for a signing in flight, then signs the final head once. Never throws. */
  stop(): Promise<void>;
}

const DEFAULT_TIMEOUT_MS = 10_000;

/**
 * Signs the chain head now and then every `intervalMs` (one signing at a time, the timer unref'd so it never
 * keeps the process alive). A failure is logged once, at error, and retried at the next tick; the first
 * success after failures is logged as a recovery. Each new signature is logged at info with its seq, hash and
 * signature: shipped logs are then a copy of the signed heads outside the database (verifyAudit's `anchors`).
 */
export function startHeadSigner(options: HeadSignerOptions): HeadSigner {
  const { db, key, intervalMs, log } = options;
  const timeoutMs = options.timeoutMs ?? DEFAULT_TIMEOUT_MS;
  if (!Number.isInteger(intervalMs) || intervalMs < 1) {
    throw new RangeError(`startHeadSigner: intervalMs must be a positive integer, got ${intervalMs}`);
  }
  let stopped = false;
  let failures = 0;
  let timer: NodeJS.Timeout | undefined;
  let inFlight: Promise<void> | undefined;
  /** The real signing, which may outlive its bound: never start a second one beside it. */
  let signing: Promise<unknown> | undefined;


  const attempt = async (): Promise<void> => {
    let bound: NodeJS.Timeout | undefined;
    try {
      if (signing !== undefined) throw new Error("the previous audit head signing has not finished yet");
      const current = signHead(db, key);
      signing = current.then(
        () => (signing = undefined),
        () => (signing = undefined),
      );
      const timeout = new Promise<never>((_, reject) => {
        bound = setTimeout(() => reject(new Error(`audit head signing did not finish within ${timeoutMs} ms`)), timeoutMs);
        bound.unref();
      });
      const { created, ...head } = await Promise.race([current, timeout]);
      if (failures > 0) log.info({ failures }, "audit head signing recovered");
      failures = 0;
      if (created) log.info({ auditHead: head }, "audit head signed");
    } catch (err) {
      failures++;
      log.error({ err, failures }, "audit head signing failed");
    } finally {
      clearTimeout(bound);
    }
  };

  const run = (): void => {
    inFlight = attempt().finally(() => {
      inFlight = undefined;
      if (!stopped) {
        timer = setTimeout(run, intervalMs);
        timer.unref();
      }
    });
  };
  run();

  return {
    async stop() {
      if (stopped) return;
      stopped = true;
      clearTimeout(timer);
      await inFlight;
      await attempt();
    },
  };
}
