import { buildKeyPolicy } from "../../programs/components/key-policy.js";
import { buildRulesString, DESTINATION_VARIABLE, SOURCE_VARIABLE } from "../../programs/components/suricata.js";
import type { AccessState } from "../../programs/types.js";
import type { GuardrailCode, GuardrailExpectations, PlannedResource } from "../../src/onboarding/guardrails.js";

/**
 * Small crafted graphs in the shape the mock cloud records (type tokens, input property names, ids that
 * later inputs refer to). The good graphs hold one resource of each kind the guardrails look at, built
 * with the program's own policy and Suricata builders; each bad graph changes one property of one.
 */

export const PROVIDER = "333333333333";
const BRIDGE = "222222222222";
export const PROVIDER_ROLE = `arn:aws:iam::${PROVIDER}:role/acme-crm-kms`;
export const CONTEXT = { "saas:tenant": "acme-crm", "saas:provider": "acme" } as const;
const ADMIN = `arn:aws:iam::${BRIDGE}:role/OrganizationAccountAccessRole`;
const SG_ID = "sg-0e0e0e0e0e0e0e0e0";
export const NLB_SG_ID = "sg-0f0f0f0f0f0f0f0f0";
const BUCKET_ID = "saas-acme-crm-trail-20250101000000000001";
const BYOK_KEY_ID = "0d7a3d7e-0000-4000-8000-000000000001";
const LOGGING_KEY_ID = "0d7a3d7e-0000-4000-8000-000000000002";
const LOGGING_KEY_ARN = `arn:aws:kms:eu-west-1:${BRIDGE}:key/${LOGGING_KEY_ID}`;
/** Issue 12, defect 5: the SaaS's client block the NLB admits. */
export const INBOUND_SOURCE = "100.64.12.0/24";
/** Issue 12, defect 6 (S3.9): the trail bucket's access-log bucket. */
const ACCESS_LOG_BUCKET_ID = "saas-acme-crm-access-20250101000000000002";
/** Issue 12, defect 6 (EC2.6): the CloudHSM VPC, which the program creates. */
const HSM_VPC_ID = "vpc-0c0c0c0c0c0c0c0c0";

export function expectations(accessState: AccessState, overrides: Partial<GuardrailExpectations> = {}): GuardrailExpectations {
  return {
    accessState,
    providerAccountId: PROVIDER,
    providerPrincipalArns: [PROVIDER_ROLE],
    outboundPorts: [{ port: 443, protocol: "tcp", match: "domain" }],
    outboundSourceCidrs: ["10.20.0.0/16"],
    inboundPorts: [8443],
    inboundSourceCidrs: [INBOUND_SOURCE],
    encryptionContext: { ...CONTEXT },
    grantOperations: ["Encrypt", "Decrypt", "GenerateDataKey", "DescribeKey"],
    ...overrides,
  };
}

export const T = {
  sg: "aws:ec2/securityGroup:SecurityGroup",
  defaultSg: "aws:ec2/defaultSecurityGroup:DefaultSecurityGroup",
  ingress: "aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule",
  egress: "aws:vpc/securityGroupEgressRule:SecurityGroupEgressRule",
  legacyRule: "aws:ec2/securityGroupRule:SecurityGroupRule",
  endpoint: "aws:ec2/vpcEndpoint:VpcEndpoint",
  lb: "aws:lb/loadBalancer:LoadBalancer",
  listener: "aws:lb/listener:Listener",
  service: "aws:ec2/vpcEndpointService:VpcEndpointService",
  allowedPrinciple: "aws:ec2/vpcEndpointServiceAllowedPrinciple:VpcEndpointServiceAllowedPrinciple",
  accepter: "aws:ec2/vpcEndpointConnectionAccepter:VpcEndpointConnectionAccepter",
  ruleGroup: "aws:networkfirewall/ruleGroup:RuleGroup",
  key: "aws:kms/key:Key",
  keyPolicy: "aws:kms/keyPolicy:KeyPolicy",
  alias: "aws:kms/alias:Alias",
  grant: "aws:kms/grant:Grant",
  logGroup: "aws:cloudwatch/logGroup:LogGroup",
  bucket: "aws:s3/bucket:Bucket",
  pab: "aws:s3/bucketPublicAccessBlock:BucketPublicAccessBlock",
  trail: "aws:cloudtrail/trail:Trail",
  bucketLogging: "aws:s3/bucketLogging:BucketLogging",
  vpc: "aws:ec2/vpc:Vpc",
  flowLog: "aws:ec2/flowLog:FlowLog",
} as const;

