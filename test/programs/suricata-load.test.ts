import fc from "fast-check";
import { beforeAll, describe, expect, test } from "vitest";
import { ProviderFirewallRules, type ProviderFirewallRulesArgs } from "../../programs/components/provider-firewall-rules.js";
import type { AccessState } from "../../programs/types.js";
import { buildProviderSpecSchema } from "../../src/onboarding/spec.js";
import { provisionalSubnets, toProviderStackArgs } from "../../src/onboarding/stack-args.js";
import { validSpecArb } from "../helpers/arbitraries.js";
import { landingZone } from "../helpers/service.js";
import { acme, globex } from "../onboarding/spec-fixtures.js";
import { fromRuleGroupInput, loadRuleGroups, suricataVersion, type RuleGroupUnderTest } from "../support/suricata.js";
import { evaluateComponent, evaluateProviderStack, ofType, T } from "./fixtures.js";

/**
 * Every rule group the programs generate must load in Suricata 7 (AWS Network Firewall's engine), in
 * the default and the strict keyword mode, with no error and no warning: a rule Suricata refuses fails
 * the deployment, and a warning is a rule that does not do what it says. Requires `suricata` (Debian:
 * bookworm-backports, installed by .ci/run); without it the suite fails in CI and skips elsewhere.
 */

const version = suricataVersion();
const inCi = Boolean(process.env["CI"]);
if (version === undefined && !inCi) {
  console.warn("suricata-load: SKIPPED — `suricata` is not on PATH (apt-get install -t bookworm-backports suricata; .ci/run installs it)");
}
const STATES: readonly AccessState[] = ["active", "revoked"];

function expectClean(groups: readonly RuleGroupUnderTest[]): void {
  const expectedRules = groups.reduce((n, g) => n + g.rulesString.split("\n").filter((l) => l.trim() !== "").length, 0);
  for (const strict of [false, true]) {
    const load = loadRuleGroups(groups, { strict });
    expect({ strict, findings: load.findings }).toEqual({ strict, findings: [] });
    expect({ strict, files: load.filesProcessed, loaded: load.rulesLoaded, failed: load.rulesFailed }).toEqual({
      strict,
      files: groups.length,
      loaded: expectedRules,
      failed: 0,
    });
    // Batching works: far fewer runs than groups.
    expect(load.runs).toBeLessThanOrEqual(Math.max(2, Math.ceil(groups.length / 2)));
  }
}

/** The rule group(s) the full provider program registers for a spec, active and revoked. */
async function programGroups(label: string, input: unknown): Promise<RuleGroupUnderTest[]> {
  const spec = buildProviderSpecSchema(landingZone).parse(input);
  const region = landingZone.network.regions[spec.region]!;
  const subnets = provisionalSubnets(region.subnetPool, region.subnetPrefixLength, region.availabilityZoneIds);
  const out: RuleGroupUnderTest[] = [];
  for (const accessState of STATES) {
    const args = toProviderStackArgs(spec, landingZone, accessState, { subnets, connectionAccepted: true });
    const evaluation = await evaluateProviderStack(args);
    for (const group of ofType(evaluation, T.ruleGroup)) out.push(fromRuleGroupInput(`${label}, ${accessState}`, group.inputs["ruleGroup"]));
  }
  return out;
}

