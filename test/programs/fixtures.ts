import { providerStackProgram } from "../../programs/provider-stack.js";
import { createMockCloud } from "../../programs/mock-cloud.js";
import { evaluateProgram, type Evaluation, type RegisteredResource } from "../../programs/evaluate-program.js";
import type { ProviderStackArgs } from "../../programs/types.js";

/** Resource type tokens the assertions look for. */
export const T = {
  provider: "pulumi:providers:aws",
  account: "aws:organizations/account:Account",
  securityGroup: "aws:ec2/securityGroup:SecurityGroup",
  ingressRule: "aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule",
  endpoint: "aws:ec2/vpcEndpoint:VpcEndpoint",
  ruleGroup: "aws:networkfirewall/ruleGroup:RuleGroup",
  key: "aws:kms/key:Key",
  alias: "aws:kms/alias:Alias",
  grant: "aws:kms/grant:Grant",
} as const;

export const NETWORK_ACCOUNT = "111111111111";
export const BRIDGE_ACCOUNT = "222222222222";
export const PROVIDER_ACCOUNT = "333333333333";
/** The Organizations management account: the default provider's. */
export const MANAGEMENT_ACCOUNT = "999999999999";
export const DEPLOY_ROLE = `arn:aws:iam::${BRIDGE_ACCOUNT}:role/OrganizationAccountAccessRole`;

/** A valid, fully resolved ProviderStackArgs; override whole sections as needed. */
export function providerStackArgs(overrides: Partial<ProviderStackArgs> = {}): ProviderStackArgs {
  return {
    name: "acme-crm",
    accessState: "active",
    region: "eu-west-1",
    allowedRegions: ["eu-west-1", "eu-central-1"],
    tags: { "saas:provider": "acme-crm", "managed-by": "saas-bridge" },
    managementAccountId: MANAGEMENT_ACCOUNT,
    network: {
      accountId: NETWORK_ACCOUNT,
      deployRoleArn: `arn:aws:iam::${NETWORK_ACCOUNT}:role/saas-bridge-deploy`,
      vpcId: "vpc-0a1b2c3d4e5f60718",
      routeTableId: "rtb-0a1b2c3d4e5f60718",
      subnets: [
        { azId: "euw1-az1", cidr: "10.100.0.0/28" },
        { azId: "euw1-az2", cidr: "10.100.0.16/28" },
      ],
      flowLogs: { kmsKeyArn: `arn:aws:kms:eu-west-1:${NETWORK_ACCOUNT}:key/0b7d3c52-4f0e-4a43-9a1e-1c2d3e4f5a6b`, retentionInDays: 365 },
    },
    bridge: { kind: "existing", accountId: BRIDGE_ACCOUNT, accessRoleName: "OrganizationAccountAccessRole" },
    provider: { awsAccountId: PROVIDER_ACCOUNT, principalArns: [`arn:aws:iam::${PROVIDER_ACCOUNT}:role/acme-crm-kms`] },
    outbound: {
      endpointServiceName: "com.amazonaws.vpce.eu-west-1.vpce-svc-0123456789abcdef0",
      ports: [{ port: 443, protocol: "tcp", match: "domain" }],
      allowedSourceCidrs: ["10.20.0.0/16", "10.30.0.0/16"],
      privateDns: true,
      connectionAccepted: false,
    },
    firewall: { allowedDomains: ["api.acme-crm.example", "*.files.acme-crm.example"], sidBase: 1_000_000, capacity: 100 },
    kms: {
      grantOperations: ["Encrypt", "Decrypt", "GenerateDataKey", "DescribeKey"],
      encryptionContext: { "saas:tenant": "acme-crm" },
      keyStore: "kms",
      adminRoleArns: [DEPLOY_ROLE, `arn:aws:iam::${BRIDGE_ACCOUNT}:role/break-glass`],
      retiringPrincipalArn: `arn:aws:iam::${BRIDGE_ACCOUNT}:role/saas-bridge-offboarding`,
      deletionWindowInDays: 30,
    },
    audit: { retentionInDays: 365, accessLogArchive: { bucket: "example-org-log-archive", accountId: "444444444444", prefix: "s3-access-logs/" } },
    ...overrides,
  };
}