/** Names of the good graph's resources that the cases mutate. */
export const N = {
  sg: "acme-crm-sg",
  ingress: "acme-crm-ingress-tcp-443-10-20-0-0-16",
  endpoint: "acme-crm-endpoint",
  nlb: "acme-crm-nlb",
  nlbEgress: "acme-crm-nlb-egress-10-40-0-10-8443",
  listener: "acme-crm-listener-8443",
  service: "acme-crm-endpoint-service",
  accepter: "acme-crm-accept-vpce-0bbbbbbbbbbbbbbbb",
  ruleGroup: "acme-crm-rule-group",
  key: "acme-crm-key",
  grant: "acme-crm-grant-1a2b3c",
  loggingKey: "acme-crm-logging-key",
  logGroup: "acme-crm-trail-logs",
  bucket: "acme-crm-audit-bucket",
  pab: "acme-crm-audit-pab",
  trail: "acme-crm-trail",
  nlbIngress: "acme-crm-inbound-ingress-8443-100-64-12-0-24",
  accessLogBucket: "acme-crm-access-log-bucket",
  accessLogPab: "acme-crm-access-log-pab",
  bucketLogging: "acme-crm-trail-bucket-logging",
  hsmVpc: "acme-crm-hsm-vpc",
  hsmFlowLog: "acme-crm-hsm-flow-log",
} as const;

export type Inputs = Record<string, unknown>;
export type Planned = PlannedResource & { readonly id: string; readonly dependencies: readonly string[] };
export type Graph = Planned[];

const urnOf = (type: string, name: string): string => `urn:pulumi:acme-crm::saas-bridge::${type}::${name}`;

function res(type: string, name: string, id: string, inputs: Inputs, dependencies: readonly string[] = []): Planned {
  return { urn: urnOf(type, name), type, name, custom: true, id, inputs, dependencies };
}

export function keyPolicy(accessState: AccessState): string {
  return JSON.stringify(
    buildKeyPolicy({
      partition: "aws",
      bridgeAccountId: BRIDGE,
      adminRoleArns: [ADMIN],
      providerAccountId: PROVIDER,
      providerPrincipalArns: [PROVIDER_ROLE],
      grantOperations: ["Encrypt", "Decrypt", "GenerateDataKey", "DescribeKey"],
      encryptionContext: CONTEXT,
      accessState,
    }),
  );
}

export const ruleLines = (accessState: AccessState): string[] =>
  buildRulesString({
    slug: "acme-crm",
    allowedDomains: ["api.acme-crm.example", "*.files.acme-crm.example"],
    ports: [{ port: 443, protocol: "tcp", match: "domain" }],
    sidBase: 1_000_000,
    accessState,
  }).rulesString.split("\n");

export function ruleGroupInputs(lines: readonly string[], ruleOrder = "STRICT_ORDER"): Inputs {
  const ipSet = (key: string, definitions: string[]) => ({ key, ipSet: { definitions } });
  return {
    name: "saas-acme-crm",
    type: "STATEFUL",
    capacity: 100,
    ruleGroup: {
      ruleVariables: { ipSets: [ipSet(SOURCE_VARIABLE, ["10.20.0.0/16"]), ipSet(DESTINATION_VARIABLE, ["10.99.0.0/28", "10.99.0.16/28"])] },
      rulesSource: { rulesString: lines.join("\n") },
      statefulRuleOptions: { ruleOrder },
    },
  };
}

/** The audit logging key: admins and AWS services only, never the provider (research §1.6). */
const loggingPolicy = JSON.stringify({
  Version: "2012-10-17",
  Statement: [
    {
      Sid: "KeyAdministration",
      Effect: "Allow",
      Principal: { AWS: `arn:aws:iam::${BRIDGE}:root` },
      Action: ["kms:Describe*", "kms:Put*"],
      Resource: "*",
      Condition: { ArnEquals: { "aws:PrincipalArn": [ADMIN] } },
    },
    {
      Sid: "CloudWatchLogs",
      Effect: "Allow",
      Principal: { Service: "logs.eu-west-1.amazonaws.com" },
      Action: ["kms:Encrypt*", "kms:Decrypt*", "kms:GenerateDataKey*"],
      Resource: "*",
      Condition: { ArnLike: { "kms:EncryptionContext:aws:logs:arn": `arn:aws:logs:eu-west-1:${BRIDGE}:log-group:/saas/*` } },
    },
    { Sid: "CloudTrail", Effect: "Allow", Principal: { Service: "cloudtrail.amazonaws.com" }, Action: ["kms:GenerateDataKey*"], Resource: "*" },
  ],
});

