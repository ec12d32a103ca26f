import * as aws from "@pulumi/aws";
import * as pulumi from "@pulumi/pulumi";
import { assertAccountId, assertSlug, partitionOf, sessionName } from "./components/aws-ids.js";
import { BridgeAccount } from "./components/bridge-account.js";
import { BridgeAudit } from "./components/bridge-audit.js";
import { ByokKey } from "./components/byok-key.js";
import { cloudHsmFlowLogGroupName, CloudHsmKeyStore } from "./components/cloudhsm-key-store.js";
import { InboundExposure } from "./components/inbound-exposure.js";
import { PrivateLinkEndpoint } from "./components/private-link-endpoint.js";
import { ProviderFirewallRules } from "./components/provider-firewall-rules.js";
import { KMSUSER_PASSWORD_CONFIG, type ProviderStackArgs, type ProviderStackOutputs } from "./types.js";

/**
 * What a connected store's password input is when it is no longer given: never sent to AWS, since the
 * store ignores changes to its password once connected (the state keeps the original, encrypted).
 */
const PASSWORD_NOT_KEPT = "not-kept-after-connect";

/** The stack outputs as the program returns them (Outputs resolved by the engine). */
export type ProviderStackProgramOutputs = {
  readonly [K in keyof ProviderStackOutputs]: pulumi.Input<ProviderStackOutputs[K]>;
};

/**
 * The provider-stack inline program: one stack per SaaS provider (DESIGN.md §7). A pure factory: all
 * resources are created when the returned function runs, never at import, so it can run many times in
 * one process (Automation API, mocks, simulated engine).
 *
 * Two AWS providers besides the default (the Organizations management account): the central network
 * account (subnets, endpoint, inbound exposure, rule group) and the bridge account (key, audit, HSM).
 */
