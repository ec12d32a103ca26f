import { randomUUID } from "node:crypto";
import { hostname } from "node:os";
import type { Logger } from "pino";
import { isTerminal } from "../operations/events.js";
import { createNap } from "../operations/nap.js";
import type { Db } from "../store/db.js";
import * as repo from "./fleet-repo.js";
import { advanceRollout, type RolloutDeps } from "./rollout-advance.js";

export interface RolloutWorkerOptions {
  readonly db: Db;
  readonly log: Logger;
  readonly deps: RolloutDeps;
  /** How long a rollout stays this replica's without a renewal (LEASE_SECONDS). */
  readonly leaseSeconds: number;
  /** How often to look when nothing wakes the worker (other replicas change rollouts too). */
  readonly pollMs?: number;
}

export interface RolloutWorker {
  readonly owner: string;
  start(): void;
  /** Wakes the worker (a rollout was created, resumed or approved on this replica). */
  kick(): void;
  /** Stops the loop and gives the leases back, so another replica goes on at once. */
  stop(): Promise<void>;
}

/**
 * Drives rollouts, the runner's way (DESIGN §13): it takes a lease on each unfinished rollout (FOR UPDATE
 * SKIP LOCKED; renewed every pass, so it is also the heartbeat), advances each in one transaction, and
 * wakes when an operation it follows ends. A replica that dies leaves its leases to expire; any replica
 * then takes the rollout over where the database says it is.
 */
export function createRolloutWorker(options: RolloutWorkerOptions): RolloutWorker {
  const { db, deps, leaseSeconds } = options;
  const owner = `${hostname()}:${process.pid}:rollouts:${randomUUID().slice(0, 8)}`;
  const log = options.log.child({ rolloutWorker: owner });
  const followed = new Map<string, () => void>();
  let stopping = false;
  let pending = false;
  const nap = createNap();
  let loop: Promise<void> | undefined;

  const kick = () => {
    pending = true;
    nap.wake();
  };

  /** Follows exactly the operations still in flight: an end (or a signal from another replica) wakes the loop. */
  function follow(ids: readonly string[]): void {
    const wanted = new Set(ids);
    for (const [id, unsubscribe] of followed) {
      if (!wanted.has(id)) {
        unsubscribe();
        followed.delete(id);
      }
    }
    for (const id of wanted) {
      if (followed.has(id)) continue;
      followed.set(id, deps.hub.subscribe(id, (signal) => ("event" in signal && !isTerminal(signal.event) ? undefined : kick())));
    }
  }

  async function pass(): Promise<void> {
    const ids = await repo.claimRollouts(db, owner, leaseSeconds, deps.programVersion);
    const inFlight: string[] = [];
    for (const id of ids) {
      const fx = await db.transaction((tx) => advanceRollout(tx, deps, id, owner));
      inFlight.push(...fx.inFlight);
      await fx.publish(deps);
    }
    follow(inFlight);
  }

  async function run(): Promise<void> {
    const pollMs = options.pollMs ?? 1_000;
    while (!stopping) {
      pending = false;
      try {
        await pass();
      } catch (err) {
        // The loop survives a failed pass (a database restart); the next one starts from the rows.
        log.warn({ err }, "rollout pass failed; retrying");
      }
      if (pending || stopping) continue;
      await nap.sleep(pollMs);
    }
  }

  return {
    owner,
    start() {
      loop ??= run();
    },
    kick,
    async stop() {
      stopping = true;
      nap.wake();
      await loop;
      follow([]);
      try {
        await repo.releaseRollouts(db, owner);
      } catch (err) {
        log.warn({ err }, "could not give the rollout leases back; they expire by themselves");
      }
    },
  };
}
