import { spawnChild } from "./child.js";
import type { Figure } from "./report.js";
import type { RssMessage } from "./rss-child.js";

/** Figure 4: RSS after 200 operations ÷ RSS after 20, in a child started with --expose-gc (see README §4). */
const TARGET_RATIO = 1.2;
const FIRST = 20;
const LAST = 200;
const RUN_TIMEOUT_MS = 150_000;

type Sample = Extract<RssMessage, { type: "sample" }>;
const mib = (bytes: number): number => Math.round((bytes / 2 ** 20) * 10) / 10;

export async function measureRss(): Promise<Figure> {
  const child = spawnChild<never, RssMessage>("./rss-child.ts", [], { nodeFlags: ["--expose-gc"] });
  try {
    const deadline = Date.now() + RUN_TIMEOUT_MS;
    const samples: Sample[] = [];
    while (samples.at(-1)?.operations !== LAST) samples.push(await child.next("sample", Math.max(1, deadline - Date.now())));
    const done = await child.next("done", Math.max(1, deadline - Date.now()));
    const first = samples.find((s) => s.operations === FIRST);
    const last = samples.at(-1)!;
    if (!first) throw new Error(`rss: no sample after ${FIRST} operations`);
    const ratio = last.rss / first.rss;
    return {
      id: "rss",
      title: `RSS after ${LAST} operations`,
      ratio,
      ratioMeaning: `RSS after ${LAST} operations ÷ RSS after ${FIRST} (lower is better; 1.0 = flat)`,
      target: `ratio ≤ ${TARGET_RATIO}, every operation succeeded`,
      pass: ratio <= TARGET_RATIO && done.failed === 0 && done.gcExposed,
      subject: { operations: LAST, rssMiB: mib(last.rss), heapUsedMiB: mib(last.heapUsed), externalMiB: mib(last.external) },
      baseline: { operations: FIRST, rssMiB: mib(first.rss), heapUsedMiB: mib(first.heapUsed), externalMiB: mib(first.external) },
      notes: [
        `RSS MiB by operations: ${samples.map((s) => `${s.operations}→${mib(s.rss)}`).join(", ")}`,
        `heapUsed MiB by operations: ${samples.map((s) => `${s.operations}→${mib(s.heapUsed)}`).join(", ")}`,
        `${done.operations} operations in ${done.seconds.toFixed(1)} s, ${done.failed} not succeeded; ` +
          `global.gc ${done.gcExposed ? "called twice before each sample" : "NOT available: samples include garbage"}`,
        `database: ${done.database}`,
      ],
    };
  } finally {
    await child.stop(10_000);
  }
}
