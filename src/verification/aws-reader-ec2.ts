import {
  DescribeNetworkAclsCommand,
  DescribeSecurityGroupRulesCommand,
  DescribeSecurityGroupsCommand,
  DescribeVpcEndpointConnectionsCommand,
  DescribeVpcEndpointServiceConfigurationsCommand,
  DescribeVpcEndpointServicePermissionsCommand,
  EC2Client,
  type NetworkAcl,
  type SecurityGroupRule,
} from "@aws-sdk/client-ec2";
import { pages, read, serviceErrorName, type AwsSession, type Calls } from "./aws-session.js";
import type {
  AccessReader,
  AccountRef,
  EndpointConnectionFacts,
  EndpointServiceFacts,
  NaclEntryFacts,
  SecurityGroupRuleFacts,
  SubnetNaclFacts,
} from "./types.js";

/** The EC2 half of the AWS reader: security group rules, subnets' NACLs, the inbound endpoint service. */
export type Ec2Reads = Pick<AccessReader, "securityGroupRules" | "subnetNacls" | "endpointService">;

/** Items per page, within each API's documented MaxResults range (5-1000): few pages for one provider. */
const PAGE = 1000;
const SMALL_PAGE = 100;

export function createEc2Reads(session: AwsSession): Ec2Reads {
  const ec2 = (at: AccountRef): EC2Client => session.client("ec2", at, (config) => new EC2Client(config));

  return {
    securityGroupRules(at, groupId, signal) {
      return read("ec2:DescribeSecurityGroupRules", signal, async (calls) => {
        const rules = await pages(calls, "ec2:DescribeSecurityGroupRules", (NextToken, abortSignal) =>
          ec2(at)
            .send(new DescribeSecurityGroupRulesCommand({ Filters: [{ Name: "group-id", Values: [groupId] }], MaxResults: PAGE, NextToken }), { abortSignal })
            .then((out) => ({ items: out.SecurityGroupRules ?? [], next: out.NextToken })),
        );
        // The filter answers nothing for a deleted group and for a group without rules alike: only then is
        // the group itself asked for.
        if (rules.length === 0 && !(await groupExists(calls, ec2(at), groupId))) return null;
        return rules.filter((rule) => rule.GroupId === undefined || rule.GroupId === groupId).map(ruleFacts);
      });
    },

    subnetNacls(at, subnetIds, signal) {
      return read("ec2:DescribeNetworkAcls", signal, async (calls) => {
        const naclsOf = (ids: readonly string[]) =>
          pages(calls, "ec2:DescribeNetworkAcls", (NextToken, abortSignal) =>
            ec2(at)
              .send(new DescribeNetworkAclsCommand({ Filters: [{ Name: "association.subnet-id", Values: [...ids] }], MaxResults: SMALL_PAGE, NextToken }), { abortSignal })
              .then((out) => ({ items: out.NetworkAcls ?? [], next: out.NextToken })),
          );
        if (subnetIds.length === 0) return [];
        const found = associations(await naclsOf(subnetIds), subnetIds);
        // A subnet absent from the answer is a strong claim (gone: a failure for a revoke), so it is asked for
        // alone before it is believed; moto 5.2.6 matches a multi-valued filter on a list as if every value
        // had to be there, and drops subnets that still exist.
        const unseen = subnetIds.filter((id) => !found.some((f) => f.subnetId === id));
        for (const id of unseen) found.push(...associations(await naclsOf([id]), [id]));
        return subnetIds.flatMap((id) => found.filter((f) => f.subnetId === id).slice(0, 1));
      });
    },

    endpointService(at, serviceName, signal) {
      return read("ec2:DescribeVpcEndpointServiceConfigurations", signal, async (calls) => {
        const services = await pages(calls, "ec2:DescribeVpcEndpointServiceConfigurations", (NextToken, abortSignal) =>
          ec2(at)
            .send(new DescribeVpcEndpointServiceConfigurationsCommand({ Filters: [{ Name: "service-name", Values: [serviceName] }], MaxResults: SMALL_PAGE, NextToken }), { abortSignal })
            .then((out) => ({ items: out.ServiceConfigurations ?? [], next: out.NextToken })),
        );
        // Matched here too: an endpoint that ignores the filter must not lend another service's facts.
        const service = services.find((s) => s.ServiceName === serviceName);
        if (!service?.ServiceId) return null;
        const serviceId = service.ServiceId;
        const connections = await pages(calls, "ec2:DescribeVpcEndpointConnections", (NextToken, abortSignal) =>
          ec2(at)
            .send(new DescribeVpcEndpointConnectionsCommand({ Filters: [{ Name: "service-id", Values: [serviceId] }], MaxResults: SMALL_PAGE, NextToken }), { abortSignal })
            .then((out) => ({ items: out.VpcEndpointConnections ?? [], next: out.NextToken })),
        );
        const facts: EndpointServiceFacts = {
          serviceId,
          serviceName,
          allowedPrincipals: await allowedPrincipals(calls, ec2(at), serviceId),
          connections: connections
            .filter((c) => c.ServiceId === undefined || c.ServiceId === serviceId)
            .map((c): EndpointConnectionFacts => ({
              endpointId: c.VpcEndpointId ?? "",
              state: c.VpcEndpointState ?? "unknown",
              ...(c.VpcEndpointOwner ? { ownerAccountId: c.VpcEndpointOwner } : {}),
            })),
        };
        return facts;
      });
    },
  };
}

