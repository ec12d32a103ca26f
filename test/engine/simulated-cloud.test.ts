import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { EngineFailure, type EngineEvent, type EngineRequest } from "../../src/engine/engine.js";
import { createSimulatedEngine } from "../../src/engine/simulated/simulated-engine.js";
import { createLogger } from "../../src/logger.js";
import type { PgliteDb } from "../../src/store/pglite.js";
import type { ProviderStackArgs, StackProgram } from "../../programs/types.js";
import { createTestDb } from "../helpers/db.js";
import { providerStackArgs } from "../programs/fixtures.js";

/**
 * The simulated cloud refuses what AWS refuses (issue 12), so the decommission and re-onboarding tests can
 * fail: deleting a load balancer with deletion protection on (ELB.6), and creating a name a destroy left
 * in AWS (retainOnDelete). A destroy with a prepare phase runs an up of it first, in the same operation.
 */
let db: PgliteDb;
beforeAll(async () => {
  db = await createTestDb();
});
afterAll(() => db.close());

const inbound = {
  targets: [{ ip: "10.40.12.10", port: 8443 }],
  allowedPrincipals: ["arn:aws:iam::333333333333:root"],
  acceptedEndpointIds: [],
  sourceCidrs: ["100.64.0.0/24"],
} as unknown as NonNullable<ProviderStackArgs["inbound"]>;

const provider = (args: Partial<ProviderStackArgs>): StackProgram => ({ program: "provider", args: providerStackArgs(args) });
let seq = 0;

async function run(request: Omit<EngineRequest, "operationId">) {
  const engine = createSimulatedEngine({ state: { db }, stepMs: 0 });
  const events: EngineEvent[] = [];
  const operationId = `00000000-0000-4000-8000-${String(++seq).padStart(12, "0")}`;
  const result = await engine
    .run({ ...request, operationId }, { signal: new AbortController().signal, log: createLogger("silent"), onEvent: async (e) => void events.push(e) })
    .catch((err: unknown) => err);
  return { result, events };
}

const failed = (events: EngineEvent[]) => events.flatMap((e) => (e.type === "resource.failed" ? [`${e.resourceType} ${e.message}`] : []));

describe("simulated cloud: deletion protection (ELB.6)", () => {
  it("a destroy cannot delete a protected NLB; with the prepare phase turning it off first, it can", async () => {
    const live = provider({ name: "guarded", inbound });
    expect((await run({ stack: "guarded", kind: "up", program: live })).result).not.toBeInstanceOf(Error);

    const refused = await run({ stack: "guarded", kind: "destroy", program: live });
    expect(refused.result).toBeInstanceOf(EngineFailure);
    expect(failed(refused.events)).toEqual([expect.stringMatching(/^aws:lb\/loadBalancer:LoadBalancer OperationNotPermitted: .*deletion protection is enabled/)]);

    const prepare = provider({ name: "guarded", inbound, decommissioning: { key: "retain" } });
    // A retry after the refused destroy (which deleted much already): only what the stack still holds.
    const { result, events } = await run({ stack: "guarded", kind: "destroy", program: live, prepare: { program: prepare, existingOnly: true } });
    expect(result, String(result)).not.toBeInstanceOf(Error);
    const nlb = events.filter((e) => e.type === "resource.completed" && e.resourceType === "aws:lb/loadBalancer:LoadBalancer");
    expect(nlb.map((e) => (e as { op: string }).op)).toEqual(["update", "delete"]);
    // Both phases report progress from 0 to their own total.
    const progress = events.filter((e) => e.type === "progress") as { done: number; total: number }[];
    expect(progress.filter((p) => p.done === 0)).toHaveLength(2);
    expect(progress.at(-1)!.done).toBe(progress.at(-1)!.total);
    expect(await db.query(`SELECT urn FROM simulated_resources WHERE stack = 'guarded'`)).toEqual([]);
  });

  it("a prepare phase is refused on anything but a destroy", async () => {
    const p = provider({ name: "misused" });
    const { result } = await run({ stack: "misused", kind: "up", program: p, prepare: { program: p, existingOnly: false } });
    expect(result).toBeInstanceOf(EngineFailure);
    expect((result as EngineFailure).code).toBe("BAD_ENGINE_REQUEST");
  });
});

