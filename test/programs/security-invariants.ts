import { expect } from "vitest";
import type { Evaluation } from "../../programs/evaluate-program.js";
import type { ProviderStackArgs } from "../../programs/types.js";
import { byokKeyOf, childOf, endpointGroupOf, keyPolicyOf, ofType, rulesOf, ruleGroupOf, single, str, T, type Statement } from "./fixtures.js";

/**
 * The security properties of one evaluated provider stack, checked against the args it was built from.
 * Shared by the example-based tests and the property test, so both assert the same contract.
 */
export function expectSecureProviderStack(e: Evaluation, args: ProviderStackArgs): void {
  expectSecureNetwork(e, args);
  expectSecureFirewall(e, args);
  expectSecureKey(e, args);
  expect(JSON.stringify(e.outputs)).not.toMatch(/grantToken/i);
}

export function expectSecureNetwork(e: Evaluation, args: ProviderStackArgs): void {
  const sg = endpointGroupOf(e);
  expect(sg.inputs["ingress"]).toBeUndefined();
  expect(sg.inputs["egress"]).toBeUndefined();
  expect(sg.inputs["revokeRulesOnDelete"]).toBe(true);

  // The inbound NLB's group has ingress of its own (expectSecureInbound).
  const rules = ofType(e, T.ingressRule).filter((r) => r.inputs["securityGroupId"] === sg.id);
  expectSecureInbound(e, args);
  const { ports, allowedSourceCidrs } = args.outbound;
  if (args.accessState === "revoked") {
    expect(rules).toHaveLength(0);
  } else {
    expect(rules).toHaveLength(ports.length * allowedSourceCidrs.length);
    const expected = ports.flatMap((p) => allowedSourceCidrs.map((c) => `${p.protocol}/${p.port}/${c}`)).sort();
    const actual = rules.map((r) => `${str(r.inputs["ipProtocol"])}/${String(r.inputs["fromPort"])}/${str(r.inputs["cidrIpv4"])}`);
    expect(actual.sort()).toEqual(expected);
  }
  for (const rule of rules) {
    expect(rule.inputs["securityGroupId"]).toBe(sg.id);
    expect(rule.inputs["cidrIpv4"]).not.toBe("0.0.0.0/0");
    expect(str(rule.inputs["cidrIpv4"]).endsWith("/0")).toBe(false);
    // Exactly one source per rule.
    expect(rule.inputs["cidrIpv6"]).toBeUndefined();
    expect(rule.inputs["prefixListId"]).toBeUndefined();
    expect(rule.inputs["referencedSecurityGroupId"]).toBeUndefined();
    expect(rule.inputs["fromPort"]).toBe(rule.inputs["toPort"]);
    expect(ports.some((p) => p.port === rule.inputs["fromPort"] && p.protocol === rule.inputs["ipProtocol"])).toBe(true);
  }

  const endpoint = single(e, T.endpoint);
  expect(endpoint.inputs["vpcEndpointType"]).toBe("Interface");
  expect(endpoint.inputs["securityGroupIds"]).toEqual([sg.id]);
  expect(endpoint.inputs["serviceName"]).toBe(args.outbound.endpointServiceName);
  expect(endpoint.inputs["ipAddressType"]).toBe("ipv4");
}

/**
 * Issue 12, defect 5: the NLB enforces its group on PrivateLink traffic, whose ingress is exactly
 * listener port × the SaaS's client CIDRs while active, none while revoked.
 */