async function groupExists(calls: Calls, client: EC2Client, groupId: string): Promise<boolean> {
  try {
    const out = await calls.send("ec2:DescribeSecurityGroups", (abortSignal) => client.send(new DescribeSecurityGroupsCommand({ GroupIds: [groupId] }), { abortSignal }));
    return (out.SecurityGroups ?? []).some((g) => g.GroupId === groupId);
  } catch (err) {
    if (serviceErrorName(err) === "InvalidGroup.NotFound") return false;
    throw err;
  }
}

/** Who may request a connection (not in the service's configuration): part of the evidence of a revoke. */
async function allowedPrincipals(calls: Calls, client: EC2Client, serviceId: string): Promise<string[]> {
  const principals = await pages(calls, "ec2:DescribeVpcEndpointServicePermissions", (NextToken, abortSignal) =>
    client
      .send(new DescribeVpcEndpointServicePermissionsCommand({ ServiceId: serviceId, MaxResults: SMALL_PAGE, NextToken }), { abortSignal })
      .then((out) => ({ items: out.AllowedPrincipals ?? [], next: out.NextToken })),
  );
  return principals.flatMap((p) => (p.Principal ? [p.Principal] : []));
}

/** The subnets' associations among the NACLs answered, one fact per associated subnet asked for. */
function associations(acls: readonly NetworkAcl[], subnetIds: readonly string[]): SubnetNaclFacts[] {
  const wanted = new Set(subnetIds);
  return acls.flatMap((acl) =>
    (acl.Associations ?? [])
      .filter((association) => association.SubnetId !== undefined && wanted.has(association.SubnetId))
      .map((association): SubnetNaclFacts => ({ subnetId: association.SubnetId ?? "", ...naclFacts(acl) })),
  );
}

function ruleFacts(rule: SecurityGroupRule): SecurityGroupRuleFacts {
  return {
    ruleId: rule.SecurityGroupRuleId ?? "",
    egress: rule.IsEgress === true,
    protocol: rule.IpProtocol ?? "-1",
    ...(rule.FromPort !== undefined && rule.FromPort !== -1 ? { fromPort: rule.FromPort } : {}),
    ...(rule.ToPort !== undefined && rule.ToPort !== -1 ? { toPort: rule.ToPort } : {}),
    ...(rule.CidrIpv4 ? { cidrIpv4: rule.CidrIpv4 } : {}),
    ...(rule.CidrIpv6 ? { cidrIpv6: rule.CidrIpv6 } : {}),
    ...(rule.ReferencedGroupInfo?.GroupId ? { referencedGroupId: rule.ReferencedGroupInfo.GroupId } : {}),
    ...(rule.PrefixListId ? { prefixListId: rule.PrefixListId } : {}),
  };
}

function naclFacts(acl: NetworkAcl): Omit<SubnetNaclFacts, "subnetId"> {
  return {
    naclId: acl.NetworkAclId ?? "",
    isDefault: acl.IsDefault === true,
    entries: (acl.Entries ?? []).map(
      (entry): NaclEntryFacts => ({
        ruleNumber: entry.RuleNumber ?? 0,
        egress: entry.Egress === true,
        action: entry.RuleAction === "allow" ? "allow" : "deny",
        protocol: entry.Protocol ?? "-1",
        ...(entry.CidrBlock ? { cidrBlock: entry.CidrBlock } : {}),
        ...(entry.Ipv6CidrBlock ? { ipv6CidrBlock: entry.Ipv6CidrBlock } : {}),
      }),
    ),
  };
}
