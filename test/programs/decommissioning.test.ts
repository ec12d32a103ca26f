import { describe, expect, test } from "vitest";
import type { RegisteredResource } from "../../programs/evaluate-program.js";
import type { ProviderStackArgs } from "../../programs/types.js";
import { evaluateProviderStack, ofType, providerStackArgs, single } from "./fixtures.js";

/**
 * Issue 12: the provider stack's decommissioning variant (the up a decommission runs before its destroy)
 * and its generation. Defects 6 (ELB.6), 7 (the BYOK key is shredded by default) and 9 (retained names
 * collide on re-onboarding).
 */
const NLB = "aws:lb/loadBalancer:LoadBalancer";
const KEY = "aws:kms/key:Key";
const inbound: NonNullable<ProviderStackArgs["inbound"]> = {
  targets: [{ ip: "10.40.12.10", port: 8443 }],
  allowedPrincipals: ["arn:aws:iam::333333333333:root"],
  acceptedEndpointIds: [],
  sourceCidrs: ["100.64.0.0/24"],
} as NonNullable<ProviderStackArgs["inbound"]>;

const byokKey = (resources: readonly RegisteredResource[]) => {
  const keys = resources.filter((r) => r.type === KEY && r.urn.includes("ByokKey"));
  expect(keys).toHaveLength(1);
  return keys[0]!;
};
const names = (resources: readonly RegisteredResource[], type: string) => resources.filter((r) => r.type === type).map((r) => r.inputs["name"]).sort();

describe("NLB deletion protection (ELB.6)", () => {
  test("on in every onboarding; off only in the decommissioning variant", async () => {
    const live = await evaluateProviderStack(providerStackArgs({ inbound }));
    expect(single(live, NLB).inputs["enableDeletionProtection"]).toBe(true);
    const leaving = await evaluateProviderStack(providerStackArgs({ inbound, decommissioning: { key: "retain" } }));
    expect(single(leaving, NLB).inputs["enableDeletionProtection"]).toBe(false);
  });
});

describe("the BYOK key on decommission (fail-safe)", () => {
  test("retained on destroy unless shredding is asked for, even without the decommissioning variant", async () => {
    const live = byokKey((await evaluateProviderStack(providerStackArgs())).resources);
    expect(live.options.retainOnDelete).toBe(true);
    expect(live.inputs["isEnabled"]).toBeUndefined();
  });

  test("retain: disabled, retained, findable by description and tag; grants gone, the provider denied", async () => {
    const { resources } = await evaluateProviderStack(providerStackArgs({ decommissioning: { key: "retain" } }));
    const key = byokKey(resources);
    expect(key.options.retainOnDelete).toBe(true);
    expect(key.inputs).toMatchObject({ isEnabled: false, tags: { "saas:decommissioned": "retain" } });
    expect(String(key.inputs["description"])).toMatch(/^saas-bridge BYOK key for acme-crm; decommissioned, disabled and retained/);
    expect(ofType({ resources } as never, "aws:kms/grant:Grant")).toEqual([]);
  });

  test("shred: disabled, and deleted (scheduled for deletion with the window) by the destroy", async () => {
    const { resources } = await evaluateProviderStack(providerStackArgs({ decommissioning: { key: "shred" } }));
    const key = byokKey(resources);
    expect(key.options.retainOnDelete).toBe(false);
    expect(key.inputs).toMatchObject({ isEnabled: false, deletionWindowInDays: providerStackArgs().kms.deletionWindowInDays });
  });
});

describe("generations: retained, named resources", () => {
  test("generation 1 keeps today's names (existing stacks replace nothing)", async () => {
    for (const args of [providerStackArgs(), providerStackArgs({ generation: 1 })]) {
      const { resources } = await evaluateProviderStack(args);
      expect(names(resources, "aws:cloudtrail/trail:Trail")).toEqual(["saas-bridge-acme-crm"]);
      expect(names(resources, "aws:cloudwatch/logGroup:LogGroup")).toEqual(["/saas-bridge/acme-crm/cloudtrail", "/saas/acme-crm/vpc-flow-logs"]);
    }
  });

  test("from generation 2 on, every retained resource with a fixed name carries the generation", async () => {
    const { resources } = await evaluateProviderStack(providerStackArgs({ generation: 2 }));
    expect(names(resources, "aws:cloudtrail/trail:Trail")).toEqual(["saas-bridge-acme-crm-g2"]);
    expect(names(resources, "aws:cloudwatch/logGroup:LogGroup")).toEqual(["/saas-bridge/acme-crm/cloudtrail-g2", "/saas/acme-crm/vpc-flow-logs-g2"]);
    // Any other retained resource is named by AWS (prefix) or not named at all.
    const fixedNames = resources.filter((r) => r.options.retainOnDelete && typeof r.inputs["name"] === "string").map((r) => String(r.inputs["name"]));
    expect(fixedNames.length).toBeGreaterThan(0);
    for (const name of fixedNames) expect(name).toMatch(/-g2$/);
  });

  test("a generation that is not a positive integer is refused", async () => {
    await expect(evaluateProviderStack(providerStackArgs({ generation: 0 }))).rejects.toThrow(/generation must be an integer ≥ 1/);
  });
});
