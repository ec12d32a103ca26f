import { partitionOf } from "../../programs/components/aws-ids.js";
import { buildRulesString } from "../../programs/components/suricata.js";
import type { ProviderStackArgs } from "../../programs/types.js";
import type { Expectation, VerificationTarget } from "../verification/types.js";

/**
 * What to verify for a provider (issue 17): its spec as the program's arguments, and the ids its stack last
 * reported (outputs). The checks read AWS with the roles the stack uses: the network account's deploy role
 * (EC2, Network Firewall), the bridge account's access role (KMS), the service's own credentials for
 * Organizations (the management account, like the program's default provider).
 *
 * `outputs` are the provider's outputs before the operation merged with those after it: a decommission's
 * destroy leaves none, and what must be gone is what the stack had.
 */
export function verificationTarget(args: ProviderStackArgs, outputs: Readonly<Record<string, unknown>>, expectation: Expectation): VerificationTarget {
  const partition = partitionOf(args.region);
  const text = (key: string): string | undefined => (typeof outputs[key] === "string" && outputs[key] !== "" ? (outputs[key] as string) : undefined);
  const bridgeAccountId = text("bridgeAccountId") ?? (args.bridge.kind === "existing" ? args.bridge.accountId : undefined);
  const keyArn = text("keyArn") ?? byokKeyArn(outputs);
  const securityGroupId = text("endpointSecurityGroupId");
  const ruleGroupArn = text("ruleGroupArn");
  const inboundServiceName = text("inboundServiceName");
  const subnetIds = Array.isArray(outputs["subnetIds"]) ? outputs["subnetIds"].filter((s): s is string => typeof s === "string") : [];
  const active = expectation === "active";
  return {
    provider: args.name,
    expectation,
    providerAccountId: args.provider.awsAccountId,
    providerPrincipalArns: [...args.provider.principalArns],
    network: { region: args.region, roleArn: args.network.deployRoleArn },
    ...(bridgeAccountId === undefined
      ? {}
      : { bridge: { region: args.region, accountId: bridgeAccountId, roleArn: `arn:${partition}:iam::${bridgeAccountId}:role/${args.bridge.accessRoleName}` } }),
    management: { region: args.region },
    ...(keyArn === undefined ? {} : { keyArn }),
    grantOperations: [...args.kms.grantOperations],
    ...(securityGroupId === undefined ? {} : { securityGroupId }),
    // The program's ingress while active: every port from every allowed source CIDR (private-link-endpoint.ts).
    expectedIngress: active ? args.outbound.ports.flatMap(({ port, protocol }) => args.outbound.allowedSourceCidrs.map((cidr) => ({ cidr, protocol, port }))) : [],
    subnetIds,
    ...(args.inbound === undefined
      ? {}
      : { inbound: { ...(inboundServiceName === undefined ? {} : { serviceName: inboundServiceName }), acceptedEndpointIds: active ? [...args.inbound.acceptedEndpointIds] : [] } }),
    ...(ruleGroupArn === undefined ? {} : { ruleGroupArn }),
    ...(active
      ? {
          expectedRulesString: buildRulesString({
            slug: args.name,
            allowedDomains: args.firewall.allowedDomains,
            ports: args.outbound.ports,
            sidBase: args.firewall.sidBase,
            accessState: "active",
          }).rulesString,
        }
      : {}),
  };
}

/** A decommissioned provider's outputs name its retained (or shredded) key as `byokKey.arn`. */
function byokKeyArn(outputs: Readonly<Record<string, unknown>>): string | undefined {
  const key = outputs["byokKey"] as { arn?: unknown } | undefined;
  return typeof key?.arn === "string" ? key.arn : undefined;
}
