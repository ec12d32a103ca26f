/**
 * The arguments of the provider-stack program: everything it needs, already validated and resolved
 * by the service (spec + landing zone). `programs/` never imports `src/`, so this file is the contract.
 */

/** `active` grants access; `revoked` cuts it without deleting any data-bearing resource. */
export type AccessState = "active" | "revoked";

export type PortProtocol = "tcp" | "udp";

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

export interface ProviderStackArgs {
  /** DNS slug; also the stack name and the prefix of every child resource name. */
  readonly name: string;
  readonly accessState: AccessState;
  readonly region: string;
  /** Tags applied to every resource through the providers' default tags. */
  readonly tags: Readonly<Record<string, string>>;

  /** The central SaaS network account and the shared VPC the endpoint lives in. */
  readonly network: AccountAccess & {
    readonly vpcId: string;
    /** Subnets (one per AZ) the interface endpoint is placed in. */
    readonly subnetIds: readonly string[];
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
    readonly ports: readonly { readonly port: number; readonly protocol: PortProtocol }[];
    /** Org CIDRs allowed to reach the endpoint; one ingress rule per port × CIDR. */
    readonly allowedSourceCidrs: readonly string[];
    readonly privateDns: boolean;
  };

  readonly firewall: {
    /** FQDNs, at most one leading `*.` each. */
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
  };
}

/** Stack outputs a portal needs. Secrets (grant tokens) are never exported. */
export interface ProviderStackOutputs {
  readonly bridgeAccountId: string;
  readonly endpointId: string;
  readonly endpointDnsNames: string[];
  readonly endpointSecurityGroupId: string;
  readonly ruleGroupArn: string;
  readonly keyArn: string;
  readonly keyAlias: string;
  readonly grantIds: string[];
  readonly accessState: AccessState;
}
