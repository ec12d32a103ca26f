import type {
  AccessReader,
  EndpointServiceFacts,
  KmsGrantFacts,
  NaclEntryFacts,
  OrgPolicyFacts,
  Reading,
  SecurityGroupRuleFacts,
  SubnetNaclFacts,
} from "./types.js";

/** A resource as the simulated cloud holds it now: its type and attributes (inputs and computed values). */
export interface CloudResource {
  readonly type: string;
  readonly outputs: Readonly<Record<string, unknown>>;
}

/**
 * What the simulated engine's cloud holds for one stack now: its state with the changes made outside the
 * engine applied (src/engine/simulated: the state store and its drift records). A port, so verification
 * does not depend on the engine's modules.
 */
export type SimulatedCloud = (stack: string) => Promise<readonly CloudResource[]>;

const T = {
  key: "aws:kms/key:Key",
  grant: "aws:kms/grant:Grant",
  group: "aws:ec2/securityGroup:SecurityGroup",
  ingress: "aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule",
  egress: "aws:vpc/securityGroupEgressRule:SecurityGroupEgressRule",
  subnet: "aws:ec2/subnet:Subnet",
  nacl: "aws:ec2/networkAcl:NetworkAcl",
  naclRule: "aws:ec2/networkAclRule:NetworkAclRule",
  naclAssociation: "aws:ec2/networkAclAssociation:NetworkAclAssociation",
  service: "aws:ec2/vpcEndpointService:VpcEndpointService",
  accepter: "aws:ec2/vpcEndpointConnectionAccepter:VpcEndpointConnectionAccepter",
  ruleGroup: "aws:networkfirewall/ruleGroup:RuleGroup",
  policy: "aws:organizations/policy:Policy",
  attachment: "aws:organizations/policyAttachment:PolicyAttachment",
} as const;

const str = (v: unknown): string | undefined => (typeof v === "string" && v !== "" ? v : undefined);
const num = (v: unknown): number | undefined => (typeof v === "number" && Number.isFinite(v) ? v : undefined);
const strings = (v: unknown): string[] => (Array.isArray(v) ? v.filter((s): s is string => typeof s === "string") : []);

/**
 * The AccessReader of the simulated engine: the same facts the AWS reader gets from the read APIs, taken
 * from the simulated cloud of the stack being verified. One "call" per fact read, so figures and receipts
 * count alike. It never fails to read: the simulated cloud is the service's own database.
 */
