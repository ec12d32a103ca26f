import fc from "fast-check";
import { describe, expect, test } from "vitest";
import { INBOUND_TLS_POLICY, InboundExposure, type InboundExposureArgs } from "../../programs/components/inbound-exposure.js";
import type { Evaluation } from "../../programs/evaluate-program.js";
import { evaluateComponent, ofType, single, str, T } from "./fixtures.js";

const I = {
  egressRule: "aws:vpc/securityGroupEgressRule:SecurityGroupEgressRule",
  legacyRule: "aws:ec2/securityGroupRule:SecurityGroupRule",
  nlb: "aws:lb/loadBalancer:LoadBalancer",
  targetGroup: "aws:lb/targetGroup:TargetGroup",
  attachment: "aws:lb/targetGroupAttachment:TargetGroupAttachment",
  listener: "aws:lb/listener:Listener",
  service: "aws:ec2/vpcEndpointService:VpcEndpointService",
  allowedPrinciple: "aws:ec2/vpcEndpointServiceAllowedPrinciple:VpcEndpointServiceAllowedPrinciple",
  accepter: "aws:ec2/vpcEndpointConnectionAccepter:VpcEndpointConnectionAccepter",
} as const;

const SAAS = "333333333333";
const CERT = "arn:aws:acm:eu-west-1:111111111111:certificate/0a1b2c3d-4e5f-4a6b-8c7d-9e0f1a2b3c4d";
const PRINCIPALS = [`arn:aws:iam::${SAAS}:root`, `arn:aws:iam::${SAAS}:role/path/acme-connector`];
const ENDPOINTS = ["vpce-0123456789abcdef0", "vpce-0fedcba987654321f"];
/** The SaaS's client addresses as the NLB sees them through PrivateLink (issue 12, defect 5). */
const SOURCES = ["100.64.0.0/24", "192.168.10.0/24"];

const base: InboundExposureArgs = {
  slug: "acme-crm",
  region: "eu-west-1",
  vpcId: "vpc-0a1b2c3d4e5f60718",
  subnetIds: ["subnet-0aaaaaaaaaaaaaaa1", "subnet-0bbbbbbbbbbbbbbb2"],
  targets: [
    { ip: "10.40.1.10", port: 443 },
    { ip: "10.40.2.10", port: 443 },
    { ip: "172.20.0.5", port: 8443 },
  ],
  allowedPrincipals: PRINCIPALS,
  certificateArn: CERT,
  acceptedEndpointIds: ENDPOINTS,
  sourceCidrs: SOURCES,
  accessState: "active",
  deletionProtection: true,
};

function evaluate(args: InboundExposureArgs = base, preview = false): Promise<Evaluation> {
  return evaluateComponent(() => {
    const x = new InboundExposure("acme-inbound", args);
    return { serviceName: x.serviceName, serviceId: x.serviceId, nlbArn: x.nlbArn, securityGroupId: x.securityGroupId, accepted: x.acceptedEndpointIds };
  }, preview);
}
const withArgs = (overrides: Partial<InboundExposureArgs>) => evaluate({ ...base, ...overrides });

/** Every rule AWS would hold for the NLB's group, as `protocol/from-to/cidr` strings. */
function egressOf(e: Evaluation): string[] {
  return ofType(e, I.egressRule).map((r) => `${str(r.inputs["ipProtocol"])}/${String(r.inputs["fromPort"])}-${String(r.inputs["toPort"])}/${str(r.inputs["cidrIpv4"])}`);
}
const urns = (e: Evaluation, type: string) => ofType(e, type).map((r) => r.urn);

