import { arn, dnsSuffix, type Context, type MockArea } from "./context.js";

/**
 * Inbound exposure (research/aws-design.md §1.3): the NLB with its security-group egress rules, target
 * groups, attachments and listeners, the endpoint service and its connection accepters. The NLB's
 * security group itself is in core.ts.
 */

/** What autonaming would give (ELB names: 32 chars, [A-Za-z0-9-]); the mock runs no provider Check. */
function elbName(c: Context): string {
  const given = c.inputs["name"];
  if (typeof given === "string" && given.length > 0) return given;
  const base = c.name.replace(/[^A-Za-z0-9-]/g, "-").slice(0, 24).replace(/-+$/, "");
  return `${base}-${c.hex(7, "name")}`;
}

export const inbound: MockArea = {
  // ForceNew arguments, read from hashicorp/terraform-provider-aws (internal/service/elbv2/load_balancer.go,
  // target_group.go, target_group_attachment.go; internal/service/ec2/vpc_endpoint_service.go,
  // vpc_endpoint_connection_accepter.go) unless marked as a guess.
  replaceOn: {
    // `subnets` is conditional in TF (customizeDiffLoadBalancerNLB): an NLB replaces when a subnet is
    // removed or swapped and updates in place only when subnets are added. Listed, so that the
    // approximation errs towards "replace". Adding or removing *all* security groups also replaces;
    // changing the set while keeping at least one does not, so `securityGroups` is not listed.
    "aws:lb/loadBalancer:LoadBalancer": ["name", "namePrefix", "internal", "loadBalancerType", "customerOwnedIpv4Pool", "subnets"],
    // target_group.go: health check and attributes update in place.
    "aws:lb/targetGroup:TargetGroup": ["name", "namePrefix", "port", "protocol", "protocolVersion", "targetType", "vpcId", "ipAddressType"],
    "aws:lb/targetGroupAttachment:TargetGroupAttachment": ["targetGroupArn", "targetId", "port", "availabilityZone"],
    // Guess: only the load balancer is ForceNew; port, protocol, certificate and policy update in place.
    "aws:lb/listener:Listener": ["loadBalancerArn"],
    // Nothing: every argument is changed with ModifyVpcEndpointServiceConfiguration/Permissions, so the
    // service name the SaaS has configured never changes through an update.
    "aws:ec2/vpcEndpointService:VpcEndpointService": [],
    "aws:ec2/vpcEndpointConnectionAccepter:VpcEndpointConnectionAccepter": ["vpcEndpointId", "vpcEndpointServiceId"],
    // Guess, mirroring the ingress rule in core.ts: the rule's other fields are modified in place.
    "aws:vpc/securityGroupEgressRule:SecurityGroupEgressRule": ["securityGroupId"],
  },
  computed: {
    "aws:lb/loadBalancer:LoadBalancer": (c) => {
      const name = elbName(c);
      const arnSuffix = `net/${name}/${c.hex(16)}`;
      const id = arn(c, "elasticloadbalancing", `loadbalancer/${arnSuffix}`);
      return {
        id,
        state: {
          arn: id,
          arnSuffix,
          name,
          dnsName: `${name}-${c.hex(16, "dns")}.elb.${c.region}.${dnsSuffix(c.partition)}`,
          zoneId: `Z${c.hex(13, "zone").toUpperCase()}`,
          vpcId: `vpc-${c.hex(17, "vpc")}`,
        },
      };
    },
    "aws:lb/targetGroup:TargetGroup": (c) => {
      const name = elbName(c);
      const arnSuffix = `targetgroup/${name}/${c.hex(16)}`;
      const id = arn(c, "elasticloadbalancing", arnSuffix);
      return { id, state: { arn: id, arnSuffix, name, loadBalancerArns: [] } };
    },
    // TF's id is the target group ARN plus a unique suffix; there is no ARN of its own.
    "aws:lb/targetGroupAttachment:TargetGroupAttachment": (c) => ({
      id: `${String(c.inputs["targetGroupArn"] ?? "targetgroup")}-${c.hex(26)}`,
      state: {},
    }),
    "aws:lb/listener:Listener": (c) => {
      const lb = /:loadbalancer\/(.+)$/.exec(String(c.inputs["loadBalancerArn"] ?? ""))?.[1] ?? `net/unknown/${c.hex(16, "lb")}`;
      const id = arn(c, "elasticloadbalancing", `listener/${lb}/${c.hex(16)}`);
      return { id, state: { arn: id } };
    },
    "aws:ec2/vpcEndpointService:VpcEndpointService": (c) => {
      const id = `vpce-svc-${c.hex(17)}`;
      return {
        id,
        state: {
          arn: arn(c, "ec2", `vpc-endpoint-service/${id}`),
          serviceName: `com.amazonaws.vpce.${c.region}.${id}`,
          serviceType: "Interface",
          state: "Available",
          availabilityZones: [`${c.region}a`, `${c.region}b`],
          baseEndpointDnsNames: [`${id}.${c.region}.vpce.${dnsSuffix(c.partition)}`],
          managesVpcEndpoints: false,
          privateDnsName: "",
          privateDnsNameConfigurations: [],
        },
      };
    },
    // TF id: `<service id>_<endpoint id>`; creation waits until the connection is accepted.
    "aws:ec2/vpcEndpointConnectionAccepter:VpcEndpointConnectionAccepter": (c) => ({
      id: `${String(c.inputs["vpcEndpointServiceId"] ?? "")}_${String(c.inputs["vpcEndpointId"] ?? "")}`,
      state: { vpcEndpointState: "available" },
    }),
    "aws:vpc/securityGroupEgressRule:SecurityGroupEgressRule": (c) => {
      const id = `sgr-${c.hex(17)}`;
      return { id, state: { securityGroupRuleId: id, arn: arn(c, "ec2", `security-group-rule/${id}`) } };
    },
  },
};
