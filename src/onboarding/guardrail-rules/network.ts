import {
  asArray,
  isRecord,
  nonEmptyString,
  ofType,
  show,
  TYPES,
  violation,
  type GuardrailExpectations,
  type GuardrailViolation,
  type PlannedResource,
} from "./types.js";

/**
 * Security groups, the outbound interface endpoint and the inbound exposure (research/aws-design.md
 * §1.2, §1.3, §4.1). Every way AWS lets a program express an ingress permission is normalised first —
 * `vpc.SecurityGroupIngressRule`, the legacy `ec2.SecurityGroupRule` of type ingress, and inline
 * `ingress` blocks — so that a rule cannot slip through by being written in another form.
 */

interface Permission {
  readonly resource: PlannedResource;
  /** A source other than a CIDR (another group, a prefix list): never one of the spec's inbound sources. */
  readonly otherSource: boolean;
  readonly direction: "ingress" | "egress";
  /** Lower case; protocol numbers 6/17/1 mapped to tcp/udp/icmp, "all" to "-1". */
  readonly protocol: string;
  readonly fromPort: number | undefined;
  readonly toPort: number | undefined;
  readonly cidrs: readonly string[];
  readonly securityGroupId: unknown;
}

const PROTOCOL_NUMBERS: Readonly<Record<string, string>> = { "6": "tcp", "17": "udp", "1": "icmp", all: "-1" };

function protocolOf(value: unknown): string {
  const raw = String(value ?? "").toLowerCase();
  return PROTOCOL_NUMBERS[raw] ?? raw;
}

function portOf(value: unknown): number | undefined {
  const n = typeof value === "string" && value.trim() !== "" ? Number(value) : value;
  return typeof n === "number" && Number.isInteger(n) ? n : undefined;
}

const strings = (value: unknown): string[] => asArray(value).filter(nonEmptyString);

function ruleResource(r: PlannedResource, direction: "ingress" | "egress"): Permission {
  const i = r.inputs;
  return {
    resource: r,
    direction,
    protocol: protocolOf(i["ipProtocol"] ?? i["protocol"]),
    fromPort: portOf(i["fromPort"]),
    toPort: portOf(i["toPort"]),
    cidrs: [...strings(i["cidrIpv4"]), ...strings(i["cidrIpv6"]), ...strings(i["cidrBlocks"]), ...strings(i["ipv6CidrBlocks"])],
    otherSource: ["referencedSecurityGroupId", "sourceSecurityGroupId", "prefixListId", "prefixListIds", "securityGroups", "self"].some(
      (k) => i[k] !== undefined && i[k] !== false && asArray(i[k]).length > 0,
    ),
    securityGroupId: i["securityGroupId"],
  };
}

function permissions(resources: readonly PlannedResource[]): Permission[] {
  const separate = [
    ...ofType(resources, TYPES.ingressRule).map((r) => ruleResource(r, "ingress")),
    ...ofType(resources, TYPES.egressRule).map((r) => ruleResource(r, "egress")),
    ...ofType(resources, TYPES.legacyRule).map((r) => ruleResource(r, r.inputs["type"] === "egress" ? "egress" : "ingress")),
  ];
  // A VPC's default group can only carry inline rules (CloudHsmKeyStore manages it to strip them).
  const inline = ofType(resources, TYPES.securityGroup, TYPES.defaultSecurityGroup).flatMap((sg) =>
    (["ingress", "egress"] as const).flatMap((direction) =>
      asArray(sg.inputs[direction])
        .filter(isRecord)
        .map((entry): Permission => ({ ...ruleResource({ ...sg, inputs: entry }, direction), resource: sg, securityGroupId: sg.id })),
    ),
  );
  return [...separate, ...inline];
}

const describe = (p: Permission): string =>
  p.protocol === "-1" ? "all protocols" : `${p.protocol} ${p.fromPort ?? "?"}-${p.toPort ?? "?"}`;

/** A single port of one of the allowed protocols, listed in `allowed`. Ranges and `-1` never qualify. */
function singlePortIn(p: Permission, allowed: readonly { port: number; protocol: string }[]): boolean {
  return p.fromPort !== undefined && p.fromPort === p.toPort && allowed.some((a) => a.port === p.fromPort && a.protocol === p.protocol);
}

/** Security groups attached to a load balancer: only the inbound NLB has one (research §1.3). */
function loadBalancerGroups(resources: readonly PlannedResource[]): Set<string> {
  return new Set(ofType(resources, TYPES.loadBalancer).flatMap((lb) => strings(lb.inputs["securityGroups"])));
}

