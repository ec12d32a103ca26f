import * as aws from "@pulumi/aws";
import * as pulumi from "@pulumi/pulumi";
import { assertAccountId, assertRegion, assertSlug, assertUnique, sessionName } from "./components/aws-ids.js";
import type { NetworkHubArgs, NetworkHubOutputs } from "./types.js";

export type NetworkHubProgramOutputs = { readonly [K in keyof NetworkHubOutputs]: pulumi.Input<NetworkHubOutputs[K]> };

const RULE_GROUP_ARN = /^arn:(aws|aws-cn|aws-us-gov):network-firewall:([a-z0-9-]+):(\d{12}):stateful-rulegroup\/[A-Za-z0-9-]{1,128}$/;
const POLICY_NAME = /^[a-zA-Z0-9-]{1,128}$/;
/** Room between priorities, so an operator can slot a hand-made group between two providers. */
const PRIORITY_STEP = 10;
/** AWS's limit on a STRICT_ORDER priority. */
const MAX_PRIORITY = 65_535;

/**
 * The network-hub program: one stack per region that owns the central Network Firewall policy and lists
 * the stateful rule group of every provider (AWS has no rule-group association resource, so the policy is
 * the single writer: research/aws-design.md §2.5, option A). The service runs it after provider changes,
 * coalesced, with the list read from its own store when the operation starts.
 */
export function networkHubProgram(args: NetworkHubArgs): () => Promise<NetworkHubProgramOutputs> {
  return async () => {
    assertRegion(args.region);
    assertAccountId(args.network.accountId, "network.accountId");
    if (!POLICY_NAME.test(args.policyName)) throw new Error(`hub: invalid policy name "${args.policyName}"`);
    for (const group of args.ruleGroups) {
      assertSlug(group.provider);
      const match = RULE_GROUP_ARN.exec(group.arn);
      if (!match) throw new Error(`hub: "${group.arn}" (${group.provider}) is not a stateful rule group ARN`);
      if (match[2] !== args.region || match[3] !== args.network.accountId) {
        throw new Error(`hub: rule group of ${group.provider} is not in ${args.region} of the network account`);
      }
    }
    assertUnique(args.ruleGroups.map((g) => g.provider), "hub provider");
    assertUnique(args.ruleGroups.map((g) => g.arn), "hub rule group ARN");
    // Sorted by provider, so the same set always yields the same policy (no spurious updates).
    const groups = [...args.ruleGroups].sort((a, b) => a.provider.localeCompare(b.provider));
    if (groups.length * PRIORITY_STEP > MAX_PRIORITY) throw new Error(`hub: too many rule groups (${groups.length})`);

    const network = new aws.Provider("network", {
      region: args.region,
      assumeRoles: [{ roleArn: args.network.deployRoleArn, sessionName: sessionName(`hub-${args.region}`) }],
      allowedAccountIds: [args.network.accountId],
      defaultTags: { tags: { ...args.tags } },
    });

    const policy = new aws.networkfirewall.FirewallPolicy(
      "hub-policy",
      {
        name: args.policyName,
        description: "saas-bridge central policy: one stateful rule group per onboarded provider",
        firewallPolicy: {
          // Everything goes to the stateful engine; nothing is decided statelessly.
          statelessDefaultActions: ["aws:forward_to_sfe"],
          statelessFragmentDefaultActions: ["aws:forward_to_sfe"],
          // Must match the providers' groups (STRICT_ORDER cannot change after creation). Established
          // flows that no rule passed are dropped and logged: deny by default (research §2.5).
          statefulEngineOptions: { ruleOrder: "STRICT_ORDER", streamExceptionPolicy: "REJECT" },
          statefulDefaultActions: ["aws:drop_established", "aws:alert_established"],
          statefulRuleGroupReferences: groups.map((g, i) => ({ resourceArn: g.arn, priority: (i + 1) * PRIORITY_STEP })),
        },
      },
      { provider: network },
    );

    return {
      policyArn: policy.arn,
      ruleGroupCount: groups.length,
      providers: groups.map((g) => g.provider),
    };
  };
}
