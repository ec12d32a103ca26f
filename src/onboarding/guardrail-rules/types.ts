import type { RegisteredResource } from "../../../programs/evaluate-program.js";

/**
 * Shared vocabulary of the guardrail rules (DESIGN.md §3 "Guardrails"). Kept apart from
 * `guardrails.ts` so that the rule modules and the entry point do not import each other.
 */

/** The stable codes, in the order rules are documented. Clients match on these; never rename one. */
export const GUARDRAIL_CODES = [
  "SG_OPEN_TO_WORLD",
  "SG_INLINE_RULES",
  "SG_PORT_NOT_IN_SPEC",
  "NLB_SG_HAS_INGRESS",
  "NLB_NOT_INTERNAL",
  "INBOUND_PORT_NOT_IN_SPEC",
  "ENDPOINT_SERVICE_OPEN",
  "ENDPOINT_NOT_INTERFACE",
  "KMS_KEY_ROTATION_DISABLED",
  "KEY_POLICY_NOT_SCOPED",
  "GRANT_NOT_SCOPED",
  "GRANT_UNCONSTRAINED",
  "REVOKED_ACCESS_REMAINS",
  "LOG_GROUP_UNENCRYPTED",
  "TRAIL_UNENCRYPTED",
  "TRAIL_VALIDATION_DISABLED",
  "BUCKET_PUBLIC_ACCESS_NOT_BLOCKED",
  "FIREWALL_NOT_DEFAULT_DROP",
  "FIREWALL_PASS_NOT_IN_SPEC",
  "KEY_ADMIN_CAN_USE_KEY",
  "NLB_PRIVATELINK_NOT_ENFORCED",
  "BUCKET_ACCESS_LOGGING_DISABLED",
  "VPC_FLOW_LOGS_MISSING",
  "NLB_DELETION_PROTECTION_OFF",
] as const;
export type GuardrailCode = (typeof GUARDRAIL_CODES)[number];

/** One line per code (e.g. a problem `title`); a Record, so a new code without a summary fails to compile. */
export const GUARDRAIL_SUMMARIES: Readonly<Record<GuardrailCode, string>> = {
  SG_OPEN_TO_WORLD: "A security group admits traffic from the whole internet (/0).",
  SG_INLINE_RULES: "A security group declares inline ingress/egress rules instead of separate rule resources.",
  SG_PORT_NOT_IN_SPEC: "An ingress rule allows a protocol or port range the spec does not list.",
  NLB_SG_HAS_INGRESS: "The inbound NLB's security group admits something other than a listener port from one of the spec's inbound source CIDRs.",
  NLB_NOT_INTERNAL: "A load balancer is internet-facing.",
  INBOUND_PORT_NOT_IN_SPEC: "An inbound listener or NLB egress rule uses a port the spec's inbound targets do not list.",
  ENDPOINT_SERVICE_OPEN: "An endpoint service accepts connections without approval or from any principal.",
  ENDPOINT_NOT_INTERFACE: "A VPC endpoint is not an Interface endpoint.",
  KMS_KEY_ROTATION_DISABLED: "A KMS key does not rotate automatically.",
  KEY_POLICY_NOT_SCOPED: "A key policy allows a principal without the provider principal and encryption-context conditions.",
  GRANT_NOT_SCOPED: "A KMS grant is for a principal or operation outside the provider's scope.",
  GRANT_UNCONSTRAINED: "A KMS grant is not constrained to the provider's encryption context.",
  REVOKED_ACCESS_REMAINS: "The provider is revoked but still has a path to the key or the network.",
  LOG_GROUP_UNENCRYPTED: "A CloudWatch log group is not encrypted with a KMS key.",
  TRAIL_UNENCRYPTED: "A CloudTrail trail is not encrypted with a KMS key.",
  TRAIL_VALIDATION_DISABLED: "A CloudTrail trail does not validate log file integrity.",
  BUCKET_PUBLIC_ACCESS_NOT_BLOCKED: "An S3 bucket lacks a public access block with all four settings on.",
  FIREWALL_NOT_DEFAULT_DROP: "A stateful firewall rule group does not end in a default drop, or is not STRICT_ORDER.",
  FIREWALL_PASS_NOT_IN_SPEC: "A firewall pass rule opens a port, protocol or scope (sources, destination, domain match) the spec does not.",
  KEY_ADMIN_CAN_USE_KEY: "A key policy lets a key administrator (or, on a provider's key, anyone but the provider) use the key or create grants on it.",
  NLB_PRIVATELINK_NOT_ENFORCED: "A load balancer does not enforce its security group on PrivateLink traffic, or has no security group.",
  BUCKET_ACCESS_LOGGING_DISABLED: "An S3 bucket has no server access logging, and is not itself an access-log destination (AWS Security Hub S3.9).",
  VPC_FLOW_LOGS_MISSING: "A VPC the program creates has no flow log capturing rejected traffic (AWS Security Hub EC2.6).",
  NLB_DELETION_PROTECTION_OFF: "A load balancer has deletion protection off (AWS Security Hub ELB.6); only a decommission turns it off.",
};

