import * as aws from "@pulumi/aws";
import * as pulumi from "@pulumi/pulumi";
import type { AccessState, OutboundPort } from "../types.js";
import { assertIpv4Cidr } from "./aws-ids.js";
import { buildRulesString, DESTINATION_VARIABLE, SOURCE_VARIABLE } from "./suricata.js";

export interface ProviderFirewallRulesArgs {
  readonly slug: string;
  /** Plain: validated and rendered into the Suricata rules string; matched on the `domain` ports. */
  readonly allowedDomains: readonly string[];
  /** The spec's outbound ports: passes are scoped to them (`domain`: TLS SNI / HTTP Host; `port`: 5-tuple). */
  readonly ports: readonly OutboundPort[];
  /** The provider's sources (the `$SAAS_SRC` rule variable). */
  readonly sourceCidrs: readonly string[];
  /** The provider's own subnets (the `$SAAS_NET` rule variable): every rule is scoped to them. */
  readonly destinationCidrs: readonly string[];
  readonly sidBase: number;
  readonly capacity: number;
  readonly accessState: AccessState;
}

/** AWS maximum for a stateful rule group (research/aws-design.md §2.5). */
const MAX_CAPACITY = 30_000;

/**
 * The provider's stateful Network Firewall rule group in the network account. The central firewall
 * policy (network-hub stack) references it by ARN; there is no association resource (research §2.5),
 * so the name, and therefore the ARN, stays the same across revoke and reinstate.
 */
export class ProviderFirewallRules extends pulumi.ComponentResource {
  public readonly ruleGroupArn: pulumi.Output<string>;
  public readonly ruleGroupName: string;
  public readonly ruleCount: number;

  constructor(name: string, args: ProviderFirewallRulesArgs, opts?: pulumi.ComponentResourceOptions) {
    super("saas-bridge:firewall:ProviderFirewallRules", name, {}, opts);

    const rules = buildRulesString(args);
    if (args.sourceCidrs.length === 0) throw new Error("firewall: at least one source CIDR is required");
    for (const cidr of args.sourceCidrs) assertIpv4Cidr(cidr, "firewall");
    if (args.destinationCidrs.length === 0) throw new Error("firewall: at least one destination (provider subnet) CIDR is required");
    for (const cidr of args.destinationCidrs) assertIpv4Cidr(cidr, "firewall destination");
    if (!Number.isInteger(args.capacity) || args.capacity < 1 || args.capacity > MAX_CAPACITY) {
      throw new Error(`firewall: capacity must be an integer in 1..${MAX_CAPACITY}, got ${args.capacity}`);
    }
    // Capacity is fixed at creation and changing it replaces the group (new ARN, and the old one
    // cannot be deleted while the policy references it): the active variant must always fit.
    if (rules.activeRuleCount > args.capacity) {
      throw new Error(`firewall: ${rules.activeRuleCount} rules exceed the rule group capacity ${args.capacity}`);
    }

    this.ruleGroupName = `saas-${args.slug}`;
    this.ruleCount = rules.ruleCount;
    const group = new aws.networkfirewall.RuleGroup(
      `${name}-rule-group`,
      {
        name: this.ruleGroupName,
        type: "STATEFUL",
        capacity: args.capacity,
        description: `saas-bridge egress rules for ${args.slug}`,
        ruleGroup: {
          ruleVariables: {
            ipSets: [
              { key: SOURCE_VARIABLE, ipSet: { definitions: [...args.sourceCidrs] } },
              { key: DESTINATION_VARIABLE, ipSet: { definitions: [...args.destinationCidrs] } },
            ],
          },
          rulesSource: { rulesString: rules.rulesString },
          // Must match the central policy's rule order, and it cannot change after creation.
          statefulRuleOptions: { ruleOrder: "STRICT_ORDER" },
        },
      },
      { parent: this },
    );

    this.ruleGroupArn = group.arn;
    this.registerOutputs({ ruleGroupArn: this.ruleGroupArn });
  }
}
