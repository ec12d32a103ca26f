/**
 * A task every replica runs now and then every `intervalMs`: sweeps whose effects are claimed in the
 * database (SKIP LOCKED, unique steps), so running on every replica is safe. One run at a time here — a
 * slow run is not stacked on — and a failed run is reported and simply tried again at the next tick.
 */
export interface Periodic {
  start(): void;
  /** No further runs; resolves once a run in progress has ended. */
  stop(): Promise<void>;
}

export function periodic(task: () => Promise<unknown>, intervalMs: number, onError: (err: unknown) => void): Periodic {
  let timer: NodeJS.Timeout | undefined;
  let running: Promise<unknown> | undefined;
  const tick = () => {
    running ??= task()
      .catch(onError)
      .finally(() => (running = undefined));
  };
  return {
    start() {
      if (timer !== undefined) return;
      tick();
      timer = setInterval(tick, intervalMs);
      timer.unref();
    },
    async stop() {
      clearInterval(timer);
      timer = undefined;
      await running;
    },
  };
}
