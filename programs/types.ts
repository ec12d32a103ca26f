/**
 * The arguments of the provider-stack program: everything it needs, already validated and resolved
 * by the service (spec + landing zone). `programs/` never imports `src/`, so this file is the contract.
 */

/** `active` grants access; `revoked` cuts it without deleting any data-bearing resource. */
export type AccessState = "active" | "revoked";

export type PortProtocol = "tcp" | "udp";

/**
 * How the firewall passes an outbound port. `domain`: only TLS (SNI) or HTTP (Host) to the allowed
 * domains, tcp only. `port`: every flow from the allowed sources to the port (a 5-tuple pass), the only
 * choice for udp and for tcp protocols that carry no SNI or Host.
 */
export const PORT_MATCHES = ["domain", "port"] as const;
export type PortMatch = (typeof PORT_MATCHES)[number];

export interface OutboundPort {
  readonly port: number;
  readonly protocol: PortProtocol;
  readonly match: PortMatch;
}

/**
 * What a decommission does with the provider's BYOK key: `retain` (the default) disables it and keeps
 * it, so data encrypted with it stays recoverable; `shred` schedules its deletion (crypto-shredding).
 */
export const KEY_DISPOSITIONS = ["retain", "shred"] as const;
export type KeyDisposition = (typeof KEY_DISPOSITIONS)[number];

/** KMS grant operations the service allows a provider to be granted (an allow-list, see the spec). */
export const GRANT_OPERATIONS = [
  "Encrypt",
  "Decrypt",
  "GenerateDataKey",
  "GenerateDataKeyWithoutPlaintext",
  "ReEncryptFrom",
  "ReEncryptTo",
  "DescribeKey",
] as const;
export type GrantOperation = (typeof GRANT_OPERATIONS)[number];

export interface AccountAccess {
  /** 12-digit AWS account id. */
  readonly accountId: string;
  /** Role the deployment assumes in that account (kept in the KMS key admin statement). */
  readonly deployRoleArn: string;
}

/** One subnet of the provider's own segment: an AZ id (`euw1-az1`, the same in every account) and its CIDR. */
export interface SubnetPlacement {
  readonly azId: string;
  readonly cidr: string;
}

export interface ProviderStackArgs {
  /** DNS slug; also the stack name and the prefix of every child resource name. */
  readonly name: string;
  readonly accessState: AccessState;
  readonly region: string;
  /** Regions the bridge account may use (its SCP denies the others). */
  readonly allowedRegions: readonly string[];
  /** Tags applied to every resource through the providers' default tags. */
  readonly tags: Readonly<Record<string, string>>;
  /**
   * The Organizations management account (the landing zone's): the account of the program's default
   * provider, i.e. of the service's own credentials, which creates the bridge account and owns its SCP,
   * RCP and their attachments. The mock cloud answers the default provider as this account.
   */
  readonly managementAccountId: string;

  /** The central SaaS network account and the shared VPC the provider's subnets are carved from. */
  readonly network: AccountAccess & {
    readonly vpcId: string;
    /** The central private route table (towards the transit gateway) the subnets are associated with. */
    readonly routeTableId: string;
    /** One subnet per AZ id, CIDRs from the service's allocator (never overlapping another provider's). */
    readonly subnets: readonly SubnetPlacement[];
    /** The network account's logging key and retention for the provider's flow logs. */
    readonly flowLogs: { readonly kmsKeyArn: string; readonly retentionInDays: number };
  };

  /** The per-provider bridge account: an existing account, or one created through Organizations. */
  readonly bridge:
    | { readonly kind: "existing"; readonly accountId: string; readonly accessRoleName: string }
    | {
        readonly kind: "create";
        readonly email: string;
        readonly saasOuId: string;
        readonly accessRoleName: string;
      };

  /** The third party: its AWS account and the principals that use the key. */
  readonly provider: {
    readonly awsAccountId: string;
    readonly principalArns: readonly string[];
  };

  readonly outbound: {
    readonly endpointServiceName: string;
    readonly ports: readonly OutboundPort[];
    /** Org CIDRs allowed to reach the endpoint; one ingress rule per port × CIDR. */
    readonly allowedSourceCidrs: readonly string[];
    readonly privateDns: boolean;
    /**
     * The provider has accepted the endpoint connection (the endpoint was `available` after the last
     * run): private DNS can only be enabled then, so it is a second `up` (research §1.2, §7.6).
     */
    readonly connectionAccepted: boolean;
  };

  /** Optional: the provider reaches our internal targets through an endpoint service (NLB). */
  readonly inbound?: {
    readonly targets: readonly { readonly ip: string; readonly port: number }[];
    readonly allowedPrincipals: readonly string[];
    readonly certificateArn?: string;
    /** The provider's endpoint ids (`vpce-…`) to accept. */
    readonly acceptedEndpointIds: readonly string[];
    /** The SaaS's client CIDRs as seen through PrivateLink: the NLB's only ingress sources, on listener ports. */
    readonly sourceCidrs: readonly string[];
  };

