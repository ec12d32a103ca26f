import { isRecord, ofType, show, TYPES, violation, type GuardrailExpectations, type GuardrailViolation, type PlannedResource } from "./types.js";

/**
 * The provider's stateful Network Firewall rule group (research/aws-design.md §1.4, §4.1). Under
 * STRICT_ORDER the first matching pass/drop decides, so the group is safe when every scope its pass
 * rules open (the provider's sources to its network) ends in drops covering all traffic in that scope.
 * The rules are read as Suricata reads them (action, header, options), not matched against the text
 * our builder emits.
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
  }
  return out;
}