/** A compliant stack for one provider: outbound endpoint, inbound NLB, firewall, BYOK key, audit trail. */
export function goodGraph(accessState: AccessState): Graph {
  const active = accessState === "active";
  const vpcId = "vpc-0a1b2c3d4e5f60718";
  const ingress = (cidr: string) =>
    res(T.ingress, `acme-crm-ingress-tcp-443-${cidr.replace(/[./]/g, "-")}`, `sgr-${cidr.length}`, {
      securityGroupId: SG_ID, ipProtocol: "tcp", fromPort: 443, toPort: 443, cidrIpv4: cidr,
    });
  const grant = res(T.grant, N.grant, "grant-1", {
    keyId: `arn:aws:kms:eu-west-1:${BRIDGE}:key/${BYOK_KEY_ID}`,
    granteePrincipal: PROVIDER_ROLE,
    operations: ["Encrypt", "Decrypt", "GenerateDataKey", "DescribeKey"],
    constraints: [{ encryptionContextSubset: { ...CONTEXT } }],
    retiringPrincipal: `arn:aws:iam::${BRIDGE}:role/saas-bridge-offboarding`,
    retireOnDelete: false,
  });
  const bucket = res(T.bucket, N.bucket, BUCKET_ID, { bucketPrefix: "saas-acme-crm-trail-", forceDestroy: false });
  const allFour = { blockPublicAcls: true, blockPublicPolicy: true, ignorePublicAcls: true, restrictPublicBuckets: true };
  const accessLogBucket = res(T.bucket, N.accessLogBucket, ACCESS_LOG_BUCKET_ID, { bucketPrefix: "saas-acme-crm-access-", forceDestroy: false });
  const hsmVpc = res(T.vpc, N.hsmVpc, HSM_VPC_ID, { cidrBlock: "10.255.0.0/24" });
  return [
    { urn: urnOf("pulumi:pulumi:Stack", "saas-bridge-acme-crm"), type: "pulumi:pulumi:Stack", name: "saas-bridge-acme-crm", custom: false, id: "", inputs: {}, dependencies: [] },
    res(T.sg, N.sg, SG_ID, { vpcId, description: "endpoint ENIs", revokeRulesOnDelete: true }),
    ...(active ? [ingress("10.20.0.0/16"), ingress("10.30.0.0/16")] : []),
    res(T.endpoint, N.endpoint, "vpce-0123456789abcdef0", { vpcEndpointType: "Interface", securityGroupIds: [SG_ID] }),
    res(T.sg, "acme-crm-nlb-sg", NLB_SG_ID, { vpcId, description: "inbound NLB" }),
    res(T.egress, N.nlbEgress, "sgr-egress", { securityGroupId: NLB_SG_ID, ipProtocol: "tcp", fromPort: 8443, toPort: 8443, cidrIpv4: "10.40.0.10/32" }),
    ...(active
      ? [res(T.ingress, N.nlbIngress, "sgr-nlb-ingress", { securityGroupId: NLB_SG_ID, ipProtocol: "tcp", fromPort: 8443, toPort: 8443, cidrIpv4: INBOUND_SOURCE })]
      : []),
    res(T.lb, N.nlb, "nlb-1", {
      internal: true,
      loadBalancerType: "network",
      securityGroups: [NLB_SG_ID],
      enforceSecurityGroupInboundRulesOnPrivateLinkTraffic: "on",
      enableDeletionProtection: true,
    }),
    res(T.listener, N.listener, "listener-1", { port: 8443, protocol: "TLS", sslPolicy: "ELBSecurityPolicy-TLS13-1-2-2021-06" }),
    res(T.service, N.service, "vpce-svc-0aaaaaaaaaaaaaaaa", { acceptanceRequired: true, allowedPrincipals: active ? [`arn:aws:iam::${PROVIDER}:root`] : [] }),
    ...(active ? [res(T.accepter, N.accepter, "vpce-0bbbbbbbbbbbbbbbb", { vpcEndpointId: "vpce-0bbbbbbbbbbbbbbbb" })] : []),
    res(T.ruleGroup, N.ruleGroup, "rule-group-1", ruleGroupInputs(ruleLines(accessState))),
    res(T.key, N.key, BYOK_KEY_ID, { keyUsage: "ENCRYPT_DECRYPT", enableKeyRotation: true, rotationPeriodInDays: 365, policy: keyPolicy(accessState) }),
    res(T.alias, "acme-crm-alias", "alias/saas/acme-crm", { name: "alias/saas/acme-crm", targetKeyId: BYOK_KEY_ID }),
    ...(active ? [grant] : []),
    res(T.key, N.loggingKey, LOGGING_KEY_ID, { enableKeyRotation: true, policy: loggingPolicy }),
    res(T.logGroup, N.logGroup, "/saas/acme-crm/cloudtrail", { kmsKeyId: LOGGING_KEY_ARN, retentionInDays: 365 }),
    bucket,
    res(T.pab, N.pab, BUCKET_ID, { bucket: BUCKET_ID, ...allFour }, [bucket.urn]),
    res(T.trail, N.trail, "trail-1", { s3BucketName: BUCKET_ID, kmsKeyId: LOGGING_KEY_ARN, enableLogFileValidation: true }, [bucket.urn]),
    accessLogBucket,
    res(T.pab, N.accessLogPab, ACCESS_LOG_BUCKET_ID, { bucket: ACCESS_LOG_BUCKET_ID, ...allFour }, [accessLogBucket.urn]),
    res(T.bucketLogging, N.bucketLogging, BUCKET_ID, { bucket: BUCKET_ID, targetBucket: ACCESS_LOG_BUCKET_ID, targetPrefix: "s3-access/acme-crm/" }, [
      bucket.urn,
      accessLogBucket.urn,
    ]),
    hsmVpc,
    res(T.flowLog, N.hsmFlowLog, "fl-0123456789abcdef0", { vpcId: HSM_VPC_ID, trafficType: "ALL", logDestinationType: "cloud-watch-logs" }, [hsmVpc.urn]),
  ];
}

export const active = (): Graph => goodGraph("active");
export const revoked = (): Graph => goodGraph("revoked");

/** The graph with `patch` merged into the inputs of the resource named `name` (`undefined` deletes). */
export function patched(graph: readonly Planned[], name: string, patch: Inputs): Graph {
  byName(graph, name);
  return graph.map((r) => {
    if (r.name !== name) return r;
    const inputs: Inputs = { ...r.inputs, ...patch };
    for (const [k, v] of Object.entries(patch)) if (v === undefined) delete inputs[k];
    return { ...r, inputs };
  });
}

