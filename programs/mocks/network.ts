import { arn, type Context, type MockArea } from "./context.js";

/**
 * The provider's subnets, their route-table associations, flow logs, the revoke NACL and private DNS
 * (programs/components/private-link-endpoint.ts). The log group and the IAM role/policy belong to
 * audit.ts.
 */

/**
 * Real AZ-id → AZ-name mappings differ per account (that is why the component uses ids); the mock
 * picks a stable one: `euw1-az2` → `<region>b`.
 */
function availabilityZoneOf(c: Context): string {
  const number = Number(/-az(\d+)$/.exec(String(c.inputs["availabilityZoneId"] ?? ""))?.[1] ?? "1");
  return `${c.region}${"abcdefghij"[(number - 1) % 10] ?? "a"}`;
}

export const network: MockArea = {
  // ForceNew properties read from hashicorp/terraform-provider-aws (vpc_subnet.go, vpc_flow_log.go,
  // vpc_network_acl_association.go, vpc_endpoint_private_dns.go). Not re-read, from memory of the
  // schema: routeTableAssociation (route_table_id updates in place via ReplaceRouteTableAssociation),
  // networkAcl (vpc_id) and networkAclRule (no Update function: every argument is ForceNew).
  replaceOn: {
    "aws:ec2/subnet:Subnet": [
      "vpcId",
      "cidrBlock",
      "availabilityZone",
      "availabilityZoneId",
      "ipv4IpamPoolId",
      "ipv4NetmaskLength",
      "ipv6IpamPoolId",
      "ipv6NetmaskLength",
      "ipv6Native",
      "outpostArn",
    ],
    "aws:ec2/routeTableAssociation:RouteTableAssociation": ["subnetId", "gatewayId"],
    "aws:ec2/flowLog:FlowLog": [
      "deliverCrossAccountRole",
      "destinationOptions",
      "eniId",
      "iamRoleArn",
      "logDestination",
      "logDestinationType",
      "logFormat",
      "maxAggregationInterval",
      "regionalNatGatewayId",
      "subnetId",
      "trafficType",
      "transitGatewayAttachmentId",
      "transitGatewayId",
      "vpcId",
    ],
    "aws:ec2/networkAcl:NetworkAcl": ["vpcId"],
    "aws:ec2/networkAclRule:NetworkAclRule": [
      "networkAclId",
      "ruleNumber",
      "egress",
      "protocol",
      "ruleAction",
      "cidrBlock",
      "ipv6CidrBlock",
      "fromPort",
      "toPort",
      "icmpType",
      "icmpCode",
    ],
    "aws:ec2/networkAclAssociation:NetworkAclAssociation": ["networkAclId", "subnetId"],
    "aws:vpc/endpointPrivateDns:EndpointPrivateDns": ["vpcEndpointId"],
  },
  computed: {
    "aws:ec2/subnet:Subnet": (c) => {
      const id = `subnet-${c.hex(17)}`;
      return {
        id,
        state: {
          arn: arn(c, "ec2", `subnet/${id}`),
          availabilityZone: availabilityZoneOf(c),
          ownerId: c.accountId,
          mapPublicIpOnLaunch: c.inputs["mapPublicIpOnLaunch"] ?? false,
        },
      };
    },
    "aws:ec2/routeTableAssociation:RouteTableAssociation": (c) => ({ id: `rtbassoc-${c.hex(17)}`, state: {} }),
    "aws:ec2/flowLog:FlowLog": (c) => {
      const id = `fl-${c.hex(17)}`;
      return { id, state: { arn: arn(c, "ec2", `vpc-flow-log/${id}`) } };
    },
    "aws:ec2/networkAcl:NetworkAcl": (c) => {
      const id = `acl-${c.hex(17)}`;
      return { id, state: { arn: arn(c, "ec2", `network-acl/${id}`), ownerId: c.accountId } };
    },
    // The provider's id is `nacl-` + a hash code of acl id, rule number, direction and protocol.
    "aws:ec2/networkAclRule:NetworkAclRule": (c) => ({ id: `nacl-${(BigInt(`0x${c.hex(8)}`) % 4294967296n).toString()}`, state: {} }),
    "aws:ec2/networkAclAssociation:NetworkAclAssociation": (c) => ({ id: `aclassoc-${c.hex(17)}`, state: {} }),
    // Imported by endpoint id, and that is its identity.
    "aws:vpc/endpointPrivateDns:EndpointPrivateDns": (c) => ({ id: String(c.inputs["vpcEndpointId"] ?? `vpce-${c.hex(17)}`), state: {} }),
  },
};
