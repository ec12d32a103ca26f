import * as aws from "@pulumi/aws";
import type { MockResourceArgs, MockResourceResult } from "@pulumi/pulumi/runtime/mocks.js";
import { describe, expect, test } from "vitest";
import { createMockCloud } from "../../programs/mock-cloud.js";
import { evaluateProgram, type Evaluation, type RegisteredResource } from "../../programs/evaluate-program.js";
import { providerStackProgram } from "../../programs/provider-stack.js";
import type { ProviderStackArgs } from "../../programs/types.js";
import { evaluateStack } from "../../src/engine/simulated/evaluate.js";
import { createInProcessEvaluator } from "../../src/engine/evaluation-pool.js";
import { toProviderStackArgs } from "../../src/onboarding/stack-args.js";
import { acme, globex, lz, schema } from "../onboarding/spec-fixtures.js";
import { BRIDGE_ACCOUNT, NETWORK_ACCOUNT, providerStackArgs, T } from "./fixtures.js";

/**
 * Defect 8 (issue 12): the mock cloud answers per provider instance, as AWS would. The default provider
 * is the Organizations management account (the service's own credentials); the `network` provider is
 * the network account; the bridge provider is the bridge account (existing, or the one just created).
 */

const MANAGEMENT = lz.organization.managementAccountId;
const ORG_TYPES = ["aws:organizations/account:Account", "aws:organizations/policy:Policy"];
const placement = {
  subnets: [
    { azId: "euw1-az1", cidr: "10.100.0.0/28" },
    { azId: "euw1-az2", cidr: "10.100.0.16/28" },
  ],
  connectionAccepted: false,
};

const accountOf = (arn: unknown): string => String(arn).split(":")[4] ?? "";
/** `o-…` from an Organizations ARN (`…:account/o-x/<id>`, `…:policy/o-x/<type>/p-…`, `…:ou/o-x/ou-…`). */
const orgOf = (arn: unknown): string => /^arn:[^:]+:organizations::\d{12}:[a-z]+\/(o-[a-z0-9]{10,32})\//.exec(String(arn))?.[1] ?? `no org in ${String(arn)}`;

function argsFor(body: Record<string, unknown>): ProviderStackArgs {
  return toProviderStackArgs(schema.parse(body), lz, "active", placement);
}

/** Every registered resource's ARN and owner id, by the account they name. */
function accountsOf(resources: readonly RegisteredResource[]): { urn: string; type: string; field: string; account: string }[] {
  return resources.flatMap((r) => {
    const found: { urn: string; type: string; field: string; account: string }[] = [];
    const arn = r.state["arn"];
    // S3 ARNs carry no account; everything else does.
    if (typeof arn === "string" && accountOf(arn) !== "") found.push({ urn: r.urn, type: r.type, field: "arn", account: accountOf(arn) });
    const owner = r.state["ownerId"];
    if (typeof owner === "string") found.push({ urn: r.urn, type: r.type, field: "ownerId", account: owner });
    return found;
  });
}

/** The provider instance a resource is registered with: "default", or the explicit provider's name. */
function providerNameOf(e: Evaluation, r: RegisteredResource): string {
  if (!r.provider) return "default";
  return e.resources.find((p) => p.urn === r.provider)?.name ?? `unknown provider ${r.provider}`;
}

function evaluate(args: ProviderStackArgs, preview = false): Promise<Evaluation> {
  return evaluateProgram(providerStackProgram(args), {
    project: "saas-bridge",
    stack: args.name,
    mocks: createMockCloud({ region: args.region, callerAccountId: MANAGEMENT }),
    preview,
  });
}

