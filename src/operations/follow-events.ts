import type { Queryable } from "../store/db.js";
import type { EventHub } from "./event-hub.js";
import { isTerminal, type OperationEvent } from "./events.js";
import { endedAtOrBefore, listEvents } from "./events-repo.js";

export interface FollowOptions {
  readonly db: Queryable;
  readonly hub: EventHub;
  readonly operationId: string;
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
export async function* followEvents(options: FollowOptions): AsyncGenerator<OperationEvent> {
  const { db, hub, operationId, signal } = options;
  // Resumed at or past the terminal event: nothing will ever come (a waiting stream would never end).
  if (await endedAtOrBefore(db, operationId, options.after)) return;
  let last = options.after;
  const live: OperationEvent[] = [];
  let mustRead = true;
  let wakeUp: (() => void) | undefined;
  const unsubscribe = hub.subscribe(operationId, (s) => {
    if ("event" in s) live.push(s.event);
    else if (s.wake > last) mustRead = true;
    wakeUp?.();
  });
  const onAbort = () => wakeUp?.();
  signal.addEventListener("abort", onAbort);
  try {
    while (!signal.aborted) {
      if (mustRead) {
        mustRead = false;
        const page = await listEvents(db, operationId, last, PAGE);
        for (const e of page) {
          last = e.seq;
          yield e;
          if (isTerminal(e)) return;
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
        if (isTerminal(e)) return;
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