const label63 = "a".repeat(63);
const SHAPES: readonly (readonly [string, Partial<ProviderFirewallRulesArgs>])[] = [
  ["exact names", { allowedDomains: ["api.acme.example", "a-1.b2.example", "x.io"] }],
  ["wildcards only", { allowedDomains: ["*.files.acme.example", "*.acme.example"] }],
  ["mixed case input", { allowedDomains: ["Upload.ACME.example", "*.CDN.acme.example", "api.acme.example"] }],
  ["longest labels and names", { allowedDomains: [`${label63}.${label63}.${label63}.${"b".repeat(61)}`, `*.${label63}.example`] }],
  ["one domain port", { ports: [{ port: 443, protocol: "tcp", match: "domain" }] }],
  [
    "several domain ports and port-matched tcp and udp",
    {
      ports: [
        { port: 8443, protocol: "tcp", match: "domain" },
        { port: 443, protocol: "tcp", match: "domain" },
        { port: 5432, protocol: "tcp", match: "port" },
        { port: 514, protocol: "udp", match: "port" },
        { port: 65_535, protocol: "udp", match: "port" },
      ],
    },
  ],
  [
    "port-matched only, no domains",
    { allowedDomains: [], ports: [{ port: 22, protocol: "tcp", match: "port" }, { port: 514, protocol: "udp", match: "port" }] },
  ],
  [
    "maximum: 100 domains, 20 ports",
    {
      allowedDomains: Array.from({ length: 100 }, (_, i) => (i % 2 === 0 ? `*.d${i}.example.com` : `host-${i}.example.com`)),
      ports: Array.from({ length: 20 }, (_, i) =>
        i < 10
          ? { port: 8000 + i, protocol: "tcp" as const, match: "domain" as const }
          : { port: 9000 + i, protocol: i % 2 === 0 ? ("tcp" as const) : ("udp" as const), match: "port" as const },
      ),
      capacity: 30_000,
    },
  ],
];

describe.skipIf(version === undefined && !inCi)("Suricata 7 loads every generated rule group", () => {
  beforeAll(() => {
    if (version === undefined) throw new Error("suricata is not installed, and CI is set: .ci/run must install it (bookworm-backports)");
    expect(version).toMatch(/^7\./);
  });

  test("every spec shape of the rule builder, active and revoked", async () => {
    const base: ProviderFirewallRulesArgs = {
      slug: "shape",
      allowedDomains: ["api.acme.example", "*.files.acme.example"],
      ports: [{ port: 443, protocol: "tcp", match: "domain" }],
      sourceCidrs: ["10.20.0.0/16", "172.16.4.0/22"],
      destinationCidrs: ["10.100.0.0/28", "10.100.0.16/28"],
      sidBase: 1,
      capacity: 300,
      accessState: "active",
    };
    const e = await evaluateComponent(() => {
      SHAPES.forEach(([, shape], i) => {
        for (const accessState of STATES) {
          const slug = `shape-${i}`;
          new ProviderFirewallRules(`${slug}-${accessState}`, { ...base, slug, sidBase: 1_000_000 + i * 1_000, ...shape, accessState });
        }
      });
    });
    const groups = ofType(e, T.ruleGroup).map((r) => fromRuleGroupInput(String(r.inputs["name"]), r.inputs["ruleGroup"]));
    expect(groups).toHaveLength(SHAPES.length * STATES.length);
    expectClean(groups);
  });

  test("the example specs, through the provider program", async () => {
    const groups = [...(await programGroups("example acme", acme())), ...(await programGroups("example globex", globex()))];
    expect(groups).toHaveLength(4);
    expectClean(groups);
  });

  test("a sample of generated valid specs, through the provider program", async () => {
    const specs = fc.sample(validSpecArb(landingZone), { numRuns: 12, seed: 12 });
    const groups: RuleGroupUnderTest[] = [];
    for (const [i, spec] of specs.entries()) groups.push(...(await programGroups(`generated spec ${i}`, spec)));
    expectClean(groups);
  }, 120_000);

  test("the validator itself: a group Suricata refuses is reported, with the group's name", () => {
    const refused = {
      label: "broken",
      rulesString: 'pass http $SAAS_SRC any -> $SAAS_NET 80 (msg:"x"; http.host; content:"a.example"; nocase; sid:1; rev:1;)',
      ipSets: { SAAS_SRC: ["10.0.0.0/8"], SAAS_NET: ["10.100.0.0/28"] },
    };
    const undeclared = { ...refused, label: "undeclared", rulesString: refused.rulesString.replace("nocase; ", "").replace("$SAAS_NET", "$OTHER").replace("sid:1", "sid:2") };
    const load = loadRuleGroups([refused, undeclared], { strict: false });
    const errors = load.findings.filter((f) => f.level === "Error");
    expect(errors.some((f) => f.groups === "broken" && f.message.includes("nocase"))).toBe(true);
    expect(errors.some((f) => f.groups === "undeclared" && f.message.includes("OTHER"))).toBe(true);
  });
});
