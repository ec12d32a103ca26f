import type { AccessState } from "../types.js";
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
 */
function contentMatch(domain: AllowedDomain): string {
  return domain.wildcard
    ? `content:".${domain.name}"; nocase; endswith;`
    : `content:"${domain.name}"; nocase; startswith; endswith;`;
}

export interface RulesStringArgs {
  readonly slug: string;
  readonly allowedDomains: readonly string[];
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

/** pass tls + pass http per domain, then the default drops. */
export function activeRuleCount(domainCount: number): number {
  return 2 * domainCount + 3;
}

export function buildRulesString(args: RulesStringArgs): RulesString {
  assertSlug(args.slug);
  if (args.allowedDomains.length === 0) throw new Error("firewall: at least one allowed domain is required");
  const domains = args.allowedDomains.map(parseDomain);
  assertUnique(domains.map((d) => (d.wildcard ? `*.${d.name}` : d.name)), "firewall domain");
  const activeCount = activeRuleCount(domains.length);
  if (!Number.isInteger(args.sidBase) || args.sidBase < 1 || args.sidBase + activeCount - 1 > MAX_SID) {
    throw new Error(`firewall: invalid sidBase ${args.sidBase}`);
  }

  const src = `$${SOURCE_VARIABLE}`;
  const dst = `$${DESTINATION_VARIABLE}`;
  const tag = `saas-bridge ${args.slug}`;
  let sid = args.sidBase;
  // Passes need an allowed source; drops cover any source, so nothing but the passes reaches the provider.
  const rule = (action: string, proto: string, body: string): string =>
    `${action} ${proto} ${action === "pass" ? src : "any"} any -> ${dst} any (${body} sid:${sid++}; rev:1;)`;

  const rules: string[] = [];
  if (args.accessState === "revoked") {
    // Same group (same name, same ARN) so the central policy needs no change; one rule, drop-only.
    rules.push(rule("drop", "ip", `msg:"${tag} revoked: drop all";`));
  } else {
    for (const d of domains) {
      const shown = d.wildcard ? `*.${d.name}` : d.name;
      const flow = "flow:to_server, established;";
      rules.push(rule("pass", "tls", `msg:"${tag} allow tls ${shown}"; ${flow} tls.sni; ${contentMatch(d)}`));
      rules.push(rule("pass", "http", `msg:"${tag} allow http ${shown}"; ${flow} http.host; ${contentMatch(d)}`));
    }
    // STRICT_ORDER: these run after every pass rule. TCP is dropped once established (like the
    // policy's aws:drop_established) so handshakes survive until TLS/HTTP can be identified.
    rules.push(rule("drop", "tcp", `msg:"${tag} default drop tcp"; flow:to_server, established;`));
    rules.push(rule("drop", "udp", `msg:"${tag} default drop udp";`));
    rules.push(rule("drop", "icmp", `msg:"${tag} default drop icmp";`));
  }
  return { rulesString: rules.join("\n"), ruleCount: rules.length, activeRuleCount: activeCount };
}
