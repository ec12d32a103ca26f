import * as aws from "@pulumi/aws";
import * as pulumi from "@pulumi/pulumi";
import type { AccessState } from "../types.js";
import { assertIpv4Cidr, assertSlug, assertUnique, INBOUND_SOURCE_MIN_PREFIX, partitionOf, type Partition } from "./aws-ids.js";

/** One internal system the SaaS may reach: an IPv4 address and the TCP port it listens on. */
export interface InboundTarget {
  readonly ip: string;
  readonly port: number;
}

export interface InboundExposureArgs {
  readonly slug: string;
  /** Plain: selects the partition and region every ARN must be in. */
  readonly region: string;
  readonly vpcId: pulumi.Input<string>;
  /** The provider's own subnets: the NLB's nodes, and so the endpoint service's AZs, live there. */
  readonly subnetIds: readonly pulumi.Input<string>[];
  /** Plain: one egress rule and one attachment per target, one target group and listener per port. */
  readonly targets: readonly InboundTarget[];
  /** IAM ARNs (account root, role or user) that may request a connection; never `*`. */
  readonly allowedPrincipals: readonly string[];
  /** ACM certificate: when given, every listener terminates TLS; otherwise it passes TCP through. */
  readonly certificateArn?: string;
  /** The SaaS's interface endpoint ids to accept (known only after it has created them). */
  readonly acceptedEndpointIds: readonly string[];
  /**
   * The SaaS's client addresses as the NLB sees them through PrivateLink (the clients' private IPs in
   * the SaaS's VPC, not the endpoint's): plain, one ingress rule per listener port and CIDR.
   */
  readonly sourceCidrs: readonly string[];
  /** Plain: `revoked` rejects every connection and allows no new request, but keeps the service. */
  readonly accessState: AccessState;
  readonly deletionProtection: boolean;
}

/** research/aws-design.md §1.3: TLS 1.3 with a TLS 1.2 floor. */
export const INBOUND_TLS_POLICY = "ELBSecurityPolicy-TLS13-1-2-2021-06";

const IPV4 = /^(25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)(\.(25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)){3}$/;
const ENDPOINT_ID = /^vpce-[0-9a-f]{8,17}$/;
const PRINCIPAL = /^arn:(aws|aws-cn|aws-us-gov):iam::\d{12}:(root|role\/[\w+=,.@/-]{1,512}|user\/[\w+=,.@/-]{1,512})$/;
const CERTIFICATE = /^arn:(aws|aws-cn|aws-us-gov):acm:([a-z0-9-]+):\d{12}:certificate\/[0-9a-f]{8}(-[0-9a-f]{4}){3}-[0-9a-f]{12}$/;

/**
 * IP targets must be RFC 1918 or RFC 6598 addresses (or in the VPC's own subnets, which we do not
 * know here); ELB refuses publicly routable ones.
 * https://docs.aws.amazon.com/elasticloadbalancing/latest/network/load-balancer-target-groups.html#target-type
 */
const TARGET_RANGES: readonly (readonly [number, number])[] = [
  [0x0a000000, 8], // 10.0.0.0/8
  [0xac100000, 12], // 172.16.0.0/12
  [0xc0a80000, 16], // 192.168.0.0/16
  [0x64400000, 10], // 100.64.0.0/10
];

function assertTarget(t: InboundTarget): void {
  if (!IPV4.test(t.ip)) throw new Error(`inbound: target ip "${t.ip}" is not a dotted-quad IPv4 address`);
  const address = t.ip.split(".").reduce((acc, o) => acc * 256 + Number(o), 0);
  if (!TARGET_RANGES.some(([base, prefix]) => Math.floor(address / 2 ** (32 - prefix)) === Math.floor(base / 2 ** (32 - prefix)))) {
    throw new Error(`inbound: target ip "${t.ip}" is not a private (RFC 1918 / RFC 6598) address`);
  }
  if (!Number.isInteger(t.port) || t.port < 1 || t.port > 65535) throw new Error(`inbound: target port ${t.port} for ${t.ip} is invalid`);
}

function assertPrincipal(arn: string, partition: Partition): void {
  const match = PRINCIPAL.exec(arn);
  if (!match || match[1] !== partition) {
    throw new Error(`inbound: allowed principal "${arn}" must be an IAM ARN arn:${partition}:iam::<account>:root|role/…|user/… (no wildcards)`);
  }
}

