/**
 * Access verification (issue 17): what the live cloud says about a provider's access, read with the read
 * calls only, never from the stack's state. A port (`AccessReader`) reads facts; the checks (checks.ts) turn
 * facts into pass/fail per capability. The layers above store, stream and sign the result.
 */

/** One stable code per capability. A new capability is a new code (and a test), never a renamed one. */
export const CHECK_CODES = [
  /** No KMS grant on the provider's key names its principals (revoked); exactly the spec's grants (active). */
  "KMS_GRANTS",
  /** The key policy denies the provider's account (revoked); allows it without a deny (active). */
  "KMS_KEY_POLICY",
  /** No ingress rule on the endpoint's security group (revoked); exactly the spec's (active). */
  "SG_INGRESS",
  /** Every provider subnet is on the deny-all NACL (revoked); none is (active). */
  "NACL_DENY",
  /** The inbound endpoint service has no accepted or pending connection (revoked); exactly the accepted ids (active). */
  "ENDPOINT_CONNECTIONS",
  /** The provider's firewall rule group drops everything (revoked); holds the spec's rules (active). */
  "FIREWALL_RULES",
  /** The quarantine RCP denying the provider's account is attached to the bridge account (revoked); not attached (active). */
  "QUARANTINE_POLICY",
] as const;
export type CheckCode = (typeof CHECK_CODES)[number];

/**
 * - `pass` / `fail`: the cloud was read and the expectation holds / does not.
 * - `not-verifiable`: the read failed or the API is not available (an emulator without it, access denied):
 *   never counted as a pass.
 * - `not-applicable`: the provider has no such capability (no inbound exposure, no key yet).
 */
export const CHECK_STATUSES = ["pass", "fail", "not-verifiable", "not-applicable"] as const;
export type CheckStatus = (typeof CHECK_STATUSES)[number];

/** What the provider's access should be: `decommissioned` means gone, whatever of it remains in the cloud. */
export const EXPECTATIONS = ["active", "revoked", "decommissioned"] as const;
export type Expectation = (typeof EXPECTATIONS)[number];

/** Plain JSON (evidence is stored, streamed and signed). */
export type EvidenceValue = string | number | boolean | null | readonly EvidenceValue[] | { readonly [key: string]: EvidenceValue };

export interface CheckResult {
  readonly code: CheckCode;
  readonly status: CheckStatus;
  /** One line for a person: what was expected and what was seen (ids only, never a secret or a policy's text). */
  readonly message: string;
  /** What AWS returned that the verdict rests on: ids, ARNs, CIDRs, rule numbers, states. Never secrets. */
  readonly evidence: { readonly [key: string]: EvidenceValue };
}

/** `failed`: a check failed; `incomplete`: none failed but one could not be verified; `passed`: all passed or n/a. */
export const VERIFICATION_STATUSES = ["passed", "failed", "incomplete"] as const;
export type VerificationStatus = (typeof VERIFICATION_STATUSES)[number];

export interface VerificationResult {
  readonly status: VerificationStatus;
  readonly expectation: Expectation;
  /** Which reader answered: `aws` (the SDK against AWS or an endpoint override) or `simulated` (the simulated engine's cloud). */
  readonly reader: string;
  /** ISO 8601 UTC, when the first read was sent. */
  readonly checkedAt: string;
  readonly durationMs: number;
  /** AWS read calls made (STS AssumeRole excluded), over every check. */
  readonly calls: number;
  /** One per CHECK_CODES member, in that order. */
  readonly checks: readonly CheckResult[];
}

/** Where to read: the region, and the role to assume (undefined: the process's own credentials, e.g. the management account). */
export interface AccountRef {
  readonly region: string;
  readonly roleArn?: string;
}

/** What a reader answers: a value, or why the cloud could not be read (the check becomes `not-verifiable`). */
export type Reading<T> =
  | { readonly ok: true; readonly value: T; readonly calls: number }
  | { readonly ok: false; readonly reason: string; readonly calls: number };

export interface KmsKeyFacts {
  readonly keyId: string;
  readonly arn: string;
  readonly enabled: boolean;
  /** KeyState: Enabled, Disabled, PendingDeletion, … */
  readonly state: string;
  /** The key policy document (JSON text), parsed by the check; never put in evidence as a whole. */
  readonly policy: string;
}

export interface KmsGrantFacts {
  readonly grantId: string;
  readonly granteePrincipal: string;
  readonly retiringPrincipal?: string;
  readonly operations: readonly string[];
  readonly encryptionContextSubset?: Readonly<Record<string, string>>;
}

