import { randomUUID } from "node:crypto";
import { hostname } from "node:os";
import type { Logger } from "pino";
import type { CredentialSealer } from "../auth/credential-seal.js";
import { createNap } from "../operations/nap.js";
import type { Db } from "../store/db.js";
import { claimDeliveries, recordAttempt, releaseLeases, renewLease, sweepExpiredLeases, type Claimed } from "./deliveries-repo.js";
import type { Send, SendOutcome } from "./http-sender.js";
import { DELIVERY_CHANNEL } from "./outbox.js";
import { secretContext, secretKey, signedHeaders } from "./signing.js";

export interface Backoff {
  /** The first retry waits up to this long (WEBHOOK_BACKOFF_SECONDS); each further one up to twice as long. */
  readonly baseMs: number;
  /** No wait is longer than this (WEBHOOK_BACKOFF_MAX_SECONDS). */
  readonly maxMs: number;
}

export interface DeliveryWorkerOptions {
  readonly db: Db;
  readonly log: Logger;
  readonly sealer: CredentialSealer;
  /** The transport (http-sender.ts); the worker knows nothing of HTTP. */
  readonly send: Send;
  /** How long a delivery stays this replica's without a renewal (LEASE_SECONDS). */
  readonly leaseSeconds: number;
  /** Attempts in flight at once on this replica (each to a different subscription: one at a time each). */
  readonly concurrency: number;
  readonly backoff: Backoff;
  /** How often to look when no NOTIFY wakes the worker (a lost notification, a retry that fell due). */
  readonly pollMs?: number;
  /** Tests: a fixed jitter. */
  readonly random?: () => number;
}

export interface DeliveryWorker {
  readonly owner: string;
  /** Recovers deliveries whose replica died (expired leases), then delivers until stop(). */
  start(): Promise<void>;
  kick(): void;
  /** Stops claiming, lets attempts in flight end for up to `graceMs`, interrupts the rest, gives the leases back. */
  stop(graceMs: number): Promise<void>;
}

/** Full jitter (AWS Architecture Blog, "Exponential Backoff And Jitter"): uniform in [0, min(max, base·2^(n−1))]. */
export function retryDelayMs(backoff: Backoff, attempt: number, random: () => number = Math.random): number {
  const ceiling = Math.min(backoff.maxMs, backoff.baseMs * 2 ** Math.min(attempt - 1, 30));
  return Math.floor(random() * ceiling);
}

/**
 * Sends the outbox, the runner's way (DESIGN §13): claims due deliveries under a lease (FOR UPDATE SKIP
 * LOCKED, so replicas take different ones), renews the lease while an attempt is in flight, records each
 * attempt and its effect in one transaction, and sweeps the leases of replicas that died. At-least-once:
 * a replica killed after the receiver answered and before the record commits leaves the delivery to be
 * sent again, with the same `webhook-id`.
 */