export const withResource = (graph: readonly Planned[], type: string, name: string, inputs: Inputs): Graph => [
  ...graph,
  res(type, name, `${name}-id`, inputs),
];

export function byName(graph: readonly Planned[], name: string): Planned {
  const found = graph.find((r) => r.name === name);
  if (!found) throw new Error(`no resource named ${name}`);
  return found;
}

type Statement = Record<string, unknown>;

/** The good key policy of `state` with its statements edited in place. */
export function policyWith(state: AccessState, edit: (statements: Statement[]) => void): string {
  const doc = JSON.parse(keyPolicy(state)) as { Statement: Statement[] };
  edit(doc.Statement);
  return JSON.stringify(doc);
}

export function statement(statements: Statement[], sid: string): Statement {
  const found = statements.find((s) => s["Sid"] === sid);
  if (!found) throw new Error(`no statement ${sid}`);
  return found;
}

/** The active key policy with the ProviderUse statement's Condition replaced. */
export const providerUseCondition = (condition: unknown): string =>
  policyWith("active", (s) => void (statement(s, "ProviderUse")["Condition"] = condition));

export const BOTH_CONTEXT_CONDITIONS = {
  "kms:EncryptionContext:saas:tenant": "acme-crm",
  "kms:EncryptionContext:saas:provider": "acme",
};

/** Each crafted bad graph: exactly these violations (code, resource name), in graph order. */
export interface BadGraph {
  readonly title: string;
  readonly state: AccessState;
  readonly graph: () => Graph;
  readonly expected: readonly (readonly [GuardrailCode, string])[];
}
const bad = (title: string, state: AccessState, graph: () => Graph, ...expected: [GuardrailCode, string][]): BadGraph => ({
  title,
  state,
  graph,
  expected,
});

const withRules = (lines: readonly string[]) => ruleGroupInputs(lines);
const editRules = (edit: (line: string) => string) => withRules(ruleLines("active").map(edit));
const onDrop = (proto: string, edit: (line: string) => string) => (l: string) => (l.startsWith(`drop ${proto}`) ? edit(l) : l);
const onPass = (proto: string, edit: (line: string) => string) => (l: string) => (l.startsWith(`pass ${proto}`) ? edit(l) : l);
function withSources(definitions: string[]): Inputs {
  const inputs = ruleGroupInputs(ruleLines("active"));
  const group = inputs["ruleGroup"] as { ruleVariables: { ipSets: { key: string; ipSet: { definitions: string[] } }[] } };
  group.ruleVariables.ipSets = group.ruleVariables.ipSets.map((s) => (s.key === SOURCE_VARIABLE ? { key: s.key, ipSet: { definitions } } : s));
  return inputs;
}
const PRINCIPAL_CONDITION = { ArnEquals: { "aws:PrincipalArn": [PROVIDER_ROLE] } };
const withoutRevokedDeny = (s: Record<string, unknown>[]) => void s.splice(s.indexOf(statement(s, "ProviderRevoked")), 1);