  readonly firewall: {
    /** FQDNs, at most one leading `*.` each; matched on the `domain` ports, so empty when there is none. */
    readonly allowedDomains: readonly string[];
    /** First Suricata SID of this provider's range (stable per provider). */
    readonly sidBase: number;
    /** Fixed rule-group capacity (changing it replaces the group, so it is chosen with headroom). */
    readonly capacity: number;
  };

  readonly kms: {
    readonly grantOperations: readonly GrantOperation[];
    /** Every grant and key-policy use statement is bound to this encryption context. */
    readonly encryptionContext: Readonly<Record<string, string>>;
    readonly keyStore: "kms" | "cloudhsm";
    /** Principals allowed to administer the key; must include the bridge deploy role. */
    readonly adminRoleArns: readonly string[];
    /** May retire the provider's grants out of band (offboarding role). */
    readonly retiringPrincipalArn: string;
    /** 7–30 days. */
    readonly deletionWindowInDays: number;
    /** With keyStore `cloudhsm`: the HSM VPC in the bridge account (≥ 2 AZs). */
    readonly cloudHsm?: {
      readonly vpcCidr: string;
      readonly subnets: readonly SubnetPlacement[];
      /**
       * Phase 2, once the operator has initialised the cluster and created `kmsuser`: the second HSM and
       * the KMS custom key store. The `kmsuser` password is not here: it is the secret stack config
       * `saas-bridge:kmsuserPassword` (KMSUSER_PASSWORD_CONFIG), so it never travels in arguments.
       */
      readonly keyStore?: {
        /** The issuing CA certificate (`customerCA.crt`, PEM) that signed the cluster's certificate. */
        readonly trustAnchorCertificate: string;
        /** KMS has connected the store: the HSM-backed BYOK key can be created in it. */
        readonly connected: boolean;
      };
    };
  };

  /** CloudTrail and its log group in the bridge account. */
  readonly audit: {
    readonly retentionInDays: number;
    /**
     * The landing zone's log-archive bucket: the trail bucket's server access logs (S3.9) are delivered
     * to a local access-log bucket and replicated there under `<prefix><provider name>/`.
     */
    readonly accessLogArchive: { readonly bucket: string; readonly accountId: string; readonly prefix: string };
  };

  /**
   * This onboarding of the name: 1 for the first, +1 each time a decommissioned name is onboarded again.
   * Retained, named resources carry it from 2 on (their names would collide with the retained ones).
   * Absent = 1.
   */
  readonly generation?: number;
  /**
   * Only in the `up` a decommission runs before its destroy (the same operation): NLB deletion
   * protection off, the BYOK key disabled, and retained or left to its deletion window.
   */
  readonly decommissioning?: { readonly key: KeyDisposition };
}

/** The secret stack-config key (namespace `saas-bridge`) the provider program reads the `kmsuser` password from. */
export const KMSUSER_PASSWORD_CONFIG = "kmsuserPassword";

/** Stack outputs a portal needs. Secrets (grant tokens, passwords) are never exported. */
export interface ProviderStackOutputs {
  readonly accessState: AccessState;
  readonly bridgeAccountId: string;
  readonly subnetIds: string[];
  readonly endpointId: string;
  readonly endpointState: string;
  readonly endpointDnsNames: string[];
  readonly endpointSecurityGroupId: string;
  readonly ruleGroupArn: string;
  /** Absent while a CloudHSM key store still awaits its manual initialisation. */
  readonly keyArn?: string;
  readonly keyAlias?: string;
  readonly grantIds: string[];
  readonly trailArn: string;
  readonly flowLogGroup: string;
  /** Give this to the provider when inbound exposure is configured. */
  readonly inboundServiceName?: string;
  /** With a CloudHSM key store: the cluster (for the initialisation ceremony) and, from phase 2, the store. */
  readonly cloudHsm?: { readonly clusterId: string; readonly customKeyStoreId?: string };
  /** Steps a person must still take (accept a connection, initialise an HSM cluster), in order. */
  readonly actionsRequired: string[];
}

/** The network-hub stack (one per region): the central firewall policy listing every provider's group. */
export interface NetworkHubArgs {
  readonly region: string;
  readonly network: AccountAccess;
  readonly tags: Readonly<Record<string, string>>;
  /** Name of the central firewall policy (the platform's firewall references the policy's ARN). */
  readonly policyName: string;
  /** Rule groups of the providers that have one and are not being decommissioned, by provider name. */
  readonly ruleGroups: readonly { readonly provider: string; readonly arn: string }[];
}

export interface NetworkHubOutputs {
  readonly policyArn: string;
  readonly ruleGroupCount: number;
  readonly providers: string[];
}

/** What an engine runs: the program and its arguments, for one stack. */
export type StackProgram =
  | { readonly program: "provider"; readonly args: ProviderStackArgs }
  | { readonly program: "network-hub"; readonly args: NetworkHubArgs };
