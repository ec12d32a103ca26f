import * as aws from "@pulumi/aws";
import { describe, expect, test } from "vitest";
import { PrivateLinkEndpoint, type PrivateLinkEndpointArgs } from "../../programs/components/private-link-endpoint.js";
import { evaluateComponent, NETWORK_ACCOUNT, ofType, single, str, T } from "./fixtures.js";

const N = {
  subnet: "aws:ec2/subnet:Subnet",
  rta: "aws:ec2/routeTableAssociation:RouteTableAssociation",
  privateDns: "aws:vpc/endpointPrivateDns:EndpointPrivateDns",
  logGroup: "aws:cloudwatch/logGroup:LogGroup",
  role: "aws:iam/role:Role",
  rolePolicy: "aws:iam/rolePolicy:RolePolicy",
  flowLog: "aws:ec2/flowLog:FlowLog",
  nacl: "aws:ec2/networkAcl:NetworkAcl",
  naclRule: "aws:ec2/networkAclRule:NetworkAclRule",
  naclAssoc: "aws:ec2/networkAclAssociation:NetworkAclAssociation",
} as const;

const KMS_KEY = `arn:aws:kms:eu-west-1:${NETWORK_ACCOUNT}:key/1234abcd-12ab-34cd-56ef-1234567890ab`;

const base: PrivateLinkEndpointArgs = {
  slug: "acme-crm",
  region: "eu-west-1",
  networkAccountId: NETWORK_ACCOUNT,
  vpcId: "vpc-0a1b2c3d4e5f60718",
  routeTableId: "rtb-0c0c0c0c0c0c0c0c0",
  subnets: [
    { azId: "euw1-az1", cidr: "10.64.8.0/26" },
    { azId: "euw1-az3", cidr: "10.64.8.64/26" },
  ],
  serviceName: "com.amazonaws.vpce.eu-west-1.vpce-svc-0123456789abcdef0",
  ports: [
    { port: 443, protocol: "tcp" },
    { port: 8443, protocol: "tcp" },
    { port: 514, protocol: "udp" },
  ],
  allowedSourceCidrs: ["10.20.0.0/16", "10.30.4.0/24"],
  privateDns: true,
  connectionAccepted: false,
  flowLogs: { kmsKeyArn: KMS_KEY, retentionInDays: 365 },
  accessState: "active",
};

function evaluate(args: Partial<PrivateLinkEndpointArgs> = {}) {
  return evaluateComponent(() => {
    // As in the provider stack: everything lands in the network account through its provider.
    const network = new aws.Provider("network", { region: "eu-west-1", allowedAccountIds: [NETWORK_ACCOUNT] });
    const endpoint = new PrivateLinkEndpoint("acme-endpoint", { ...base, ...args }, { providers: [network] });
    return {
      dnsNames: endpoint.dnsNames,
      ingressRuleIds: endpoint.ingressRuleIds,
      count: endpoint.ingressRuleCount,
      subnetIds: endpoint.subnetIds,
      flowLogGroupName: endpoint.flowLogGroupName,
      ...(endpoint.networkAclId ? { networkAclId: endpoint.networkAclId } : {}),
    };
  });
}

type Evaluated = Awaited<ReturnType<typeof evaluate>>;
interface PolicyStatement {
  Effect: string;
  Principal?: { Service: string };
  Action: string | string[];
  Resource?: string[];
  Condition?: Record<string, Record<string, string>>;
}
const statementsOf = (json: unknown) => (JSON.parse(str(json)) as { Statement: PolicyStatement[] }).Statement;
const subnetIdsOf = (e: Evaluated) => ofType(e, N.subnet).map((s) => s.id);