export function createSimulatedAccessReader(cloud: SimulatedCloud, stack: string): AccessReader {
  let snapshot: Promise<readonly CloudResource[]> | undefined;
  const resources = async (): Promise<readonly CloudResource[]> => (snapshot ??= cloud(stack));
  const ofType = async (type: string) => (await resources()).filter((r) => r.type === type).map((r) => r.outputs);
  const read = async <T>(value: () => Promise<T>): Promise<Reading<T>> => ({ ok: true, value: await value(), calls: 1 });

  return {
    name: "simulated",
    kmsKey: (_at, keyArn) =>
      read(async () => {
        const key = (await ofType(T.key)).find((k) => k["arn"] === keyArn);
        if (!key) return null;
        const enabled = key["isEnabled"] !== false;
        return { keyId: str(key["keyId"]) ?? str(key["id"]) ?? "", arn: keyArn, enabled, state: enabled ? "Enabled" : "Disabled", policy: str(key["policy"]) ?? "{}" };
      }),
    kmsGrants: (_at, keyArn) =>
      read(async () => {
        const keyId = keyArn.split("/").pop();
        return (await ofType(T.grant))
          .filter((g) => g["keyId"] === keyArn || g["keyId"] === keyId)
          .map((g): KmsGrantFacts => {
            const retiring = str(g["retiringPrincipal"]);
            const context = (g["constraints"] as { encryptionContextSubset?: Record<string, string> }[] | undefined)?.[0]?.encryptionContextSubset;
            return {
              grantId: str(g["grantId"]) ?? str(g["id"]) ?? "",
              granteePrincipal: str(g["granteePrincipal"]) ?? "",
              operations: strings(g["operations"]),
              ...(retiring ? { retiringPrincipal: retiring } : {}),
              ...(context ? { encryptionContextSubset: context } : {}),
            };
          });
      }),
    securityGroupRules: (_at, groupId) =>
      read(async () => {
        if (!(await ofType(T.group)).some((g) => g["id"] === groupId)) return null;
        const rule = (egress: boolean) => (r: Readonly<Record<string, unknown>>): SecurityGroupRuleFacts => {
          const [cidrIpv4, cidrIpv6, referencedGroupId, prefixListId] = [r["cidrIpv4"], r["cidrIpv6"], r["referencedSecurityGroupId"], r["prefixListId"]].map(str);
          const [fromPort, toPort] = [num(r["fromPort"]), num(r["toPort"])];
          return {
            ruleId: str(r["securityGroupRuleId"]) ?? str(r["id"]) ?? "",
            egress,
            protocol: str(r["ipProtocol"]) ?? "-1",
            ...(fromPort === undefined ? {} : { fromPort }),
            ...(toPort === undefined ? {} : { toPort }),
            ...(cidrIpv4 ? { cidrIpv4 } : {}),
            ...(cidrIpv6 ? { cidrIpv6 } : {}),
            ...(referencedGroupId ? { referencedGroupId } : {}),
            ...(prefixListId ? { prefixListId } : {}),
          };
        };
        const of = (r: Readonly<Record<string, unknown>>) => r["securityGroupId"] === groupId;
        return [...(await ofType(T.ingress)).filter(of).map(rule(false)), ...(await ofType(T.egress)).filter(of).map(rule(true))];
      }),
    subnetNacls: (_at, subnetIds) =>
      read(async () => {
        const existing = new Set((await ofType(T.subnet)).map((s) => s["id"]));
        const associations = await ofType(T.naclAssociation);
        const rules = await ofType(T.naclRule);
        const nacls = new Set((await ofType(T.nacl)).map((n) => n["id"]));
        return subnetIds
          .filter((id) => existing.has(id))
          .map((subnetId): SubnetNaclFacts => {
            const naclId = str(associations.find((a) => a["subnetId"] === subnetId)?.["networkAclId"]);
            // No association of ours (or its NACL is gone): the subnet is on the VPC's default NACL, which allows all.
            if (naclId === undefined || !nacls.has(naclId)) return { subnetId, naclId: "default", isDefault: true, entries: [...DEFAULT_NACL_ENTRIES, ...IMPLICIT_DENY] };
            const entries = rules
              .filter((r) => r["networkAclId"] === naclId)
              .map((r): NaclEntryFacts => {
                const cidr = str(r["cidrBlock"]);
                const v6 = str(r["ipv6CidrBlock"]);
                return {
                  ruleNumber: num(r["ruleNumber"]) ?? 0,
                  egress: r["egress"] === true,
                  action: r["ruleAction"] === "deny" ? "deny" : "allow",
                  protocol: str(r["protocol"]) ?? "-1",
                  ...(cidr ? { cidrBlock: cidr } : {}),
                  ...(v6 ? { ipv6CidrBlock: v6 } : {}),
                };
              });
            return { subnetId, naclId, isDefault: false, entries: [...entries, ...IMPLICIT_DENY] };
          });
      }),
    endpointService: (_at, serviceName) =>
      read(async (): Promise<EndpointServiceFacts | null> => {
        const service = (await ofType(T.service)).find((s) => s["serviceName"] === serviceName);
        if (!service) return null;
        const serviceId = str(service["id"]) ?? "";
        const connections = (await ofType(T.accepter))
          .filter((a) => a["vpcEndpointServiceId"] === serviceId)
          .map((a) => ({ endpointId: str(a["vpcEndpointId"]) ?? "", state: str(a["vpcEndpointState"]) ?? "available" }));
        return { serviceId, serviceName, allowedPrincipals: strings(service["allowedPrincipals"]), connections };
      }),
    ruleGroup: (_at, arn) =>
      read(async () => {
        const group = (await ofType(T.ruleGroup)).find((g) => g["arn"] === arn);
        if (!group) return null;
        const source = (group["ruleGroup"] as { rulesSource?: { rulesString?: unknown } } | undefined)?.rulesSource;
        return { arn, rulesString: str(source?.rulesString) ?? "" };
      }),
    attachedPolicies: (_at, targetAccountId, type) =>
      read(async () => {
        const attached = new Set((await ofType(T.attachment)).filter((a) => a["targetId"] === targetAccountId).map((a) => a["policyId"]));
        return (await ofType(T.policy))
          .filter((p) => p["type"] === type && attached.has(p["id"]))
          .map((p): OrgPolicyFacts => ({ policyId: str(p["id"]) ?? "", name: str(p["name"]) ?? "", content: str(p["content"]) ?? "{}" }));
      }),
  };
}

/** A VPC's default NACL: rule 100 allows all both ways, then the implicit deny (`*`, shown as 32767). */
const DEFAULT_NACL_ENTRIES: readonly NaclEntryFacts[] = [
  { ruleNumber: 100, egress: false, action: "allow", protocol: "-1", cidrBlock: "0.0.0.0/0" },
  { ruleNumber: 100, egress: true, action: "allow", protocol: "-1", cidrBlock: "0.0.0.0/0" },
];
const IMPLICIT_DENY: readonly NaclEntryFacts[] = [
  { ruleNumber: 32767, egress: false, action: "deny", protocol: "-1", cidrBlock: "0.0.0.0/0" },
  { ruleNumber: 32767, egress: true, action: "deny", protocol: "-1", cidrBlock: "0.0.0.0/0" },
];
