import {
  AuthorizeSecurityGroupIngressCommand,
  CreateNetworkAclCommand,
  CreateNetworkAclEntryCommand,
  CreateSecurityGroupCommand,
  CreateSubnetCommand,
  CreateVpcCommand,
  CreateVpcEndpointServiceConfigurationCommand,
  DescribeNetworkAclsCommand,
  EC2Client,
  ReplaceNetworkAclAssociationCommand,
} from "@aws-sdk/client-ec2";
import { CreateGrantCommand, CreateKeyCommand, KMSClient, PutKeyPolicyCommand } from "@aws-sdk/client-kms";
import {
  AttachPolicyCommand,
  CreateAccountCommand,
  CreateOrganizationCommand,
  CreatePolicyCommand,
  EnablePolicyTypeCommand,
  ListRootsCommand,
  OrganizationsClient,
} from "@aws-sdk/client-organizations";
import { buildQuarantineRcp, renderOrgPolicy } from "../../programs/components/org-policies.js";
import type { VerificationTarget } from "../../src/verification/types.js";

/**
 * A provider's resources made in moto through the AWS SDK, as the provider program would have left them
 * (revoked: the key policy's deny, no grant, no ingress, the deny NACL on the subnets, the endpoint service
 * allowing nobody, the quarantine RCP on the bridge account; active: grants, ingress, default NACL).
 * Used by test/verification and bench/verification.ts. Rule groups are not made: moto has no Network
 * Firewall rule group API (its check is then not verifiable).
 */

export const REGION = "eu-west-1";
/** moto's default account: every role below lives there, so STS AssumeRole works and reads land in one account. */
export const MOTO_ACCOUNT = "123456789012";
export const GRANT_OPERATIONS = ["Decrypt", "GenerateDataKey"] as const;
export const EXPECTED_INGRESS = [{ cidr: "10.20.0.0/16", protocol: "tcp", port: 443 }] as const;

export interface MotoClients {
  readonly endpoint: string;
  readonly kms: KMSClient;
  readonly ec2: EC2Client;
  readonly organizations: OrganizationsClient;
}

/** SDK clients for the fixtures: the emulator's endpoint and dummy credentials, never the process's. */
export function motoClients(endpoint: string): MotoClients {
  const config = { endpoint, credentials: { accessKeyId: "testing", secretAccessKey: "testing" }, maxAttempts: 1 };
  return {
    endpoint,
    kms: new KMSClient({ ...config, region: REGION }),
    ec2: new EC2Client({ ...config, region: REGION }),
    organizations: new OrganizationsClient({ ...config, region: "us-east-1" }),
  };
}

/** The shared network (one VPC, like the network account's) and the organization with RCPs enabled. */
export interface MotoLandingZone {
  readonly vpcId: string;
  readonly defaultNaclId: string;
}

export async function createLandingZone(clients: MotoClients): Promise<MotoLandingZone> {
  const vpc = await clients.ec2.send(new CreateVpcCommand({ CidrBlock: "10.100.0.0/16" }));
  const vpcId = vpc.Vpc?.VpcId ?? "";
  const acls = await clients.ec2.send(new DescribeNetworkAclsCommand({ Filters: [{ Name: "vpc-id", Values: [vpcId] }, { Name: "default", Values: ["true"] }] }));
  await clients.organizations.send(new CreateOrganizationCommand({ FeatureSet: "ALL" }));
  const roots = await clients.organizations.send(new ListRootsCommand({}));
  await clients.organizations.send(new EnablePolicyTypeCommand({ RootId: roots.Roots?.[0]?.Id ?? "", PolicyType: "RESOURCE_CONTROL_POLICY" }));
  return { vpcId, defaultNaclId: acls.NetworkAcls?.[0]?.NetworkAclId ?? "" };
}

export interface MotoProvider {
  readonly target: VerificationTarget;
  readonly keyArn: string;
  readonly securityGroupId: string;
  readonly subnetIds: readonly string[];
  readonly denyNaclId?: string;
}

/**
 * The program's key policy (key-policy.ts), but the revoked Deny names the key's ARN as its Resource rather
 * than "*" (the same key in a key policy): moto applies any Deny of kms:* on "*" to every caller, whatever its
 * Principal, and would refuse the verifier's own DescribeKey.
 */
