import type { AccessState, OutboundPort } from "../types.js";
import { assertSlug, assertUnique } from "./aws-ids.js";

/**
 * Pure builder of the provider's Suricata rules string (research/aws-design.md §1.4). Everything that
 * reaches the string is validated here: domains are reduced to [a-z0-9.-] with an optional leading
 * `*.`, so a value such as `evil.com"; sid:1; drop` can never close the `content` and inject options.
 */

/** Rule variable holding the provider's source CIDRs (set on the rule group, not in the string). */
export const SOURCE_VARIABLE = "SAAS_SRC";
/**
 * Rule variable holding the provider's own subnets (where its endpoint ENIs live). Every rule of the
 * group is scoped to them: the central policy evaluates all providers' groups in strict order, so a
 * default drop scoped only by source would also drop the same sources' traffic to the next provider.
 * The allocator guarantees that no two providers' subnets overlap.
 */
export const DESTINATION_VARIABLE = "SAAS_NET";

const LABEL = /^[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?$/;
const MAX_SID = 2_147_483_647;

export interface AllowedDomain {
  /** The name without the `*.` prefix, lower-cased. */
  readonly name: string;
  /** `*.example.com`: any subdomain of `example.com`, but not `example.com` itself. */
  readonly wildcard: boolean;
}

export function parseDomain(raw: string): AllowedDomain {
  const lower = raw.toLowerCase();
  const wildcard = lower.startsWith("*.");
  const name = wildcard ? lower.slice(2) : lower;
  const labels = name.split(".");
  const valid =
    name.length <= 253 &&
    labels.length >= 2 &&
    labels.every((label) => LABEL.test(label)) &&
    !/^\d+$/.test(labels[labels.length - 1] ?? "");
  if (!valid) throw new Error(`firewall: invalid domain ${JSON.stringify(raw)} (FQDN with at most one leading "*.")`);
  return { name, wildcard };
}

/**
 * The buffer match for one domain. Exact names must equal the whole SNI/Host (`startswith` +
 * `endswith`). For `*.example.com` we match `.example.com` at the end of the raw buffer: the dot stops
 * `evilexample.com`, and not using `dotprefix` keeps the apex out — `dotprefix` prepends a dot to the
 * buffer so `.example.com` would also match `example.com` (Suricata transforms docs, "dotprefix"),
 * which is AWS's domain-list semantics for `.example.com`, not what `*.` promises. List the apex
 * explicitly if it is wanted.
 *
 * `tls.sni` is matched `nocase` (a client may send any case). `http.host` is normalised to lower case by
 * Suricata, which refuses `nocase` on it ("http.host keyword specified along with nocase", an error in
 * Suricata 7, issue 12); `parseDomain` lower-cases the content, so the two match the same names.
 */
function contentMatch(domain: AllowedDomain, buffer: "tls.sni" | "http.host"): string {
  const nocase = buffer === "tls.sni" ? " nocase;" : "";
  return domain.wildcard
    ? `${buffer}; content:".${domain.name}";${nocase} endswith;`
    : `${buffer}; content:"${domain.name}";${nocase} startswith; endswith;`;
}

export interface RulesStringArgs {
  readonly slug: string;
  /** Matched on the `domain` ports; must be empty when there is none (they would match nothing). */
  readonly allowedDomains: readonly string[];
  /** The spec's outbound ports: `domain` ports scope the TLS/HTTP passes, `port` ports get a 5-tuple pass. */
  readonly ports: readonly OutboundPort[];
  readonly sidBase: number;
  readonly accessState: AccessState;
}

export interface RulesString {
  readonly rulesString: string;
  /** Rules in the string; a stateful group's capacity must be at least this. */
  readonly ruleCount: number;
  /** Rules the active variant needs: capacity is fixed, so a revoked group must still fit it. */
  readonly activeRuleCount: number;
}

/** pass tls + pass http per domain, one pass per `port` port, then the three default drops. */
export function activeRuleCount(domainCount: number, portPassCount: number): number {
  return 2 * domainCount + portPassCount + 3;
}

const byProtocolAndPort = (a: OutboundPort, b: OutboundPort): number =>
  a.protocol.localeCompare(b.protocol) || a.port - b.port;

/** Validates the ports; returns the `domain` tcp ports and the `port` ports, each sorted (stable rules). */
function splitPorts(ports: readonly OutboundPort[]): { domainPorts: number[]; portPasses: OutboundPort[] } {
  if (ports.length === 0) throw new Error("firewall: at least one outbound port is required");
  for (const p of ports) {
    if (!Number.isInteger(p.port) || p.port < 1 || p.port > 65_535) throw new Error(`firewall: invalid port ${p.port}`);
    if (p.protocol !== "tcp" && p.protocol !== "udp") throw new Error(`firewall: invalid protocol ${JSON.stringify(p.protocol)}`);
    if (p.match !== "domain" && p.match !== "port") throw new Error(`firewall: invalid match ${JSON.stringify(p.match)} for ${p.protocol}/${p.port}`);
    if (p.protocol === "udp" && p.match === "domain") {
      throw new Error(`firewall: udp/${p.port} cannot be domain-matched (udp carries no TLS SNI or HTTP Host); use match "port"`);
    }
  }
  assertUnique(ports.map((p) => `${p.protocol}/${p.port}`), "firewall port");
  const sorted = [...ports].sort(byProtocolAndPort);
  return {
    domainPorts: sorted.filter((p) => p.match === "domain").map((p) => p.port),
    portPasses: sorted.filter((p) => p.match === "port"),
  };
}

/** Suricata's port syntax: one port, or a bracketed list. */
const portList = (ports: readonly number[]): string => (ports.length === 1 ? String(ports[0]) : `[${ports.join(",")}]`);

export function buildRulesString(args: RulesStringArgs): RulesString {
  assertSlug(args.slug);
  const { domainPorts, portPasses } = splitPorts(args.ports);
  const domains = args.allowedDomains.map(parseDomain);
  if (domainPorts.length > 0 && domains.length === 0) {
    throw new Error(`firewall: at least one allowed domain is required for the domain-matched port(s) ${domainPorts.join(", ")}`);
  }
  if (domainPorts.length === 0 && domains.length > 0) {
    throw new Error('firewall: allowed domains need a tcp port with match "domain"; none of the ports has one');
  }
  assertUnique(domains.map((d) => (d.wildcard ? `*.${d.name}` : d.name)), "firewall domain");
  const activeCount = activeRuleCount(domains.length, portPasses.length);
  if (!Number.isInteger(args.sidBase) || args.sidBase < 1 || args.sidBase + activeCount - 1 > MAX_SID) {
    throw new Error(`firewall: invalid sidBase ${args.sidBase}`);
  }

  const src = `$${SOURCE_VARIABLE}`;
  const dst = `$${DESTINATION_VARIABLE}`;
  const tag = `saas-bridge ${args.slug}`;
  let sid = args.sidBase;
  // Passes need an allowed source and one of the spec's ports; drops cover any source and any port, so
  // nothing but the passes reaches the provider.
  const pass = (proto: string, ports: string, body: string): string =>
    `pass ${proto} ${src} any -> ${dst} ${ports} (${body} sid:${sid++}; rev:1;)`;
  const drop = (proto: string, body: string): string => `drop ${proto} any any -> ${dst} any (${body} sid:${sid++}; rev:1;)`;

  const rules: string[] = [];
  if (args.accessState === "revoked") {
    // Same group (same name, same ARN) so the central policy needs no change; one rule, drop-only.
    rules.push(drop("ip", `msg:"${tag} revoked: drop all";`));
  } else {
    const ports = portList(domainPorts);
    for (const d of domains) {
      const shown = d.wildcard ? `*.${d.name}` : d.name;
      const flow = "flow:to_server, established;";
      rules.push(pass("tls", ports, `msg:"${tag} allow tls ${shown}"; ${flow} ${contentMatch(d, "tls.sni")}`));
      rules.push(pass("http", ports, `msg:"${tag} allow http ${shown}"; ${flow} ${contentMatch(d, "http.host")}`));
    }
    // A 5-tuple pass from the first packet (no `established`): the spec opens the port whatever it carries.
    for (const p of portPasses) {
      rules.push(pass(p.protocol, String(p.port), `msg:"${tag} allow ${p.protocol}/${p.port}"; flow:to_server;`));
    }
    // STRICT_ORDER: these run after every pass rule. TCP is dropped once established (like the
    // policy's aws:drop_established) so handshakes survive until TLS/HTTP can be identified.
    rules.push(drop("tcp", `msg:"${tag} default drop tcp"; flow:to_server, established;`));
    rules.push(drop("udp", `msg:"${tag} default drop udp";`));
    rules.push(drop("icmp", `msg:"${tag} default drop icmp";`));
  }
  return { rulesString: rules.join("\n"), ruleCount: rules.length, activeRuleCount: activeCount };
}
