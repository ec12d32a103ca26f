import { describe, expect, test } from "vitest";
import { ProviderFirewallRules, type ProviderFirewallRulesArgs } from "../../programs/components/provider-firewall-rules.js";
import { buildRulesString, parseDomain } from "../../programs/components/suricata.js";
import { evaluateComponent, ruleGroupOf, rulesOf, single, T } from "./fixtures.js";

const base: ProviderFirewallRulesArgs = {
  slug: "acme-crm",
  allowedDomains: ["api.acme-crm.example", "*.files.acme-crm.example", "Upload.ACME-crm.example"],
  ports: [{ port: 443, protocol: "tcp", match: "domain" }],
  sourceCidrs: ["10.20.0.0/16"],
  destinationCidrs: ["10.100.0.0/28", "10.100.0.16/28"],
  sidBase: 5_000,
  capacity: 50,
  accessState: "active",
};

function evaluate(args: Partial<ProviderFirewallRulesArgs> = {}) {
  return evaluateComponent(() => {
    const rules = new ProviderFirewallRules("acme-firewall", { ...base, ...args });
    return { ruleGroupArn: rules.ruleGroupArn };
  });
}

const sidsOf = (rules: string[]) => rules.map((r) => Number(/sid:(\d+);/.exec(r)?.[1]));