function assertCertificate(arn: string, partition: Partition, region: string): void {
  const match = CERTIFICATE.exec(arn);
  // A listener can only use an ACM certificate from its own region.
  if (!match || match[1] !== partition || match[2] !== region) {
    throw new Error(`inbound: certificateArn "${arn}" must be an ACM certificate ARN in ${partition}/${region}`);
  }
}

const dashed = (ip: string): string => ip.replace(/\./g, "-");

function assertSourceCidr(cidr: string): void {
  assertIpv4Cidr(cidr, "inbound: source CIDR");
  if (Number(cidr.split("/")[1]) < INBOUND_SOURCE_MIN_PREFIX) {
    throw new Error(`inbound: source CIDR "${cidr}" must be /${INBOUND_SOURCE_MIN_PREFIX} or narrower`);
  }
}

/**
 * Lets the SaaS reach our internal systems over PrivateLink (research/aws-design.md §1.3): an internal
 * NLB in the provider's subnets, published as an endpoint service that requires acceptance, in the
 * central network account. Child names derive from what they carry (ip, port, endpoint id), so
 * adding a target or an endpoint never renames, and so never replaces, another child.
 */
export class InboundExposure extends pulumi.ComponentResource {
  /** Give this to the SaaS; it changes only if the service is replaced, which nothing here does. */
  public readonly serviceName: pulumi.Output<string>;
  public readonly serviceId: pulumi.Output<string>;
  public readonly nlbArn: pulumi.Output<string>;
  public readonly securityGroupId: pulumi.Output<string>;
  /** The endpoint ids with an accepter: `[]` when revoked. */
  public readonly acceptedEndpointIds: readonly string[];

