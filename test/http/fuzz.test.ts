import fc from "fast-check";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { landingZone, startTestService, type TestService } from "../helpers/service.js";
import { mutatedBodyArb, validSpecArb } from "../helpers/arbitraries.js";

let svc: TestService;
// Paused engine: the property is about the accept path, not about running 1,000 operations.
beforeAll(async () => {
  svc = await startTestService({ config: { SIMULATED_PAUSED: true } });
});
afterAll(async () => {
  await svc.close(1_000);
});

const statuses = new Map<number, number>();
const count = (s: number) => statuses.set(s, (statuses.get(s) ?? 0) + 1);

describe("no input produces a 5xx", () => {
  it("≥ 1,000 generated, mutated and raw bodies through create, update and preview", async () => {
    const body = fc.oneof(
      { weight: 2, arbitrary: validSpecArb(landingZone).map((s) => JSON.stringify(s)) },
      { weight: 6, arbitrary: mutatedBodyArb(landingZone).map((b) => JSON.stringify(b) ?? "null") },
      { weight: 1, arbitrary: fc.string({ unit: "binary", maxLength: 300 }) },
      { weight: 1, arbitrary: fc.jsonValue({ maxDepth: 6 }).map((v) => JSON.stringify(v)) },
    );
    const route = fc.constantFrom(
      { method: "POST" as const, url: "/v1/providers" },
      { method: "PUT" as const, url: "/v1/providers/acme" },
      { method: "POST" as const, url: "/v1/providers/acme/preview" },
    );
    let runs = 0;
    await fc.assert(
      fc.asyncProperty(route, body, async (r, payload) => {
        runs++;
        const res = await svc.app.inject({ ...r, payload, headers: { "content-type": "application/json" } });
        count(res.statusCode);
        expect(res.statusCode, payload.slice(0, 300)).toBeLessThan(500);
        if (res.statusCode >= 400) {
          expect(res.headers["content-type"]).toContain("application/problem+json");
          const problem = res.json() as { status: number; detail: string };
          expect(problem.status).toBe(res.statusCode);
        }
      }),
      { numRuns: 1_200 },
    );
    expect(runs).toBeGreaterThanOrEqual(1_000);
    // The generators must reach both sides of validation, or the property proves little.
    expect(statuses.get(202) ?? 0).toBeGreaterThan(0);
    expect(statuses.get(400) ?? 0).toBeGreaterThan(100);
  }, 120_000);
});
