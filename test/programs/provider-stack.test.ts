import { describe, expect, test } from "vitest";
import type { Evaluation, RegisteredResource } from "../../programs/evaluate-program.js";
import type { ProviderStackArgs, ProviderStackOutputs } from "../../programs/types.js";
import { PROGRAM_VERSION } from "../../programs/version.js";
import { byokKeyOf, endpointGroupOf, evaluateProviderStack, keyPolicyOf, MANAGEMENT_ACCOUNT, NETWORK_ACCOUNT, ofType, providerStackArgs, single, str, T } from "./fixtures.js";
import { expectSecureProviderStack } from "./security-invariants.js";

const createArgs = providerStackArgs({
  bridge: { kind: "create", email: "saas+acme@example.com", saasOuId: "ou-ab12-abcdefgh", accessRoleName: "OrganizationAccountAccessRole" },
  kms: { ...providerStackArgs().kms, adminRoleArns: ["arn:aws:iam::222222222222:role/break-glass"] },
});
const inboundArgs = providerStackArgs({
  inbound: {
    targets: [{ ip: "10.40.12.10", port: 8443 }],
    allowedPrincipals: ["arn:aws:iam::333333333333:root"],
    certificateArn: "arn:aws:acm:eu-west-1:111111111111:certificate/1f2e3d4c-5b6a-4789-8abc-0123456789ab",
    acceptedEndpointIds: ["vpce-0123456789abcdef0"],
    sourceCidrs: ["100.64.0.0/24"],
  },
  outbound: { ...providerStackArgs().outbound, connectionAccepted: true },
});
const hsmArgs = providerStackArgs({
  kms: {
    ...providerStackArgs().kms,
    keyStore: "cloudhsm",
    cloudHsm: { vpcCidr: "10.255.0.0/24", subnets: [{ azId: "euw1-az1", cidr: "10.255.0.0/26" }, { azId: "euw1-az2", cidr: "10.255.0.64/26" }] },
  },
});

const X = {
  subnet: "aws:ec2/subnet:Subnet",
  privateDns: "aws:vpc/endpointPrivateDns:EndpointPrivateDns",
  accepter: "aws:ec2/vpcEndpointConnectionAccepter:VpcEndpointConnectionAccepter",
  nacl: "aws:ec2/networkAcl:NetworkAcl",
  naclRule: "aws:ec2/networkAclRule:NetworkAclRule",
  naclAssociation: "aws:ec2/networkAclAssociation:NetworkAclAssociation",
  policy: "aws:organizations/policy:Policy",
  policyAttachment: "aws:organizations/policyAttachment:PolicyAttachment",
  bucket: "aws:s3/bucket:Bucket",
  trail: "aws:cloudtrail/trail:Trail",
  logGroup: "aws:cloudwatch/logGroup:LogGroup",
  cluster: "aws:cloudhsmv2/cluster:Cluster",
  endpointService: "aws:ec2/vpcEndpointService:VpcEndpointService",
  nlb: "aws:lb/loadBalancer:LoadBalancer",
} as const;

const idsByUrn = (resources: readonly RegisteredResource[]) => new Map(resources.map((r) => [r.urn, r.id]));
const byName = (e: Evaluation, name: string) => {
  const found = e.resources.find((r) => r.name === name);
  if (!found) throw new Error(`no resource named ${name}`);
  return found;
};
/** Resources that hold data or identity: revoking must never delete or replace them. */
const DATA_BEARING: string[] = [
  T.key, T.alias, T.ruleGroup, T.endpoint, T.securityGroup, T.account, X.subnet, X.bucket, X.trail, X.logGroup, X.cluster,
  X.endpointService, X.nlb,
];
/** What a revoke may remove: access, never data. */
const ACCESS_ONLY: string[] = [T.grant, T.ingressRule, X.privateDns, X.accepter];