describe("InboundExposure", () => {
  test("the NLB's group has no inline rules and egress only to each target /32 on its port", async () => {
    const e = await evaluate();
    const sg = single(e, T.securityGroup);
    expect(sg.inputs).not.toHaveProperty("ingress");
    expect(sg.inputs).not.toHaveProperty("egress");
    expect(ofType(e, I.legacyRule)).toHaveLength(0);
    for (const rule of ofType(e, I.egressRule)) {
      expect(rule.inputs["securityGroupId"]).toBe(sg.id);
      expect(rule.inputs).not.toHaveProperty("referencedSecurityGroupId");
      expect(rule.inputs).not.toHaveProperty("prefixListId");
    }
    expect(egressOf(e).sort()).toEqual(["tcp/443-443/10.40.1.10/32", "tcp/443-443/10.40.2.10/32", "tcp/8443-8443/172.20.0.5/32"]);
    expect(e.outputs["securityGroupId"]).toBe(sg.id);
  });

  test.each([true, false])("internal network NLB behind the group from creation (deletion protection %s)", async (deletionProtection) => {
    const e = await withArgs({ deletionProtection });
    const nlb = single(e, I.nlb);
    expect(nlb.inputs).toMatchObject({
      loadBalancerType: "network",
      internal: true,
      subnets: base.subnetIds,
      securityGroups: [single(e, T.securityGroup).id],
      enableCrossZoneLoadBalancing: true,
      enforceSecurityGroupInboundRulesOnPrivateLinkTraffic: "on",
      enableDeletionProtection: deletionProtection,
    });
    expect(e.outputs["nlbArn"]).toBe(nlb.state["arn"]);
  });

  test("one TCP ip target group per port with a TCP health check, one attachment per target", async () => {
    const e = await evaluate();
    const groups = ofType(e, I.targetGroup);
    expect(groups.map((g) => g.inputs["port"]).sort()).toEqual([443, 8443]);
    for (const g of groups) {
      expect(g.inputs).toMatchObject({ targetType: "ip", protocol: "TCP", vpcId: base.vpcId, healthCheck: { protocol: "TCP", port: "traffic-port" } });
    }
    const arnOfPort = new Map(groups.map((g) => [g.inputs["port"], g.state["arn"]]));
    const attachments = ofType(e, I.attachment);
    expect(attachments.map((a) => `${str(a.inputs["targetId"])}:${String(a.inputs["port"])}`).sort()).toEqual(
      base.targets.map((t) => `${t.ip}:${t.port}`).sort(),
    );
    for (const a of attachments) {
      expect(a.inputs["targetGroupArn"]).toBe(arnOfPort.get(a.inputs["port"]));
      expect(a.inputs["availabilityZone"]).toBe("all");
    }
  });

  test("with a certificate every listener terminates TLS 1.2+ with it and forwards to its port's group", async () => {
    const e = await evaluate();
    const nlb = single(e, I.nlb);
    const arnOfPort = new Map(ofType(e, I.targetGroup).map((g) => [g.inputs["port"], g.state["arn"]]));
    const listeners = ofType(e, I.listener);
    expect(listeners.map((l) => l.inputs["port"]).sort()).toEqual([443, 8443]);
    for (const l of listeners) {
      expect(l.inputs).toMatchObject({ loadBalancerArn: nlb.id, protocol: "TLS", sslPolicy: INBOUND_TLS_POLICY, certificateArn: CERT });
      expect(l.inputs["defaultActions"]).toEqual([{ type: "forward", targetGroupArn: arnOfPort.get(l.inputs["port"]) }]);
    }
    expect(INBOUND_TLS_POLICY).toBe("ELBSecurityPolicy-TLS13-1-2-2021-06");
  });

  test("without a certificate the listeners pass TCP through, with no TLS settings", async () => {
    const { certificateArn: _omit, ...noCert } = base;
    const listeners = ofType(await evaluate(noCert), I.listener);
    expect(listeners).toHaveLength(2);
    for (const l of listeners) {
      expect(l.inputs["protocol"]).toBe("TCP");
      expect(l.inputs).not.toHaveProperty("sslPolicy");
      expect(l.inputs).not.toHaveProperty("certificateArn");
    }
  });

  test("endpoint service: acceptance required, this NLB only, exactly the given principals, IPv4", async () => {
    const e = await evaluate();
    const service = single(e, I.service);
    expect(service.inputs["acceptanceRequired"]).toBe(true);
    expect(service.inputs["networkLoadBalancerArns"]).toEqual([single(e, I.nlb).id]);
    expect(service.inputs["allowedPrincipals"]).toEqual(PRINCIPALS);
    expect(service.inputs["supportedIpAddressTypes"]).toEqual(["ipv4"]);
    expect(ofType(e, I.allowedPrinciple)).toHaveLength(0);
    expect(e.outputs["serviceId"]).toBe(service.id);
    expect(str(e.outputs["serviceName"])).toMatch(/^com\.amazonaws\.vpce\.eu-west-1\.vpce-svc-[0-9a-f]{17}$/);
    expect(str(e.outputs["serviceName"]).endsWith(`.${service.id}`)).toBe(true);
  });

  test("active: one accepter per given endpoint, on this service; none when the SaaS has none yet", async () => {
    const e = await evaluate();
    const accepters = ofType(e, I.accepter);
    expect(accepters.map((a) => a.inputs["vpcEndpointId"])).toEqual(ENDPOINTS);
    for (const a of accepters) expect(a.inputs["vpcEndpointServiceId"]).toBe(single(e, I.service).id);
    expect(e.outputs["accepted"]).toEqual(ENDPOINTS);

    const none = await withArgs({ acceptedEndpointIds: [] });
    expect(ofType(none, I.accepter)).toHaveLength(0);
    expect(single(none, I.service).inputs["allowedPrincipals"]).toEqual(PRINCIPALS);
  });

  test("revoked: no accepters, no principals, same NLB, groups, listeners and service", async () => {
    const active = await evaluate();
    const revoked = await withArgs({ accessState: "revoked" });
    expect(ofType(revoked, I.accepter)).toHaveLength(0);
    expect(revoked.outputs["accepted"]).toEqual([]);
    const service = single(revoked, I.service);
    expect(service.inputs["allowedPrincipals"]).toEqual([]);
    expect(service.inputs["acceptanceRequired"]).toBe(true);
    expect(service.id).toBe(single(active, I.service).id);
    expect(revoked.outputs["serviceName"]).toBe(active.outputs["serviceName"]);
    expect(single(revoked, I.nlb).id).toBe(single(active, I.nlb).id);
    for (const type of [I.targetGroup, I.attachment, I.listener, I.egressRule]) expect(urns(revoked, type)).toEqual(urns(active, type));
  });

  test("adding targets (same and new port) and an endpoint renames nothing that exists", async () => {
    const before = await evaluate();
    const after = await withArgs({
      targets: [...base.targets, { ip: "10.40.3.10", port: 443 }, { ip: "192.168.7.7", port: 5432 }],
      acceptedEndpointIds: [...ENDPOINTS, "vpce-0abcabcabcabcabca"],
    });
    for (const type of [I.egressRule, I.targetGroup, I.attachment, I.listener, I.accepter]) {
      expect(urns(after, type)).toEqual(expect.arrayContaining(urns(before, type)));
    }
    expect(ofType(after, I.egressRule)).toHaveLength(5);
    expect(ofType(after, I.listener)).toHaveLength(3);
    expect(single(after, I.nlb).id).toBe(single(before, I.nlb).id);
    expect(after.outputs["serviceName"]).toBe(before.outputs["serviceName"]);
  });

  test("preview: the component registers with unknown ids", async () => {
    const e = await evaluate(base, true);
    expect(ofType(e, I.listener)).toHaveLength(2);
    expect(ofType(e, I.accepter)).toHaveLength(2);
  });

  test("for any set of unique private targets, egress is exactly those /32s and one group per port", async () => {
    const octet = fc.integer({ min: 0, max: 255 });
    const target = fc.record({ ip: fc.tuple(octet, octet, octet).map(([a, b, c]) => `10.${a}.${b}.${c}`), port: fc.integer({ min: 1, max: 65535 }) });
    await fc.assert(
      fc.asyncProperty(fc.uniqueArray(target, { minLength: 1, maxLength: 6, selector: (t) => `${t.ip}:${t.port}` }), async (targets) => {
        const e = await withArgs({ targets });
        expect(egressOf(e).sort()).toEqual(targets.map((t) => `tcp/${t.port}-${t.port}/${t.ip}/32`).sort());
        expect(ofType(e, I.targetGroup).map((g) => g.inputs["port"]).sort()).toEqual([...new Set(targets.map((t) => t.port))].sort());
        expect(ofType(e, T.ingressRule)).toHaveLength(new Set(targets.map((t) => t.port)).size * SOURCES.length);
      }),
      { numRuns: 15 },
    );
  });

  test.each([
    [{ targets: [] }, /at least one target/],
    [{ targets: [{ ip: "10.0.0.256", port: 443 }] }, /not a dotted-quad/],
    [{ targets: [{ ip: "10.0.0.01", port: 443 }] }, /not a dotted-quad/],
    [{ targets: [{ ip: "10.0.0.0/24", port: 443 }] }, /not a dotted-quad/],
    [{ targets: [{ ip: "8.8.8.8", port: 443 }] }, /not a private/],
    [{ targets: [{ ip: "172.32.0.1", port: 443 }] }, /not a private/],
    [{ targets: [{ ip: "10.0.0.1", port: 0 }] }, /port 0/],
    [{ targets: [{ ip: "10.0.0.1", port: 65536 }] }, /port 65536/],
    [{ targets: [{ ip: "10.0.0.1", port: 443.5 }] }, /port 443.5/],
    [{ targets: [{ ip: "10.0.0.1", port: 443 }, { ip: "10.0.0.1", port: 443 }] }, /duplicate inbound target "10.0.0.1:443"/],
    [{ allowedPrincipals: [] }, /at least one allowed principal/],
    [{ allowedPrincipals: ["*"] }, /must be an IAM ARN/],
    [{ allowedPrincipals: [`arn:aws:iam::${SAAS}:role/*`] }, /must be an IAM ARN/],
    [{ allowedPrincipals: ["arn:aws:iam::*:root"] }, /must be an IAM ARN/],
    [{ allowedPrincipals: [`arn:aws-cn:iam::${SAAS}:root`] }, /must be an IAM ARN/],
    [{ allowedPrincipals: [`arn:aws:sts::${SAAS}:assumed-role/x/y`] }, /must be an IAM ARN/],
    [{ allowedPrincipals: [PRINCIPALS[0] ?? "", PRINCIPALS[0] ?? ""] }, /duplicate inbound allowed principal/],
    [{ acceptedEndpointIds: ["vpce-svc-0123456789abcdef0"] }, /not a vpce-<hex> id/],
    [{ acceptedEndpointIds: ["vpce-XYZ12345"] }, /not a vpce-<hex> id/],
    [{ acceptedEndpointIds: ["vpce-0123456789abcdef01"] }, /not a vpce-<hex> id/],
    [{ acceptedEndpointIds: [ENDPOINTS[0] ?? "", ENDPOINTS[0] ?? ""] }, /duplicate inbound accepted endpoint id/],
    [{ certificateArn: "arn:aws:acm:us-east-1:111111111111:certificate/0a1b2c3d-4e5f-4a6b-8c7d-9e0f1a2b3c4d" }, /ACM certificate ARN in aws\/eu-west-1/],
    [{ certificateArn: "arn:aws:iam::111111111111:server-certificate/x" }, /ACM certificate ARN/],
    [{ subnetIds: [] }, /at least one subnet/],
    [{ slug: "Not A Slug" }, /invalid provider slug/],
    [{ region: "moon-1" }, /invalid AWS region/],
  ] as [Partial<InboundExposureArgs>, RegExp][])("rejects %j", async (overrides, message) => {
    await expect(withArgs(overrides)).rejects.toThrow(message);
  });
});