describe("the simulated engine's mock cloud: Organizations resources are the management account's", () => {
  test("the example landing zone's management and network accounts differ (else nothing below could tell them apart)", () => {
    expect(MANAGEMENT).not.toBe(lz.network.accountId);
  });

  test.each([
    ["an existing bridge account (acme)", acme],
    ["a created bridge account (globex)", globex],
  ])("%s: SCP, RCP and account ARNs name the management account", async (_, body) => {
    const args = argsFor({ ...body(), name: "acme" });
    const evaluation = await evaluateStack(createInProcessEvaluator(), args.name, { program: "provider", args: { ...args, accessState: "revoked" } });
    const org = evaluation.resources.filter((r) => ORG_TYPES.includes(r.type));
    expect(org.length).toBeGreaterThanOrEqual(2);
    for (const r of org) expect(accountOf(r.outputs["arn"]), `${r.type} ${r.name}`).toBe(MANAGEMENT);
    // And the network account owns the provider's subnets of the central VPC (a CloudHSM VPC's are the bridge account's).
    const subnets = evaluation.resources.filter((r) => r.type === "aws:ec2/subnet:Subnet" && r.inputs["vpcId"] === args.network.vpcId);
    expect(subnets).toHaveLength(placement.subnets.length);
    expect(subnets.map((s) => s.outputs["ownerId"])).toEqual(subnets.map(() => lz.network.accountId));
  });
});

