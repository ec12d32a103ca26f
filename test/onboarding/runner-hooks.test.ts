import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { EngineFailure } from "../../src/engine/engine.js";
import type { LandingZone } from "../../src/onboarding/landing-zone.js";
import { createRunnerHooks } from "../../src/onboarding/runner-hooks.js";
import { createInProcessEvaluator } from "../../src/engine/evaluation-pool.js";
import { createGuardrailCheck } from "../../src/onboarding/guardrail-check.js";
import { buildProviderSpecSchema } from "../../src/onboarding/spec.js";
import type { PgliteDb } from "../../src/store/pglite.js";
import { createTestDb } from "../helpers/db.js";
import { randomUUID } from "node:crypto";
import { enqueueOperation } from "../../src/operations/operations-repo.js";
import { queuedCreate } from "../helpers/operations.js";
import { landingZone, specNamed } from "../helpers/service.js";

/** Evaluations in this thread, nothing cached: what is checked here is the program and the rules, not where they run. */
const guardrails = createGuardrailCheck({ evaluator: createInProcessEvaluator(), programVersion: "test", landingZone, maxEntries: 0 });

/** What the runner learns before an operation runs: its subnets, and why it cannot run. */
let db: PgliteDb;
beforeAll(async () => {
  db = await createTestDb();
});
afterAll(() => db.close());

const createFor = (name: string, lz: LandingZone) => queuedCreate(db, buildProviderSpecSchema(lz).parse(specNamed(name)));
/** A queued decommission of the provider `create` made, with the key choice when given. */
const enqueueDecommission = async (create: Awaited<ReturnType<typeof createFor>>, keyDisposition?: "retain" | "shred") =>
  (
    await enqueueOperation(db, {
      id: randomUUID(),
      provider: create.provider,
      intent: "decommission",
      kind: "destroy",
      accessState: "active",
      engine: "simulated",
      spec: create.spec,
      specHash: create.spec_hash,
      programVersion: "test",
      ...(keyDisposition ? { keyDisposition } : {}),
    })
  ).operation;

describe("runner hooks: prepare", () => {
  test("the same provider keeps its subnets run after run; another provider gets different ones", async () => {
    const hooks = createRunnerHooks({ db, landingZone, engine: "simulated", guardrails });
    const a = await createFor("hooks-a", landingZone);
    const subnetsOf = async (op: typeof a) => {
      const prepared = await hooks.prepare(op);
      return prepared.program.program === "provider" ? prepared.program.args.network.subnets : [];
    };
    const first = await subnetsOf(a);
    expect(await subnetsOf(a)).toEqual(first);
    const other = await subnetsOf(await createFor("hooks-b", landingZone));
    expect(other.map((s) => s.cidr).filter((c) => first.some((f) => f.cidr === c))).toEqual([]);
  });

  test("an exhausted subnet pool fails the operation with SUBNET_POOL_EXHAUSTED, naming the pool", async () => {
    const region = landingZone.network.regions["eu-west-1"]!;
    // Room for one /28 only, and the region has three AZ ids.
    const tiny: LandingZone = {
      ...landingZone,
      network: { ...landingZone.network, regions: { ...landingZone.network.regions, "eu-west-1": { ...region, subnetPool: "10.200.0.0/28" } } },
    };
    const hooks = createRunnerHooks({ db, landingZone: tiny, engine: "simulated", guardrails });
    const error = await hooks.prepare(await createFor("hooks-tiny", tiny)).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(EngineFailure);
    expect((error as EngineFailure).code).toBe("SUBNET_POOL_EXHAUSTED");
    expect((error as EngineFailure).message).toContain("10.200.0.0/28");
  });
});

describe("runner hooks: a decommission (issue 12)", () => {
  test("runs an up of the decommissioning variant, then the destroy with that same program: the request's key choice and the row's generation", async () => {
    const hooks = createRunnerHooks({ db, landingZone, engine: "simulated", guardrails });
    const create = await createFor("hooks-leave", landingZone);
    await db.query(`UPDATE providers SET lifecycle = 'active', generation = 3 WHERE name = 'hooks-leave'`);
    const decommission = (keyDisposition?: "retain" | "shred") => enqueueDecommission(create, keyDisposition);
    const shred = await hooks.prepare(await decommission("shred"));
    expect(shred.program.program === "provider" && shred.program.args).toMatchObject({ generation: 3 });
    expect(shred.program.program === "provider" && shred.program.args.decommissioning).toBeUndefined();
    expect(shred.prepare?.program.program === "provider" && shred.prepare.program.args).toMatchObject({ generation: 3, decommissioning: { key: "shred" } });
    // A first attempt: the whole up (nothing was deleted yet).
    expect(shred.prepare?.existingOnly).toBe(false);
    expect(shred.findings).toEqual([{ type: "diagnostic", severity: "info", message: expect.stringContaining("scheduled for deletion") }]);
    // A decommission queued before the option existed keeps the key (the safe default).
    const legacy = await hooks.prepare(await decommission());
    expect(legacy.prepare?.program.program === "provider" && legacy.prepare.program.args.decommissioning).toEqual({ key: "retain" });
    expect(legacy.prepare?.existingOnly).toBe(false);
  });

  test("a retry after a decommission attempt that ran changes only what the stack still holds (review finding 2)", async () => {
    const hooks = createRunnerHooks({ db, landingZone, engine: "simulated", guardrails });
    const create = await createFor("hooks-retry", landingZone);
    await db.query(`UPDATE providers SET lifecycle = 'decommissioning' WHERE name = 'hooks-retry'`);
    const decommission = () => enqueueDecommission(create, "shred");
    const first = await decommission();
    expect((await hooks.prepare(first)).prepare?.existingOnly).toBe(false);
    await db.query(`UPDATE operations SET status = 'failed', started_at = now(), attempt = 1 WHERE id = $1`, [first.id]);
    const retry = await decommission();
    expect((await hooks.prepare(retry)).prepare?.existingOnly).toBe(true);
    // The same operation run again after an interruption is a retry too.
    expect((await hooks.prepare({ ...first, attempt: 2 })).prepare?.existingOnly).toBe(true);
  });
});