describe("providerStackProgram", () => {
  test.each([
    ["active, existing account", providerStackArgs()],
    ["revoked, existing account", providerStackArgs({ accessState: "revoked" })],
    ["active, new account", createArgs],
    ["revoked, new account", { ...createArgs, accessState: "revoked" as const }],
    ["active, inbound exposure", inboundArgs],
    ["revoked, inbound exposure", { ...inboundArgs, accessState: "revoked" as const }],
  ])("security properties hold: %s", async (_, args: ProviderStackArgs) => {
    expectSecureProviderStack(await evaluateProviderStack(args), args);
  });

  test("returns every ProviderStackOutputs field, taken from the resources", async () => {
    const e = await evaluateProviderStack(providerStackArgs());
    const outputs = e.outputs as unknown as ProviderStackOutputs;
    const endpoint = single(e, T.endpoint);
    const expected: ProviderStackOutputs = {
      accessState: "active",
      bridgeAccountId: "222222222222",
      subnetIds: ofType(e, X.subnet).map((s) => s.id),
      endpointId: endpoint.id,
      endpointState: "pendingAcceptance",
      endpointDnsNames: (endpoint.state["dnsEntries"] as { dnsName: string }[]).map((d) => d.dnsName),
      endpointSecurityGroupId: endpointGroupOf(e).id,
      ruleGroupArn: str(single(e, T.ruleGroup).state["arn"]),
      keyArn: str(byokKeyOf(e).state["arn"]),
      keyAlias: "alias/saas/acme-crm",
      grantIds: ofType(e, T.grant).map((g) => str(g.state["grantId"])),
      trailArn: str(single(e, X.trail).state["arn"]),
      flowLogGroup: "/saas/acme-crm/vpc-flow-logs",
      actionsRequired: [
        `Ask the provider to accept the connection from endpoint ${endpoint.id}; then update the provider (PUT the same spec) to turn on private DNS.`,
      ],
    };
    expect(outputs).toEqual(expected);
    expect(ofType(e, X.subnet).map((s) => s.inputs["cidrBlock"])).toEqual(["10.100.0.0/28", "10.100.0.16/28"]);
  });

  test("each resource goes through the account that owns it: network, bridge or management", async () => {
    const e = await evaluateProviderStack(inboundArgs);
    const network = byName(e, "network");
    const bridge = byName(e, "acme-crm-provider");
    expect(JSON.parse(str(network.inputs["allowedAccountIds"]))).toEqual([NETWORK_ACCOUNT]);
    expect(JSON.parse(str(network.inputs["assumeRoles"]))).toEqual([
      { roleArn: providerStackArgs().network.deployRoleArn, sessionName: "saas-bridge-acme-crm" },
    ]);
    const owner = (r: RegisteredResource) => (r.provider === network.urn ? "network" : r.provider === bridge.urn ? "bridge" : r.provider === "" ? "management" : "?");
    const custom = e.resources.filter((r) => r.custom && r.type !== T.provider);
    const expected = (type: string): string => {
      if (type.startsWith("aws:organizations/")) return "management";
      if (/^aws:(kms|s3|cloudtrail|cloudhsmv2)\//.test(type)) return "bridge";
      if (type === X.logGroup || type.startsWith("aws:iam/")) return "either";
      return "network";
    };
    for (const r of custom) {
      const want = expected(r.type);
      if (want === "either") expect(["network", "bridge"]).toContain(owner(r));
      else expect([r.name, owner(r)]).toEqual([r.name, want]);
    }
    // The flow-log group is in the network account, the trail's in the bridge account.
    expect(owner(byName(e, "acme-crm-flow-logs"))).toBe("network");
    expect(str(single(e, T.ruleGroup).state["arn"]).split(":")[4]).toBe(NETWORK_ACCOUNT);
  });

  test("child names are prefixed by their component, URNs are unique", async () => {
    const e = await evaluateProviderStack(inboundArgs);
    const byUrn = new Map(e.resources.map((r) => [r.urn, r]));
    expect(byUrn.size).toBe(e.resources.length);
    for (const r of e.resources.filter((r) => r.type !== "pulumi:pulumi:Stack" && r.name !== "network")) {
      const parent = byUrn.get(r.parent);
      if (parent && parent.type !== "pulumi:pulumi:Stack") expect(r.name.startsWith(`${parent.name}-`)).toBe(true);
      else expect(r.name.startsWith("acme-crm")).toBe(true);
    }
  });

  test("active → revoked removes access only; nothing data-bearing is deleted or replaced; the NACL and RCP cut the rest", async () => {
    for (const args of [providerStackArgs(), createArgs, inboundArgs]) {
      const active = await evaluateProviderStack(args);
      const revoked = await evaluateProviderStack({ ...args, accessState: "revoked" });
      const after = idsByUrn(revoked.resources);
      const before = idsByUrn(active.resources);
      const gone = active.resources.filter((r) => !after.has(r.urn));
      expect(gone.length).toBeGreaterThan(0);
      for (const r of gone) expect(ACCESS_ONLY).toContain(r.type);
      for (const r of active.resources.filter((r) => DATA_BEARING.includes(r.type))) expect([r.name, after.get(r.urn)]).toEqual([r.name, r.id]);
      const added = revoked.resources.filter((r) => !before.has(r.urn)).map((r) => r.type);
      expect(added).toContain(X.nacl);
      expect(added.filter((t) => t === X.naclAssociation)).toHaveLength(args.network.subnets.length);
      expect(added).toContain(X.policy); // the quarantine RCP
      for (const t of added) expect([X.nacl, X.naclRule, X.naclAssociation, X.policy, X.policyAttachment]).toContain(t);
      // Reinstating restores exactly the active graph.
      const reinstated = await evaluateProviderStack(args);
      expect(idsByUrn(reinstated.resources)).toEqual(before);
    }
  });

  test("decommission (destroy) keeps the evidence: audit trail, logs and their key are retained; the BYOK key too unless shredding is asked for", async () => {
    const e = await evaluateProviderStack(createArgs);
    const retained = new Set(e.resources.filter((r) => r.options.retainOnDelete).map((r) => r.type));
    for (const t of [X.bucket, X.trail, X.logGroup, T.account]) expect(retained).toContain(t);
    expect(ofType(e, X.logGroup).every((g) => g.options.retainOnDelete)).toBe(true);
    const loggingKey = ofType(e, T.key).find((k) => k.parent.includes("BridgeAudit"));
    expect(loggingKey?.options.retainOnDelete).toBe(true);
    // Fail-safe (issue 12): only the decommissioning variant with key "shred" leaves it to its deletion window.
    expect(byokKeyOf(e).options.retainOnDelete).toBe(true);
    const shred = byokKeyOf(await evaluateProviderStack({ ...createArgs, decommissioning: { key: "shred" } }));
    expect(shred.options.retainOnDelete).toBe(false);
    expect(shred.inputs["deletionWindowInDays"]).toBe(30);
    expect(single(e, T.account).inputs["closeOnDeletion"]).toBe(false);
  });

  test("private DNS is a second step: only once the provider accepted the connection", async () => {
    expect(ofType(await evaluateProviderStack(providerStackArgs()), X.privateDns)).toHaveLength(0);
    const accepted = await evaluateProviderStack(inboundArgs);
    expect(ofType(accepted, X.privateDns)).toHaveLength(1);
    expect(accepted.outputs["actionsRequired"]).toEqual([]);
    expect(str(accepted.outputs["inboundServiceName"])).toMatch(/^com\.amazonaws\.vpce\.eu-west-1\.vpce-svc-[0-9a-f]{17}$/);
  });

  test("CloudHSM: phase 1 builds the HSM cluster, no BYOK key yet, and says what a person must do next", async () => {
    const e = await evaluateProviderStack(hsmArgs);
    expect(ofType(e, X.cluster)).toHaveLength(1);
    expect(e.resources.some((r) => r.parent.includes("saas-bridge:kms:ByokKey"))).toBe(false);
    expect(e.outputs["keyArn"]).toBeUndefined();
    const actions = e.outputs["actionsRequired"] as string[];
    expect(actions.length).toBeGreaterThanOrEqual(3);
    expect(actions.join("\n")).toMatch(/CSR/i);
    expectSecureProviderStack(e, hsmArgs);
  });

  test("a new bridge account's deploy role is a key administrator", async () => {
    const e = await evaluateProviderStack(createArgs);
    const account = single(e, T.account);
    const admin = keyPolicyOf(e).find((s) => s.Sid === "KeyAdministration");
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
    const up = await evaluateProviderStack(inboundArgs);
    const preview = await evaluateProviderStack(inboundArgs, true);
    expect(preview.resources.map((r) => r.urn).sort()).toEqual(up.resources.map((r) => r.urn).sort());
  });

  test("guard failures surface as a rejected evaluation, not a crash", async () => {
    await expect(evaluateProviderStack(providerStackArgs({ name: "Not_A_Slug" }))).rejects.toThrow(/invalid provider slug/);
    await expect(
      evaluateProviderStack(providerStackArgs({ network: { ...providerStackArgs().network, subnets: [] } })),
    ).rejects.toThrow(/subnet/);
    expect((await evaluateProviderStack(providerStackArgs())).resources.length).toBeGreaterThan(0);
  });

  test("an existing bridge account is an account of its own: not the management or the network account", async () => {
    const existing = (accountId: string) => providerStackArgs({ bridge: { kind: "existing", accountId, accessRoleName: "OrganizationAccountAccessRole" } });
    await expect(evaluateProviderStack(existing(MANAGEMENT_ACCOUNT))).rejects.toThrow(/bridge account .* management account/);
    await expect(evaluateProviderStack(existing(NETWORK_ACCOUNT))).rejects.toThrow(/bridge account .* network account/);
  });

  test("the program version names the program", () => {
    expect(PROGRAM_VERSION).toMatch(/^provider-stack@\d+$/);
  });
});
