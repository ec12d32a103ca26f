import * as aws from "@pulumi/aws";
import * as pulumi from "@pulumi/pulumi";
import { assertAccountId, assertSlug, partitionOf, sessionName } from "./components/aws-ids.js";
import { BridgeAccount } from "./components/bridge-account.js";
import { ByokKey } from "./components/byok-key.js";
import { PrivateLinkEndpoint } from "./components/private-link-endpoint.js";
import { ProviderFirewallRules } from "./components/provider-firewall-rules.js";
import type { ProviderStackArgs, ProviderStackOutputs } from "./types.js";

/** The stack outputs as the program returns them (Outputs resolved by the engine). */
export type ProviderStackProgramOutputs = {
  readonly [K in keyof ProviderStackOutputs]: pulumi.Input<ProviderStackOutputs[K]>;
};

/**
 * The provider-stack inline program: one stack per SaaS provider (DESIGN.md §7). A pure factory: all
 * resources are created when the returned function runs, never at import, so it can run many times in
 * one process (Automation API, mocks, simulated engine).
 */
export function providerStackProgram(args: ProviderStackArgs): () => Promise<ProviderStackProgramOutputs> {
  return async () => {
    const slug = args.name;
    assertSlug(slug);
    const partition = partitionOf(args.region);
    assertAccountId(args.network.accountId, "network.accountId");
    const tags = { ...args.tags };

    const network = new aws.Provider("network", {
      region: args.region,
      assumeRoles: [{ roleArn: args.network.deployRoleArn, sessionName: sessionName(slug) }],
      allowedAccountIds: [args.network.accountId],
      defaultTags: { tags },
    });

    const bridge = new BridgeAccount(slug, { slug, bridge: args.bridge, region: args.region, tags });

    const endpoint = new PrivateLinkEndpoint(
      slug,
      {
        vpcId: args.network.vpcId,
        subnetIds: args.network.subnetIds,
        serviceName: args.outbound.endpointServiceName,
        ports: args.outbound.ports,
        allowedSourceCidrs: args.outbound.allowedSourceCidrs,
        privateDns: args.outbound.privateDns,
        accessState: args.accessState,
      },
      { providers: [network] },
    );

    const firewall = new ProviderFirewallRules(
      slug,
      {
        slug,
        allowedDomains: args.firewall.allowedDomains,
        sourceCidrs: args.outbound.allowedSourceCidrs,
        sidBase: args.firewall.sidBase,
        capacity: args.firewall.capacity,
        accessState: args.accessState,
      },
      { providers: [network] },
    );

    // For an existing account the deploy role is known now, so ByokKey can check that the admins
    // include it; for an account created in this run its ARN only exists once the account does.
    const deployRoleArn =
      args.bridge.kind === "existing"
        ? `arn:${partition}:iam::${args.bridge.accountId}:role/${args.bridge.accessRoleName}`
        : bridge.deployRoleArn;

    const key = new ByokKey(
      slug,
      {
        slug,
        region: args.region,
        bridgeAccountId: bridge.accountId,
        deployRoleArn,
        adminRoleArns: args.kms.adminRoleArns,
        providerAccountId: args.provider.awsAccountId,
        providerPrincipalArns: args.provider.principalArns,
        grantOperations: args.kms.grantOperations,
        encryptionContext: args.kms.encryptionContext,
        retiringPrincipalArn: args.kms.retiringPrincipalArn,
        deletionWindowInDays: args.kms.deletionWindowInDays,
        keyStore: args.kms.keyStore,
        accessState: args.accessState,
      },
      { providers: [bridge.provider] },
    );

    return {
      bridgeAccountId: bridge.accountId,
      endpointId: endpoint.endpointId,
      endpointDnsNames: endpoint.dnsNames,
      endpointSecurityGroupId: endpoint.securityGroupId,
      ruleGroupArn: firewall.ruleGroupArn,
      keyArn: key.keyArn,
      keyAlias: key.aliasName,
      grantIds: key.grantIds,
      accessState: args.accessState,
    };
  };
}