function expectSecureInbound(e: Evaluation, args: ProviderStackArgs): void {
  const nlbs = ofType(e, "aws:lb/loadBalancer:LoadBalancer");
  if (!args.inbound) {
    expect(nlbs).toHaveLength(0);
    return;
  }
  const nlb = single(e, "aws:lb/loadBalancer:LoadBalancer");
  expect(nlb.inputs["enforceSecurityGroupInboundRulesOnPrivateLinkTraffic"]).toBe("on");
  const groups = nlb.inputs["securityGroups"] as string[];
  expect(groups).toHaveLength(1);
  const rules = ofType(e, T.ingressRule).filter((r) => r.inputs["securityGroupId"] === groups[0]);
  const ports = [...new Set(args.inbound.targets.map((t) => t.port))];
  const expected = args.accessState === "active" ? ports.flatMap((p) => args.inbound!.sourceCidrs.map((c) => `tcp/${p}-${p}/${c}`)).sort() : [];
  expect(rules.map((r) => `${str(r.inputs["ipProtocol"])}/${String(r.inputs["fromPort"])}-${String(r.inputs["toPort"])}/${str(r.inputs["cidrIpv4"])}`).sort()).toEqual(expected);
}

export function expectSecureFirewall(e: Evaluation, args: ProviderStackArgs): void {
  const group = single(e, T.ruleGroup);
  expect(group.inputs["type"]).toBe("STATEFUL");
  expect(group.inputs["name"]).toBe(`saas-${args.name}`);
  expect(group.inputs["capacity"]).toBe(args.firewall.capacity);
  expect(ruleGroupOf(e).statefulRuleOptions.ruleOrder).toBe("STRICT_ORDER");

  const rules = rulesOf(e);
  expect(rules.length).toBeLessThanOrEqual(args.firewall.capacity);
  const sids = rules.map((r) => Number(/\bsid:(\d+);/.exec(r)?.[1]));
  expect(sids.every((sid) => Number.isInteger(sid) && sid >= args.firewall.sidBase)).toBe(true);
  expect(new Set(sids).size).toBe(rules.length);
  expect(rules.at(-1)).toMatch(/^drop /);
  // One statement per line, and nothing but our own option list inside the parentheses.
  const domainPorts = args.outbound.ports.filter((p) => p.match === "domain").map((p) => p.port).sort((a, b) => a - b);
  const portPasses = args.outbound.ports.filter((p) => p.match === "port");
  for (const rule of rules) {
    expect(rule).toMatch(/^(pass (tls|http|tcp|udp) \$SAAS_SRC any -> \$SAAS_NET (\d+|\[[\d,]+\])|drop (tcp|udp|icmp|ip) any any -> \$SAAS_NET any) \([^()]*\)$/);
  }

  if (args.accessState === "revoked") {
    expect(rules).toHaveLength(1);
    expect(rules.every((r) => r.startsWith("drop "))).toBe(true);
    return;
  }
  const passes = rules.filter((r) => r.startsWith("pass tls ") || r.startsWith("pass http "));
  expect(passes).toHaveLength(2 * args.firewall.allowedDomains.length);
  const firstDrop = rules.findIndex((r) => r.startsWith("drop "));
  expect(rules.slice(firstDrop).every((r) => r.startsWith("drop "))).toBe(true);
  const ports = domainPorts.length === 1 ? String(domainPorts[0]) : `[${domainPorts.join(",")}]`;
  for (const pass of passes) {
    const content = /content:"([^"]*)"/.exec(pass)?.[1] ?? "";
    const allowed = args.firewall.allowedDomains.map((d) => d.toLowerCase().replace(/^\*\./, "."));
    expect(allowed).toContain(content);
    expect(pass).toContain(` -> $SAAS_NET ${ports} (`);
    // http.host is lower-cased by Suricata, which refuses `nocase` on it (issue 12).
    expect(pass).toMatch(/tls\.sni; content:"[^"]+"; nocase; (startswith; )?endswith;|http\.host; content:"[^"]+"; (startswith; )?endswith;/);
  }
  // Port-matched ports: one 5-tuple pass each, from the first packet, and no other tcp/udp pass.
  const tuplePasses = rules.filter((r) => /^pass (tcp|udp) /.test(r)).map((r) => /^pass (\w+) \S+ any -> \S+ (\d+) \(.*flow:to_server;/.exec(r)?.slice(1, 3).join("/"));
  expect(tuplePasses.sort()).toEqual(portPasses.map((p) => `${p.protocol}/${p.port}`).sort());
}

