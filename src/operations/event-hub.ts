import { randomUUID } from "node:crypto";
import type { Logger } from "pino";
import type { Db } from "../store/db.js";
import type { OperationEvent } from "./events.js";

/**
 * Live fan-out of committed events. The table is the source of truth; the hub only wakes readers.
 * In-process, a published event travels with its payload (no re-read). Across replicas, PostgreSQL
 * NOTIFY carries `replica:operation:seq` and readers on other replicas fetch the rows themselves.
 */
export type HubSignal = { readonly event: OperationEvent } | { readonly wake: number };
type Listener = (signal: HubSignal) => void;

export interface EventHub {
  /** After commit: deliver locally and notify other replicas. */
  publish(operationId: string, event: OperationEvent): Promise<void>;
  subscribe(operationId: string, listener: Listener): () => void;
  subscriberCount(operationId: string): number;
  close(): Promise<void>;
}

const CHANNEL = "saas_bridge_events";

export async function createEventHub(db: Db, log: Logger): Promise<EventHub> {
  const replica = randomUUID();
  const listeners = new Map<string, Set<Listener>>();

  const deliver = (operationId: string, signal: HubSignal): void => {
    for (const l of listeners.get(operationId) ?? []) l(signal);
  };

  const unlisten =
    db.kind === "postgres"
      ? await db.listen(
          CHANNEL,
          (payload) => {
            const [from, operationId, seq] = payload.split(":");
            if (from !== replica && operationId && seq) deliver(operationId, { wake: Number(seq) });
          },
          // The LISTEN connection came back after a drop: notifications may be lost, so every reader re-reads.
          () => {
            log.info({ followed: listeners.size }, "event notifications resumed; streams re-read what they may have missed");
            for (const operationId of [...listeners.keys()]) deliver(operationId, { wake: Number.MAX_SAFE_INTEGER });
          },
        )
      : async () => {};

  return {
    async publish(operationId, event) {
      deliver(operationId, { event });
      if (db.kind !== "postgres") return;
      try {
        await db.query(`SELECT pg_notify($1, $2)`, [CHANNEL, `${replica}:${operationId}:${event.seq}`]);
      } catch (err) {
        // Readers on other replicas also re-read on a timer, so a lost notification only adds latency.
        log.warn({ err, operationId }, "event notification failed");
      }
    },
    subscribe(operationId, listener) {
      const set = listeners.get(operationId) ?? new Set();
      set.add(listener);
      listeners.set(operationId, set);
      return () => {
        set.delete(listener);
        if (set.size === 0) listeners.delete(operationId);
      };
    },
    subscriberCount: (operationId) => listeners.get(operationId)?.size ?? 0,
    close: unlisten,
  };
}
