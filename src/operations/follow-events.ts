import type { Queryable } from "../store/db.js";
import type { EventHub } from "./event-hub.js";
import { isTerminal, type OperationEvent } from "./events.js";
import { endedAtOrBefore, listEvents } from "./events-repo.js";

/** A persisted, gap-free event sequence with a final event: an operation's, or a fleet rollout's. */
export interface EventSource<E extends { readonly seq: number }> {
  list(q: Queryable, id: string, after: number, limit: number): Promise<E[]>;
  /** The final event has seq ≤ after: nothing will ever follow. */
  endedAtOrBefore(q: Queryable, id: string, after: number): Promise<boolean>;
  isFinal(event: E): boolean;
}

export const OPERATION_EVENTS: EventSource<OperationEvent> = { list: listEvents, endedAtOrBefore, isFinal: isTerminal };

export interface FollowOptions<E extends { readonly seq: number } = OperationEvent> {
  readonly db: Queryable;
  readonly hub: EventHub;
  /** The operation's (or rollout's) id: the hub's key and the source's. */
  readonly operationId: string;
  /** Default: the operation's events. */
  readonly source?: EventSource<E>;
  /** Resume point: events with seq > after are yielded. */
  readonly after: number;
  readonly signal: AbortSignal;
  /** Re-read the table at least this often, in case a notification was lost. */
  readonly pollMs?: number;
}

const PAGE = 500;

/**
 * Every event of an operation after `after`, in seq order, exactly once, ending with the terminal event;
 * nothing at all when `after` is at or past the terminal event.
 * Subscribes before reading history so nothing committed in between is missed; a gap in live events
 * (a signal from another replica, or a missed one) is filled from the table.
 */
export async function* followEvents<E extends { readonly seq: number } = OperationEvent>(options: FollowOptions<E>): AsyncGenerator<E> {
  const { db, hub, operationId, signal } = options;
  const source = options.source ?? (OPERATION_EVENTS as unknown as EventSource<E>);
  // Resumed at or past the terminal event: nothing will ever come (a waiting stream would never end).
  if (await source.endedAtOrBefore(db, operationId, options.after)) return;
  let last = options.after;
  const live: E[] = [];
  let mustRead = true;
  let wakeUp: (() => void) | undefined;
  const unsubscribe = hub.subscribe(operationId, (s) => {
    if ("event" in s) live.push(s.event as unknown as E);
    else if (s.wake > last) mustRead = true;
    wakeUp?.();
  });
  const onAbort = () => wakeUp?.();
  signal.addEventListener("abort", onAbort);
  try {
    while (!signal.aborted) {
      if (mustRead) {
        mustRead = false;
        const page = await source.list(db, operationId, last, PAGE);
        for (const e of page) {
          last = e.seq;
          yield e;
          if (source.isFinal(e)) return;
        }
        if (page.length === PAGE) mustRead = true;
      }
      while (live.length > 0 && !mustRead) {
        const e = live.shift()!;
        if (e.seq <= last) continue;
        if (e.seq !== last + 1) {
          mustRead = true;
          break;
        }
        last = e.seq;
        yield e;
        if (source.isFinal(e)) return;
      }
      if (!mustRead && live.length === 0) {
        await new Promise<void>((resolve) => {
          const timer = setTimeout(() => {
            mustRead = true;
            resolve();
          }, options.pollMs ?? 5_000);
          wakeUp = () => {
            clearTimeout(timer);
            resolve();
          };
        });
        wakeUp = undefined;
      }
    }
  } finally {
    signal.removeEventListener("abort", onAbort);
    unsubscribe();
  }
}
