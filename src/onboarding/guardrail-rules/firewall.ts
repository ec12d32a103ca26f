import { DESTINATION_VARIABLE, SOURCE_VARIABLE } from "../../../programs/components/suricata.js";
import { asArray, isRecord, ofType, show, TYPES, violation, type GuardrailExpectations, type GuardrailViolation, type PlannedResource } from "./types.js";

/**
 * The provider's stateful Network Firewall rule group (research/aws-design.md §1.4, §4.1). Under
 * STRICT_ORDER the first matching pass/drop decides, so the group is safe when every scope its pass
 * rules open (the provider's sources to its network) ends in drops covering all traffic in that scope,
 * and when every pass opens only what the spec lists (FIREWALL_PASS_NOT_IN_SPEC): its sources, the
 * provider's subnets, TLS/HTTP with an SNI/Host match on the `domain` ports, tcp/udp on the `port` ports.
 * The rules are read as Suricata reads them (action, header, options), not matched against the text
 * our builder emits; that Suricata itself accepts them is test/programs/suricata-load.test.ts's job.
 */

export interface SuricataRule {
  readonly action: string;
  readonly protocol: string;
  readonly source: string;
  readonly sourcePort: string;
  readonly direction: string;
  readonly destination: string;
  readonly destinationPort: string;
  /** Keyword → raw value (undefined for a bare keyword such as `nocase`). */
  readonly options: readonly { readonly keyword: string; readonly value: string | undefined }[];
}

const HEADER = /^(\S+)\s+(\S+)\s+(\S+)\s+(\S+)\s+(->|<>)\s+(\S+)\s+(\S+)\s*\((.*)\)$/s;

/** Splits `a:1; b:"x\;y"; c;` on semicolons outside quotes; a backslash escapes the next character. */
function splitOptions(body: string): SuricataRule["options"] {
  const parts: string[] = [];
  let current = "";
  let quoted = false;
  for (let i = 0; i < body.length; i++) {
    const ch = body[i] ?? "";
    if (ch === "\\") {
      current += ch + (body[i + 1] ?? "");
      i++;
    } else if (ch === '"') {
      quoted = !quoted;
      current += ch;
    } else if (ch === ";" && !quoted) {
      parts.push(current);
      current = "";
    } else current += ch;
  }
  parts.push(current);
  return parts
    .map((p) => p.trim())
    .filter((p) => p.length > 0)
    .map((p) => {
      const colon = p.indexOf(":");
      if (colon < 0) return { keyword: p.toLowerCase(), value: undefined };
      return { keyword: p.slice(0, colon).trim().toLowerCase(), value: p.slice(colon + 1).trim() };
    });
}

/** Parses a rules string; `lineNumber` of the first line that is not a rule when it fails. */
export function parseSuricata(rulesString: string): { rules: SuricataRule[] } | { badLine: number } {
  const rules: SuricataRule[] = [];
  const lines = rulesString.split(/\r?\n/);
  for (const [index, raw] of lines.entries()) {
    const line = raw.trim();
    if (line === "" || line.startsWith("#")) continue;
    const m = HEADER.exec(line);
    if (!m) return { badLine: index + 1 };
    const [, action = "", protocol = "", source = "", sourcePort = "", direction = "", destination = "", destinationPort = "", body = ""] = m;
    rules.push({
      action: action.toLowerCase(),
      protocol: protocol.toLowerCase(),
      source,
      sourcePort,
      direction,
      destination,
      destinationPort,
      options: splitOptions(body),
    });
  }
  return { rules };
}

const DROP_ACTIONS = new Set(["drop", "reject", "rejectsrc", "rejectdst", "rejectboth"]);
/** Options that describe a rule without narrowing what it matches. */
const NEUTRAL_OPTIONS = new Set(["msg", "sid", "rev", "gid", "classtype", "metadata", "priority", "reference"]);
const COVERING_PROTOCOLS = new Set(["ip", "tcp", "udp", "icmp"]);

/**
 * The protocol a drop rule covers completely within its scope, or undefined. `flow:to_server` (the
 * source side is the client) is allowed; `established` only on tcp — the handshake passes but no
 * payload does, like the policy's aws:drop_established. On udp/ip it would let first packets through.
 */