  constructor(name: string, args: InboundExposureArgs, opts?: pulumi.ComponentResourceOptions) {
    super("saas-bridge:network:InboundExposure", name, {}, opts);

    assertSlug(args.slug);
    const partition = partitionOf(args.region);
    if (args.subnetIds.length === 0) throw new Error("inbound: at least one subnet is required");
    if (args.targets.length === 0) throw new Error("inbound: at least one target is required");
    args.targets.forEach(assertTarget);
    assertUnique(args.targets.map((t) => `${t.ip}:${t.port}`), "inbound target");
    if (args.allowedPrincipals.length === 0) throw new Error("inbound: at least one allowed principal is required");
    for (const arn of args.allowedPrincipals) assertPrincipal(arn, partition);
    assertUnique(args.allowedPrincipals, "inbound allowed principal");
    for (const id of args.acceptedEndpointIds) {
      if (!ENDPOINT_ID.test(id)) throw new Error(`inbound: accepted endpoint id "${id}" is not a vpce-<hex> id`);
    }
    assertUnique(args.acceptedEndpointIds, "inbound accepted endpoint id");
    if (args.certificateArn !== undefined) assertCertificate(args.certificateArn, partition, args.region);
    if (args.sourceCidrs.length === 0) throw new Error("inbound: at least one source CIDR is required");
    args.sourceCidrs.forEach(assertSourceCidr);
    assertUnique(args.sourceCidrs, "inbound source CIDR");

    const active = args.accessState === "active";
    const ports = [...new Set(args.targets.map((t) => t.port))].sort((a, b) => a - b);

    // The AWS SaaS onboarding pattern (seed 000, "fine-grained traffic control using security groups"):
    // the NLB enforces its inbound rules on PrivateLink traffic, whose source is then the SaaS client's
    // private IP. So ingress is listener port × the SaaS's client CIDRs, nothing else; while revoked,
    // none. No inline rules (research §0); the provider removes AWS's default allow-all egress on creation.
    const sg = new aws.ec2.SecurityGroup(
      `${name}-sg`,
      {
        vpcId: args.vpcId,
        description: `saas-bridge inbound NLB for ${args.slug} (ingress from the SaaS clients on listener ports; egress to targets only)`,
        revokeRulesOnDelete: true,
      },
      { parent: this },
    );

    if (active) {
      for (const port of ports) {
        for (const cidr of args.sourceCidrs) {
          // Named after what it allows, so adding a CIDR or a port never renames (and replaces) another rule.
          new aws.vpc.SecurityGroupIngressRule(
            `${name}-ingress-${port}-${cidr.replace(/[./]/g, "-")}`,
            {
              securityGroupId: sg.id,
              ipProtocol: "tcp",
              fromPort: port,
              toPort: port,
              cidrIpv4: cidr,
              description: `saas-bridge ${args.slug} SaaS clients ${cidr} to listener ${port}`,
            },
            { parent: this },
          );
        }
      }
    }

    // The NLB's group must let it reach each target, for traffic and for the health check (which
    // uses the traffic port). One /32 rule per target keeps the blast radius to exactly the targets.
    for (const { ip, port } of args.targets) {
      new aws.vpc.SecurityGroupEgressRule(
        `${name}-egress-${dashed(ip)}-${port}`,
        {
          securityGroupId: sg.id,
          ipProtocol: "tcp",
          fromPort: port,
          toPort: port,
          cidrIpv4: `${ip}/32`,
          description: `saas-bridge ${args.slug} NLB to ${ip}:${port}`,
        },
        { parent: this },
      );
    }

    const nlb = new aws.lb.LoadBalancer(
      `${name}-nlb`,
      {
        loadBalancerType: "network",
        internal: true,
        ipAddressType: "ipv4",
        subnets: [...args.subnetIds],
        // Only at creation: an NLB created without a security group can never get one (TF replaces).
        securityGroups: [sg.id],
        enableCrossZoneLoadBalancing: true,
        // "on": allowedPrincipals and acceptance gate who may connect an endpoint; the group's ingress
        // gates which of the SaaS's clients may send through it (issue 12, defect 5).
        enforceSecurityGroupInboundRulesOnPrivateLinkTraffic: "on",
        enableDeletionProtection: args.deletionProtection,
      },
      { parent: this },
    );

    for (const port of ports) {
      const group = new aws.lb.TargetGroup(
        `${name}-tg-${port}`,
        {
          vpcId: args.vpcId,
          targetType: "ip",
          protocol: "TCP",
          port,
          ipAddressType: "ipv4",
          // The ip-target default, made explicit: targets see (and answer) the NLB's own address, so
          // replies from systems behind the transit gateway come back through the NLB.
          preserveClientIp: "false",
          // TF's health-check protocol defaults to HTTP; TCP needs nothing from the targets.
          healthCheck: { enabled: true, protocol: "TCP", port: "traffic-port" },
        },
        { parent: this },
      );
      for (const target of args.targets.filter((t) => t.port === port)) {
        new aws.lb.TargetGroupAttachment(
          `${name}-target-${dashed(target.ip)}-${port}`,
          {
            targetGroupArn: group.arn,
            targetId: target.ip,
            port,
            // Required for IPs outside the VPC (research §1.3): our systems sit behind the transit gateway.
            availabilityZone: "all",
          },
          { parent: this },
        );
      }
      const tls = args.certificateArn !== undefined ? { protocol: "TLS", sslPolicy: INBOUND_TLS_POLICY, certificateArn: args.certificateArn } : { protocol: "TCP" };
      new aws.lb.Listener(
        `${name}-listener-${port}`,
        {
          loadBalancerArn: nlb.arn,
          port,
          ...tls,
          defaultActions: [{ type: "forward", targetGroupArn: group.arn }],
        },
        { parent: this },
      );
    }

    // Revoked keeps the service (re-creating it changes its name, which the SaaS has configured) but
    // empties allowedPrincipals, which only gates new connection requests (research §4.1).
    const service = new aws.ec2.VpcEndpointService(
      `${name}-service`,
      {
        acceptanceRequired: true,
        networkLoadBalancerArns: [nlb.arn],
        allowedPrincipals: active ? [...args.allowedPrincipals] : [],
        supportedIpAddressTypes: ["ipv4"],
      },
      { parent: this },
    );

    // Deleting an accepter calls RejectVpcEndpointConnections (research §4.1): that is what cuts
    // existing connections on revoke.
    const accepted = active ? [...args.acceptedEndpointIds] : [];
    for (const vpcEndpointId of accepted) {
      new aws.ec2.VpcEndpointConnectionAccepter(
        `${name}-accept-${vpcEndpointId}`,
        { vpcEndpointServiceId: service.id, vpcEndpointId },
        { parent: this },
      );
    }

    this.serviceName = service.serviceName;
    this.serviceId = service.id;
    this.nlbArn = nlb.arn;
    this.securityGroupId = sg.id;
    this.acceptedEndpointIds = accepted;

    this.registerOutputs({
      serviceName: this.serviceName,
      serviceId: this.serviceId,
      nlbArn: this.nlbArn,
      securityGroupId: this.securityGroupId,
      acceptedEndpointIds: this.acceptedEndpointIds,
    });
  }
}
