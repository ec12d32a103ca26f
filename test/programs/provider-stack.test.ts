import { describe, expect, test } from "vitest";
import type { RegisteredResource } from "../../programs/mock-cloud.js";
import type { ProviderStackArgs, ProviderStackOutputs } from "../../programs/types.js";
import { PROGRAM_VERSION } from "../../programs/version.js";
import { evaluateProviderStack, keyPolicyOf, NETWORK_ACCOUNT, ofType, providerStackArgs, single, str, T } from "./fixtures.js";
import { expectSecureProviderStack } from "./security-invariants.js";

const createArgs = providerStackArgs({
  bridge: { kind: "create", email: "saas+acme@example.com", saasOuId: "ou-ab12-abcdefgh", accessRoleName: "OrganizationAccountAccessRole" },
  kms: { ...providerStackArgs().kms, adminRoleArns: ["arn:aws:iam::222222222222:role/break-glass"] },
});
const idsByUrn = (resources: readonly RegisteredResource[]) => new Map(resources.map((r) => [r.urn, r.id]));
const NETWORK_TYPES: string[] = [T.securityGroup, T.ingressRule, T.endpoint, T.ruleGroup];
const BRIDGE_TYPES: string[] = [T.key, T.alias, T.grant];
/** Resources that hold data or identity: revoking must never delete or replace them. */
const DATA_BEARING: string[] = [T.key, T.alias, T.ruleGroup, T.endpoint, T.securityGroup, T.account];