export function droppedProtocol(rule: SuricataRule): string | undefined {
  if (!DROP_ACTIONS.has(rule.action) || !COVERING_PROTOCOLS.has(rule.protocol)) return undefined;
  if (rule.sourcePort !== "any" || rule.destinationPort !== "any") return undefined;
  const flowTokens = new Set(["to_server", "from_client", ...(rule.protocol === "tcp" ? ["established"] : [])]);
  const neutral = rule.options.every(
    (o) =>
      NEUTRAL_OPTIONS.has(o.keyword) ||
      (o.keyword === "flow" && (o.value ?? "").split(",").every((t) => flowTokens.has(t.trim().toLowerCase()))),
  );
  return neutral ? rule.protocol : undefined;
}

const scopeOf = (r: SuricataRule): string => `${r.source} -> ${r.destination}`;

/**
 * Scopes (source -> destination) left open. Each pass rule's scope must be closed by the trailing
 * drops: drops whose source is the pass rule's or `any`, and whose destination is the pass rule's or
 * `any`, together covering ip (or tcp, udp and icmp). With no pass rule, the trailing drops' own scopes
 * must be complete. Addresses are compared as written (`$SAAS_NET`, a CIDR, a negation): a drop for a
 * different expression does not count even if its addresses happen to overlap.
 */
export function uncoveredScopes(rules: readonly SuricataRule[]): string[] {
  let start = rules.length;
  while (start > 0 && DROP_ACTIONS.has(rules[start - 1]?.action ?? "")) start--;
  const trailing = rules.slice(start);
  const passes = rules.filter((r) => r.action === "pass");
  const scopes = passes.length > 0 ? passes : trailing;
  if (scopes.length === 0) return ["(no default drop)"];
  const open = scopes.filter((scope) => {
    const covered = new Set(
      trailing
        .filter((r) => (r.source === scope.source || r.source === "any") && (r.destination === scope.destination || r.destination === "any"))
        .flatMap((r) => droppedProtocol(r) ?? []),
    );
    return !(covered.has("ip") || (covered.has("tcp") && covered.has("udp") && covered.has("icmp")));
  });
  return [...new Set(open.map(scopeOf))];
}

/** `443` or `[443,8443]` as numbers; undefined for anything else (any, ranges, negations, variables). */
function destinationPorts(field: string): number[] | undefined {
  const list = /^\[(.*)\]$/.exec(field)?.[1] ?? field;
  const parts = list.split(",").map((p) => p.trim());
  if (!parts.every((p) => /^\d{1,5}$/.test(p))) return undefined;
  return parts.map(Number);
}

const STICKY_BUFFER: Readonly<Record<string, string>> = { tls: "tls.sni", http: "http.host" };

/**
 * Why a pass rule opens more than the spec, or undefined. A pass names the spec's sources and the
 * provider's subnets, and single ports: TLS/HTTP passes only `domain` tcp ports and only with an
 * SNI/Host content match; tcp/udp passes only the spec's `port` ports of that protocol.
 */
function passProblem(rule: SuricataRule, expect: GuardrailExpectations): string | undefined {
  const scope = `${rule.source} ${rule.sourcePort} ${rule.direction} ${rule.destination}`;
  if (scope !== `$${SOURCE_VARIABLE} any -> $${DESTINATION_VARIABLE}`) {
    return `scope ${scope}; expected $${SOURCE_VARIABLE} any -> $${DESTINATION_VARIABLE}`;
  }
  const sticky = STICKY_BUFFER[rule.protocol];
  if (sticky === undefined && rule.protocol !== "tcp" && rule.protocol !== "udp") {
    return `protocol ${rule.protocol}; expected tls or http (match "domain") or tcp/udp (match "port")`;
  }
  const ports = destinationPorts(rule.destinationPort);
  if (ports === undefined) return `destination port ${rule.destinationPort}; expected the spec's ports`;
  if (sticky !== undefined) {
    const allowed = expect.outboundPorts.filter((p) => p.protocol === "tcp" && p.match === "domain").map((p) => p.port);
    const extra = ports.filter((p) => !allowed.includes(p));
    if (extra.length > 0) return `${rule.protocol} on ${show(extra)}; expected only the tcp ports with match "domain" ${show(allowed)}`;
    const at = rule.options.findIndex((o) => o.keyword === sticky);
    if (at < 0 || !rule.options.slice(at + 1).some((o) => o.keyword === "content")) {
      return `${rule.protocol} without a ${sticky} content match; expected a pass for the allowed domains only`;
    }
    return undefined;
  }
  const allowed = expect.outboundPorts.filter((p) => p.protocol === rule.protocol && p.match === "port").map((p) => p.port);
  const extra = ports.filter((p) => !allowed.includes(p));
  if (extra.length > 0) return `${rule.protocol} on ${show(extra)}; expected only the ${rule.protocol} ports with match "port" ${show(allowed)}`;
  return undefined;
}

