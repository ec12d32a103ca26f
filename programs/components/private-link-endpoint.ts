import * as aws from "@pulumi/aws";
import * as pulumi from "@pulumi/pulumi";
import type { AccessState, PortProtocol } from "../types.js";
import { assertIpv4Cidr, assertUnique } from "./aws-ids.js";

export interface EndpointPort {
  readonly port: number;
  readonly protocol: PortProtocol;
}

export interface PrivateLinkEndpointArgs {
  readonly vpcId: pulumi.Input<string>;
  readonly subnetIds: readonly pulumi.Input<string>[];
  readonly serviceName: pulumi.Input<string>;
  /** Plain: one ingress rule per port × CIDR. */
  readonly ports: readonly EndpointPort[];
  readonly allowedSourceCidrs: readonly string[];
  readonly privateDns: pulumi.Input<boolean>;
  /** Plain: `revoked` keeps the endpoint and its security group but registers no ingress rule. */
  readonly accessState: AccessState;
}

function assertPort(p: EndpointPort): void {
  if (!Number.isInteger(p.port) || p.port < 1 || p.port > 65535) throw new Error(`endpoint: invalid port ${p.port}`);
  if (p.protocol !== "tcp" && p.protocol !== "udp") throw new Error(`endpoint: invalid protocol "${String(p.protocol)}"`);
}

/**
 * Outbound PrivateLink interface endpoint to the provider's endpoint service, in the central network
 * account (research/aws-design.md §1.2: a VPC-sharing participant cannot create it).
 */
export class PrivateLinkEndpoint extends pulumi.ComponentResource {
  public readonly securityGroupId: pulumi.Output<string>;
  public readonly endpointId: pulumi.Output<string>;
  public readonly endpointState: pulumi.Output<string>;
  public readonly dnsNames: pulumi.Output<string[]>;
  public readonly ingressRuleIds: pulumi.Output<string[]>;
  public readonly ingressRuleCount: number;

  constructor(name: string, args: PrivateLinkEndpointArgs, opts?: pulumi.ComponentResourceOptions) {
    super("saas-bridge:network:PrivateLinkEndpoint", name, {}, opts);

    if (args.subnetIds.length === 0) throw new Error("endpoint: at least one subnet is required");
    if (args.ports.length === 0) throw new Error("endpoint: at least one port is required");
    if (args.allowedSourceCidrs.length === 0) throw new Error("endpoint: at least one source CIDR is required");
    args.ports.forEach(assertPort);
    for (const cidr of args.allowedSourceCidrs) assertIpv4Cidr(cidr, "endpoint");
    assertUnique(args.ports.map((p) => `${p.protocol}/${p.port}`), "endpoint port");
    assertUnique(args.allowedSourceCidrs, "endpoint source CIDR");

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
    if (args.accessState === "active") {
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

    const endpoint = new aws.ec2.VpcEndpoint(
      `${name}-endpoint`,
      {
        vpcId: args.vpcId,
        serviceName: args.serviceName,
        // The default is "Gateway" (research §0), which would not even accept subnets.
        vpcEndpointType: "Interface",
        subnetIds: [...args.subnetIds],
        securityGroupIds: [sg.id],
        privateDnsEnabled: args.privateDns,
        ipAddressType: "ipv4",
        dnsOptions: { dnsRecordIpType: "ipv4" },
      },
      { parent: this, customTimeouts: { create: "15m", delete: "15m" } },
    );

    this.securityGroupId = sg.id;
    this.endpointId = endpoint.id;
    this.endpointState = endpoint.state;
    this.dnsNames = endpoint.dnsEntries.apply((entries) => (entries ?? []).map((e) => e.dnsName));
    this.ingressRuleIds = pulumi.all(rules.map((r) => r.securityGroupRuleId));
    this.ingressRuleCount = rules.length;

    this.registerOutputs({
      securityGroupId: this.securityGroupId,
      endpointId: this.endpointId,
      endpointState: this.endpointState,
      dnsNames: this.dnsNames,
      ingressRuleIds: this.ingressRuleIds,
    });
  }
}
