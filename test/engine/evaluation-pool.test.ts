import fc from "fast-check";
import type { Worker } from "node:worker_threads";
import { afterAll, describe, expect, it } from "vitest";
import type { EvaluationTask } from "../../programs/evaluation-task.js";
import {
  createEvaluationPool,
  createInProcessEvaluator,
  EvaluationUnavailableError,
  ProgramRejectedError,
  type ProgramEvaluator,
} from "../../src/engine/evaluation-pool.js";
import { evaluateGuardrails, guardrailExpectations } from "../../src/onboarding/guardrails.js";
import { buildProviderSpecSchema, type ProviderSpec } from "../../src/onboarding/spec.js";
import { provisionalSubnets, toProviderStackArgs } from "../../src/onboarding/stack-args.js";
import { validSpecArb } from "../helpers/arbitraries.js";
import { landingZone, specNamed, startTestService, type TestService } from "../helpers/service.js";

/**
 * Issue 15, part 1: program evaluations run in a pool of worker threads, each with its own mock runtime. A
 * worker that dies or hangs fails only the evaluation it had (EvaluationUnavailableError; over HTTP a 503 with
 * retry advice) and is replaced; evaluations in parallel give exactly what one-at-a-time evaluation gives.
 */
type Json = Record<string, any>;
type Pool = ProgramEvaluator & { readonly threads: readonly Worker[] };
const schema = buildProviderSpecSchema(landingZone);
const pools: ProgramEvaluator[] = [];
const services: TestService[] = [];
afterAll(async () => {
  for (const s of services) await s.close(2_000);
  for (const p of pools) await p.close();
});

function pool(workers = 2, timeoutMs = 60_000, onIdleWorkerError?: (err: Error) => void): Pool {
  const p = createEvaluationPool({ workers, timeoutMs, ...(onIdleWorkerError ? { onIdleWorkerError } : {}) }) as Pool;
  pools.push(p);
  return p;
}

function taskFor(spec: ProviderSpec, accessState: "active" | "revoked" = "active"): EvaluationTask {
  const region = landingZone.network.regions[spec.region]!;
  const subnets = provisionalSubnets(region.subnetPool, region.subnetPrefixLength, region.availabilityZoneIds);
  return { stack: spec.name, program: { program: "provider", args: toProviderStackArgs(spec, landingZone, accessState, { subnets, connectionAccepted: false }) } };
}

/** Resolves once `p` has an evaluation inside a worker, not only waiting in its queue (bounded). */
async function untilRunning(p: ProgramEvaluator): Promise<void> {
  const deadline = Date.now() + 10_000;
  const inWorker = (): boolean => p.stats().running > p.stats().queued;
  while (!inWorker()) {
    if (Date.now() > deadline) throw new Error("no evaluation started within 10 s");
    await new Promise((r) => setImmediate(r));
  }
}