export function expectSecureKey(e: Evaluation, args: ProviderStackArgs): void {
  if (args.kms.keyStore === "cloudhsm") {
    // Phase 1: the key store is not initialised yet, so no BYOK key and no grant exist at all.
    expect(e.resources.some((r) => r.parent.includes("saas-bridge:kms:ByokKey"))).toBe(false);
    expect(ofType(e, T.grant)).toHaveLength(0);
    return;
  }
  const key = byokKeyOf(e);
  expect(key.inputs["enableKeyRotation"]).toBe(true);
  expect(key.inputs["rotationPeriodInDays"]).toBe(365);
  expect(key.inputs["deletionWindowInDays"]).toBe(args.kms.deletionWindowInDays);
  expect(key.inputs["customerMasterKeySpec"]).toBe("SYMMETRIC_DEFAULT");
  expect(childOf(e, T.alias, "saas-bridge:kms:ByokKey").inputs["name"]).toBe(`alias/saas/${args.name}`);

  const statements = keyPolicyOf(e);
  const providerRoot = `arn:aws:iam::${args.provider.awsAccountId}:root`;
  const admin = statements.find((s) => s.Sid === "KeyAdministration");
  expect(admin?.Effect).toBe("Allow");
  const admins = admin?.Condition?.["ArnEquals"]?.["aws:PrincipalArn"];
  expect(admins).toEqual(expect.arrayContaining([...args.kms.adminRoleArns]));
  expect(admin?.Action.some((a) => a === "kms:*" || /Encrypt|Decrypt|GenerateDataKey/.test(a))).toBe(false);

  const forProvider = statements.filter((s) => s.Principal.AWS === providerRoot);
  const allows = forProvider.filter((s) => s.Effect === "Allow");
  for (const s of allows) expectScopedProviderAllow(s, args);

  const grants = ofType(e, T.grant);
  if (args.accessState === "revoked") {
    expect(grants).toHaveLength(0);
    expect(allows).toHaveLength(0);
    expect(forProvider.some((s) => s.Effect === "Deny" && s.Action.includes("kms:*"))).toBe(true);
    return;
  }
  expect(allows.length).toBeGreaterThan(0);
  expect(grants).toHaveLength(args.provider.principalArns.length);
  expect(grants.map((g) => g.inputs["granteePrincipal"]).sort()).toEqual([...args.provider.principalArns].sort());
  for (const grant of grants) {
    expect(grant.inputs["keyId"]).toBe(key.state["arn"]);
    expect(grant.inputs["operations"]).toEqual([...args.kms.grantOperations]);
    expect(grant.inputs["constraints"]).toEqual([{ encryptionContextSubset: { ...args.kms.encryptionContext } }]);
    expect(grant.inputs["retiringPrincipal"]).toBe(args.kms.retiringPrincipalArn);
    expect(grant.inputs["retireOnDelete"]).toBe(false);
    expect(grant.options.additionalSecretOutputs).toContain("grantToken");
  }
}

/** A provider allow names its principals, never `kms:*`, and every crypto action needs the context. */
function expectScopedProviderAllow(s: Statement, args: ProviderStackArgs): void {
  expect(s.Action).not.toContain("kms:*");
  expect(s.Action.every((a) => !a.endsWith("*"))).toBe(true);
  expect(s.Condition?.["ArnEquals"]?.["aws:PrincipalArn"]).toEqual([...args.provider.principalArns]);
  if (s.Action.some((a) => a !== "kms:DescribeKey")) {
    const expected = Object.fromEntries(
      Object.entries(args.kms.encryptionContext).map(([k, v]) => [`kms:EncryptionContext:${k}`, v]),
    );
    expect(s.Condition?.["StringEquals"]).toEqual(expected);
  }
}
