import { fail, list, notApplicable, pass } from "./check-support.js";
import type { CheckResult, EndpointServiceFacts, NaclEntryFacts, SecurityGroupRuleFacts, SubnetNaclFacts, VerificationTarget } from "./types.js";

/** IANA numbers EC2 may answer instead of names. */
const PROTOCOL_NAMES: Readonly<Record<string, string>> = { "6": "tcp", "17": "udp", "1": "icmp" };
const protocolName = (protocol: string): string => PROTOCOL_NAMES[protocol] ?? protocol.toLowerCase();

function source(rule: SecurityGroupRuleFacts): string {
  return rule.cidrIpv4 ?? rule.cidrIpv6 ?? rule.referencedGroupId ?? rule.prefixListId ?? "?";
}

function ports(rule: SecurityGroupRuleFacts): string {
  if (rule.fromPort === undefined && rule.toPort === undefined) return "all";
  return rule.fromPort === rule.toPort ? String(rule.fromPort) : `${rule.fromPort ?? ""}-${rule.toPort ?? ""}`;
}

const describeRule = (rule: SecurityGroupRuleFacts): string => `${rule.ruleId} ${source(rule)} ${protocolName(rule.protocol)}/${ports(rule)}`;

/**
 * SG_INGRESS. Revoked or decommissioned: the group is gone or has no ingress rule (egress is not access to
 * us). Active: ingress is exactly the spec's CIDR × protocol × port rules, nothing missing and nothing extra.
 */
export function checkSgIngress(target: VerificationTarget, rules: readonly SecurityGroupRuleFacts[] | null): CheckResult {
  const code = "SG_INGRESS";
  const groupId = target.securityGroupId ?? "";
  if (rules === null) {
    if (target.expectation === "active") return fail(code, `the security group ${groupId} does not exist`, { groupId, exists: false });
    return pass(code, `the security group ${groupId} no longer exists`, { groupId, exists: false });
  }
  const ingress = rules.filter((r) => !r.egress);
  const evidence = { groupId, ingressRuleIds: ingress.map((r) => r.ruleId), ingress: ingress.map(describeRule) };
  if (target.expectation !== "active") {
    if (ingress.length === 0) return pass(code, `no ingress rule on ${groupId}`, evidence);
    return fail(code, `${ingress.length} ingress rule(s) remain on ${groupId}: ${list(ingress.map(describeRule))}`, evidence);
  }
  const key = (cidr: string, protocol: string, from: number | undefined, to: number | undefined): string => `${cidr} ${protocol}/${from ?? ""}-${to ?? ""}`;
  const expected = new Set(target.expectedIngress.map((e) => key(e.cidr, e.protocol, e.port, e.port)));
  const seen = new Set<string>();
  const extra: string[] = [];
  for (const rule of ingress) {
    const k = rule.cidrIpv4 ? key(rule.cidrIpv4, protocolName(rule.protocol), rule.fromPort, rule.toPort) : undefined;
    if (k !== undefined && expected.has(k) && !seen.has(k)) seen.add(k);
    else extra.push(describeRule(rule));
  }
  const missing = [...expected].filter((k) => !seen.has(k));
  const problems = [...(missing.length > 0 ? [`missing ${list(missing)}`] : []), ...(extra.length > 0 ? [`extra ${list(extra)}`] : [])];
  if (problems.length > 0) return fail(code, `ingress of ${groupId} differs from the spec: ${problems.join("; ")}`, { ...evidence, missing, extra });
  return pass(code, `ingress of ${groupId} is exactly the spec's ${expected.size} rule(s)`, evidence);
}

/** The entry evaluated first for IPv4 traffic in one direction (the lowest rule number). */
function firstEntry(entries: readonly NaclEntryFacts[], egress: boolean): NaclEntryFacts | undefined {
  return entries.filter((e) => e.egress === egress && e.cidrBlock !== undefined).sort((a, b) => a.ruleNumber - b.ruleNumber)[0];
}

const deniesAll = (entry: NaclEntryFacts | undefined): boolean =>
  entry !== undefined && entry.action === "deny" && entry.protocol === "-1" && entry.cidrBlock === "0.0.0.0/0";

/** A NACL whose first IPv4 entry both ways denies everything: no later rule, added by anyone, can let traffic in. */
export function isDenyAllNacl(nacl: Pick<SubnetNaclFacts, "entries">): boolean {
  return deniesAll(firstEntry(nacl.entries, false)) && deniesAll(firstEntry(nacl.entries, true));
}

/**
 * NACL_DENY. Revoked: every provider subnet exists and is on a deny-all NACL (a revoke keeps the subnets).
 * Decommissioned: every subnet is gone or denied. Active: every subnet exists and none is denied.
 */
