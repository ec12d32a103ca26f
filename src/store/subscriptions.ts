/**
 * LISTEN bookkeeping shared by both adapters: many in-process subscribers per channel over one
 * connection, LISTEN/UNLISTEN issued in call order, and subscriber errors kept away from the
 * connection that delivered the notification.
 */
export interface SubscriptionsOptions {
  listen(quotedChannel: string): Promise<void>;
  unlisten(quotedChannel: string): Promise<void>;
  onError: ((err: unknown) => void) | undefined;
}

export interface Subscriptions {
  /** `onResync`: notifications may have been missed (the connection was re-established); read again. */
  subscribe(channel: string, onPayload: (payload: string) => void, onResync?: () => void): Promise<() => Promise<void>>;
  dispatch(channel: string, payload: string): void;
  /** Channels with at least one subscriber (to LISTEN again on a new connection). */
  channels(): string[];
  /** Tells every subscriber that notifications may have been missed. */
  resync(): void;
}

/** PostgreSQL truncates longer identifiers in LISTEN, while pg_notify rejects them: they could never match. */
const MAX_CHANNEL_BYTES = 63;

export function quoteIdentifier(name: string): string {
  return `"${name.replaceAll('"', '""')}"`;
}

export function createSubscriptions(options: SubscriptionsOptions): Subscriptions {
  const byChannel = new Map<string, Set<(payload: string) => void>>();
  const resyncs = new Map<(payload: string) => void, () => void>();
  let tail: Promise<void> = Promise.resolve();
  const inOrder = (command: () => Promise<void>): Promise<void> => {
    const next = tail.then(command);
    tail = next.catch(() => undefined);
    return next;
  };

  const remove = (channel: string, entry: (payload: string) => void): boolean => {
    const entries = byChannel.get(channel);
    if (entries === undefined) return false;
    entries.delete(entry);
    if (entries.size > 0) return false;
    byChannel.delete(channel);
    return true;
  };

  return {
    async subscribe(channel, onPayload, onResync) {
      if (channel === "" || channel.includes("\0") || Buffer.byteLength(channel) > MAX_CHANNEL_BYTES) {
        throw new Error(`invalid notification channel name: ${JSON.stringify(channel)}`);
      }
      // A fresh function per subscription: subscribing the same callback twice yields two subscriptions.
      const entry = (payload: string): void => onPayload(payload);
      if (onResync) resyncs.set(entry, onResync);
      const entries = byChannel.get(channel) ?? new Set();
      byChannel.set(channel, entries);
      entries.add(entry);
      try {
        // LISTEN is idempotent; issuing it per subscription keeps the order right when unsubscribes interleave.
        await inOrder(() => options.listen(quoteIdentifier(channel)));
      } catch (err) {
        remove(channel, entry);
        resyncs.delete(entry);
        throw err;
      }
      let active = true;
      return async () => {
        if (!active) return;
        active = false;
        resyncs.delete(entry);
        if (remove(channel, entry)) await inOrder(() => options.unlisten(quoteIdentifier(channel)));
      };
    },
    channels: () => [...byChannel.keys()],
    resync() {
      for (const onResync of [...resyncs.values()]) {
        try {
          onResync();
        } catch (err) {
          options.onError?.(err);
        }
      }
    },
    dispatch(channel, payload) {
      for (const entry of [...(byChannel.get(channel) ?? [])]) {
        try {
          entry(payload);
        } catch (err) {
          options.onError?.(err);
        }
      }
    },
  };
}