export function securityGroupRules(resources: readonly PlannedResource[], expect: GuardrailExpectations): GuardrailViolation[] {
  const out: GuardrailViolation[] = [];
  const lbGroups = loadBalancerGroups(resources);
  const onLoadBalancer = (p: Permission): boolean => typeof p.securityGroupId === "string" && lbGroups.has(p.securityGroupId);

  for (const sg of ofType(resources, TYPES.securityGroup)) {
    const inline = (["ingress", "egress"] as const).filter((d) => asArray(sg.inputs[d]).length > 0);
    if (inline.length > 0) {
      out.push(
        violation(sg, "SG_INLINE_RULES", `security group declares inline ${inline.join(" and ")} rules; expected none (rules are separate vpc.SecurityGroupIngressRule/EgressRule resources, never mixed with inline ones)`),
      );
    }
  }

  const revokedSeen = new Set<string>();
  for (const p of permissions(resources)) {
    const r = p.resource;
    if (p.direction === "egress") {
      if (onLoadBalancer(p) && !singlePortIn(p, expect.inboundPorts.map((port) => ({ port, protocol: "tcp" })))) {
        out.push(
          violation(r, "INBOUND_PORT_NOT_IN_SPEC", `NLB security group egress allows ${describe(p)}; expected single tcp ports of the inbound targets ${show(expect.inboundPorts)}`),
        );
      }
      continue;
    }
    const world = p.cidrs.filter((c) => c.endsWith("/0"));
    if (world.length > 0) {
      out.push(violation(r, "SG_OPEN_TO_WORLD", `ingress from ${show(world)} (${describe(p)}); expected only the spec's org CIDRs`));
    }
    if (onLoadBalancer(p)) {
      // Issue 12, defect 5: with enforcement on, PrivateLink traffic's source is the SaaS client's
      // private IP; only listener port × the spec's inbound source CIDRs may pass.
      const listenerPort = singlePortIn(p, expect.inboundPorts.map((port) => ({ port, protocol: "tcp" })));
      const strangers = p.cidrs.filter((c) => !expect.inboundSourceCidrs.includes(c));
      if (!listenerPort || p.otherSource || p.cidrs.length === 0 || strangers.length > 0) {
        const from = p.otherSource || p.cidrs.length === 0 ? "a non-CIDR source" : show(strangers.length > 0 ? strangers : p.cidrs);
        out.push(
          violation(r, "NLB_SG_HAS_INGRESS", `NLB security group ingress ${describe(p)} from ${from}; expected single tcp listener ports ${show(expect.inboundPorts)} from the spec's inbound source CIDRs ${show(expect.inboundSourceCidrs)}`),
        );
      }
    } else if (r.type !== TYPES.securityGroup && r.type !== TYPES.defaultSecurityGroup && !singlePortIn(p, expect.outboundPorts)) {
      const allowed = expect.outboundPorts.map((o) => `${o.protocol}/${o.port}`);
      out.push(violation(r, "SG_PORT_NOT_IN_SPEC", `ingress allows ${describe(p)}; expected exactly one of the spec's ports ${show(allowed)}`));
    }
    if (expect.accessState === "revoked" && !revokedSeen.has(r.urn)) {
      revokedSeen.add(r.urn);
      out.push(violation(r, "REVOKED_ACCESS_REMAINS", `ingress ${describe(p)} remains while the provider is revoked; expected no ingress rule`));
    }
  }
  return out;
}

export function endpointRules(resources: readonly PlannedResource[]): GuardrailViolation[] {
  return ofType(resources, TYPES.endpoint)
    .filter((e) => e.inputs["vpcEndpointType"] !== "Interface")
    .map((e) =>
      violation(e, "ENDPOINT_NOT_INTERFACE", `vpcEndpointType is ${show(e.inputs["vpcEndpointType"] ?? "unset (AWS default Gateway)")}; expected "Interface"`),
    );
}