describe("createMockCloud answers per provider instance", () => {
  test("the mocked account and the mocked policies report one organisation, the management account's", async () => {
    const args = argsFor({ ...globex(), name: "globex" });
    const e = await evaluate({ ...args, accessState: "revoked" });
    const org = e.resources.filter((r) => ORG_TYPES.includes(r.type));
    expect(org.map((r) => r.type).sort()).toEqual([...ORG_TYPES, ORG_TYPES[1]].sort());
    const account = org.find((r) => r.type === ORG_TYPES[0]);
    expect(account?.state["arn"]).toBe(`arn:aws:organizations::${MANAGEMENT}:account/${orgOf(account?.state["arn"])}/${account?.id}`);
    for (const r of org) expect(orgOf(r.state["arn"]), r.name).toBe(orgOf(account?.state["arn"]));
    const policies = org.filter((r) => r.type === ORG_TYPES[1]);
    expect(policies.map((p) => p.state["arn"]).sort()).toEqual(
      [
        `arn:aws:organizations::${MANAGEMENT}:policy/${orgOf(account?.state["arn"])}/resource_control_policy/${policies.find((p) => p.inputs["type"] === "RESOURCE_CONTROL_POLICY")?.id}`,
        `arn:aws:organizations::${MANAGEMENT}:policy/${orgOf(account?.state["arn"])}/service_control_policy/${policies.find((p) => p.inputs["type"] === "SERVICE_CONTROL_POLICY")?.id}`,
      ].sort(),
    );
  });

  test("an organisational unit is in the same organisation, under the organisation's root", async () => {
    const e = await evaluateProgram(
      async () => {
        const ou = new aws.organizations.OrganizationalUnit("saas", { name: "saas", parentId: "r-ab12" });
        const policy = new aws.organizations.Policy("scp", { content: "{}", type: "SERVICE_CONTROL_POLICY" });
        return { ou: ou.arn, ouId: ou.id, policy: policy.arn };
      },
      { project: "p", stack: "s", mocks: createMockCloud({ region: "eu-west-1", callerAccountId: MANAGEMENT }) },
    );
    expect(e.outputs["ouId"]).toMatch(/^ou-ab12-[a-z0-9]{8,32}$/);
    expect(e.outputs["ou"]).toBe(`arn:aws:organizations::${MANAGEMENT}:ou/${orgOf(e.outputs["policy"])}/${String(e.outputs["ouId"])}`);
  });

  test.each([
    ["existing", false],
    ["existing", true],
    ["create", false],
    ["create", true],
  ] as const)("bridge account %s (preview %s): each resource is in its provider instance's account", async (kind, preview) => {
    const base = providerStackArgs();
    const args: ProviderStackArgs = {
      ...base,
      bridge: kind === "existing" ? base.bridge : { kind: "create", email: "saas+acme@example.com", saasOuId: "ou-ab12-abcdefgh", accessRoleName: "OrganizationAccountAccessRole" },
      accessState: "revoked",
    };
    const e = await evaluateProgram(providerStackProgram(args), {
      project: "saas-bridge",
      stack: args.name,
      mocks: createMockCloud({ region: args.region, callerAccountId: "999999999999" }),
      preview,
    });
    const created = e.resources.find((r) => r.type === T.account);
    const bridgeAccount = kind === "existing" ? BRIDGE_ACCOUNT : (created?.id ?? "no account created");
    expect(bridgeAccount).toMatch(/^\d{12}$/);
    const expected: Record<string, string> = { default: "999999999999", network: NETWORK_ACCOUNT, "acme-crm-provider": bridgeAccount };
    const seen = accountsOf(e.resources.filter((r) => r.custom && r.type.startsWith("aws:")));
    const byProvider = new Set(seen.map((s) => providerNameOf(e, e.resources.find((r) => r.urn === s.urn) as RegisteredResource)));
    expect([...byProvider].sort()).toEqual(Object.keys(expected).sort());
    const wrong = seen.filter((s) => s.account !== expected[providerNameOf(e, e.resources.find((r) => r.urn === s.urn) as RegisteredResource)]);
    expect(wrong).toEqual([]);
  });

  test("identity invokes on the default provider answer with the management account", async () => {
    const e = await evaluateProgram(async () => ({ caller: (await aws.getCallerIdentity()).accountId }), {
      project: "p",
      stack: "s",
      mocks: createMockCloud({ region: "eu-west-1", callerAccountId: MANAGEMENT }),
    });
    expect(e.outputs["caller"]).toBe(MANAGEMENT);
  });

  test("a provider known only by its assumed role is in the role's account", async () => {
    const e = await evaluateProgram(
      async () => {
        const network = new aws.Provider("network", { region: "eu-west-1", assumeRoles: [{ roleArn: `arn:aws:iam::${NETWORK_ACCOUNT}:role/deploy` }] });
        const sg = new aws.ec2.SecurityGroup("sg", { vpcId: "vpc-1" }, { provider: network });
        return { caller: (await aws.getCallerIdentity({}, { provider: network })).accountId, sg: sg.arn };
      },
      { project: "p", stack: "s", mocks: createMockCloud({ region: "eu-west-1", callerAccountId: MANAGEMENT }) },
    );
    expect(e.outputs["caller"]).toBe(NETWORK_ACCOUNT);
    expect(accountOf(e.outputs["sg"])).toBe(NETWORK_ACCOUNT);
  });

  test("Organizations calls from a member account's provider are refused, as AWS refuses them", () => {
    // Straight at the mock: a failed registration is an unhandled rejection by the SDK's design, which
    // vitest would report against the file (mock-cloud.test.ts runs that path in a child process).
    const mocks = createMockCloud({ region: "eu-west-1", callerAccountId: MANAGEMENT });
    // The mock cloud answers synchronously.
    const cloud = { newResource: (args: MockResourceArgs) => mocks.newResource(args) as MockResourceResult };
    const provider = (name: string, inputs: Record<string, unknown>) =>
      `urn:pulumi:s::p::pulumi:providers:aws::${name}::${String(cloud.newResource({ type: "pulumi:providers:aws", name, inputs, custom: true }).id)}`;
    const network = provider("network", { region: "eu-west-1", allowedAccountIds: JSON.stringify([lz.network.accountId]) });
    const management = provider("management", { region: "eu-west-1", allowedAccountIds: JSON.stringify([MANAGEMENT]) });
    const policy = (p?: string) => cloud.newResource({ type: ORG_TYPES[1] as string, name: "scp", inputs: { content: "{}", type: "SERVICE_CONTROL_POLICY" }, custom: true, ...(p ? { provider: p } : {}) });
    expect(() => policy(network)).toThrow(`mock-cloud: aws:organizations/policy:Policy scp: account ${lz.network.accountId} is not the Organizations management account ${MANAGEMENT}`);
    // The default provider, or an explicit one pinned to the management account, may.
    expect(policy().state["arn"]).toMatch(new RegExp(`^arn:aws:organizations::${MANAGEMENT}:policy/o-[0-9a-f]{10}/service_control_policy/p-[0-9a-f]{8}$`));
    expect(policy(management).state["arn"]).toBe(policy().state["arn"]);
  });
});