export interface SecurityGroupRuleFacts {
  readonly ruleId: string;
  readonly egress: boolean;
  /** "-1" for all, else tcp/udp/icmp or a number. */
  readonly protocol: string;
  readonly fromPort?: number;
  readonly toPort?: number;
  readonly cidrIpv4?: string;
  readonly cidrIpv6?: string;
  readonly referencedGroupId?: string;
  readonly prefixListId?: string;
}

export interface NaclEntryFacts {
  readonly ruleNumber: number;
  readonly egress: boolean;
  readonly action: "allow" | "deny";
  readonly protocol: string;
  readonly cidrBlock?: string;
  readonly ipv6CidrBlock?: string;
}

export interface SubnetNaclFacts {
  readonly subnetId: string;
  readonly naclId: string;
  readonly isDefault: boolean;
  readonly entries: readonly NaclEntryFacts[];
}

export interface EndpointConnectionFacts {
  readonly endpointId: string;
  /** pendingAcceptance, pending, available, deleting, deleted, rejected, failed, expired */
  readonly state: string;
  readonly ownerAccountId?: string;
}

export interface EndpointServiceFacts {
  readonly serviceId: string;
  readonly serviceName: string;
  readonly allowedPrincipals: readonly string[];
  readonly connections: readonly EndpointConnectionFacts[];
}

export interface RuleGroupFacts {
  readonly arn: string;
  readonly rulesString: string;
}

export interface OrgPolicyFacts {
  readonly policyId: string;
  readonly name: string;
  /** The policy document (JSON text). */
  readonly content: string;
}

/**
 * The port: the read calls verification needs, each answering facts or why it could not. `null` value: the
 * thing does not exist (a destroyed group, a deleted key). Implementations: AWS SDK v3 (aws-reader.ts) and the
 * simulated engine's cloud (simulated-reader.ts). Every method stops when `signal` aborts.
 */
export interface AccessReader {
  readonly name: string;
  kmsKey(at: AccountRef, keyArn: string, signal: AbortSignal): Promise<Reading<KmsKeyFacts | null>>;
  kmsGrants(at: AccountRef, keyArn: string, signal: AbortSignal): Promise<Reading<readonly KmsGrantFacts[]>>;
  securityGroupRules(at: AccountRef, groupId: string, signal: AbortSignal): Promise<Reading<readonly SecurityGroupRuleFacts[] | null>>;
  /** The NACL each subnet is associated with; a subnet that no longer exists is left out. */
  subnetNacls(at: AccountRef, subnetIds: readonly string[], signal: AbortSignal): Promise<Reading<readonly SubnetNaclFacts[]>>;
  endpointService(at: AccountRef, serviceName: string, signal: AbortSignal): Promise<Reading<EndpointServiceFacts | null>>;
  ruleGroup(at: AccountRef, arn: string, signal: AbortSignal): Promise<Reading<RuleGroupFacts | null>>;
  /** Organizations policies of `type` attached directly to the account (read in the management account). */
  attachedPolicies(at: AccountRef, targetAccountId: string, type: "RESOURCE_CONTROL_POLICY" | "SERVICE_CONTROL_POLICY", signal: AbortSignal): Promise<Reading<readonly OrgPolicyFacts[]>>;
}

/** The expected ingress of the endpoint's security group while active: one rule per source CIDR and port. */
export interface ExpectedIngress {
  readonly cidr: string;
  readonly protocol: "tcp" | "udp";
  readonly port: number;
}

/**
 * What to verify, built by the layer above from the provider's spec, its last known stack outputs and the
 * landing zone. Ids a stack never created are absent (their check is `not-applicable`, or `fail` when active
 * access requires them).
 */
export interface VerificationTarget {
  readonly provider: string;
  readonly expectation: Expectation;
  readonly providerAccountId: string;
  readonly providerPrincipalArns: readonly string[];
  /** EC2 and Network Firewall: the network account, through its deploy role. */
  readonly network: AccountRef;
  /** KMS: the bridge account, through its access role; undefined when the account is not known yet. */
  readonly bridge?: AccountRef & { readonly accountId: string };
  /** Organizations: the management account (the process's credentials, or a role). */
  readonly management: AccountRef;
  readonly keyArn?: string;
  /** Active only: the grant operations the spec gives each principal. */
  readonly grantOperations: readonly string[];
  readonly securityGroupId?: string;
  readonly expectedIngress: readonly ExpectedIngress[];
  readonly subnetIds: readonly string[];
  /** Inbound exposure: the endpoint service's name and the endpoint ids the spec accepts (active). */
  readonly inbound?: { readonly serviceName?: string; readonly acceptedEndpointIds: readonly string[] };
  readonly ruleGroupArn?: string;
  /** Active only: the rules string the program renders for the spec (compared exactly). */
  readonly expectedRulesString?: string;
}
