import { describe, expect, test } from "vitest";
import { PrivateLinkEndpoint, type PrivateLinkEndpointArgs } from "../../programs/components/private-link-endpoint.js";
import { evaluateComponent, ofType, single, str, T } from "./fixtures.js";

const base: PrivateLinkEndpointArgs = {
  vpcId: "vpc-0a1b2c3d4e5f60718",
  subnetIds: ["subnet-0aaaaaaaaaaaaaaa1", "subnet-0bbbbbbbbbbbbbbb2"],
  serviceName: "com.amazonaws.vpce.eu-west-1.vpce-svc-0123456789abcdef0",
  ports: [
    { port: 443, protocol: "tcp" },
    { port: 8443, protocol: "tcp" },
    { port: 514, protocol: "udp" },
  ],
  allowedSourceCidrs: ["10.20.0.0/16", "10.30.4.0/24"],
  privateDns: true,
  accessState: "active",
};

function evaluate(args: Partial<PrivateLinkEndpointArgs> = {}) {
  return evaluateComponent(() => {
    const endpoint = new PrivateLinkEndpoint("acme-endpoint", { ...base, ...args });
    return { dnsNames: endpoint.dnsNames, ingressRuleIds: endpoint.ingressRuleIds, count: endpoint.ingressRuleCount };
  });
}

describe("PrivateLinkEndpoint", () => {
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

  test("the endpoint is an Interface endpoint behind the group, in the given subnets", async () => {
    const e = await evaluate();
    const endpoint = single(e, T.endpoint);
    expect(endpoint.inputs).toMatchObject({
      vpcEndpointType: "Interface",
      serviceName: base.serviceName,
      subnetIds: base.subnetIds,
      securityGroupIds: [single(e, T.securityGroup).id],
      privateDnsEnabled: true,
      ipAddressType: "ipv4",
    });
    expect(e.outputs["dnsNames"]).toEqual((endpoint.state["dnsEntries"] as { dnsName: string }[]).map((d) => d.dnsName));
    expect((e.outputs["dnsNames"] as string[]).length).toBeGreaterThan(0);
  });

  test("revoked: same group and endpoint, zero ingress rules", async () => {
    const active = await evaluate();
    const revoked = await evaluate({ accessState: "revoked" });
    expect(ofType(revoked, T.ingressRule)).toHaveLength(0);
    expect(revoked.outputs["count"]).toBe(0);
    expect(single(revoked, T.securityGroup).urn).toBe(single(active, T.securityGroup).urn);
    expect(single(revoked, T.endpoint).id).toBe(single(active, T.endpoint).id);
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
    [{ subnetIds: [] }, /at least one subnet/],
  ])("rejects impossible args %j", async (args, message) => {
    await expect(evaluate(args)).rejects.toThrow(message);
  });
});