export function createDeliveryWorker(options: DeliveryWorkerOptions): DeliveryWorker {
  const { db, sealer, leaseSeconds } = options;
  const owner = `${hostname()}:${process.pid}:webhooks:${randomUUID().slice(0, 8)}`;
  const log = options.log.child({ deliveryWorker: owner });
  const inFlight = new Map<string, { controller: AbortController; done: Promise<void> }>();
  const keys = new Map<string, Buffer>();
  const nap = createNap();
  let stopping = false;
  let pending = false;
  let loop: Promise<void> | undefined;
  let unlisten: (() => Promise<void>) | undefined;

  const kick = () => {
    pending = true;
    nap.wake();
  };

  /** The keys that sign now (opened once per secret; a rotated-out one is no longer claimed with the delivery). */
  function signingKeys(claimed: Claimed): Buffer[] {
    return claimed.secrets.map(({ id, sealed }) => {
      const subscriptionId = claimed.subscriptionId;
      let key = keys.get(id);
      if (key === undefined) {
        key = secretKey(sealer.open(secretContext(subscriptionId, id), sealed));
        keys.set(id, key);
      }
      return key;
    });
  }

  async function attempt(claimed: Claimed, signal: AbortSignal): Promise<void> {
    // A secret that does not open here (replicas with different audit HMAC keys) fails the attempt, named.
    let keysNow: Buffer[] | undefined;
    try {
      keysNow = signingKeys(claimed);
    } catch {
      keysNow = undefined;
    }
    const outcome: SendOutcome =
      keysNow === undefined || keysNow.length === 0
        ? { ok: false, error: keysNow ? "the subscription has no signing secret" : "the signing secret does not open on this replica (every replica needs the same audit HMAC key)", durationMs: 0 }
        : await options.send(
            { url: claimed.url, headers: { ...signedHeaders(keysNow, claimed.webhookId, Math.floor(Date.now() / 1000), claimed.payload) }, body: claimed.payload },
            signal,
          );
    // Interrupted by a stop: the next replica (or this one after its restart) tries again at once.
    const retryInMs = signal.aborted ? 0 : retryDelayMs(options.backoff, claimed.attempt, options.random);
    const status = await recordAttempt(db, claimed, owner, outcome, retryInMs);
    // Never the headers: they carry the signatures.
    const entry = { webhookId: claimed.webhookId, subscription: claimed.subscriptionId, attempt: claimed.attempt, statusCode: outcome.statusCode, durationMs: outcome.durationMs, status };
    if (outcome.ok) log.debug(entry, "webhook delivered");
    else if (status === "dead") log.warn({ ...entry, error: outcome.error }, "webhook delivery dead: retried for its maximum age");
    else log.info({ ...entry, error: outcome.error, retryInMs }, "webhook attempt failed; retrying");
  }

  function launch(claimed: Claimed): void {
    const controller = new AbortController();
    const beat = setInterval(() => {
      renewLease(db, claimed.id, owner, leaseSeconds).then(
        (held) => (held ? undefined : log.warn({ webhookId: claimed.webhookId }, "webhook delivery lease lost during an attempt")),
        (err: unknown) => log.warn({ err }, "webhook delivery heartbeat failed"),
      );
    }, (leaseSeconds * 1000) / 3);
    const done = attempt(claimed, controller.signal)
      .catch((err: unknown) => log.error({ err, webhookId: claimed.webhookId }, "webhook delivery bookkeeping failed; the lease will expire and another attempt follows"))
      .finally(() => {
        clearInterval(beat);
        inFlight.delete(claimed.id);
        // The subscription's next delivery may be due now.
        kick();
      });
    inFlight.set(claimed.id, { controller, done });
  }

  async function run(): Promise<void> {
    const pollMs = options.pollMs ?? 1_000;
    let lastSweep = Date.now();
    while (!stopping) {
      pending = false;
      try {
        if (Date.now() - lastSweep > (leaseSeconds * 1000) / 2) {
          lastSweep = Date.now();
          await sweepExpiredLeases(db);
        }
        const room = options.concurrency - inFlight.size;
        if (room > 0) for (const claimed of await claimDeliveries(db, owner, leaseSeconds, room)) launch(claimed);
      } catch (err) {
        // The loop survives a failed pass (a database restart); the rows say where to go on.
        log.warn({ err }, "webhook delivery pass failed; retrying");
      }
      if (pending || stopping) continue;
      await nap.sleep(pollMs);
    }
  }

  return {
    owner,
    async start() {
      if (loop !== undefined) return;
      await sweepExpiredLeases(db);
      unlisten = await db.listen(DELIVERY_CHANNEL, kick, kick);
      loop = run();
    },
    kick,
    async stop(graceMs) {
      stopping = true;
      nap.wake();
      await loop;
      await unlisten?.().catch(() => undefined);
      const all = Promise.all([...inFlight.values()].map((f) => f.done));
      const timedOut = await Promise.race([all.then(() => false), new Promise<boolean>((r) => setTimeout(() => r(true), graceMs).unref())]);
      if (timedOut) {
        for (const f of inFlight.values()) f.controller.abort();
        await all;
      }
      try {
        await releaseLeases(db, owner);
      } catch (err) {
        log.warn({ err }, "could not give the webhook delivery leases back; they expire by themselves");
      }
    },
  };
}
