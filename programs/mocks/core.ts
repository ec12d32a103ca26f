import { arn, digest, dnsSuffix, stable, uuid, type MockArea } from "./context.js";

/** Endpoint security group and rules, interface endpoint, rule group, hub policy, BYOK key. */
export const core: MockArea = {
  replaceOn: {
    "aws:ec2/securityGroup:SecurityGroup": ["vpcId", "name", "namePrefix", "description"],
    "aws:ec2/vpcEndpoint:VpcEndpoint": ["vpcId", "serviceName", "vpcEndpointType"],
    "aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule": ["securityGroupId"],
    "aws:networkfirewall/ruleGroup:RuleGroup": ["name", "type", "capacity"],
    "aws:kms/key:Key": ["keyUsage", "customerMasterKeySpec", "customKeyStoreId", "multiRegion"],
    "aws:kms/alias:Alias": ["name"],
    "aws:kms/grant:Grant": ["keyId", "granteePrincipal", "operations", "constraints", "retiringPrincipal", "name"],
    "aws:networkfirewall/firewallPolicy:FirewallPolicy": ["name"],
  },
  computed: {
    "aws:ec2/securityGroup:SecurityGroup": (c) => {
      const id = `sg-${c.hex(17)}`;
      return { id, state: { arn: arn(c, "ec2", `security-group/${id}`), ownerId: c.accountId, name: c.inputs["name"] ?? `${c.name}-${c.hex(7, "name")}` } };
    },
    "aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule": (c) => {
      const id = `sgr-${c.hex(17)}`;
      return { id, state: { securityGroupRuleId: id, arn: arn(c, "ec2", `security-group-rule/${id}`) } };
    },
    "aws:ec2/vpcEndpoint:VpcEndpoint": (c) => {
      const id = `vpce-${c.hex(17)}`;
      const service = /vpce-svc-[0-9a-f]{17}$/.exec(String(c.inputs["serviceName"] ?? ""))?.[0] ?? `vpce-svc-${c.hex(17, "svc")}`;
      const suffix = dnsSuffix(c.partition);
      const host = `${id}-${c.hex(8, "dns")}`;
      const subnets = Array.isArray(c.inputs["subnetIds"]) ? c.inputs["subnetIds"] : [];
      const zoneId = `Z${c.hex(13, "zone").toUpperCase()}`;
      const zonal = subnets.map((_, i) => `${host}-${c.region}${"abcdef"[i % 6]}.${service}.${c.region}.vpce.${suffix}`);
      const dnsEntries = [`${host}.${service}.${c.region}.vpce.${suffix}`, ...zonal].map((dnsName) => ({ dnsName, hostedZoneId: zoneId }));
      return {
        id,
        state: {
          arn: arn(c, "ec2", `vpc-endpoint/${id}`),
          state: "pendingAcceptance",
          dnsEntries,
          networkInterfaceIds: subnets.map((_, i) => `eni-${c.hex(17, `eni${i}`)}`),
          ownerId: c.accountId,
          requesterManaged: false,
          cidrBlocks: [],
        },
      };
    },
    "aws:networkfirewall/ruleGroup:RuleGroup": (c) => {
      const kind = c.inputs["type"] === "STATELESS" ? "stateless-rulegroup" : "stateful-rulegroup";
      const id = arn(c, "network-firewall", `${kind}/${String(c.inputs["name"] ?? c.name)}`);
      // The update token changes with the content, like AWS's optimistic-locking token.
      return { id, state: { arn: id, updateToken: uuid(digest(JSON.stringify(c.inputs, stable))) } };
    },
    "aws:networkfirewall/firewallPolicy:FirewallPolicy": (c) => {
      const id = arn(c, "network-firewall", `firewall-policy/${String(c.inputs["name"] ?? c.name)}`);
      return { id, state: { arn: id, updateToken: uuid(digest(JSON.stringify(c.inputs, stable))) } };
    },
    "aws:kms/key:Key": (c) => {
      const keyId = uuid(c.hex(32));
      return { id: keyId, state: { keyId, arn: arn(c, "kms", `key/${keyId}`), isEnabled: c.inputs["isEnabled"] ?? true } };
    },
    "aws:kms/alias:Alias": (c) => {
      const name = String(c.inputs["name"] ?? `alias/${c.name}`);
      const target = String(c.inputs["targetKeyId"] ?? "");
      return { id: name, state: { name, arn: arn(c, "kms", name), targetKeyArn: target.startsWith("arn:") ? target : arn(c, "kms", `key/${target}`) } };
    },
    // No grantToken: it is a secret and nothing may depend on it (ByokKey never exports it).
    "aws:kms/grant:Grant": (c) => {
      const grantId = c.hex(64);
      const keyId = String(c.inputs["keyId"] ?? "").split("/").pop() ?? "";
      return { id: `${keyId}:${grantId}`, state: { grantId } };
    },
  },
};