/** Evaluates the provider-stack program under the strict mock cloud. */
export function evaluateProviderStack(args: ProviderStackArgs, preview = false): Promise<Evaluation> {
  return evaluateProgram(providerStackProgram(args), {
    project: "saas-bridge",
    stack: args.name,
    mocks: createMockCloud({ region: args.region, callerAccountId: args.managementAccountId }),
    preview,
    // CloudHSM phase 2 reads the kmsuser password from secret stack config, as an engine would set it.
    ...(args.kms.cloudHsm?.keyStore ? { config: { values: { "saas-bridge:kmsuserPassword": TEST_KMSUSER_PASSWORD }, secretKeys: ["saas-bridge:kmsuserPassword"] } } : {}),
  });
}

/** The kmsuser password the program tests hand the provider stack in phase 2. */
export const TEST_KMSUSER_PASSWORD = "test-kmsuser-pw-1";

/** Evaluates a tiny program (e.g. one component) under the strict mock cloud. */
export function evaluateComponent(build: () => Record<string, unknown> | void, preview = false): Promise<Evaluation> {
  return evaluateProgram(async () => build() ?? {}, {
    project: "saas-bridge",
    stack: "component-test",
    mocks: createMockCloud({ region: "eu-west-1", callerAccountId: MANAGEMENT_ACCOUNT }),
    preview,
  });
}

export function ofType(evaluation: Evaluation, type: string): RegisteredResource[] {
  return evaluation.resources.filter((r) => r.type === type);
}

export function single(evaluation: Evaluation, type: string): RegisteredResource {
  const found = ofType(evaluation, type);
  if (found.length !== 1) throw new Error(`expected exactly one ${type}, found ${found.length}`);
  return found[0] as RegisteredResource;
}

/** The one resource of `type` whose parent component has the type token `component`. */
export function childOf(evaluation: Evaluation, type: string, component: string): RegisteredResource {
  const found = ofType(evaluation, type).filter((r) => r.parent.split("::")[2]?.endsWith(component));
  if (found.length !== 1) throw new Error(`expected exactly one ${type} under ${component}, found ${found.length}`);
  return found[0] as RegisteredResource;
}

/** The provider's BYOK key (the bridge account also holds a logging key). */
export const byokKeyOf = (evaluation: Evaluation) => childOf(evaluation, T.key, "saas-bridge:kms:ByokKey");
/** The endpoint's security group (inbound exposure has its own). */
export const endpointGroupOf = (evaluation: Evaluation) => childOf(evaluation, T.securityGroup, "saas-bridge:network:PrivateLinkEndpoint");

export function str(value: unknown): string {
  if (typeof value !== "string") throw new Error(`expected a string, got ${JSON.stringify(value)}`);
  return value;
}

export interface Statement {
  Sid: string;
  Effect: "Allow" | "Deny";
  Principal: { AWS: string | string[] };
  Action: string[];
  Condition?: Record<string, Record<string, string | string[]>>;
}

/** The key policy as the Key resource received it. */
export function keyPolicyOf(evaluation: Evaluation): Statement[] {
  const policy = JSON.parse(str(byokKeyOf(evaluation).inputs["policy"])) as { Statement: Statement[] };
  return policy.Statement;
}

interface RuleGroupInputs {
  ruleGroup: {
    rulesSource: { rulesString: string };
    statefulRuleOptions: { ruleOrder: string };
    ruleVariables: { ipSets: { key: string; ipSet: { definitions: string[] } }[] };
  };
}

export function ruleGroupOf(evaluation: Evaluation): RuleGroupInputs["ruleGroup"] {
  return (single(evaluation, T.ruleGroup).inputs as unknown as RuleGroupInputs).ruleGroup;
}

export function rulesOf(evaluation: Evaluation): string[] {
  return ruleGroupOf(evaluation).rulesSource.rulesString.split("\n");
}