function keyPolicy(providerAccountId: string, revoked: boolean, keyArn: string): string {
  const admin = { Sid: "KeyAdministration", Effect: "Allow", Principal: { AWS: `arn:aws:iam::${MOTO_ACCOUNT}:root` }, Action: "kms:*", Resource: "*" };
  const provider = revoked
    ? { Sid: "ProviderRevoked", Effect: "Deny", Principal: { AWS: `arn:aws:iam::${providerAccountId}:root` }, Action: ["kms:*"], Resource: keyArn }
    : { Sid: "ProviderUse", Effect: "Allow", Principal: { AWS: `arn:aws:iam::${providerAccountId}:root` }, Action: ["kms:Decrypt", "kms:GenerateDataKey"], Resource: "*" };
  return JSON.stringify({ Version: "2012-10-17", Statement: [admin, provider] });
}

/**
 * An internal NLB in the subnets, through the ELBv2 Query API by hand: the repo has no ELBv2 client (the
 * verifier reads none), and moto neither checks the signature nor needs more than the credential scope.
 */
async function createNlb(endpoint: string, name: string, subnetIds: readonly string[]): Promise<string> {
  const body = new URLSearchParams({ Action: "CreateLoadBalancer", Version: "2015-12-01", Name: name, Type: "network", Scheme: "internal" });
  subnetIds.forEach((id, i) => body.set(`Subnets.member.${i + 1}`, id));
  const res = await fetch(endpoint, {
    method: "POST",
    headers: {
      "content-type": "application/x-www-form-urlencoded",
      authorization: `AWS4-HMAC-SHA256 Credential=testing/20260101/${REGION}/elasticloadbalancing/aws4_request, SignedHeaders=host, Signature=0`,
    },
    body,
    signal: AbortSignal.timeout(10_000),
  });
  const text = await res.text();
  const arn = /<LoadBalancerArn>([^<]+)<\/LoadBalancerArn>/.exec(text)?.[1];
  if (!res.ok || arn === undefined) throw new Error(`moto CreateLoadBalancer answered ${res.status}: ${text.slice(0, 200)}`);
  return arn;
}

/** The subnet's current NACL association id (ReplaceNetworkAclAssociation needs it). */
export async function naclAssociationId(ec2: EC2Client, subnetId: string): Promise<string> {
  const out = await ec2.send(new DescribeNetworkAclsCommand({ Filters: [{ Name: "association.subnet-id", Values: [subnetId] }] }));
  const association = out.NetworkAcls?.flatMap((acl) => acl.Associations ?? []).find((a) => a.SubnetId === subnetId);
  if (!association?.NetworkAclAssociationId) throw new Error(`no NACL association for ${subnetId}`);
  return association.NetworkAclAssociationId;
}

export async function moveSubnet(ec2: EC2Client, subnetId: string, naclId: string): Promise<void> {
  await ec2.send(new ReplaceNetworkAclAssociationCommand({ AssociationId: await naclAssociationId(ec2, subnetId), NetworkAclId: naclId }));
}

/**
 * One provider (index n: its own /24s, provider account, bridge account) in the given state. Provider
 * account ids are made up (moto does not check them); the bridge account is created in the organization.
 */
