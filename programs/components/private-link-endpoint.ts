import * as aws from "@pulumi/aws";
import * as pulumi from "@pulumi/pulumi";
import type { AccessState, PortProtocol, SubnetPlacement } from "../types.js";
import { assertAccountId, assertIpv4Cidr, assertSlug, assertUnique, partitionOf } from "./aws-ids.js";
import { assertFlowLogsConfig, createFlowLogs, type FlowLogsConfig } from "./flow-logs.js";
import { assertProviderSubnets, createProviderSubnets, createRevokeNacl } from "./subnet-nacl.js";

export type { FlowLogsConfig } from "./flow-logs.js";

export interface EndpointPort {
  readonly port: number;
  readonly protocol: PortProtocol;
}

export interface PrivateLinkEndpointArgs {
  readonly slug: string;
  /** Plain: selects the partition and region of the ARNs in the flow-logs trust policy. */
  readonly region: string;
  /** Plain: the central network account the caller's provider deploys into. */
  readonly networkAccountId: string;
  readonly vpcId: pulumi.Input<string>;
  /** The central private route table (TGW route) the provider's subnets are attached to. */
  readonly routeTableId: pulumi.Input<string>;
  /** Plain: one subnet, route-table association and flow log per AZ id. */
  readonly subnets: readonly SubnetPlacement[];
  readonly serviceName: pulumi.Input<string>;
  /** Plain: one ingress rule per port × CIDR. */
  readonly ports: readonly EndpointPort[];
  readonly allowedSourceCidrs: readonly string[];
  /** Plain: whether the provider's service offers private DNS and we want it. */
  readonly privateDns: boolean;
  /** Plain: the provider has accepted the endpoint connection (phase 2 of onboarding, research §2.2). */
  readonly connectionAccepted: boolean;
  readonly flowLogs: FlowLogsConfig;
  /** The onboarding's generation, for the retained flow-log group's name (flow-logs.ts). */
  readonly generation?: number;
  /** Plain: `revoked` keeps endpoint, subnets, group and flow logs, drops ingress and DNS, adds a deny NACL. */
  readonly accessState: AccessState;
}

function assertPort(p: EndpointPort): void {
  if (!Number.isInteger(p.port) || p.port < 1 || p.port > 65535) throw new Error(`endpoint: invalid port ${p.port}`);
  if (p.protocol !== "tcp" && p.protocol !== "udp") throw new Error(`endpoint: invalid protocol "${String(p.protocol)}"`);
}

/**
 * Outbound PrivateLink interface endpoint to the provider's endpoint service, in the provider's own
 * segment of the central SaaS VPC, in the network account (research/aws-design.md §1.2: a VPC-sharing
 * participant cannot create it).
 */
export class PrivateLinkEndpoint extends pulumi.ComponentResource {
  public readonly subnetIds: pulumi.Output<string[]>;
  public readonly securityGroupId: pulumi.Output<string>;
  public readonly endpointId: pulumi.Output<string>;
  public readonly endpointState: pulumi.Output<string>;
  public readonly dnsNames: pulumi.Output<string[]>;
  public readonly ingressRuleIds: pulumi.Output<string[]>;
  public readonly ingressRuleCount: number;
  public readonly flowLogGroupName: pulumi.Output<string>;
  /** Only while revoked. */
  public readonly networkAclId: pulumi.Output<string> | undefined;