export const BAD_GRAPHS: readonly BadGraph[] = [
  // Security groups (research/aws-design.md §1.2)
  bad("ingress from 0.0.0.0/0", "active", () => patched(active(), N.ingress, { cidrIpv4: "0.0.0.0/0" }), ["SG_OPEN_TO_WORLD", N.ingress]),
  bad("ingress from another /0", "active", () => patched(active(), N.ingress, { cidrIpv4: "10.0.0.0/0" }), ["SG_OPEN_TO_WORLD", N.ingress]),
  bad("ingress from ::/0", "active", () => patched(active(), N.ingress, { cidrIpv4: undefined, cidrIpv6: "::/0" }), ["SG_OPEN_TO_WORLD", N.ingress]),
  bad("legacy SecurityGroupRule open to the world", "active",
    () => withResource(active(), T.legacyRule, "legacy", { type: "ingress", protocol: "tcp", fromPort: 443, toPort: 443, cidrBlocks: ["0.0.0.0/0"] }),
    ["SG_OPEN_TO_WORLD", "legacy"]),
  bad("inline ingress open to the world", "active",
    () => patched(active(), N.sg, { ingress: [{ protocol: "tcp", fromPort: 443, toPort: 443, cidrBlocks: ["0.0.0.0/0"] }] }),
    ["SG_INLINE_RULES", N.sg], ["SG_OPEN_TO_WORLD", N.sg]),
  bad("default security group with inline ingress from ::/0", "active",
    () => withResource(active(), T.defaultSg, "hsm-default-sg", { ingress: [{ protocol: "-1", fromPort: 0, toPort: 0, ipv6CidrBlocks: ["::/0"] }] }),
    ["SG_OPEN_TO_WORLD", "hsm-default-sg"]),
  bad("inline egress", "active",
    () => patched(active(), N.sg, { egress: [{ protocol: "tcp", fromPort: 443, toPort: 443, cidrBlocks: ["10.0.0.1/32"] }] }),
    ["SG_INLINE_RULES", N.sg]),
  bad("a port range", "active", () => patched(active(), N.ingress, { toPort: 444 }), ["SG_PORT_NOT_IN_SPEC", N.ingress]),
  bad("all protocols", "active", () => patched(active(), N.ingress, { ipProtocol: "-1", fromPort: -1, toPort: -1 }), ["SG_PORT_NOT_IN_SPEC", N.ingress]),
  bad("udp instead of tcp", "active", () => patched(active(), N.ingress, { ipProtocol: "udp" }), ["SG_PORT_NOT_IN_SPEC", N.ingress]),
  bad("a port not in the spec", "active", () => patched(active(), N.ingress, { fromPort: 22, toPort: 22 }), ["SG_PORT_NOT_IN_SPEC", N.ingress]),
  bad("ingress on the NLB security group from an org CIDR, not a SaaS client", "active",
    () => patched(active(), N.ingress, { securityGroupId: NLB_SG_ID }),
    ["NLB_SG_HAS_INGRESS", N.ingress]),
  // Issue 12, defect 5: PrivateLink traffic is subject to the NLB's group; ingress = listener port × client CIDR
  bad("NLB ingress from a CIDR the spec does not list", "active",
    () => patched(active(), N.nlbIngress, { cidrIpv4: "100.64.13.0/24" }), ["NLB_SG_HAS_INGRESS", N.nlbIngress]),
  bad("NLB ingress on a port no listener uses", "active",
    () => patched(active(), N.nlbIngress, { fromPort: 22, toPort: 22 }), ["NLB_SG_HAS_INGRESS", N.nlbIngress]),
  bad("NLB ingress over a port range", "active", () => patched(active(), N.nlbIngress, { toPort: 8444 }), ["NLB_SG_HAS_INGRESS", N.nlbIngress]),
  bad("NLB ingress from another security group", "active",
    () => patched(active(), N.nlbIngress, { cidrIpv4: undefined, referencedSecurityGroupId: "sg-0123456789abcdef0" }), ["NLB_SG_HAS_INGRESS", N.nlbIngress]),
  bad("NLB ingress over udp", "active", () => patched(active(), N.nlbIngress, { ipProtocol: "udp" }), ["NLB_SG_HAS_INGRESS", N.nlbIngress]),
  bad("NLB not enforcing its group on PrivateLink traffic", "active",
    () => patched(active(), N.nlb, { enforceSecurityGroupInboundRulesOnPrivateLinkTraffic: "off" }), ["NLB_PRIVATELINK_NOT_ENFORCED", N.nlb]),
  bad("NLB enforcement left to the default", "active",
    () => patched(active(), N.nlb, { enforceSecurityGroupInboundRulesOnPrivateLinkTraffic: undefined }), ["NLB_PRIVATELINK_NOT_ENFORCED", N.nlb]),
  bad("NLB without a security group", "revoked",
    () => patched(revoked(), N.nlb, { securityGroups: undefined }), ["NLB_PRIVATELINK_NOT_ENFORCED", N.nlb]),
  bad("revoked: NLB ingress left", "revoked", () => [...revoked(), byName(active(), N.nlbIngress)], ["REVOKED_ACCESS_REMAINS", N.nlbIngress]),
  // Inbound exposure (§1.3)
  bad("internet-facing NLB", "active", () => patched(active(), N.nlb, { internal: false }), ["NLB_NOT_INTERNAL", N.nlb]),
  bad("NLB without internal (AWS default: internet-facing)", "active", () => patched(active(), N.nlb, { internal: undefined }), ["NLB_NOT_INTERNAL", N.nlb]),
  bad("NLB without deletion protection (ELB.6)", "active", () => patched(active(), N.nlb, { enableDeletionProtection: false }), ["NLB_DELETION_PROTECTION_OFF", N.nlb]),
  bad("NLB deletion protection left to the default (off)", "revoked", () => patched(revoked(), N.nlb, { enableDeletionProtection: undefined }), ["NLB_DELETION_PROTECTION_OFF", N.nlb]),
  bad("listener on a port no target uses", "active", () => patched(active(), N.listener, { port: 22 }), ["INBOUND_PORT_NOT_IN_SPEC", N.listener]),
  bad("NLB egress to every port", "active",
    () => patched(active(), N.nlbEgress, { ipProtocol: "-1", fromPort: undefined, toPort: undefined }),
    ["INBOUND_PORT_NOT_IN_SPEC", N.nlbEgress]),
  bad("endpoint service without acceptance", "active", () => patched(active(), N.service, { acceptanceRequired: false }), ["ENDPOINT_SERVICE_OPEN", N.service]),
  bad("endpoint service open to *", "active", () => patched(active(), N.service, { allowedPrincipals: ["*"] }), ["ENDPOINT_SERVICE_OPEN", N.service]),
  bad("allowed principle resource for *", "active", () => withResource(active(), T.allowedPrinciple, "open", { principalArn: "*" }), ["ENDPOINT_SERVICE_OPEN", "open"]),
  // Outbound endpoint (§0: the default type is Gateway)
  bad("Gateway endpoint", "active", () => patched(active(), N.endpoint, { vpcEndpointType: "Gateway" }), ["ENDPOINT_NOT_INTERFACE", N.endpoint]),
  bad("endpoint type left to the default", "active", () => patched(active(), N.endpoint, { vpcEndpointType: undefined }), ["ENDPOINT_NOT_INTERFACE", N.endpoint]),
  // KMS keys and key policies (§1.5)
  bad("rotation off", "active", () => patched(active(), N.key, { enableKeyRotation: false }), ["KMS_KEY_ROTATION_DISABLED", N.key]),
  bad("rotation unset on the logging key", "active",
    () => patched(active(), N.loggingKey, { enableKeyRotation: undefined }), ["KMS_KEY_ROTATION_DISABLED", N.loggingKey]),
  bad("provider use without the context condition", "active",
    () => patched(active(), N.key, { policy: providerUseCondition(PRINCIPAL_CONDITION) }), ["KEY_POLICY_NOT_SCOPED", N.key]),
  bad("provider use with one of two context pairs", "active",
    () => patched(active(), N.key, { policy: providerUseCondition({ ...PRINCIPAL_CONDITION, StringEquals: { "kms:EncryptionContext:saas:tenant": "acme-crm" } }) }),
    ["KEY_POLICY_NOT_SCOPED", N.key]),
  bad("provider use with a list of context values", "active",
    () => patched(active(), N.key, {
      policy: providerUseCondition({ ...PRINCIPAL_CONDITION, StringEquals: { ...BOTH_CONTEXT_CONDITIONS, "kms:EncryptionContext:saas:tenant": ["acme-crm", "x"] } }),
    }),
    ["KEY_POLICY_NOT_SCOPED", N.key]),
  bad("provider use with a wildcard principal condition", "active",
    () => patched(active(), N.key, {
      policy: providerUseCondition({ ArnLike: { "aws:PrincipalArn": `arn:aws:iam::${PROVIDER}:role/*` }, StringEquals: BOTH_CONTEXT_CONDITIONS }),
    }),
    ["KEY_POLICY_NOT_SCOPED", N.key]),
  bad("provider DescribeKey without a principal condition", "active",
    () => patched(active(), N.key, { policy: policyWith("active", (s) => void delete statement(s, "ProviderDescribeKey")["Condition"]) }),
    ["KEY_POLICY_NOT_SCOPED", N.key]),
  bad("provider role named directly, unconditioned", "active",
    () => patched(active(), N.key, {
      policy: policyWith("active", (s) => void s.push({ Effect: "Allow", Principal: { AWS: PROVIDER_ROLE }, Action: "kms:Decrypt", Resource: "*" })),
    }),
    ["KEY_POLICY_NOT_SCOPED", N.key]),
  bad("an Allow to *", "active",
    () => patched(active(), N.key, {
      policy: policyWith("active", (s) => void s.push({ Effect: "Allow", Principal: "*", Action: "kms:DescribeKey", Resource: "*" })),
    }),
    ["KEY_POLICY_NOT_SCOPED", N.key]),
  bad("a policy that is not JSON", "active", () => patched(active(), N.key, { policy: "{not json" }), ["KEY_POLICY_NOT_SCOPED", N.key]),
  bad("a separate KeyPolicy allowing {AWS: [*]}", "active",
    () => withResource(active(), T.keyPolicy, "extra-policy", { policy: JSON.stringify({ Statement: { Effect: "Allow", Principal: { AWS: ["*"] }, Action: "kms:*" } }) }),
    ["KEY_POLICY_NOT_SCOPED", "extra-policy"]),
  bad("key admins with kms:Create*, which covers kms:CreateGrant (issue 12, defect 2)", "active",
    () => patched(active(), N.key, { policy: policyWith("active", (s) => void (statement(s, "KeyAdministration")["Action"] = ["kms:Create*", "kms:Describe*"])) }),
    ["KEY_ADMIN_CAN_USE_KEY", N.key]),
  // Grants
  bad("grant to another principal", "active",
    () => patched(active(), N.grant, { granteePrincipal: `arn:aws:iam::${PROVIDER}:role/other` }), ["GRANT_NOT_SCOPED", N.grant]),
  bad("grant that can re-grant", "active", () => patched(active(), N.grant, { operations: ["Decrypt", "CreateGrant"] }), ["GRANT_NOT_SCOPED", N.grant]),
  bad("grant without constraints", "active", () => patched(active(), N.grant, { constraints: undefined }), ["GRANT_UNCONSTRAINED", N.grant]),
  bad("grant pinning one of two pairs", "active",
    () => patched(active(), N.grant, { constraints: [{ encryptionContextSubset: { "saas:tenant": "acme-crm" } }] }), ["GRANT_UNCONSTRAINED", N.grant]),
  bad("grant pinning a wrong value", "active",
    () => patched(active(), N.grant, { constraints: [{ encryptionContextSubset: { ...CONTEXT, "saas:tenant": "other" } }] }), ["GRANT_UNCONSTRAINED", N.grant]),
  bad("grant with a second, weaker constraint", "active",
    () => patched(active(), N.grant, { constraints: [{ encryptionContextSubset: { ...CONTEXT } }, { encryptionContextSubset: {} }] }),
    ["GRANT_UNCONSTRAINED", N.grant]),
  // Revoked (§4.1)
  bad("revoked: ingress rule left", "revoked", () => [...revoked(), byName(active(), N.ingress)], ["REVOKED_ACCESS_REMAINS", N.ingress]),
  bad("revoked: grant left", "revoked", () => [...revoked(), byName(active(), N.grant)], ["REVOKED_ACCESS_REMAINS", N.grant]),
  bad("revoked: accepter left", "revoked", () => [...revoked(), byName(active(), N.accepter)], ["REVOKED_ACCESS_REMAINS", N.accepter]),
  bad("revoked: a scoped provider Allow left", "revoked",
    () => patched(revoked(), N.key, {
      policy: policyWith("revoked", (s) => void s.push(statement(JSON.parse(keyPolicy("active")).Statement, "ProviderDescribeKey"))),
    }),
    ["REVOKED_ACCESS_REMAINS", N.key]),
  bad("revoked: the key does not deny the provider", "revoked",
    () => patched(revoked(), N.key, { policy: policyWith("revoked", withoutRevokedDeny) }), ["REVOKED_ACCESS_REMAINS", N.key]),
  bad("revoked: the Deny is conditional", "revoked",
    () => patched(revoked(), N.key, {
      policy: policyWith("revoked", (s) => void (statement(s, "ProviderRevoked")["Condition"] = { StringEquals: { "aws:RequestedRegion": "eu-west-1" } })),
    }),
    ["REVOKED_ACCESS_REMAINS", N.key]),
  bad("revoked: the Deny misses kms:*", "revoked",
    () => patched(revoked(), N.key, { policy: policyWith("revoked", (s) => void (statement(s, "ProviderRevoked")["Action"] = ["kms:Decrypt"])) }),
    ["REVOKED_ACCESS_REMAINS", N.key]),
  bad("revoked: a key no audit resource uses must deny too", "revoked",
    () => patched(patched(revoked(), N.logGroup, { kmsKeyId: "alias/elsewhere" }), N.trail, { kmsKeyId: "alias/elsewhere" }),
    ["REVOKED_ACCESS_REMAINS", N.loggingKey]),
  bad("revoked: endpoint service still allows the provider", "revoked",
    () => patched(revoked(), N.service, { allowedPrincipals: [`arn:aws:iam::${PROVIDER}:root`] }), ["REVOKED_ACCESS_REMAINS", N.service]),
  bad("revoked: firewall still passes", "revoked", () => patched(revoked(), N.ruleGroup, withRules(ruleLines("active"))), ["REVOKED_ACCESS_REMAINS", N.ruleGroup]),
  // Audit (§1.6)
  bad("log group without a key", "active", () => patched(active(), N.logGroup, { kmsKeyId: undefined }), ["LOG_GROUP_UNENCRYPTED", N.logGroup]),
  bad("trail without a key", "active", () => patched(active(), N.trail, { kmsKeyId: "" }), ["TRAIL_UNENCRYPTED", N.trail]),
  bad("trail without validation", "active", () => patched(active(), N.trail, { enableLogFileValidation: false }), ["TRAIL_VALIDATION_DISABLED", N.trail]),
  bad("bucket without a public access block", "active", () => active().filter((r) => r.name !== N.pab), ["BUCKET_PUBLIC_ACCESS_NOT_BLOCKED", N.bucket]),
  bad("public access block with a flag off", "active",
    () => patched(active(), N.pab, { restrictPublicBuckets: false }), ["BUCKET_PUBLIC_ACCESS_NOT_BLOCKED", N.pab]),
  bad("public access block for another bucket", "active",
    () => patched(active(), N.pab, { bucket: "someone-elses" }).map((r) => (r.name === N.pab ? { ...r, dependencies: [] } : r)),
    ["BUCKET_PUBLIC_ACCESS_NOT_BLOCKED", N.bucket]),
  // Issue 12, defect 6: EC2.6 (flow logs in every VPC the program creates), S3.9 (server access logging)
  bad("created VPC without a flow log", "active", () => active().filter((r) => r.name !== N.hsmFlowLog), ["VPC_FLOW_LOGS_MISSING", N.hsmVpc]),
  bad("flow log of another VPC", "active",
    () => patched(active(), N.hsmFlowLog, { vpcId: "vpc-0d0d0d0d0d0d0d0d0" }).map((r) => (r.name === N.hsmFlowLog ? { ...r, dependencies: [] } : r)),
    ["VPC_FLOW_LOGS_MISSING", N.hsmVpc]),
  bad("flow log of accepted traffic only", "active", () => patched(active(), N.hsmFlowLog, { trafficType: "ACCEPT" }), ["VPC_FLOW_LOGS_MISSING", N.hsmVpc]),
  bad("trail bucket without access logging", "active", () => active().filter((r) => r.name !== N.bucketLogging), ["BUCKET_ACCESS_LOGGING_DISABLED", N.bucket], ["BUCKET_ACCESS_LOGGING_DISABLED", N.accessLogBucket]),
  bad("access logging of another bucket", "active",
    () => patched(active(), N.bucketLogging, { bucket: "someone-elses" }).map((r) => (r.name === N.bucketLogging ? { ...r, dependencies: [] } : r)),
    ["BUCKET_ACCESS_LOGGING_DISABLED", N.bucket]),
  // Firewall (§1.4)
  bad("firewall not STRICT_ORDER", "active",
    () => patched(active(), N.ruleGroup, ruleGroupInputs(ruleLines("active"), "DEFAULT_ACTION_ORDER")), ["FIREWALL_NOT_DEFAULT_DROP", N.ruleGroup]),
  bad("firewall missing its udp drop", "active",
    () => patched(active(), N.ruleGroup, withRules(ruleLines("active").filter((l) => !l.startsWith("drop udp")))), ["FIREWALL_NOT_DEFAULT_DROP", N.ruleGroup]),
  bad("firewall with a pass after the drops", "active",
    () => patched(active(), N.ruleGroup, withRules([...ruleLines("active"), 'pass tcp $SAAS_SRC any -> $SAAS_NET any (msg:"late"; sid:9;)'])),
    ["FIREWALL_NOT_DEFAULT_DROP", N.ruleGroup], ["FIREWALL_PASS_NOT_IN_SPEC", N.ruleGroup]),
  bad("firewall drop narrowed by content", "active",
    () => patched(active(), N.ruleGroup, editRules(onDrop("udp", (l) => l.replace("(", '(content:"x"; ')))), ["FIREWALL_NOT_DEFAULT_DROP", N.ruleGroup]),
  bad("firewall udp drop only once established", "active",
    () => patched(active(), N.ruleGroup, editRules(onDrop("udp", (l) => l.replace("(", "(flow:established; ")))), ["FIREWALL_NOT_DEFAULT_DROP", N.ruleGroup]),
  bad("firewall drops for another destination", "active",
    () => patched(active(), N.ruleGroup, editRules(onDrop("", (l) => l.replace("$SAAS_NET", "$OTHER_NET")))), ["FIREWALL_NOT_DEFAULT_DROP", N.ruleGroup]),
  bad("firewall drops tcp for one source only", "active",
    () => patched(active(), N.ruleGroup, editRules(onDrop("tcp", (l) => l.replace("drop tcp any", "drop tcp 10.0.0.1/32")))), ["FIREWALL_NOT_DEFAULT_DROP", N.ruleGroup]),
  bad("firewall as a domain list", "active",
    () => patched(active(), N.ruleGroup, { ruleGroup: { rulesSource: { rulesSourceList: { generatedRulesType: "ALLOWLIST", targets: [".acme.example"] } }, statefulRuleOptions: { ruleOrder: "STRICT_ORDER" } } }),
    ["FIREWALL_NOT_DEFAULT_DROP", N.ruleGroup]),
  bad("firewall with a line that is not a rule", "active",
    () => patched(active(), N.ruleGroup, withRules([...ruleLines("active"), "drop everything please"])), ["FIREWALL_NOT_DEFAULT_DROP", N.ruleGroup]),
  // Firewall passes (issue 12, defect 4): only the spec's ports, protocols and sources
  bad("firewall passes tls to any port", "active",
    () => patched(active(), N.ruleGroup, editRules(onPass("tls", (l) => l.replace("$SAAS_NET 443", "$SAAS_NET any")))), ["FIREWALL_PASS_NOT_IN_SPEC", N.ruleGroup]),
  bad("firewall passes http on a port the spec does not list", "active",
    () => patched(active(), N.ruleGroup, editRules(onPass("http", (l) => l.replace("$SAAS_NET 443", "$SAAS_NET [443,8080]")))), ["FIREWALL_PASS_NOT_IN_SPEC", N.ruleGroup]),
  bad("firewall 5-tuple pass on a domain-matched port", "active",
    () => patched(active(), N.ruleGroup, withRules(['pass tcp $SAAS_SRC any -> $SAAS_NET 443 (msg:"x"; flow:to_server; sid:9;)', ...ruleLines("active")])),
    ["FIREWALL_PASS_NOT_IN_SPEC", N.ruleGroup]),
  bad("firewall tls pass without an SNI match", "active",
    () => patched(active(), N.ruleGroup, editRules(onPass("tls", (l) => l.replace(/tls\.sni; content:"[^"]*"; nocase; (startswith; )?endswith; /, "")))),
    ["FIREWALL_PASS_NOT_IN_SPEC", N.ruleGroup]),
  bad("firewall passes icmp", "active",
    () => patched(active(), N.ruleGroup, withRules(['pass icmp $SAAS_SRC any -> $SAAS_NET any (msg:"x"; sid:9;)', ...ruleLines("active")])),
    ["FIREWALL_PASS_NOT_IN_SPEC", N.ruleGroup]),
  bad("firewall passes from any source", "active",
    () => patched(active(), N.ruleGroup, editRules(onPass("", (l) => l.replace("$SAAS_SRC", "any")))), ["FIREWALL_PASS_NOT_IN_SPEC", N.ruleGroup]),
  bad("firewall $SAAS_SRC wider than the spec's sources", "active",
    () => patched(active(), N.ruleGroup, withSources(["10.20.0.0/16", "10.0.0.0/8"])), ["FIREWALL_PASS_NOT_IN_SPEC", N.ruleGroup]),
];
