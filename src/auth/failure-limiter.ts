/**
 * Brute force on credentials (issue #5): failed authentications are counted per source address in fixed
 * one-minute windows; past the limit the address is refused (429) without its credentials being looked
 * at, until the window ends. Per replica and in memory — a cluster-wide attacker is also bounded by the
 * per-IP request limit in front of it. Bounded in size: the oldest addresses are dropped first.
 */
export interface FailureLimiter {
  /** Whether `key` is over its limit now; `first` is true once per window (the refusal to audit). */
  blocked(key: string, now?: number): { readonly blocked: boolean; readonly first: boolean; readonly retryAfterSeconds: number };
  /** Counts one failed authentication of `key`. */
  fail(key: string, now?: number): void;
}

interface Window {
  start: number;
  failures: number;
  reported: boolean;
}

export function createFailureLimiter(options: { readonly maxPerWindow: number; readonly windowMs?: number; readonly maxKeys?: number }): FailureLimiter {
  const windowMs = options.windowMs ?? 60_000;
  const maxKeys = options.maxKeys ?? 100_000;
  const windows = new Map<string, Window>();

  const current = (key: string, now: number): Window | undefined => {
    const w = windows.get(key);
    if (w === undefined) return undefined;
    if (now - w.start >= windowMs) {
      windows.delete(key);
      return undefined;
    }
    return w;
  };

  return {
    blocked(key, now = Date.now()) {
      const w = current(key, now);
      if (w === undefined || w.failures < options.maxPerWindow) return { blocked: false, first: false, retryAfterSeconds: 0 };
      const first = !w.reported;
      w.reported = true;
      return { blocked: true, first, retryAfterSeconds: Math.max(1, Math.ceil((w.start + windowMs - now) / 1000)) };
    },
    fail(key, now = Date.now()) {
      const w = current(key, now);
      if (w !== undefined) {
        w.failures++;
        return;
      }
      if (windows.size >= maxKeys) {
        const oldest = windows.keys().next().value;
        if (oldest !== undefined) windows.delete(oldest);
      }
      windows.set(key, { start: now, failures: 1, reported: false });
    },
  };
}
