import { measureAcceptPostgres } from "./accept-postgres.js";
import { measureAcceptSecurity } from "./accept-security.js";
import { measureAccept } from "./accept.js";
import { measureAuditVerify } from "./audit-verify.js";
import { measureChildOverhead, measureChildRss } from "./child-overhead.js";
import { measureCriticalPath } from "./critical-path.js";
import { measureEngineOverhead, measureEngineVsSimulated } from "./engine-overhead.js";
import { measureEngineRss } from "./engine-rss.js";
import { measureProgramEvaluation } from "./program.js";
import { formatReport, machine, writeReport, type Figure, type Report, type Skipped } from "./report.js";
import { measureDbOutage } from "./db-outage.js";
import { measureOpenApiDocument } from "./openapi-document.js";
import { measureResumeAfterKill } from "./resume-after-kill.js";
import { measureEvaluationPool } from "./evaluation-pool.js";
import { measureEventLoopDelay } from "./event-loop-delay.js";
import { measureStreamUnderLoad } from "./stream-under-load.js";
import { measureRouteFuzz } from "./route-fuzz.js";
import { measureRollout } from "./rollout.js";
import { measureRss } from "./rss.js";
import { measureStream } from "./stream.js";
import { measureWebhookDelivery } from "./webhook-delivery.js";
import { measureDriftSweep } from "./drift-sweep.js";
import { measureVerification } from "./verification.js";
import { measureMetricsScrape } from "./metrics-scrape.js";
import { measureConsoleLoad } from "./console-load.js";

/**
 * `npm run bench [-- <figure>...]`: every figure is a ratio against a baseline measured in this run;
 * targets are reported as PASS/MISS and never fail the process (the machine may be shared and noisy).
 */
const FIGURES: Readonly<Record<Figure["id"], () => Promise<Figure | Skipped>>> = {
  accept: measureAccept,
  "accept-postgres": measureAcceptPostgres,
  "accept-security": measureAcceptSecurity,
  stream: measureStream,
  program: measureProgramEvaluation,
  rss: measureRss,
  "critical-path": measureCriticalPath,
  "child-overhead": measureChildOverhead,
  "child-rss": measureChildRss,
  "audit-verify": measureAuditVerify,
  "engine-overhead": measureEngineOverhead,
  "engine-vs-simulated": measureEngineVsSimulated,
  "engine-rss": measureEngineRss,
  "route-fuzz": measureRouteFuzz,
  openapi: measureOpenApiDocument,
  "db-outage": measureDbOutage,
  "resume-after-kill": measureResumeAfterKill,
  "evaluation-pool": measureEvaluationPool,
  "event-loop-delay": measureEventLoopDelay,
  "stream-under-load": measureStreamUnderLoad,
  rollout: measureRollout,
  "webhook-delivery": measureWebhookDelivery,
  "drift-sweep": measureDriftSweep,
  verification: measureVerification,
  "metrics-scrape": measureMetricsScrape,
  "console-load": measureConsoleLoad,
};

function selected(args: readonly string[]): Figure["id"][] {
  const all = Object.keys(FIGURES) as Figure["id"][];
  if (args.length === 0) return all;
  const unknown = args.filter((a) => !all.includes(a as Figure["id"]));
  if (unknown.length > 0) throw new Error(`unknown figure(s) ${unknown.join(", ")}; choose from ${all.join(", ")}`);
  return all.filter((id) => args.includes(id));
}

const started = Date.now();
const figures: Figure[] = [];
const skipped: Skipped[] = [];
for (const id of selected(process.argv.slice(2))) {
  console.log(`[bench] ${id} …`);
  const figure = await FIGURES[id]();
  if ("skipped" in figure) {
    console.log(`[bench] ${id}: SKIPPED — ${figure.skipped}`);
    skipped.push(figure);
    continue;
  }
  console.log(`[bench] ${id}: ratio ${figure.ratio.toFixed(3)}`);
  figures.push(figure);
}
const report: Report = {
  startedAt: new Date(started).toISOString(),
  durationSeconds: Math.round((Date.now() - started) / 1000),
  machine: machine(),
  figures,
  skipped,
};
console.log(formatReport(report));
console.log(`JSON: ${await writeReport(report)}`);
