import { buildQuarantineRcp, renderOrgPolicy } from "../../programs/components/org-policies.js";
import type { Expectation, KmsKeyFacts, SubnetNaclFacts, VerificationTarget } from "../../src/verification/types.js";

/** Targets and facts shaped like what the provider program creates (issue 17's checks, unit and moto tests). */

export const PROVIDER_ACCOUNT = "222222222222";
export const BRIDGE_ACCOUNT = "333333333333";
export const PRINCIPALS = [`arn:aws:iam::${PROVIDER_ACCOUNT}:role/ingest`, `arn:aws:iam::${PROVIDER_ACCOUNT}:role/reader`];
export const OPERATIONS = ["Decrypt", "GenerateDataKey"];
export const KEY_ARN = `arn:aws:kms:eu-west-1:${BRIDGE_ACCOUNT}:key/1234abcd-12ab-34cd-56ef-1234567890ab`;
export const RULE_GROUP_ARN = "arn:aws:network-firewall:eu-west-1:111111111111:stateful-rulegroup/saas-acme";
export const REVOKED_RULES = 'drop ip any any -> $SAAS_DST any (msg:"saas-acme revoked: drop all"; sid:1000; rev:1;)';
export const ACTIVE_RULES = [
  'pass tls $SAAS_SRC any -> $SAAS_DST 443 (tls.sni; content:"api.acme.example"; endswith; msg:"pass"; flow:to_server; sid:1000; rev:1;)',
  'drop tcp any any -> $SAAS_DST any (msg:"default drop tcp"; flow:to_server, established; sid:1001; rev:1;)',
].join("\n");

export function target(expectation: Expectation, overrides: Partial<VerificationTarget> = {}): VerificationTarget {
  return {
    provider: "acme",
    expectation,
    providerAccountId: PROVIDER_ACCOUNT,
    providerPrincipalArns: PRINCIPALS,
    network: { region: "eu-west-1" },
    bridge: { region: "eu-west-1", accountId: BRIDGE_ACCOUNT },
    management: { region: "us-east-1" },
    keyArn: KEY_ARN,
    grantOperations: OPERATIONS,
    securityGroupId: "sg-0123456789abcdef0",
    expectedIngress: [{ cidr: "10.20.0.0/16", protocol: "tcp", port: 443 }],
    subnetIds: ["subnet-aaaa", "subnet-bbbb"],
    inbound: { serviceName: "com.amazonaws.vpce.eu-west-1.vpce-svc-0abc", acceptedEndpointIds: ["vpce-0aaa"] },
    ruleGroupArn: RULE_GROUP_ARN,
    expectedRulesString: ACTIVE_RULES,
    ...overrides,
  };
}

const adminStatement = {
  Sid: "KeyAdministration",
  Effect: "Allow",
  Principal: { AWS: `arn:aws:iam::${BRIDGE_ACCOUNT}:root` },
  Action: ["kms:DescribeKey"],
  Resource: "*",
  Condition: { ArnEquals: { "aws:PrincipalArn": [`arn:aws:iam::${BRIDGE_ACCOUNT}:role/admin`] } },
};

/** The key policy of key-policy.ts: a revoked one adds the unconditional Deny of kms:* to the provider's root. */
export function keyPolicy(state: "active" | "revoked"): string {
  const statements: object[] = [adminStatement];
  if (state === "revoked") statements.push({ Sid: "ProviderRevoked", Effect: "Deny", Principal: { AWS: `arn:aws:iam::${PROVIDER_ACCOUNT}:root` }, Action: ["kms:*"], Resource: "*" });
  else statements.push({ Sid: "ProviderUse", Effect: "Allow", Principal: { AWS: `arn:aws:iam::${PROVIDER_ACCOUNT}:root` }, Action: ["kms:Decrypt"], Resource: "*" });
  return JSON.stringify({ Version: "2012-10-17", Statement: statements });
}

export function key(policy: string, state = "Enabled"): KmsKeyFacts {
  return { keyId: "1234abcd-12ab-34cd-56ef-1234567890ab", arn: KEY_ARN, enabled: state === "Enabled", state, policy };
}

/** The deny NACL of subnet-nacl.ts (rule 1 denies all, both ways) or a default one (rule 100 allows all). */
export function nacl(subnetId: string, kind: "deny" | "default"): SubnetNaclFacts {
  const action = kind === "deny" ? "deny" : "allow";
  const number = kind === "deny" ? 1 : 100;
  return {
    subnetId,
    naclId: kind === "deny" ? "acl-deny" : "acl-default",
    isDefault: kind === "default",
    entries: [
      { ruleNumber: number, egress: false, action, protocol: "-1", cidrBlock: "0.0.0.0/0" },
      { ruleNumber: number, egress: true, action, protocol: "-1", cidrBlock: "0.0.0.0/0" },
      { ruleNumber: 32767, egress: false, action: "deny", protocol: "-1", cidrBlock: "0.0.0.0/0" },
      { ruleNumber: 32767, egress: true, action: "deny", protocol: "-1", cidrBlock: "0.0.0.0/0" },
    ],
  };
}

export const quarantineContent = (): string => renderOrgPolicy(buildQuarantineRcp(PROVIDER_ACCOUNT), "quarantine");