/** `protocol/from-to/cidr` of every ingress rule on the NLB's group. */
function ingressOf(e: Evaluation): string[] {
  const sg = single(e, T.securityGroup);
  return ofType(e, T.ingressRule).map((r) => {
    expect(r.inputs["securityGroupId"]).toBe(sg.id);
    return `${str(r.inputs["ipProtocol"])}/${String(r.inputs["fromPort"])}-${String(r.inputs["toPort"])}/${str(r.inputs["cidrIpv4"])}`;
  });
}

describe("InboundExposure: PrivateLink traffic is subject to the NLB's security group (issue 12, defect 5)", () => {
  test("the NLB enforces its inbound rules on PrivateLink traffic", async () => {
    const nlb = single(await evaluate(), I.nlb);
    expect(nlb.inputs["enforceSecurityGroupInboundRulesOnPrivateLinkTraffic"]).toBe("on");
  });

  test("ingress is exactly listener port × the provider's client CIDRs, as separate rule resources", async () => {
    const e = await evaluate();
    const sg = single(e, T.securityGroup);
    expect(sg.inputs).not.toHaveProperty("ingress");
    expect(ofType(e, I.legacyRule)).toHaveLength(0);
    expect(ingressOf(e).sort()).toEqual(
      ["tcp/443-443/100.64.0.0/24", "tcp/443-443/192.168.10.0/24", "tcp/8443-8443/100.64.0.0/24", "tcp/8443-8443/192.168.10.0/24"].sort(),
    );
  });

  test("revoked: no ingress at all (enforcement stays on, so every PrivateLink packet is dropped)", async () => {
    const e = await withArgs({ accessState: "revoked" });
    expect(ofType(e, T.ingressRule)).toHaveLength(0);
    expect(single(e, I.nlb).inputs["enforceSecurityGroupInboundRulesOnPrivateLinkTraffic"]).toBe("on");
  });

  test("adding a source CIDR renames no existing ingress rule", async () => {
    const before = await evaluate();
    const after = await withArgs({ sourceCidrs: [...SOURCES, "10.9.0.0/16"] });
    expect(urns(after, T.ingressRule)).toEqual(expect.arrayContaining(urns(before, T.ingressRule)));
    expect(ofType(after, T.ingressRule)).toHaveLength(6);
  });

  test.each([
    [{ sourceCidrs: [] }, /at least one source CIDR/],
    [{ sourceCidrs: ["0.0.0.0/0"] }, /whole Internet/],
    [{ sourceCidrs: ["10.0.0.0/8"] }, /\/16 or narrower/],
    [{ sourceCidrs: ["10.0.0.1/24"] }, /not a network address/],
    [{ sourceCidrs: ["10.1.0.0/16", "10.1.0.0/16"] }, /duplicate inbound source CIDR/],
  ] as [Partial<InboundExposureArgs>, RegExp][])("rejects %j", async (overrides, message) => {
    await expect(withArgs(overrides)).rejects.toThrow(message);
  });
});
