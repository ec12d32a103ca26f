import { createAuditWriter } from "../../src/audit/append.js";
import { SYSTEM_ACTOR } from "../../src/auth/actor.js";
import { generateSecurityKeys } from "../../src/auth/security-keys.js";
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { createInProcessEvaluator } from "../../src/engine/evaluation-pool.js";
import { createGuardrailCheck } from "../../src/onboarding/guardrail-check.js";
import { AppError } from "../../src/errors.js";
import { createEventHub } from "../../src/operations/event-hub.js";
import { createRunnerHooks } from "../../src/onboarding/runner-hooks.js";
import { createProvider } from "../../src/onboarding/providers-service.js";
import { buildProviderSpecSchema } from "../../src/onboarding/spec.js";
import { createLogger } from "../../src/logger.js";
import type { PgliteDb } from "../../src/store/pglite.js";
import { createTestDb } from "../helpers/db.js";
import { queuedCreate } from "../helpers/operations.js";
import { faultyProgram } from "../support/faulty-program.js";
import { landingZone, specNamed, startTestService } from "../helpers/service.js";

/**
 * The guardrails are a gate, not a report: a graph that violates one is refused on create (422 with the
 * list, nothing stored) and fails an operation before the engine runs (events, then GUARDRAIL_VIOLATION).
 * A valid spec never produces such a graph (property-tested), so a faulty program stands in for a bug.
 */

/** The faulty program can only run in this thread (a function does not cross to a worker). Nothing cached: each check evaluates. */
const gate = (substitute?: { provider: typeof faultyProgram }) =>
  createGuardrailCheck({ evaluator: createInProcessEvaluator(substitute), programVersion: "test", landingZone, maxEntries: 0 });
const faulty = gate({ provider: faultyProgram });
const real = gate();

const schema = buildProviderSpecSchema(landingZone);
const security = {
  audit: createAuditWriter({ hmacKey: generateSecurityKeys().auditHmac }),
  approvals: { rules: ["none" as const], ttlMs: 3_600_000 },
};
let db: PgliteDb;
beforeAll(async () => {
  db = await createTestDb();
});
afterAll(() => db.close());

describe("guardrail gate", () => {
  test("create: 422 GUARDRAIL_VIOLATION listing each violation, and nothing is stored", async () => {
    const hub = await createEventHub(db, createLogger("silent"));
    const deps = { db, hub, kick: () => undefined, engine: "simulated", programVersion: "test", landingZone, guardrails: faulty, ...security };
    const error = await createProvider(deps, SYSTEM_ACTOR, schema.parse(specNamed("gated"))).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(AppError);
    const appError = error as AppError;
    expect(appError.code).toBe("GUARDRAIL_VIOLATION");
    expect(appError.status).toBe(422);
    const codes = appError.violations?.map((v) => v.code) ?? [];
    expect(codes).toContain("SG_OPEN_TO_WORLD");
    expect(appError.violations?.find((v) => v.code === "SG_OPEN_TO_WORLD")?.resource).toMatch(/rogue-open$/);
    expect(await db.query("SELECT 1 FROM providers WHERE name = 'gated'")).toEqual([]);
    expect(await db.query("SELECT 1 FROM operations")).toEqual([]);
  });

  test("the real program passes the same gate", async () => {
    const hub = await createEventHub(db, createLogger("silent"));
    const deps = { db, hub, kick: () => undefined, engine: "simulated", programVersion: "test", landingZone, guardrails: real, ...security };
    const accepted = await createProvider(deps, SYSTEM_ACTOR, schema.parse(specNamed("clean")));
    expect(accepted.operation.intent).toBe("create");
  });

  test("run: the violations become events and the operation fails before the engine runs", async () => {
    const operation = await queuedCreate(db, schema.parse(specNamed("gated-run")));
    const hooks = createRunnerHooks({ db, landingZone, engine: "simulated", guardrails: faulty });
    const prepared = await hooks.prepare(operation);
    expect(prepared.failure?.code).toBe("GUARDRAIL_VIOLATION");
    const violations = prepared.findings.filter((f) => f.type === "guardrail.violation");
    expect(violations.map((v) => (v.type === "guardrail.violation" ? v.code : ""))).toContain("SG_OPEN_TO_WORLD");

    const clean = await createRunnerHooks({ db, landingZone, engine: "simulated", guardrails: real }).prepare(operation);
    expect(clean.failure).toBeUndefined();
    expect(clean.findings.filter((f) => f.type === "guardrail.violation")).toEqual([]);
    // The allocator gave the provider its own subnets, one per AZ id of the region.
    expect(clean.program.program).toBe("provider");
    if (clean.program.program === "provider") {
      expect(clean.program.args.network.subnets.map((s) => s.azId)).toEqual(landingZone.network.regions["eu-west-1"]!.availabilityZoneIds);
    }
  });
});

describe("guardrail gate over HTTP", () => {
  test("POST answers 422 problem+json with the violations; GET then finds nothing", async () => {
    const svc = await startTestService({ program: faultyProgram });
    try {
      const res = await svc.app.inject({ method: "POST", url: "/v1/providers", payload: specNamed("gated-http") });
      expect(res.statusCode).toBe(422);
      expect(res.headers["content-type"]).toMatch(/^application\/problem\+json/);
      const problem = res.json() as { code: string; violations: { code: string; message: string; resource: string }[] };
      expect(problem.code).toBe("GUARDRAIL_VIOLATION");
      expect(problem.violations).toContainEqual(expect.objectContaining({ code: "SG_OPEN_TO_WORLD", resource: expect.stringMatching(/rogue-open$/) }));
      expect((await svc.app.inject({ method: "GET", url: "/v1/providers/gated-http" })).statusCode).toBe(404);
    } finally {
      await svc.close(1_000);
    }
  });
});