export function checkNaclDeny(target: VerificationTarget, subnets: readonly SubnetNaclFacts[]): CheckResult {
  const code = "NACL_DENY";
  if (target.subnetIds.length === 0) return notApplicable(code, "no provider subnet known");
  const bySubnet = new Map(subnets.map((s) => [s.subnetId, s]));
  const missing = target.subnetIds.filter((id) => !bySubnet.has(id));
  const found = target.subnetIds.flatMap((id) => {
    const s = bySubnet.get(id);
    return s ? [{ subnetId: id, naclId: s.naclId, isDefault: s.isDefault, denyAll: isDenyAllNacl(s) }] : [];
  });
  const evidence = { subnets: found, missingSubnetIds: missing };
  const open = found.filter((s) => !s.denyAll).map((s) => `${s.subnetId} on ${s.naclId}${s.isDefault ? " (default)" : ""}`);
  const denied = found.filter((s) => s.denyAll).map((s) => `${s.subnetId} on ${s.naclId}`);

  if (target.expectation === "active") {
    const problems = [...(denied.length > 0 ? [`on a deny-all NACL: ${list(denied)}`] : []), ...(missing.length > 0 ? [`missing subnet(s) ${list(missing)}`] : [])];
    if (problems.length > 0) return fail(code, problems.join("; "), evidence);
    return pass(code, `none of the ${found.length} subnet(s) is on a deny-all NACL`, evidence);
  }
  const problems = [
    ...(open.length > 0 ? [`not on a deny-all NACL: ${list(open)}`] : []),
    ...(target.expectation === "revoked" && missing.length > 0 ? [`missing subnet(s) ${list(missing)} (a revoke keeps them)`] : []),
  ];
  if (problems.length > 0) return fail(code, problems.join("; "), evidence);
  if (found.length === 0) return pass(code, `all ${missing.length} subnet(s) are gone`, evidence);
  return pass(code, `${found.length} subnet(s) on a deny-all NACL (${list([...new Set(found.map((s) => s.naclId))])})${missing.length > 0 ? `, ${missing.length} gone` : ""}`, evidence);
}

/** Connection states in which an endpoint reaches, or is about to reach, the service. */
const LIVE_STATES = new Set(["available", "pendingacceptance", "pending"]);

/**
 * ENDPOINT_CONNECTIONS. Revoked or decommissioned: the service is gone, or has no live connection and allows
 * nobody to request one. Active: the available connections are exactly the accepted endpoint ids.
 */
export function checkEndpointConnections(target: VerificationTarget, service: EndpointServiceFacts | null): CheckResult {
  const code = "ENDPOINT_CONNECTIONS";
  const serviceName = target.inbound?.serviceName ?? "";
  if (service === null) {
    if (target.expectation === "active") return fail(code, `the endpoint service ${serviceName} does not exist`, { serviceName, exists: false });
    return pass(code, `the endpoint service ${serviceName} no longer exists`, { serviceName, exists: false });
  }
  const connections = service.connections.map((c) => ({ endpointId: c.endpointId, state: c.state }));
  const evidence = { serviceId: service.serviceId, connections, allowedPrincipalCount: service.allowedPrincipals.length };
  if (target.expectation !== "active") {
    const live = service.connections.filter((c) => LIVE_STATES.has(c.state.toLowerCase())).map((c) => `${c.endpointId} ${c.state}`);
    const problems = [
      ...(live.length > 0 ? [`live connection(s) ${list(live)}`] : []),
      ...(service.allowedPrincipals.length > 0 ? [`${service.allowedPrincipals.length} principal(s) may still request a connection`] : []),
    ];
    if (problems.length > 0) return fail(code, `${service.serviceId}: ${problems.join("; ")}`, evidence);
    return pass(code, `${service.serviceId} has no live connection and allows no principal`, evidence);
  }
  const available = new Set(service.connections.filter((c) => c.state.toLowerCase() === "available").map((c) => c.endpointId));
  const accepted = new Set(target.inbound?.acceptedEndpointIds ?? []);
  const missing = [...accepted].filter((id) => !available.has(id));
  const extra = [...available].filter((id) => !accepted.has(id));
  const problems = [...(missing.length > 0 ? [`not available: ${list(missing)}`] : []), ...(extra.length > 0 ? [`not accepted by the spec: ${list(extra)}`] : [])];
  if (problems.length > 0) return fail(code, `${service.serviceId}: ${problems.join("; ")}`, evidence);
  return pass(code, `${service.serviceId}: exactly the ${accepted.size} accepted endpoint(s) are available`, evidence);
}