export function providerStackProgram(args: ProviderStackArgs): () => Promise<ProviderStackProgramOutputs> {
  return async () => {
    const slug = args.name;
    assertSlug(slug);
    const partition = partitionOf(args.region);
    assertAccountId(args.network.accountId, "network.accountId");
    assertAccountId(args.managementAccountId, "managementAccountId");
    // Same rule as the spec's: no SCP governs the management account, and the network account is shared.
    if (args.bridge.kind === "existing" && (args.bridge.accountId === args.managementAccountId || args.bridge.accountId === args.network.accountId)) {
      const which = args.bridge.accountId === args.managementAccountId ? "the Organizations management account" : "the network account";
      throw new Error(`bridge account ${args.bridge.accountId} is ${which}; a provider's bridge account must be an account of its own`);
    }
    const tags = { ...args.tags };
    const generation = args.generation === undefined ? {} : { generation: args.generation };

    const network = new aws.Provider("network", {
      region: args.region,
      assumeRoles: [{ roleArn: args.network.deployRoleArn, sessionName: sessionName(slug) }],
      allowedAccountIds: [args.network.accountId],
      defaultTags: { tags },
    });

    const bridge = new BridgeAccount(slug, {
      slug,
      bridge: args.bridge,
      region: args.region,
      tags,
      allowedRegions: args.allowedRegions,
      keyAdminRoleArns: args.kms.adminRoleArns,
      providerAccountId: args.provider.awsAccountId,
      accessState: args.accessState,
    });

    const endpoint = new PrivateLinkEndpoint(
      slug,
      {
        slug,
        region: args.region,
        networkAccountId: args.network.accountId,
        vpcId: args.network.vpcId,
        routeTableId: args.network.routeTableId,
        subnets: args.network.subnets,
        serviceName: args.outbound.endpointServiceName,
        ports: args.outbound.ports,
        allowedSourceCidrs: args.outbound.allowedSourceCidrs,
        privateDns: args.outbound.privateDns,
        connectionAccepted: args.outbound.connectionAccepted,
        flowLogs: args.network.flowLogs,
        accessState: args.accessState,
        ...generation,
      },
      { providers: [network] },
    );

    const firewall = new ProviderFirewallRules(
      slug,
      {
        slug,
        allowedDomains: args.firewall.allowedDomains,
        ports: args.outbound.ports,
        sourceCidrs: args.outbound.allowedSourceCidrs,
        destinationCidrs: args.network.subnets.map((s) => s.cidr),
        sidBase: args.firewall.sidBase,
        capacity: args.firewall.capacity,
        accessState: args.accessState,
      },
      { providers: [network] },
    );

    const inbound = args.inbound
      ? new InboundExposure(
          `${slug}-inbound`,
          {
            slug,
            region: args.region,
            vpcId: args.network.vpcId,
            // The NLB lives in the provider's own subnets, next to its endpoint.
            subnetIds: args.network.subnets.map((_, i) => endpoint.subnetIds.apply((ids) => ids[i]!)),
            targets: args.inbound.targets,
            allowedPrincipals: args.inbound.allowedPrincipals,
            ...(args.inbound.certificateArn === undefined ? {} : { certificateArn: args.inbound.certificateArn }),
            acceptedEndpointIds: args.inbound.acceptedEndpointIds,
            sourceCidrs: args.inbound.sourceCidrs,
            accessState: args.accessState,
            // ELB.6. A decommission turns it off in the `up` it runs before its destroy (same operation).
            deletionProtection: args.decommissioning === undefined,
          },
          { providers: [network] },
        )
      : undefined;

    // For an existing account the deploy role is known now, so ByokKey can check that the admins
    // include it; for an account created in this run its ARN only exists once the account does.
    const deployRoleArn =
      args.bridge.kind === "existing"
        ? `arn:${partition}:iam::${args.bridge.accountId}:role/${args.bridge.accessRoleName}`
        : bridge.deployRoleArn;

    const audit = new BridgeAudit(
      `${slug}-audit`,
      {
        slug,
        region: args.region,
        accountId: bridge.accountId,
        retentionInDays: args.audit.retentionInDays,
        adminRoleArns: [...args.kms.adminRoleArns, deployRoleArn],
        accessLogArchive: args.audit.accessLogArchive,
        // The logging key also encrypts the CloudHSM VPC's flow logs (EC2.6).
        ...(args.kms.keyStore === "cloudhsm" ? { additionalLogGroupNames: [cloudHsmFlowLogGroupName(slug, args.generation)] } : {}),
        ...generation,
      },
      { providers: [bridge.provider] },
    );

    const actions: pulumi.Input<string>[] = [];

    // CloudHSM: the cluster needs a person (sign the CSR, initialise, create kmsuser) before a key store,
    // and so the HSM-backed key, can exist (research §1.7). Phase 1 builds the cluster and its first HSM;
    // phase 2 (keyStore given) the second HSM and the store; once KMS has connected the store (not a
    // resource: the service does it between two runs), the key is created in it.
    const hsmArgs = args.kms.keyStore === "cloudhsm" ? args.kms.cloudHsm : undefined;
    if (args.kms.keyStore === "cloudhsm" && hsmArgs === undefined) throw new Error("kms: keyStore cloudhsm requires kms.cloudHsm");
    const hsm = hsmArgs
      ? new CloudHsmKeyStore(
          `${slug}-hsm`,
          {
            slug,
            region: args.region,
            vpcCidr: hsmArgs.vpcCidr,
            subnets: hsmArgs.subnets,
            ...(hsmArgs.keyStore
              ? {
                  keyStore: {
                    trustAnchorCertificate: hsmArgs.keyStore.trustAnchorCertificate,
                    // Secret stack config, never an argument: encrypted in the state and masked by the engine.
                    // Once connected, KMS has rotated kmsuser's password and the store ignores changes to it:
                    // the service no longer keeps (or passes) it.
                    kmsuserPassword: hsmArgs.keyStore.connected
                      ? (new pulumi.Config("saas-bridge").getSecret(KMSUSER_PASSWORD_CONFIG) ?? pulumi.secret(PASSWORD_NOT_KEPT))
                      : new pulumi.Config("saas-bridge").requireSecret(KMSUSER_PASSWORD_CONFIG),
                    connected: hsmArgs.keyStore.connected,
                  },
                }
              : {}),
            // EC2.6: the bridge account's logging key (its policy names this group), the landing zone's flow-log retention.
            flowLogs: {
              accountId: bridge.accountId,
              kmsKeyArn: audit.loggingKeyArn,
              retentionInDays: args.network.flowLogs.retentionInDays,
              ...generation,
            },
          },
          { providers: [bridge.provider] },
        )
      : undefined;
    if (hsm) actions.push(...hsm.manualSteps);

    // With CloudHSM, only once the store is connected (CreateKey fails on a disconnected store).
    const customKeyStoreId = hsmArgs?.keyStore?.connected ? hsm?.customKeyStoreId : undefined;
    const key =
      args.kms.keyStore === "kms" || customKeyStoreId !== undefined
        ? new ByokKey(
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
              ...(customKeyStoreId === undefined ? { keyStore: "kms" as const } : { keyStore: "cloudhsm" as const, customKeyStoreId }),
              // A decommissioned provider's retained key keeps no grant and denies the provider.
              accessState: args.decommissioning ? "revoked" : args.accessState,
              ...generation,
              ...(args.decommissioning ? { decommission: args.decommissioning.key } : {}),
            },
            { providers: [bridge.provider] },
          )
        : undefined;

    if (args.accessState === "active" && args.outbound.privateDns && !args.outbound.connectionAccepted) {
      actions.push(
        pulumi.interpolate`Ask the provider to accept the connection from endpoint ${endpoint.endpointId}; then update the provider (PUT the same spec) to turn on private DNS.`,
      );
    }
    if (inbound && args.accessState === "active" && inbound.acceptedEndpointIds.length === 0) {
      actions.push(
        pulumi.interpolate`Give the provider the endpoint service name ${inbound.serviceName}; once it has created its endpoint, add the endpoint id to inbound.acceptedEndpointIds.`,
      );
    }

    return {
      accessState: args.accessState,
      bridgeAccountId: bridge.accountId,
      subnetIds: endpoint.subnetIds,
      endpointId: endpoint.endpointId,
      endpointState: endpoint.endpointState,
      endpointDnsNames: endpoint.dnsNames,
      endpointSecurityGroupId: endpoint.securityGroupId,
      ruleGroupArn: firewall.ruleGroupArn,
      ...(key ? { keyArn: key.keyArn, keyAlias: key.aliasName } : {}),
      grantIds: key ? key.grantIds : [],
      trailArn: audit.trailArn,
      flowLogGroup: endpoint.flowLogGroupName,
      ...(inbound ? { inboundServiceName: inbound.serviceName } : {}),
      ...(hsm
        ? {
            cloudHsm: pulumi
              .all([hsm.clusterId, hsm.customKeyStoreId])
              .apply(([clusterId, customKeyStoreId]) => (customKeyStoreId === undefined ? { clusterId } : { clusterId, customKeyStoreId })),
          }
        : {}),
      actionsRequired: pulumi.all(actions),
    };
  };
}