describe("evaluation pool", () => {
  it("a worker killed mid-evaluation fails that evaluation only, as EvaluationUnavailableError; the pool replaces it and goes on", async () => {
    const p = pool(2);
    const task = taskFor(schema.parse(specNamed("pool-kill")));
    await p.evaluate(task); // both workers started, one warm
    // The rejection is taken at once: it may come while the workers are still being terminated.
    const doomed = p.evaluate(task).catch((e: unknown) => e);
    await untilRunning(p);
    await Promise.all(p.threads.map((t) => t.terminate()));
    const error = await doomed;
    expect(error).toBeInstanceOf(EvaluationUnavailableError);
    expect((error as Error).message).toMatch(/^the program evaluation worker stopped before answering/);
    // The pool goes on with new workers.
    const again = await Promise.all([p.evaluate(task), p.evaluate(task)]);
    expect(again.map((e) => e.resources.length)).toEqual([again[0]!.resources.length, again[0]!.resources.length]);
    expect(p.stats()).toMatchObject({ workers: 2, running: 0, queued: 0 });
  }, 120_000);

  it("a worker failing while idle is reported to onIdleWorkerError (not an uncaught 'error'); the pool goes on", async () => {
    const reported: Error[] = [];
    const p = pool(1, 60_000, (err) => reported.push(err));
    const task = taskFor(schema.parse(specNamed("pool-idle-error")));
    await p.evaluate(task);
    // What Node does when an idle worker throws from a leftover callback: the Worker object emits 'error'.
    p.threads[0]!.emit("error", new Error("late failure in an idle worker"));
    expect(reported.map((e) => e.message)).toEqual(["late failure in an idle worker"]);
    expect((await p.evaluate(task)).resources.length).toBeGreaterThan(0);
  }, 60_000);

  it("an evaluation past the timeout fails with a clear message; its worker is replaced", async () => {
    const p = pool(1, 1);
    const error = await p.evaluate(taskFor(schema.parse(specNamed("pool-slow")))).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(EvaluationUnavailableError);
    expect((error as Error).message).toBe("the program evaluation did not finish within 0.001 s; its worker was replaced");
    expect(p.stats()).toMatchObject({ running: 0 });
  }, 60_000);

  it("a program's refusal is the program's message (ProgramRejectedError), not a failure of the pool", async () => {
    const p = pool(1);
    const task = taskFor(schema.parse(specNamed("pool-refused")));
    // A network account id that is not 12 digits: the program's guard clause refuses it.
    const args = task.program.args as Extract<EvaluationTask["program"], { program: "provider" }>["args"];
    const broken: EvaluationTask = { ...task, program: { program: "provider", args: { ...args, network: { ...args.network, accountId: "not-an-account" } } } };
    const error = await p.evaluate(broken).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(ProgramRejectedError);
    expect((error as Error).message).toContain("network.accountId");
    expect(p.stats().workers).toBe(1);
  }, 60_000);

  it("evaluations in parallel give the same resources and guardrail verdicts as one at a time (generated specs)", async () => {
    const p = pool(2);
    const serial = createInProcessEvaluator();
    await fc.assert(
      fc.asyncProperty(fc.array(fc.tuple(validSpecArb(landingZone), fc.constantFrom("active" as const, "revoked" as const)), { minLength: 3, maxLength: 5 }), async (batch) => {
        const specs = batch.map(([input, state]) => [schema.parse(input), state] as const);
        const parallel = await Promise.all(specs.map(([spec, state]) => p.evaluate(taskFor(spec, state))));
        for (const [i, [spec, state]] of specs.entries()) {
          const one = await serial.evaluate(taskFor(spec, state));
          expect(parallel[i]!.resources).toEqual(one.resources);
          expect(parallel[i]!.outputs).toEqual(one.outputs);
          const expectations = guardrailExpectations(spec, state);
          expect(evaluateGuardrails(parallel[i]!.resources, expectations)).toEqual(evaluateGuardrails(one.resources, expectations));
        }
      }),
      { numRuns: 8 },
    );
  }, 240_000);
});

describe("the guardrail gate over HTTP when a worker dies", () => {
  it("the request it served gets a 503 problem with Retry-After; the next one is accepted", async () => {
    const p = pool(1);
    const svc = await startTestService({ evaluator: p });
    services.push(svc);
    await p.evaluate(taskFor(schema.parse(specNamed("pool-warm")))); // the worker is warm
    const request = svc.app.inject({ method: "POST", url: "/v1/providers", payload: specNamed("pool-http") });
    await untilRunning(p);
    await Promise.all(p.threads.map((t) => t.terminate()));
    const res = await request;
    expect(res.statusCode, res.body).toBe(503);
    expect(res.headers["content-type"]).toContain("application/problem+json");
    expect(res.headers["retry-after"]).toBe("5");
    const problem = res.json() as Json;
    expect(problem.code).toBe("UNAVAILABLE");
    expect(problem.detail).toMatch(/^The guardrail check could not run: the program evaluation worker stopped before answering .*Retry in a few seconds/);
    // Nothing was stored, and the same request now goes through.
    expect((await svc.app.inject({ method: "GET", url: "/v1/providers/pool-http" })).statusCode).toBe(404);
    const retried = await svc.app.inject({ method: "POST", url: "/v1/providers", payload: specNamed("pool-http") });
    expect(retried.statusCode, retried.body).toBe(202);
  }, 120_000);
});
