// The PGlite worker thread's entry (plain JavaScript, so that it loads anywhere): it loads the worker
// module named in workerData — compiled JavaScript in dist/, or TypeScript from the source tree, for which
// it first registers tsx's loader (development and tests only; tsx is a development dependency).
import { parentPort, workerData } from "node:worker_threads";

const target = workerData?.pgliteWorker;
if (typeof target !== "string" || parentPort === null) {
  throw new Error("pglite-thread-entry: run as a worker thread with workerData.pgliteWorker set");
}
if (target.endsWith(".ts")) {
  const { register } = await import("tsx/esm/api");
  register();
}
const { serve } = await import(target);
await serve(parentPort, workerData);