describe("providerStackProgram", () => {
  test.each([
    ["active, existing account", providerStackArgs()],
    ["revoked, existing account", providerStackArgs({ accessState: "revoked" })],
    ["active, new account", createArgs],
    ["revoked, new account", { ...createArgs, accessState: "revoked" as const }],
  ])("security properties hold: %s", async (_, args: ProviderStackArgs) => {
    expectSecureProviderStack(await evaluateProviderStack(args), args);
  });

  test("returns every ProviderStackOutputs field, taken from the resources", async () => {
    const e = await evaluateProviderStack(providerStackArgs());
    const outputs = e.outputs as unknown as ProviderStackOutputs;
    const expected: ProviderStackOutputs = {
      bridgeAccountId: "222222222222",
      endpointId: single(e, T.endpoint).id,
      endpointDnsNames: (single(e, T.endpoint).state["dnsEntries"] as { dnsName: string }[]).map((d) => d.dnsName),
      endpointSecurityGroupId: single(e, T.securityGroup).id,
      ruleGroupArn: str(single(e, T.ruleGroup).state["arn"]),
      keyArn: str(single(e, T.key).state["arn"]),
      keyAlias: "alias/saas/acme-crm",
      grantIds: ofType(e, T.grant).map((g) => str(g.state["grantId"])),
      accessState: "active",
    };
    expect(outputs).toEqual(expected);
  });

  test("network resources go through the network provider, key resources through the bridge provider", async () => {
    const e = await evaluateProviderStack(providerStackArgs());
    const [network, bridge] = ["network", "acme-crm-provider"].map((name) => {
      const found = ofType(e, T.provider).find((p) => p.name === name);
      if (!found) throw new Error(`no provider ${name}`);
      return found;
    });
    expect(JSON.parse(str(network?.inputs["allowedAccountIds"]))).toEqual([NETWORK_ACCOUNT]);
    expect(JSON.parse(str(network?.inputs["assumeRoles"]))).toEqual([
      { roleArn: providerStackArgs().network.deployRoleArn, sessionName: "saas-bridge-acme-crm" },
    ]);
    const custom = e.resources.filter((r) => r.custom && r.type !== T.provider);
    for (const r of custom.filter((r) => NETWORK_TYPES.includes(r.type))) expect(r.provider).toBe(network?.urn);
    for (const r of custom.filter((r) => BRIDGE_TYPES.includes(r.type))) expect(r.provider).toBe(bridge?.urn);
    expect(custom.every((r) => r.provider !== "")).toBe(true);
    expect(ruleArnAccount(e)).toBe(NETWORK_ACCOUNT);
    expect(str(single(e, T.key).state["arn"])).toContain(":222222222222:key/");
  });

  test("child names are prefixed by their component, URNs are unique", async () => {
    const e = await evaluateProviderStack(providerStackArgs());
    const byUrn = new Map(e.resources.map((r) => [r.urn, r]));
    expect(byUrn.size).toBe(e.resources.length);
    for (const r of e.resources.filter((r) => r.type !== "pulumi:pulumi:Stack" && r.name !== "network")) {
      const parent = byUrn.get(r.parent);
      if (parent && parent.type !== "pulumi:pulumi:Stack") expect(r.name.startsWith(`${parent.name}-`)).toBe(true);
      else expect(r.name).toBe("acme-crm"); // top-level components carry the provider slug itself
    }
  });

  test("active → revoked removes only grants and ingress rules; nothing data-bearing is deleted or replaced", async () => {
    for (const args of [providerStackArgs(), createArgs]) {
      const active = await evaluateProviderStack(args);
      const revoked = await evaluateProviderStack({ ...args, accessState: "revoked" });
      const after = idsByUrn(revoked.resources);
      const gone = active.resources.filter((r) => !after.has(r.urn));
      expect(gone.length).toBe(ofType(active, T.grant).length + ofType(active, T.ingressRule).length);
      expect(new Set(gone.map((r) => r.type))).toEqual(new Set([T.grant, T.ingressRule]));
      for (const r of active.resources.filter((r) => DATA_BEARING.includes(r.type))) expect(after.get(r.urn)).toBe(r.id);
      expect(revoked.resources.filter((r) => !idsByUrn(active.resources).has(r.urn))).toEqual([]);
    }
  });

  test("a new bridge account's deploy role is a key administrator", async () => {
    const e = await evaluateProviderStack(createArgs);
    const account = single(e, T.account);
    const admin = keyPolicyOf(e).find((s) => s.Sid === "KeyAdministration");
    // The landing-zone admin (another account) and the new account's root are both principals.
    expect(admin?.Principal.AWS).toEqual([`arn:aws:iam::${account.id}:root`, "arn:aws:iam::222222222222:root"]);
    expect(admin?.Condition?.["ArnEquals"]?.["aws:PrincipalArn"]).toContain(`arn:aws:iam::${account.id}:role/OrganizationAccountAccessRole`);
    expect(e.outputs["bridgeAccountId"]).toBe(account.id);
  });

  test("deterministic: the same args give the same URNs and ids, run after run in one process", async () => {
    const first = await evaluateProviderStack(createArgs);
    await evaluateProviderStack(providerStackArgs({ name: "other-provider", tags: {} }));
    const second = await evaluateProviderStack(createArgs);
    expect(idsByUrn(second.resources)).toEqual(idsByUrn(first.resources));
    expect(second.outputs).toEqual(first.outputs);
  });

  test("previews under mocks register the same resources", async () => {
    const up = await evaluateProviderStack(providerStackArgs());
    const preview = await evaluateProviderStack(providerStackArgs(), true);
    expect(preview.resources.map((r) => r.urn).sort()).toEqual(up.resources.map((r) => r.urn).sort());
  });

  test("guard failures surface as a rejected evaluation, not a crash", async () => {
    await expect(evaluateProviderStack(providerStackArgs({ name: "Not_A_Slug" }))).rejects.toThrow(/invalid provider slug/);
    await expect(evaluateProviderStack(providerStackArgs({ kms: { ...providerStackArgs().kms, keyStore: "cloudhsm" } }))).rejects.toThrow(
      "keyStore cloudhsm is not supported yet",
    );
    expect((await evaluateProviderStack(providerStackArgs())).resources.length).toBeGreaterThan(0);
  });

  test("the program version names the program", () => {
    expect(PROGRAM_VERSION).toMatch(/^provider-stack@\d+$/);
  });
});

function ruleArnAccount(e: Awaited<ReturnType<typeof evaluateProviderStack>>): string | undefined {
  return str(single(e, T.ruleGroup).state["arn"]).split(":")[4];
}
