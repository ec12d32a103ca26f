/**
 * The pause of a claim loop (the runner's, the rollout worker's): it lasts `ms` unless `wake()` ends it
 * first. A wake while nobody sleeps does nothing: the loop looks for work before it sleeps again.
 */
export interface Nap {
  sleep(ms: number): Promise<void>;
  wake(): void;
}

export function createNap(): Nap {
  let wake: (() => void) | undefined;
  return {
    async sleep(ms) {
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, ms);
        wake = () => {
          clearTimeout(timer);
          resolve();
        };
      });
      wake = undefined;
    },
    wake: () => wake?.(),
  };
}