/** The group's $SAAS_SRC definitions that are not among the spec's source CIDRs (all, if it is missing). */
function foreignSources(spec: Readonly<Record<string, unknown>>, expect: GuardrailExpectations): string[] | undefined {
  const variables = isRecord(spec["ruleVariables"]) ? spec["ruleVariables"] : {};
  const set = asArray(variables["ipSets"]).find((s) => isRecord(s) && s["key"] === SOURCE_VARIABLE);
  const definitions = isRecord(set) && isRecord(set["ipSet"]) ? asArray(set["ipSet"]["definitions"]) : undefined;
  if (definitions === undefined || definitions.length === 0) return undefined;
  return definitions.filter((d) => typeof d !== "string" || !expect.outboundSourceCidrs.includes(d)).map(String);
}

function passViolations(group: PlannedResource, spec: Readonly<Record<string, unknown>>, rules: readonly SuricataRule[], expect: GuardrailExpectations): GuardrailViolation[] {
  const passes = rules.filter((r) => r.action === "pass");
  if (passes.length === 0) return [];
  const problems = passes.flatMap((r) => {
    const problem = passProblem(r, expect);
    const sid = r.options.find((o) => o.keyword === "sid")?.value ?? "?";
    return problem === undefined ? [] : [`sid ${sid}: ${problem}`];
  });
  const foreign = foreignSources(spec, expect);
  if (foreign === undefined) problems.push(`$${SOURCE_VARIABLE} is not defined; expected the spec's source CIDRs ${show(expect.outboundSourceCidrs)}`);
  else if (foreign.length > 0) problems.push(`$${SOURCE_VARIABLE} holds ${show(foreign)}; expected only the spec's source CIDRs ${show(expect.outboundSourceCidrs)}`);
  if (problems.length === 0) return [];
  const shown = problems.slice(0, 3).join("; ") + (problems.length > 3 ? `; and ${problems.length - 3} more` : "");
  return [violation(group, "FIREWALL_PASS_NOT_IN_SPEC", `pass rules open more than the spec: ${shown}`)];
}

export function firewallRules(resources: readonly PlannedResource[], expect: GuardrailExpectations): GuardrailViolation[] {
  const out: GuardrailViolation[] = [];
  for (const group of ofType(resources, TYPES.ruleGroup)) {
    if (group.inputs["type"] === "STATELESS") continue;
    const spec = isRecord(group.inputs["ruleGroup"]) ? group.inputs["ruleGroup"] : {};
    const options = isRecord(spec["statefulRuleOptions"]) ? spec["statefulRuleOptions"] : {};
    if (options["ruleOrder"] !== "STRICT_ORDER") {
      out.push(
        violation(group, "FIREWALL_NOT_DEFAULT_DROP", `ruleOrder is ${show(options["ruleOrder"] ?? "unset (DEFAULT_ACTION_ORDER)")}; expected "STRICT_ORDER" so the trailing drops apply after the passes`),
      );
    }
    const source = isRecord(spec["rulesSource"]) ? spec["rulesSource"] : {};
    const text = source["rulesString"];
    if (typeof text !== "string") {
      out.push(
        violation(group, "FIREWALL_NOT_DEFAULT_DROP", "rule group has no Suricata rulesString; expected pass rules followed by a default drop"),
      );
      continue;
    }
    const parsed = parseSuricata(text);
    if ("badLine" in parsed) {
      out.push(
        violation(group, "FIREWALL_NOT_DEFAULT_DROP", `line ${parsed.badLine} of the rules string is not a Suricata rule; expected one rule per line`),
      );
      continue;
    }
    const open = uncoveredScopes(parsed.rules);
    if (open.length > 0) {
      out.push(
        violation(group, "FIREWALL_NOT_DEFAULT_DROP", `the rules do not end with drops covering all traffic (ip, or tcp+udp+icmp) in ${show(open)}; expected a default drop after the pass rules`),
      );
    }
    const passes = parsed.rules.filter((r) => r.action === "pass").length;
    if (expect.accessState === "revoked" && passes > 0) {
      out.push(violation(group, "REVOKED_ACCESS_REMAINS", `${passes} pass rule(s) remain while the provider is revoked; expected drop rules only`));
    }
    out.push(...passViolations(group, spec, parsed.rules, expect));
  }
  return out;
}