describe("ProviderFirewallRules", () => {
  test("a STATEFUL, STRICT_ORDER group named after the provider, scoped to its sources and its own subnets", async () => {
    const e = await evaluate();
    const group = single(e, T.ruleGroup);
    expect(group.inputs).toMatchObject({ name: "saas-acme-crm", type: "STATEFUL", capacity: 50 });
    expect(ruleGroupOf(e).statefulRuleOptions.ruleOrder).toBe("STRICT_ORDER");
    expect(ruleGroupOf(e).ruleVariables.ipSets).toEqual([
      { key: "SAAS_SRC", ipSet: { definitions: ["10.20.0.0/16"] } },
      { key: "SAAS_NET", ipSet: { definitions: ["10.100.0.0/28", "10.100.0.16/28"] } },
    ]);
    expect(e.outputs["ruleGroupArn"]).toBe(group.state["arn"]);
  });

  test("every rule only sees traffic to the provider's own subnets: passes from its sources to its ports, drops from anywhere", async () => {
    const rules = rulesOf(await evaluate());
    for (const r of rules) expect(r).toMatch(/ any -> \$SAAS_NET (443|any) \(/);
    expect(rules.filter((r) => r.startsWith("pass ")).every((r) => r.includes(" $SAAS_SRC any -> $SAAS_NET 443 ("))).toBe(true);
    expect(rules.filter((r) => r.startsWith("drop ")).every((r) => / any any -> \$SAAS_NET any \(/.test(r))).toBe(true);
  });

  test("pass tls + pass http per domain with unique consecutive SIDs, then drops only", async () => {
    const rules = rulesOf(await evaluate());
    expect(rules).toHaveLength(2 * 3 + 3);
    expect(sidsOf(rules)).toEqual(rules.map((_, i) => 5_000 + i));
    expect(rules.slice(0, 6).every((r) => r.startsWith("pass "))).toBe(true);
    expect(rules.slice(6).every((r) => r.startsWith("drop "))).toBe(true);
    expect(rules.at(-1)).toMatch(/^drop /);
    // The TCP default drop waits for an established flow, so TLS/HTTP can be identified first.
    expect(rules.find((r) => r.startsWith("drop tcp"))).toContain("flow:to_server, established;");
  });

  test("exact names match the whole SNI/Host; *. matches subdomains only (no dotprefix, no apex)", async () => {
    const rules = rulesOf(await evaluate());
    const [tls, http] = rules;
    expect(tls).toContain('tls.sni; content:"api.acme-crm.example"; nocase; startswith; endswith;');
    // Suricata 7 refuses `nocase` on http.host (the buffer is lower-cased; issue 12): lower-cased content only.
    expect(http).toContain('http.host; content:"api.acme-crm.example"; startswith; endswith;');
    expect(rules[2]).toContain('tls.sni; content:".files.acme-crm.example"; nocase; endswith;');
    expect(rules[3]).toContain('http.host; content:".files.acme-crm.example"; endswith;');
    expect(rules[2]).not.toContain("startswith");
    expect(rules.filter((r) => r.includes("http.host")).every((r) => !r.includes("nocase"))).toBe(true);
    expect(rules.join("\n")).not.toContain("dotprefix");
    // Upper case is normalised (the match is nocase anyway).
    expect(rules[4]).toContain('content:"upload.acme-crm.example"');
  });

  test("TLS/HTTP passes are scoped to the domain ports; each port-matched port gets a 5-tuple pass (issue 12, defect 4)", async () => {
    const rules = rulesOf(
      await evaluate({
        allowedDomains: ["api.acme-crm.example"],
        ports: [
          { port: 8443, protocol: "tcp", match: "domain" },
          { port: 514, protocol: "udp", match: "port" },
          { port: 443, protocol: "tcp", match: "domain" },
          { port: 5432, protocol: "tcp", match: "port" },
        ],
      }),
    );
    expect(rules).toHaveLength(2 + 2 + 3);
    expect(rules[0]).toMatch(/^pass tls \$SAAS_SRC any -> \$SAAS_NET \[443,8443\] \(/);
    expect(rules[1]).toMatch(/^pass http \$SAAS_SRC any -> \$SAAS_NET \[443,8443\] \(/);
    // Sorted by protocol then port, from the first packet (no `established`), no domain match.
    expect(rules[2]).toBe('pass tcp $SAAS_SRC any -> $SAAS_NET 5432 (msg:"saas-bridge acme-crm allow tcp/5432"; flow:to_server; sid:5002; rev:1;)');
    expect(rules[3]).toBe('pass udp $SAAS_SRC any -> $SAAS_NET 514 (msg:"saas-bridge acme-crm allow udp/514"; flow:to_server; sid:5003; rev:1;)');
    expect(rules.slice(4).map((r) => r.split(" (")[0])).toEqual([
      "drop tcp any any -> $SAAS_NET any",
      "drop udp any any -> $SAAS_NET any",
      "drop icmp any any -> $SAAS_NET any",
    ]);
  });

  test("port-matched ports only: no domains, no TLS/HTTP passes", async () => {
    const ports = [{ port: 22, protocol: "tcp", match: "port" }, { port: 514, protocol: "udp", match: "port" }] as const;
    const rules = rulesOf(await evaluate({ allowedDomains: [], ports }));
    expect(rules.map((r) => r.split(" (")[0])).toEqual([
      "pass tcp $SAAS_SRC any -> $SAAS_NET 22",
      "pass udp $SAAS_SRC any -> $SAAS_NET 514",
      "drop tcp any any -> $SAAS_NET any",
      "drop udp any any -> $SAAS_NET any",
      "drop icmp any any -> $SAAS_NET any",
    ]);
    expect(buildRulesString({ ...base, allowedDomains: [], ports, accessState: "revoked" })).toMatchObject({ ruleCount: 1, activeRuleCount: 5 });
  });

  test("revoked: same resource and name (same ARN), one drop-all rule", async () => {
    const active = await evaluate();
    const revoked = await evaluate({ accessState: "revoked" });
    expect(single(revoked, T.ruleGroup).urn).toBe(single(active, T.ruleGroup).urn);
    expect(revoked.outputs["ruleGroupArn"]).toBe(active.outputs["ruleGroupArn"]);
    const rules = rulesOf(revoked);
    expect(rules).toHaveLength(1);
    expect(rules[0]).toMatch(/^drop ip any any -> \$SAAS_NET any \(.*sid:5000; rev:1;\)$/);
  });

  test.each([
    'evil.com"; sid:1; drop',
    'evil.com"; pcre:"/x/',
    "evil.com; sid:1",
    "evil .com",
    "*.*.example.com",
    "*example.com",
    "example",
    "-bad.example.com",
    "a..example.com",
    "exa_mple.com",
    "10.0.0.1",
    "",
  ])("rejects domain %j before it reaches the rules string", async (domain) => {
    expect(() => parseDomain(domain)).toThrow(/invalid domain/);
    await expect(evaluate({ allowedDomains: [domain] })).rejects.toThrow(/invalid domain/);
  });

  test.each<[Partial<ProviderFirewallRulesArgs>, RegExp]>([
    [{ capacity: 8 }, /9 rules exceed the rule group capacity 8/],
    [{ capacity: 0 }, /capacity must be an integer/],
    [{ allowedDomains: [] }, /at least one allowed domain is required for the domain-matched port\(s\) 443/],
    [{ ports: [{ port: 22, protocol: "tcp", match: "port" }] }, /allowed domains need a tcp port with match "domain"/],
    [{ ports: [{ port: 514, protocol: "udp", match: "domain" }] }, /udp\/514 cannot be domain-matched/],
    [{ ports: [] }, /at least one outbound port/],
    [{ ports: [{ port: 0, protocol: "tcp", match: "domain" }] }, /invalid port 0/],
    [{ ports: [{ port: 443, protocol: "tcp", match: "domain" }, { port: 443, protocol: "tcp", match: "port" }] }, /duplicate firewall port/],
    [{ allowedDomains: ["a.example.com", "A.example.com"] }, /duplicate firewall domain/],
    [{ sidBase: 0 }, /invalid sidBase/],
    [{ sourceCidrs: ["0.0.0.0/0"] }, /whole Internet/],
    [{ destinationCidrs: [] }, /destination/],
    [{ destinationCidrs: ["0.0.0.0/0"] }, /whole Internet/],
    [{ slug: 'x"; drop' }, /invalid provider slug/],
  ])("rejects impossible args %j", async (args, message) => {
    await expect(evaluate(args)).rejects.toThrow(message);
  });

  test("capacity must fit the active rules even while revoked (reinstate must not replace the group)", () => {
    const built = buildRulesString({ ...base, accessState: "revoked" });
    expect(built.ruleCount).toBe(1);
    expect(built.activeRuleCount).toBe(9);
  });

  test("a revoked group with too little capacity for reinstatement is rejected", async () => {
    await expect(evaluate({ accessState: "revoked", capacity: 5 })).rejects.toThrow(/exceed the rule group capacity 5/);
  });
});