export function inboundRules(resources: readonly PlannedResource[], expect: GuardrailExpectations): GuardrailViolation[] {
  const out: GuardrailViolation[] = [];
  const revoked = expect.accessState === "revoked";
  for (const lb of ofType(resources, TYPES.loadBalancer)) {
    if (lb.inputs["internal"] !== true) {
      out.push(violation(lb, "NLB_NOT_INTERNAL", `internal is ${show(lb.inputs["internal"] ?? "unset (internet-facing)")}; expected true`));
    }
    // Seed 000: the NLB's group must also govern PrivateLink traffic (AWS's default is "on" for an NLB
    // created with a group, but the rule judges what the program says, and fails closed on unset).
    const enforcement = lb.inputs["enforceSecurityGroupInboundRulesOnPrivateLinkTraffic"];
    if (strings(lb.inputs["securityGroups"]).length === 0) {
      out.push(violation(lb, "NLB_PRIVATELINK_NOT_ENFORCED", "load balancer has no security group; expected one, enforced on PrivateLink traffic"));
    } else if (enforcement !== "on") {
      out.push(
        violation(lb, "NLB_PRIVATELINK_NOT_ENFORCED", `enforceSecurityGroupInboundRulesOnPrivateLinkTraffic is ${show(enforcement ?? "unset")}; expected "on"`),
      );
    }
  }
  for (const listener of ofType(resources, TYPES.listener)) {
    const port = portOf(listener.inputs["port"]);
    if (port === undefined || !expect.inboundPorts.includes(port)) {
      out.push(
        violation(listener, "INBOUND_PORT_NOT_IN_SPEC", `listener port ${show(listener.inputs["port"])}; expected one of the inbound target ports ${show(expect.inboundPorts)}`),
      );
    }
  }
  for (const service of ofType(resources, TYPES.endpointService)) {
    const principals = strings(service.inputs["allowedPrincipals"]);
    if (service.inputs["acceptanceRequired"] !== true) {
      out.push(
        violation(service, "ENDPOINT_SERVICE_OPEN", `acceptanceRequired is ${show(service.inputs["acceptanceRequired"] ?? "unset")}; expected true`),
      );
    }
    if (principals.includes("*")) {
      out.push(violation(service, "ENDPOINT_SERVICE_OPEN", `allowedPrincipals contains "*"; expected named IAM principals`));
    }
    if (revoked && principals.length > 0) {
      out.push(
        violation(service, "REVOKED_ACCESS_REMAINS", `allowedPrincipals ${show(principals)} remain while the provider is revoked; expected []`),
      );
    }
  }
  for (const allowed of ofType(resources, TYPES.allowedPrinciple)) {
    if (allowed.inputs["principalArn"] === "*") {
      out.push(violation(allowed, "ENDPOINT_SERVICE_OPEN", `principalArn is "*"; expected a named IAM principal`));
    }
    if (revoked) {
      out.push(
        violation(allowed, "REVOKED_ACCESS_REMAINS", "endpoint service principal remains while the provider is revoked; expected none"),
      );
    }
  }
  if (revoked) {
    for (const accepter of ofType(resources, TYPES.accepter)) {
      out.push(
        violation(accepter, "REVOKED_ACCESS_REMAINS", "endpoint connection accepter remains while the provider is revoked; expected none (deleting it rejects the connection)"),
      );
    }
  }
  return out;
}

/** EC2.6 accepts flow logs that capture rejected traffic: ALL or REJECT. */
const FLOW_LOG_TRAFFIC = ["ALL", "REJECT"];

/**
 * Every VPC the program creates has a VPC-level flow log capturing rejected traffic (AWS Security Hub
 * EC2.6; issue 12, defect 6). Matched as audit.ts matches a public access block: by the flow log's
 * `vpcId` (the VPC's id), otherwise (a real preview's unknown value) by its dependency on the VPC. A
 * subnet-level flow log of a created VPC does not count: EC2.6 checks the VPC. The shared SaaS VPC is not created
 * here; its provider subnets carry subnet-level flow logs (PrivateLinkEndpoint).
 */
export function flowLogRules(resources: readonly PlannedResource[]): GuardrailViolation[] {
  const vpcs = ofType(resources, TYPES.vpc);
  const logged = new Set<string>();
  for (const flowLog of ofType(resources, TYPES.flowLog)) {
    if (!FLOW_LOG_TRAFFIC.includes(String(flowLog.inputs["trafficType"]))) continue;
    if (["subnetId", "eniId", "transitGatewayId", "transitGatewayAttachmentId"].some((k) => flowLog.inputs[k] !== undefined)) continue;
    const target = flowLog.inputs["vpcId"];
    const byValue = nonEmptyString(target) ? vpcs.find((v) => v.id === target) : undefined;
    if (byValue) logged.add(byValue.urn);
    else for (const v of vpcs) if (flowLog.dependencies?.includes(v.urn)) logged.add(v.urn);
  }
  return vpcs
    .filter((v) => !logged.has(v.urn))
    .map((v) => violation(v, "VPC_FLOW_LOGS_MISSING", `no flow log with trafficType ${show(FLOW_LOG_TRAFFIC)} on this VPC; expected one (EC2.6)`));
}