describe("simulated cloud: a prepare phase limited to the stack's resources (review finding 2)", () => {
  const SG = "aws:ec2/securityGroup:SecurityGroup";
  /** A stack whose NLB's security group is missing from the state (an older program, a partial delete). */
  async function withoutNlbGroup(name: string): Promise<StackProgram> {
    const live = provider({ name, inbound });
    expect((await run({ stack: name, kind: "up", program: live })).result).not.toBeInstanceOf(Error);
    const [nlb] = await db.query<{ dependencies: string[] }>(`SELECT dependencies FROM simulated_resources WHERE stack = $1 AND type = 'aws:lb/loadBalancer:LoadBalancer'`, [name]);
    const groups = await db.query<{ urn: string }>(`SELECT urn FROM simulated_resources WHERE stack = $1 AND type = $2`, [name, SG]);
    const group = groups.find((g) => nlb!.dependencies.includes(g.urn));
    expect(group, "the NLB depends on a security group").toBeDefined();
    await db.query(`DELETE FROM simulated_resources WHERE stack = $1 AND urn = $2`, [name, group!.urn]);
    return live;
  }

  it("existing-only fails like Pulumi's targeted up when a changing resource depends on a create it skips", async () => {
    const live = await withoutNlbGroup("untargeted");
    const prepare = provider({ name: "untargeted", inbound, decommissioning: { key: "retain" } });
    const { result, events } = await run({ stack: "untargeted", kind: "destroy", program: live, prepare: { program: prepare, existingOnly: true } });
    expect(result).toBeInstanceOf(EngineFailure);
    expect((result as EngineFailure).message).toMatch(/LoadBalancer.*depends on .*SecurityGroup.* not specified in --target list/s);
    // Refused before any step ran: nothing was changed.
    expect(events.filter((e) => e.type === "resource.started")).toEqual([]);
  });

  it("a first attempt (not existing-only) runs the whole up: the missing group is created, then everything is destroyed", async () => {
    const live = await withoutNlbGroup("first-attempt");
    const prepare = provider({ name: "first-attempt", inbound, decommissioning: { key: "retain" } });
    const { result, events } = await run({ stack: "first-attempt", kind: "destroy", program: live, prepare: { program: prepare, existingOnly: false } });
    expect(result, String(result)).not.toBeInstanceOf(Error);
    expect(events.some((e) => e.type === "resource.completed" && e.resourceType === SG && e.op === "create")).toBe(true);
    expect(await db.query(`SELECT urn FROM simulated_resources WHERE stack = 'first-attempt'`)).toEqual([]);
  });
});

describe("simulated cloud: names a destroy left in AWS", () => {
  it("re-creating a retained trail or log group name fails as AWS would; the next generation's names do not", async () => {
    const first = provider({ name: "again" });
    await run({ stack: "again", kind: "up", program: first });
    const gone = await run({ stack: "again", kind: "destroy", program: first, prepare: { program: provider({ name: "again", decommissioning: { key: "retain" } }), existingOnly: false } });
    expect(gone.result).not.toBeInstanceOf(Error);

    const same = await run({ stack: "again", kind: "up", program: first });
    expect(same.result).toBeInstanceOf(EngineFailure);
    expect(failed(same.events).join("\n")).toMatch(/"(saas-bridge-again|\/saas-bridge\/again\/cloudtrail|\/saas\/again\/vpc-flow-logs)" already exists: stack again left it in AWS/);

    await run({ stack: "again", kind: "destroy", program: first, prepare: { program: provider({ name: "again", decommissioning: { key: "retain" } }), existingOnly: false } });
    const next = await run({ stack: "again", kind: "up", program: provider({ name: "again", generation: 2 }) });
    expect(next.result, String(next.result)).not.toBeInstanceOf(Error);
    expect(failed(next.events)).toEqual([]);
  });
});
