import { describe, expect, test } from "vitest";
import { createMockCloud } from "../../programs/mock-cloud.js";
import { evaluateProgram } from "../../programs/evaluate-program.js";
import { networkHubProgram } from "../../programs/network-hub.js";
import type { NetworkHubArgs } from "../../programs/types.js";
import { single, str } from "./fixtures.js";

const POLICY = "aws:networkfirewall/firewallPolicy:FirewallPolicy";
const NETWORK = "111111111111";
const groupArn = (name: string, region = "eu-west-1", account = NETWORK) =>
  `arn:aws:network-firewall:${region}:${account}:stateful-rulegroup/saas-${name}`;

function hubArgs(overrides: Partial<NetworkHubArgs> = {}): NetworkHubArgs {
  return {
    region: "eu-west-1",
    network: { accountId: NETWORK, deployRoleArn: `arn:aws:iam::${NETWORK}:role/saas-bridge-deploy` },
    tags: { "managed-by": "saas-bridge" },
    policyName: "saas-bridge-central",
    ruleGroups: [
      { provider: "globex", arn: groupArn("globex") },
      { provider: "acme", arn: groupArn("acme") },
    ],
    ...overrides,
  };
}

function evaluate(args: NetworkHubArgs) {
  return evaluateProgram(networkHubProgram(args), {
    project: "saas-bridge-hub",
    stack: `network-hub.${args.region}`,
    mocks: createMockCloud({ region: args.region, callerAccountId: "999999999999" }),
  });
}

interface PolicyInputs {
  name: string;
  firewallPolicy: {
    statelessDefaultActions: string[];
    statelessFragmentDefaultActions: string[];
    statefulDefaultActions: string[];
    statefulEngineOptions: { ruleOrder: string; streamExceptionPolicy: string };
    statefulRuleGroupReferences: { resourceArn: string; priority: number }[];
  };
}
const policyOf = (e: Awaited<ReturnType<typeof evaluate>>) => single(e, POLICY).inputs as unknown as PolicyInputs;

describe("network-hub program", () => {
  test("the central policy lists every provider's group, in provider order, with distinct priorities", async () => {
    const e = await evaluate(hubArgs());
    const policy = policyOf(e);
    expect(policy.name).toBe("saas-bridge-central");
    expect(policy.firewallPolicy.statefulRuleGroupReferences).toEqual([
      { resourceArn: groupArn("acme"), priority: 10 },
      { resourceArn: groupArn("globex"), priority: 20 },
    ]);
    expect(e.outputs).toMatchObject({ ruleGroupCount: 2, providers: ["acme", "globex"] });
    expect(str(e.outputs["policyArn"])).toContain(":firewall-policy/saas-bridge-central");
  });

  test("deny by default: strict order like the providers' groups, established flows no rule passed are dropped", async () => {
    const { firewallPolicy } = policyOf(await evaluate(hubArgs()));
    expect(firewallPolicy.statefulEngineOptions).toEqual({ ruleOrder: "STRICT_ORDER", streamExceptionPolicy: "REJECT" });
    expect(firewallPolicy.statefulDefaultActions).toContain("aws:drop_established");
    expect(firewallPolicy.statelessDefaultActions).toEqual(["aws:forward_to_sfe"]);
    expect(firewallPolicy.statelessFragmentDefaultActions).toEqual(["aws:forward_to_sfe"]);
  });

  test("the same set in another order gives the same policy (no spurious hub updates)", async () => {
    const a = policyOf(await evaluate(hubArgs()));
    const b = policyOf(await evaluate(hubArgs({ ruleGroups: [...hubArgs().ruleGroups].reverse() })));
    expect(b).toEqual(a);
  });

  test("an empty hub is a valid policy with no references (every provider decommissioned)", async () => {
    const e = await evaluate(hubArgs({ ruleGroups: [] }));
    expect(policyOf(e).firewallPolicy.statefulRuleGroupReferences).toEqual([]);
    expect(e.outputs["ruleGroupCount"]).toBe(0);
  });

  test("deploys through the network account's role, pinned to that account", async () => {
    const e = await evaluate(hubArgs());
    const provider = single(e, "pulumi:providers:aws");
    expect(JSON.parse(str(provider.inputs["allowedAccountIds"]))).toEqual([NETWORK]);
    expect(single(e, POLICY).provider).toBe(provider.urn);
  });

  test.each([
    [{ ruleGroups: [{ provider: "acme", arn: groupArn("acme", "eu-central-1") }] }, /not in eu-west-1/],
    [{ ruleGroups: [{ provider: "acme", arn: groupArn("acme", "eu-west-1", "222222222222") }] }, /network account/],
    [{ ruleGroups: [{ provider: "acme", arn: "arn:aws:network-firewall:eu-west-1:111111111111:stateless-rulegroup/x" }] }, /not a stateful rule group/],
    [{ ruleGroups: [{ provider: "acme", arn: groupArn("acme") }, { provider: "acme", arn: groupArn("acme2") }] }, /duplicate hub provider/],
    [{ policyName: "bad name!" }, /invalid policy name/],
  ] as const)("refuses bad input %#", async (overrides, message) => {
    await expect(evaluate(hubArgs(overrides as Partial<NetworkHubArgs>))).rejects.toThrow(message);
  });
});
