import * as aws from "@pulumi/aws";
import type * as pulumi from "@pulumi/pulumi";
import type { SubnetPlacement } from "../types.js";
import { assertIpv4Cidr, assertUnique } from "./aws-ids.js";

/** AZ ids look like `euw1-az1`, `use1-az6`, `usgw1-az2`; AZ names (`eu-west-1a`) are rejected on purpose. */
const AZ_ID = /^[a-z]{2,}\d+-az\d+$/;

function cidrRange(cidr: string): readonly [number, number] {
  const [address = "", prefix = ""] = cidr.split("/");
  const start = address.split(".").reduce((acc, o) => acc * 256 + Number(o), 0);
  return [start, start + 2 ** (32 - Number(prefix)) - 1];
}

/**
 * Guard for the provider's subnets: ≥ 1, AZ ids (not names) and distinct, canonical CIDRs sized as AWS
 * allows for subnets (/16–/28), pairwise disjoint. Whether they fit the VPC's CIDR is the allocator's
 * job and AWS rejects it otherwise (CreateSubnet: InvalidSubnet.Range).
 */
export function assertProviderSubnets(subnets: readonly SubnetPlacement[]): void {
  if (subnets.length === 0) throw new Error("endpoint: at least one subnet is required");
  for (const { azId, cidr } of subnets) {
    if (!AZ_ID.test(azId)) throw new Error(`endpoint: subnet azId "${azId}" is not an AZ id (e.g. euw1-az1)`);
    assertIpv4Cidr(cidr, "endpoint subnet");
    const prefix = Number(cidr.split("/")[1]);
    if (prefix < 16 || prefix > 28) throw new Error(`endpoint: subnet CIDR "${cidr}" must be between /16 and /28`);
  }
  assertUnique(subnets.map((s) => s.azId), "endpoint subnet azId");
  const ranges = subnets.map((s) => ({ cidr: s.cidr, range: cidrRange(s.cidr) }));
  ranges.forEach((a, i) => {
    for (const b of ranges.slice(i + 1)) {
      if (a.range[0] <= b.range[1] && b.range[0] <= a.range[1]) {
        throw new Error(`endpoint: subnet CIDRs "${a.cidr}" and "${b.cidr}" overlap`);
      }
    }
  });
}

export interface CreatedSubnet {
  readonly azId: string;
  readonly subnet: aws.ec2.Subnet;
}

/**
 * One private subnet per AZ id, each attached to the central route table (research/aws-design.md §1.2).
 * Children are named after the AZ id, so adding an AZ never renames (and replaces) another subnet.
 */
export function createProviderSubnets(
  name: string,
  args: { slug: string; vpcId: pulumi.Input<string>; routeTableId: pulumi.Input<string>; subnets: readonly SubnetPlacement[] },
  parent: pulumi.Resource,
): CreatedSubnet[] {
  return args.subnets.map(({ azId, cidr }) => {
    const subnet = new aws.ec2.Subnet(
      `${name}-subnet-${azId}`,
      {
        vpcId: args.vpcId,
        cidrBlock: cidr,
        availabilityZoneId: azId,
        mapPublicIpOnLaunch: false,
        tags: { Name: `saas-${args.slug}-${azId}` },
      },
      { parent },
    );
    new aws.ec2.RouteTableAssociation(`${name}-rta-${azId}`, { subnetId: subnet.id, routeTableId: args.routeTableId }, { parent });
    return { azId, subnet };
  });
}

/**
 * Revoke cut (research §1.2, §4.1): security-group rule removal leaves tracked connections alive until
 * they time out, a stateless NACL drops them at once. Rule number 1 is evaluated first, so no rule
 * added out of band can precede it. IPv4 only, like the endpoint (`ipAddressType: "ipv4"`); any IPv6
 * traffic still hits the custom NACL's implicit `*` deny. Deleting the associations (reactivation)
 * puts the subnets back on the VPC's default NACL (the provider calls ReplaceNetworkAclAssociation).
 */
export function createRevokeNacl(
  name: string,
  args: { slug: string; vpcId: pulumi.Input<string>; subnets: readonly CreatedSubnet[] },
  parent: pulumi.Resource,
): aws.ec2.NetworkAcl {
  // No inline ingress/egress: they cannot be combined with NetworkAclRule resources.
  const nacl = new aws.ec2.NetworkAcl(`${name}-revoke-nacl`, { vpcId: args.vpcId, tags: { Name: `saas-${args.slug}-revoked` } }, { parent });
  const rules = (["ingress", "egress"] as const).map(
    (direction) =>
      new aws.ec2.NetworkAclRule(
        `${name}-revoke-deny-${direction}`,
        {
          networkAclId: nacl.id,
          ruleNumber: 1,
          egress: direction === "egress",
          protocol: "-1",
          ruleAction: "deny",
          cidrBlock: "0.0.0.0/0",
        },
        { parent },
      ),
  );
  for (const { azId, subnet } of args.subnets) {
    // After the rules, so no subnet is ever on this NACL without its explicit denies.
    new aws.ec2.NetworkAclAssociation(`${name}-revoke-nacl-${azId}`, { networkAclId: nacl.id, subnetId: subnet.id }, { parent, dependsOn: rules });
  }
  return nacl;
}