  constructor(name: string, args: PrivateLinkEndpointArgs, opts?: pulumi.ComponentResourceOptions) {
    super("saas-bridge:network:PrivateLinkEndpoint", name, {}, opts);

    assertSlug(args.slug);
    const partition = partitionOf(args.region);
    assertAccountId(args.networkAccountId, "endpoint: networkAccountId");
    assertProviderSubnets(args.subnets);
    if (args.ports.length === 0) throw new Error("endpoint: at least one port is required");
    if (args.allowedSourceCidrs.length === 0) throw new Error("endpoint: at least one source CIDR is required");
    args.ports.forEach(assertPort);
    for (const cidr of args.allowedSourceCidrs) assertIpv4Cidr(cidr, "endpoint");
    assertUnique(args.ports.map((p) => `${p.protocol}/${p.port}`), "endpoint port");
    assertUnique(args.allowedSourceCidrs, "endpoint source CIDR");
    assertFlowLogsConfig(args.flowLogs, partition, args.region);
    const active = args.accessState === "active";

    const subnets = createProviderSubnets(name, args, this);

    // No inline ingress/egress: inline rules and vpc.SecurityGroupIngressRule must not be mixed, and
    // AWS's default allow-all egress is removed when the group is created (research §0). The ENIs
    // only answer connections, which security groups track statefully, so no egress rule is needed.
    const sg = new aws.ec2.SecurityGroup(
      `${name}-sg`,
      {
        vpcId: args.vpcId,
        description: "saas-bridge PrivateLink endpoint ENIs (ingress managed as separate rules)",
        revokeRulesOnDelete: true,
      },
      { parent: this },
    );

    const rules: aws.vpc.SecurityGroupIngressRule[] = [];
    if (active) {
      for (const { port, protocol } of args.ports) {
        for (const cidr of args.allowedSourceCidrs) {
          // Named after what it allows, so adding a CIDR never renames (and replaces) another rule.
          const role = `ingress-${protocol}-${port}-${cidr.replace(/[./]/g, "-")}`;
          rules.push(
            new aws.vpc.SecurityGroupIngressRule(
              `${name}-${role}`,
              {
                securityGroupId: sg.id,
                ipProtocol: protocol,
                fromPort: port,
                toPort: port,
                cidrIpv4: cidr,
                description: `saas-bridge ${protocol}/${port} from ${cidr}`,
              },
              { parent: this },
            ),
          );
        }
      }
    }

    // `privateDnsEnabled` is left out: EndpointPrivateDns owns it, setting both fights (research §0).
    const endpoint = new aws.ec2.VpcEndpoint(
      `${name}-endpoint`,
      {
        vpcId: args.vpcId,
        serviceName: args.serviceName,
        // The default is "Gateway" (research §0), which would not even accept subnets.
        vpcEndpointType: "Interface",
        subnetIds: subnets.map((s) => s.subnet.id),
        securityGroupIds: [sg.id],
        ipAddressType: "ipv4",
        dnsOptions: { dnsRecordIpType: "ipv4" },
      },
      { parent: this, customTimeouts: { create: "15m", delete: "15m" } },
    );

    // DNS can only be enabled once the provider accepted the connection (TF PR #37628). Its delete is
    // a no-op in the provider (WithNoOpDelete), so dropping it on revoke would leave DNS on in AWS:
    // revoke keeps the resource and turns DNS off (ModifyVpcEndpoint), reinstate turns it back on.
    if (args.privateDns && args.connectionAccepted) {
      new aws.vpc.EndpointPrivateDns(
        `${name}-private-dns`,
        { vpcEndpointId: endpoint.id, privateDnsEnabled: active },
        { parent: this },
      );
    }

    this.flowLogGroupName = createFlowLogs(
      name,
      { slug: args.slug, partition, region: args.region, networkAccountId: args.networkAccountId, config: args.flowLogs, subnets, ...(args.generation === undefined ? {} : { generation: args.generation }) },
      this,
    );
    this.networkAclId = active ? undefined : createRevokeNacl(name, { slug: args.slug, vpcId: args.vpcId, subnets }, this).id;

    this.subnetIds = pulumi.all(subnets.map((s) => s.subnet.id));
    this.securityGroupId = sg.id;
    this.endpointId = endpoint.id;
    this.endpointState = endpoint.state;
    this.dnsNames = endpoint.dnsEntries.apply((entries) => (entries ?? []).map((e) => e.dnsName));
    this.ingressRuleIds = pulumi.all(rules.map((r) => r.securityGroupRuleId));
    this.ingressRuleCount = rules.length;

    this.registerOutputs({
      subnetIds: this.subnetIds,
      securityGroupId: this.securityGroupId,
      endpointId: this.endpointId,
      endpointState: this.endpointState,
      dnsNames: this.dnsNames,
      ingressRuleIds: this.ingressRuleIds,
      flowLogGroupName: this.flowLogGroupName,
      ...(this.networkAclId ? { networkAclId: this.networkAclId } : {}),
    });
  }
}
