import { generateSecurityKeys } from "../src/auth/security-keys.js";
import { composeService, type Service } from "../src/compose.js";
import { openDb } from "../src/store/open.js";
import { fromParent, toParent } from "./child.js";
import { baseConfig, benchAuthorization, benchLogger, benchSpec, landingZone, sleep, tempDir } from "./support.js";

/**
 * Child process (node --expose-gc) for figure 4: runs operations one after another through the real
 * service (app.inject with an admin API key, simulated engine with 0 ms steps, PGlite in a temporary data
 * directory) and reports memory after a forced GC at each checkpoint.
 */
export type RssMessage =
  | { type: "sample"; operations: number; rss: number; heapUsed: number; external: number; arrayBuffers: number }
  | { type: "done"; operations: number; failed: number; seconds: number; gcExposed: boolean; database: string };

const CHECKPOINTS = [20, 50, 100, 150, 200];
const PROVIDERS = 5;
const OPERATION_TIMEOUT_MS = 30_000;
const TERMINAL = new Set(["succeeded", "failed", "cancelled", "interrupted"]);

interface OperationRequest {
  readonly method: "POST" | "PUT";
  readonly url: string;
  readonly payload?: Record<string, unknown>;
}

/** create × PROVIDERS, then round-robin over the providers: update (PUT), revoke, reinstate, update, … */
function* plan(total: number): Generator<OperationRequest> {
  const names = Array.from({ length: PROVIDERS }, (_, i) => `bench-rss-${i}`);
  for (const name of names) yield { method: "POST", url: "/v1/providers", payload: benchSpec(name) };
  for (let i = PROVIDERS; i < total; i++) {
    const round = Math.floor((i - PROVIDERS) / PROVIDERS);
    const name = names[(i - PROVIDERS) % PROVIDERS]!;
    const step = round % 3;
    if (step === 0) yield { method: "PUT", url: `/v1/providers/${name}`, payload: { ...benchSpec(name), displayName: `Bench ${round}` } };
    else yield { method: "POST", url: `/v1/providers/${name}/${step === 1 ? "revoke" : "reinstate"}` };
  }
}

/** Requests one operation and polls it until it ends (bounded); returns its final status. */
async function runOperation(service: Service, authorization: string, request: OperationRequest): Promise<string> {
  const headers = { authorization };
  const accepted = await service.app.inject({ ...request, headers });
  if (accepted.statusCode !== 202) throw new Error(`${request.method} ${request.url}: ${accepted.statusCode} ${accepted.body}`);
  const { id } = accepted.json<{ operation: { id: string } }>().operation;
  const deadline = Date.now() + OPERATION_TIMEOUT_MS;
  while (Date.now() < deadline) {
    const { status } = (await service.app.inject({ method: "GET", url: `/v1/operations/${id}`, headers })).json<{ status: string }>();
    if (TERMINAL.has(status)) return status;
    await sleep(5);
  }
  throw new Error(`operation ${id} did not end within ${OPERATION_TIMEOUT_MS} ms`);
}

const gc = (globalThis as { gc?: () => void }).gc;

function sample(operations: number): void {
  gc?.();
  gc?.();
  const m = process.memoryUsage();
  toParent<RssMessage>({ type: "sample", operations, rss: m.rss, heapUsed: m.heapUsed, external: m.external, arrayBuffers: m.arrayBuffers });
}

const dir = await tempDir();
const db = await openDb({ dataDir: dir.path });
const service = await composeService({ config: baseConfig, landingZone, db, logger: benchLogger(), keys: generateSecurityKeys() });
fromParent(
  () => undefined,
  async () => {
    await service.close(5_000);
    await dir.remove();
  },
);
await service.start();
const authorization = await benchAuthorization(db);

const total = CHECKPOINTS.at(-1)!;
const started = Date.now();
let operations = 0;
let failed = 0;
for (const request of plan(total)) {
  if ((await runOperation(service, authorization, request)) !== "succeeded") failed++;
  operations++;
  if (CHECKPOINTS.includes(operations)) sample(operations);
}
toParent<RssMessage>({
  type: "done",
  operations,
  failed,
  seconds: (Date.now() - started) / 1000,
  gcExposed: gc !== undefined,
  database: db.description,
});
