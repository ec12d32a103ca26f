// The evaluation pool's worker entry (plain JavaScript, so that it loads anywhere): it loads the worker
// module named in workerData — compiled JavaScript in dist/, or TypeScript from the source tree, for which
// it first registers tsx's loader (development and tests only; tsx is a development dependency).
import { workerData } from "node:worker_threads";

const target = workerData?.evaluateWorker;
if (typeof target !== "string") throw new Error("evaluate-worker-entry: workerData.evaluateWorker is not set");
if (target.endsWith(".ts")) {
  const { register } = await import("tsx/esm/api");
  register();
}
const worker = await import(target);
export default worker.default;
