import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { EngineFailure } from "../../src/engine/engine.js";
import type { LandingZone } from "../../src/onboarding/landing-zone.js";
import { createRunnerHooks } from "../../src/onboarding/runner-hooks.js";
import { buildProviderSpecSchema } from "../../src/onboarding/spec.js";
import type { PgliteDb } from "../../src/store/pglite.js";
import { createTestDb } from "../helpers/db.js";
import { queuedCreate } from "../helpers/operations.js";
import { landingZone, specNamed } from "../helpers/service.js";

/** What the runner learns before an operation runs: its subnets, and why it cannot run. */
let db: PgliteDb;
beforeAll(async () => {
  db = await createTestDb();
});
afterAll(() => db.close());

const createFor = (name: string, lz: LandingZone) => queuedCreate(db, buildProviderSpecSchema(lz).parse(specNamed(name)));

describe("runner hooks: prepare", () => {
  test("the same provider keeps its subnets run after run; another provider gets different ones", async () => {
    const hooks = createRunnerHooks({ db, landingZone, engine: "simulated" });
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
    const hooks = createRunnerHooks({ db, landingZone: tiny, engine: "simulated" });
    const error = await hooks.prepare(await createFor("hooks-tiny", tiny)).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(EngineFailure);
    expect((error as EngineFailure).code).toBe("SUBNET_POOL_EXHAUSTED");
    expect((error as EngineFailure).message).toContain("10.200.0.0/28");
  });
});