/**
 * A planned resource as the mock cloud records it. `id` and `dependencies` are optional so callers may
 * pass the bare subset; with them, buckets whose names are computed can still be matched to their public
 * access block (see `audit.ts`).
 */
export type PlannedResource = Pick<RegisteredResource, "urn" | "type" | "name" | "inputs" | "custom"> &
  Partial<Pick<RegisteredResource, "id" | "dependencies">>;

export interface GuardrailExpectations {
  readonly accessState: "active" | "revoked";
  readonly providerAccountId: string;
  readonly providerPrincipalArns: readonly string[];
  /** With the firewall's match: `domain` ports may carry TLS/HTTP passes only, `port` ports 5-tuple passes. */
  readonly outboundPorts: readonly { readonly port: number; readonly protocol: "tcp" | "udp"; readonly match: "domain" | "port" }[];
  /** The spec's outbound.allowedSourceCidrs: the only sources a firewall pass may name ($SAAS_SRC). */
  readonly outboundSourceCidrs: readonly string[];
  /** Ports of the spec's inbound targets; [] without inbound exposure. */
  readonly inboundPorts: readonly number[];
  /** The spec's inbound.sourceCidrs (the SaaS's clients through PrivateLink); [] without inbound exposure. */
  readonly inboundSourceCidrs: readonly string[];
  readonly encryptionContext: Readonly<Record<string, string>>;
  /** The spec's kms.grantOperations: the provider's ceiling in key policies and grants. */
  readonly grantOperations: readonly string[];
}

export interface GuardrailViolation {
  readonly code: GuardrailCode;
  readonly urn: string;
  readonly resourceType: string;
  readonly resourceName: string;
  /** What is wrong and what is expected. Built from a few named fields only, never from whole inputs. */
  readonly message: string;
}

export type Rule = (resources: readonly PlannedResource[], expect: GuardrailExpectations) => GuardrailViolation[];

export const TYPES = {
  securityGroup: "aws:ec2/securityGroup:SecurityGroup",
  defaultSecurityGroup: "aws:ec2/defaultSecurityGroup:DefaultSecurityGroup",
  ingressRule: "aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule",
  egressRule: "aws:vpc/securityGroupEgressRule:SecurityGroupEgressRule",
  legacyRule: "aws:ec2/securityGroupRule:SecurityGroupRule",
  endpoint: "aws:ec2/vpcEndpoint:VpcEndpoint",
  loadBalancer: "aws:lb/loadBalancer:LoadBalancer",
  listener: "aws:lb/listener:Listener",
  endpointService: "aws:ec2/vpcEndpointService:VpcEndpointService",
  allowedPrinciple: "aws:ec2/vpcEndpointServiceAllowedPrinciple:VpcEndpointServiceAllowedPrinciple",
  accepter: "aws:ec2/vpcEndpointConnectionAccepter:VpcEndpointConnectionAccepter",
  key: "aws:kms/key:Key",
  keyPolicy: "aws:kms/keyPolicy:KeyPolicy",
  grant: "aws:kms/grant:Grant",
  logGroup: "aws:cloudwatch/logGroup:LogGroup",
  trail: "aws:cloudtrail/trail:Trail",
  bucket: "aws:s3/bucket:Bucket",
  bucketV2: "aws:s3/bucketV2:BucketV2",
  publicAccessBlock: "aws:s3/bucketPublicAccessBlock:BucketPublicAccessBlock",
  ruleGroup: "aws:networkfirewall/ruleGroup:RuleGroup",
  vpc: "aws:ec2/vpc:Vpc",
  flowLog: "aws:ec2/flowLog:FlowLog",
  bucketLogging: "aws:s3/bucketLogging:BucketLogging",
  bucketLoggingV2: "aws:s3/bucketLoggingV2:BucketLoggingV2",
} as const;

export function violation(resource: PlannedResource, code: GuardrailCode, message: string): GuardrailViolation {
  return { code, urn: resource.urn, resourceType: resource.type, resourceName: resource.name, message };
}

export function ofType(resources: readonly PlannedResource[], ...types: string[]): PlannedResource[] {
  return resources.filter((r) => r.custom && types.includes(r.type));
}

/**
 * A value for a message: JSON, cut to a bounded length. Only ever called on fields that are not secret
 * (ports, CIDRs, principals, flags, statement ids); a message never embeds a whole input object.
 */
export function show(value: unknown): string {
  const text = JSON.stringify(value) ?? String(value);
  return text.length > 120 ? `${text.slice(0, 117)}...` : text;
}

export function isRecord(value: unknown): value is Readonly<Record<string, unknown>> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

export function asArray(value: unknown): readonly unknown[] {
  if (value === undefined || value === null) return [];
  return Array.isArray(value) ? value : [value];
}

export const nonEmptyString = (value: unknown): value is string => typeof value === "string" && value.length > 0;

/** The 12-digit account field of an ARN (`arn:<p>:<svc>:<region>:<account>:...`), if any. */
export function arnAccount(value: string): string | undefined {
  if (!value.startsWith("arn:")) return undefined;
  return value.split(":")[4];
}