describe("PrivateLinkEndpoint", () => {
  test("one private subnet per AZ id with the allocated CIDR, each on the central route table", async () => {
    const e = await evaluate();
    const subnets = ofType(e, N.subnet);
    expect(subnets.map((s) => [s.inputs["availabilityZoneId"], s.inputs["cidrBlock"]])).toEqual(base.subnets.map((s) => [s.azId, s.cidr]));
    for (const subnet of subnets) {
      expect(subnet.inputs).toMatchObject({ vpcId: base.vpcId, mapPublicIpOnLaunch: false });
      expect(subnet.inputs).not.toHaveProperty("availabilityZone");
      expect(subnet.inputs).not.toHaveProperty("ipv6CidrBlock");
      expect(subnet.provider).toMatch(/::network$/);
      // Mock cloud (programs/mocks/network.ts): what AWS returns for the subnet, in the network account.
      expect(subnet.id).toMatch(/^subnet-[0-9a-f]{17}$/);
      expect(subnet.state["arn"]).toBe(`arn:aws:ec2:eu-west-1:${NETWORK_ACCOUNT}:subnet/${subnet.id}`);
      expect(subnet.state["availabilityZone"]).toMatch(/^eu-west-1[a-f]$/);
    }
    const associations = ofType(e, N.rta);
    expect(associations.map((a) => a.inputs["subnetId"]).sort()).toEqual(subnetIdsOf(e).sort());
    expect(associations.every((a) => a.inputs["routeTableId"] === base.routeTableId)).toBe(true);
    expect(e.outputs["subnetIds"]).toEqual(subnetIdsOf(e));
  });

  test("adding an AZ renames no existing subnet, flow log or association", async () => {
    // Name and inputs together: a kept name with other inputs would be a replacement too.
    const urns = (e: Evaluated) =>
      e.resources.filter((r) => [N.subnet, N.rta, N.flowLog].includes(r.type as never)).map((r) => `${r.urn} ${JSON.stringify(r.inputs)}`);
    const before = urns(await evaluate());
    // Inserted first: names derived from positions would shift every existing child.
    const after = urns(await evaluate({ subnets: [{ azId: "euw1-az2", cidr: "10.64.8.128/26" }, ...base.subnets] }));
    expect(after).toEqual(expect.arrayContaining(before));
    expect(after).toHaveLength(before.length + 3);
  });

  test("one single-CIDR ingress rule per port × CIDR, on the endpoint's own group, nothing else", async () => {
    const e = await evaluate();
    const sg = single(e, T.securityGroup);
    const rules = ofType(e, T.ingressRule);
    expect(rules).toHaveLength(3 * 2);
    expect(e.outputs["count"]).toBe(6);
    expect(e.outputs["ingressRuleIds"]).toEqual(rules.map((r) => r.state["securityGroupRuleId"]));
    const seen = new Set<string>();
    for (const rule of rules) {
      expect(rule.inputs["securityGroupId"]).toBe(sg.id);
      expect(rule.inputs["fromPort"]).toBe(rule.inputs["toPort"]);
      expect(base.allowedSourceCidrs).toContain(rule.inputs["cidrIpv4"]);
      expect(base.ports).toContainEqual({ port: rule.inputs["fromPort"], protocol: rule.inputs["ipProtocol"] });
      seen.add(`${str(rule.inputs["ipProtocol"])}/${String(rule.inputs["fromPort"])}/${str(rule.inputs["cidrIpv4"])}`);
    }
    expect(seen.size).toBe(6);
    expect(sg.inputs).not.toHaveProperty("ingress");
    expect(sg.inputs).not.toHaveProperty("egress");
    expect(sg.inputs["revokeRulesOnDelete"]).toBe(true);
  });

  test("rule names are derived from what they allow, so adding a CIDR renames nothing", async () => {
    const before = ofType(await evaluate(), T.ingressRule).map((r) => r.urn);
    const after = ofType(await evaluate({ allowedSourceCidrs: [...base.allowedSourceCidrs, "10.40.0.0/16"] }), T.ingressRule).map((r) => r.urn);
    expect(after).toEqual(expect.arrayContaining(before));
    expect(after).toHaveLength(before.length + 3);
  });

  test("the endpoint is an Interface endpoint behind the group, in exactly the provider's subnets", async () => {
    const e = await evaluate();
    const endpoint = single(e, T.endpoint);
    expect(endpoint.inputs).toMatchObject({
      vpcEndpointType: "Interface",
      serviceName: base.serviceName,
      securityGroupIds: [single(e, T.securityGroup).id],
      ipAddressType: "ipv4",
    });
    expect(endpoint.inputs["subnetIds"]).toEqual(subnetIdsOf(e));
    expect(e.outputs["dnsNames"]).toEqual((endpoint.state["dnsEntries"] as { dnsName: string }[]).map((d) => d.dnsName));
    expect((e.outputs["dnsNames"] as string[]).length).toBeGreaterThan(0);
  });

  test.each([
    [{ connectionAccepted: true }, [true]],
    [{ connectionAccepted: false }, []],
    [{ connectionAccepted: true, privateDns: false }, []],
    // Deleting the resource is a no-op in the provider, so revoke keeps it and switches DNS off.
    [{ connectionAccepted: true, accessState: "revoked" as const }, [false]],
  ])("private DNS once accepted and wanted, enabled only while active: %j", async (args, expected) => {
    const e = await evaluate(args);
    const dns = ofType(e, N.privateDns);
    expect(dns.map((d) => d.inputs["privateDnsEnabled"])).toEqual(expected);
    for (const d of dns) expect(d.inputs["vpcEndpointId"]).toBe(single(e, T.endpoint).id);
    // The parent endpoint never sets it, or the two resources fight over the attribute (research §0).
    expect(single(e, T.endpoint).inputs).not.toHaveProperty("privateDnsEnabled");
  });

  test("flow logs: KMS-encrypted retained group, one ALL/60 s flow log per provider subnet", async () => {
    const e = await evaluate();
    const group = single(e, N.logGroup);
    expect(group.inputs).toMatchObject({ name: "/saas/acme-crm/vpc-flow-logs", kmsKeyId: KMS_KEY, retentionInDays: 365 });
    expect(group.options.retainOnDelete).toBe(true);
    expect(e.outputs["flowLogGroupName"]).toBe("/saas/acme-crm/vpc-flow-logs");
    const role = single(e, N.role);
    const flowLogs = ofType(e, N.flowLog);
    expect(flowLogs.map((f) => f.inputs["subnetId"]).sort()).toEqual(subnetIdsOf(e).sort());
    for (const f of flowLogs) {
      expect(f.inputs).toEqual({
        subnetId: f.inputs["subnetId"],
        trafficType: "ALL",
        logDestinationType: "cloud-watch-logs",
        logDestination: group.state["arn"],
        iamRoleArn: role.state["arn"],
        maxAggregationInterval: 60,
      });
      expect(f.dependencies).toContain(single(e, N.rolePolicy).urn);
    }
  });

  test("flow-logs role: only VPC flow logs of the network account may assume it, and it writes only to the group", async () => {
    const e = await evaluate();
    const [trust, ...otherTrust] = statementsOf(single(e, N.role).inputs["assumeRolePolicy"]);
    expect(otherTrust).toEqual([]);
    expect(trust).toMatchObject({ Effect: "Allow", Principal: { Service: "vpc-flow-logs.amazonaws.com" }, Action: "sts:AssumeRole" });
    expect(trust?.Condition).toEqual({
      StringEquals: { "aws:SourceAccount": NETWORK_ACCOUNT },
      ArnLike: { "aws:SourceArn": `arn:aws:ec2:eu-west-1:${NETWORK_ACCOUNT}:vpc-flow-log/*` },
    });
    const policy = single(e, N.rolePolicy);
    expect(policy.inputs["role"]).toBe(single(e, N.role).id);
    const groupArn = str(single(e, N.logGroup).state["arn"]);
    expect(statementsOf(policy.inputs["policy"])).toEqual([
      expect.objectContaining({
        Effect: "Allow",
        Action: ["logs:CreateLogStream", "logs:PutLogEvents", "logs:DescribeLogStreams"],
        Resource: [groupArn, `${groupArn}:*`],
      }),
    ]);
  });

  test("active: no NACL, so the subnets stay on the VPC's default NACL", async () => {
    const e = await evaluate({ connectionAccepted: true });
    expect(ofType(e, N.nacl)).toHaveLength(0);
    expect(ofType(e, N.naclRule)).toHaveLength(0);
    expect(ofType(e, N.naclAssoc)).toHaveLength(0);
    expect(e.outputs["networkAclId"]).toBeUndefined();
  });

  test("revoked: deny-all NACL in and out on every provider subnet, no ingress rule; the rest is kept", async () => {
    const active = await evaluate();
    const revoked = await evaluate({ accessState: "revoked", connectionAccepted: true });
    expect(ofType(revoked, T.ingressRule)).toHaveLength(0);
    expect(revoked.outputs["count"]).toBe(0);
    const nacl = single(revoked, N.nacl);
    expect(nacl.inputs["vpcId"]).toBe(base.vpcId);
    expect(nacl.inputs).not.toHaveProperty("ingress");
    expect(revoked.outputs["networkAclId"]).toBe(nacl.id);
    const rules = ofType(revoked, N.naclRule);
    expect(rules.map((r) => r.inputs["egress"]).sort()).toEqual([false, true]);
    for (const rule of rules) {
      expect(rule.inputs).toMatchObject({ networkAclId: nacl.id, ruleNumber: 1, protocol: "-1", ruleAction: "deny", cidrBlock: "0.0.0.0/0" });
    }
    const associations = ofType(revoked, N.naclAssoc);
    expect(associations.map((a) => a.inputs["subnetId"]).sort()).toEqual(subnetIdsOf(revoked).sort());
    for (const a of associations) {
      expect(a.inputs["networkAclId"]).toBe(nacl.id);
      expect(a.dependencies).toEqual(expect.arrayContaining(rules.map((r) => r.urn)));
    }
    // Same endpoint, subnets, group and flow logs: revoke deletes nothing that holds data or evidence.
    for (const type of [T.endpoint, T.securityGroup, N.subnet, N.flowLog, N.logGroup]) {
      expect(ofType(revoked, type).map((r) => r.id)).toEqual(ofType(active, type).map((r) => r.id));
    }
  });

  test.each([
    [{ allowedSourceCidrs: ["0.0.0.0/0"] }, /whole Internet/],
    [{ allowedSourceCidrs: ["10.0.0.1/8"] }, /not a network address/],
    [{ allowedSourceCidrs: ["10.0.0.0/33"] }, /invalid IPv4 CIDR/],
    [{ allowedSourceCidrs: ["10.0.0.0/8", "10.0.0.0/8"] }, /duplicate endpoint source CIDR/],
    [{ allowedSourceCidrs: [] }, /at least one source CIDR/],
    [{ ports: [{ port: 0, protocol: "tcp" as const }] }, /invalid port 0/],
    [{ ports: [{ port: 443, protocol: "tcp" as const }, { port: 443, protocol: "tcp" as const }] }, /duplicate endpoint port/],
    [{ ports: [] }, /at least one port/],
    [{ subnets: [] }, /at least one subnet/],
    [{ subnets: [{ azId: "euw1-az1", cidr: "10.64.8.0/26" }, { azId: "euw1-az1", cidr: "10.64.9.0/26" }] }, /duplicate endpoint subnet azId "euw1-az1"/],
    [{ subnets: [{ azId: "eu-west-1a", cidr: "10.64.8.0/26" }] }, /not an AZ id/],
    [{ subnets: [{ azId: "euw1-az1", cidr: "10.64.8.0/24" }, { azId: "euw1-az2", cidr: "10.64.8.128/26" }] }, /"10.64.8.0\/24" and "10.64.8.128\/26" overlap/],
    [{ subnets: [{ azId: "euw1-az1", cidr: "10.64.8.0/26" }, { azId: "euw1-az2", cidr: "10.64.8.0/26" }] }, /overlap/],
    [{ subnets: [{ azId: "euw1-az1", cidr: "10.64.8.1/26" }] }, /not a network address/],
    [{ subnets: [{ azId: "euw1-az1", cidr: "10.64.8.0/29" }] }, /between \/16 and \/28/],
    [{ flowLogs: { kmsKeyArn: `arn:aws:kms:eu-west-1:${NETWORK_ACCOUNT}:alias/logs`, retentionInDays: 365 } }, /not a KMS key ARN/],
    [{ flowLogs: { kmsKeyArn: "1234abcd-12ab-34cd-56ef-1234567890ab", retentionInDays: 365 } }, /not a KMS key ARN/],
    [{ flowLogs: { kmsKeyArn: KMS_KEY.replace("eu-west-1", "us-east-1"), retentionInDays: 365 } }, /not in aws\/eu-west-1/],
    [{ flowLogs: { kmsKeyArn: KMS_KEY, retentionInDays: 366 } }, /retentionInDays 366/],
    [{ networkAccountId: "11111111111" }, /networkAccountId must be a 12-digit/],
    [{ slug: "Acme_CRM" }, /invalid provider slug/],
    [{ region: "mars-1" }, /invalid AWS region/],
  ])("rejects impossible args %j", async (args, message) => {
    await expect(evaluate(args)).rejects.toThrow(message);
  });

  test("preview: evaluates with unknown ids and still plans every child", async () => {
    const e = await evaluateComponent(() => {
      const endpoint = new PrivateLinkEndpoint("acme-endpoint", { ...base, accessState: "revoked" });
      return { count: endpoint.ingressRuleCount };
    }, true);
    expect(ofType(e, N.subnet)).toHaveLength(2);
    expect(ofType(e, N.flowLog)).toHaveLength(2);
    expect(ofType(e, N.naclAssoc)).toHaveLength(2);
  });
});