export async function createProvider(clients: MotoClients, zone: MotoLandingZone, n: number, state: "active" | "revoked"): Promise<MotoProvider> {
  const { ec2, kms, organizations } = clients;
  const slug = `p${n}`;
  const providerAccountId = String(200_000_000_000 + n);
  const principals = [`arn:aws:iam::${providerAccountId}:role/ingest`, `arn:aws:iam::${providerAccountId}:role/reader`];
  const revoked = state === "revoked";

  const key = await kms.send(new CreateKeyCommand({ Description: `saas-${slug}` }));
  const keyArn = key.KeyMetadata?.Arn ?? "";
  await kms.send(new PutKeyPolicyCommand({ KeyId: keyArn, PolicyName: "default", Policy: keyPolicy(providerAccountId, revoked, keyArn) }));
  if (!revoked) {
    for (const principal of principals) await kms.send(new CreateGrantCommand({ KeyId: keyArn, GranteePrincipal: principal, Operations: [...GRANT_OPERATIONS] }));
  }

  const subnetIds: string[] = [];
  for (const [i, az] of ["a", "b"].entries()) {
    // Two /24s of the VPC's /16 per provider: 128 providers at most.
    const third = n * 2 + i;
    if (third > 255) throw new Error(`provider ${n}: the fixture VPC holds 128 providers`);
    const subnet = await ec2.send(new CreateSubnetCommand({ VpcId: zone.vpcId, CidrBlock: `10.100.${third}.0/24`, AvailabilityZone: `${REGION}${az}` }));
    subnetIds.push(subnet.Subnet?.SubnetId ?? "");
  }
  const group = await ec2.send(new CreateSecurityGroupCommand({ GroupName: `saas-${slug}-endpoint`, Description: `saas ${slug}`, VpcId: zone.vpcId }));
  const securityGroupId = group.GroupId ?? "";
  if (!revoked) {
    await ec2.send(new AuthorizeSecurityGroupIngressCommand({ GroupId: securityGroupId, IpPermissions: EXPECTED_INGRESS.map((r) => ({ IpProtocol: r.protocol, FromPort: r.port, ToPort: r.port, IpRanges: [{ CidrIp: r.cidr }] })) }));
  }

  let denyNaclId: string | undefined;
  if (revoked) {
    const acl = await ec2.send(new CreateNetworkAclCommand({ VpcId: zone.vpcId, TagSpecifications: [{ ResourceType: "network-acl", Tags: [{ Key: "Name", Value: `saas-${slug}-revoked` }] }] }));
    denyNaclId = acl.NetworkAcl?.NetworkAclId ?? "";
    for (const Egress of [false, true]) {
      await ec2.send(new CreateNetworkAclEntryCommand({ NetworkAclId: denyNaclId, RuleNumber: 1, Protocol: "-1", RuleAction: "deny", Egress, CidrBlock: "0.0.0.0/0" }));
    }
    for (const subnetId of subnetIds) await moveSubnet(ec2, subnetId, denyNaclId);
  }

  const nlbArn = await createNlb(clients.endpoint, `saas-${slug}-nlb`, subnetIds);
  const service = await ec2.send(new CreateVpcEndpointServiceConfigurationCommand({ AcceptanceRequired: true, NetworkLoadBalancerArns: [nlbArn] }));
  const serviceName = service.ServiceConfiguration?.ServiceName ?? "";

  const account = await organizations.send(new CreateAccountCommand({ AccountName: `saas-bridge-${slug}`, Email: `${slug}@bridge.example` }));
  const bridgeAccountId = account.CreateAccountStatus?.AccountId ?? "";
  if (revoked) {
    const content = renderOrgPolicy(buildQuarantineRcp(providerAccountId), "quarantine");
    const policy = await organizations.send(new CreatePolicyCommand({ Name: `saas-bridge-${slug}-quarantine`, Description: "quarantine", Type: "RESOURCE_CONTROL_POLICY", Content: content }));
    await organizations.send(new AttachPolicyCommand({ PolicyId: policy.Policy?.PolicySummary?.Id ?? "", TargetId: bridgeAccountId }));
  }

  const target: VerificationTarget = {
    provider: slug,
    expectation: state,
    providerAccountId,
    providerPrincipalArns: principals,
    network: { region: REGION, roleArn: `arn:aws:iam::${MOTO_ACCOUNT}:role/saas-network-deploy` },
    bridge: { region: REGION, roleArn: `arn:aws:iam::${MOTO_ACCOUNT}:role/saas-bridge-access`, accountId: bridgeAccountId },
    management: { region: "us-east-1" },
    keyArn,
    grantOperations: [...GRANT_OPERATIONS],
    securityGroupId,
    expectedIngress: [...EXPECTED_INGRESS],
    subnetIds,
    inbound: { serviceName, acceptedEndpointIds: [] },
    ruleGroupArn: `arn:aws:network-firewall:${REGION}:${MOTO_ACCOUNT}:stateful-rulegroup/saas-${slug}`,
  };
  return { target, keyArn, securityGroupId, subnetIds, ...(denyNaclId ? { denyNaclId } : {}) };
}
