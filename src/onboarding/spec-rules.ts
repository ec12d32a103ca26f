import { z } from "zod";
import { acmCertificateArn, cidrBlock, endpointServiceRegion, parseArn } from "./aws-ids.js";
import { cidrWithin, isValidCidr, isWorldOpen } from "./cidr.js";
import { ipv4Address } from "./spec-fields.js";
import type { LandingZone } from "./landing-zone.js";
import type { PortMatch } from "../../programs/types.js";
import { INBOUND_SOURCE_MIN_PREFIX } from "../../programs/components/aws-ids.js";

/**
 * ProviderSpec rules that need the landing zone or more than one field. Each rule skips values that already
 * failed their own format check, so one mistake produces one message.
 */

const ACCOUNT_ID = /^\d{12}$/;

function insideOrgRanges(lz: LandingZone, cidr: string): boolean {
  return lz.organization.orgCidrRanges.some((range) => cidrWithin(cidr, range));
}

function orgRangesMessage(lz: LandingZone): string {
  return `must sit inside one of the organization's CIDR ranges: ${lz.organization.orgCidrRanges.join(", ")}`;
}

/** A source CIDR: canonical, never 0.0.0.0/0, inside one of the org ranges. */
export function orgCidr(lz: LandingZone) {
  return cidrBlock.refine(
    (c) => !isValidCidr(c) || isWorldOpen(c) || insideOrgRanges(lz, c),
    orgRangesMessage(lz),
  );
}

/**
 * An inbound source: the SaaS's clients as the NLB sees them through PrivateLink (their private IPs in
 * the SaaS's VPC). Not required to sit inside the org ranges (they are the provider's addresses);
 * canonical, never /0, at most as wide as one VPC.
 */
export const inboundSourceCidr = cidrBlock.refine(
  (c) => !isValidCidr(c) || isWorldOpen(c) || Number(c.split("/")[1]) >= INBOUND_SOURCE_MIN_PREFIX,
  `must be /${INBOUND_SOURCE_MIN_PREFIX} or narrower (the largest VPC CIDR block); list several blocks for a wider client range`,
);

interface OutboundPortView {
  port: number;
  protocol: "tcp" | "udp";
  match?: PortMatch | undefined;
}

/** A port's firewall match: `domain` unless the spec says otherwise (udp must say `port`, see below). */
export const effectivePortMatch = (p: OutboundPortView): PortMatch => p.match ?? "domain";

/**
 * udp carries no TLS SNI or HTTP Host, so a domain match could never pass it: the security group would
 * open a port the firewall always drops (issue 12, defect 4). The spec must say `match: "port"`.
 */
export function udpNeedsPortMatch(p: OutboundPortView, ctx: z.core.$RefinementCtx): void {
  if (p.protocol !== "udp" || p.match === "port") return;
  const why = `udp/${p.port} carries no TLS SNI or HTTP Host for the firewall to match against the allowed domains; set "port" to pass every udp flow from the allowed source CIDRs to this port`;
  ctx.addIssue({
    code: "custom",
    path: ["match"],
    input: p.match,
    message: p.match === undefined ? `is required for udp: ${why}` : `must be "port" for udp: ${why}`,
  });
}

/**
 * Domains are matched on the `domain` ports only: with such a port the list may not be empty (the port
 * would pass nothing), and without one it must be (the domains would allow nothing).
 */
export function domainsMatchPorts(
  spec: { outbound: { ports: OutboundPortView[] }; firewall: { allowedDomains: string[] } },
  ctx: z.core.$RefinementCtx,
): void {
  const { ports } = spec.outbound;
  // Runs after non-fatal issues too: judge only a port list that passed its own checks.
  const wellFormed = (p: OutboundPortView) => (p.protocol === "tcp" || p.protocol === "udp") && (p.match === undefined || p.match === "domain" || p.match === "port");
  if (!Array.isArray(ports) || ports.length === 0 || !ports.every(wellFormed) || !Array.isArray(spec.firewall.allowedDomains)) return;
  const domainPorts = ports.filter((p) => p.protocol === "tcp" && effectivePortMatch(p) === "domain");
  const count = spec.firewall.allowedDomains.length;
  if (domainPorts.length > 0 && count === 0) {
    ctx.addIssue({
      code: "custom",
      path: ["firewall", "allowedDomains"],
      input: spec.firewall.allowedDomains,
      message: `must list at least 1 domain: the port(s) ${domainPorts.map((p) => `tcp/${p.port}`).join(", ")} pass only TLS or HTTP to these domains (match "domain", the default for tcp); list the domains, or set match "port" on those ports`,
    });
  } else if (domainPorts.length === 0 && count > 0) {
    ctx.addIssue({
      code: "custom",
      path: ["firewall", "allowedDomains"],
      input: spec.firewall.allowedDomains,
      message: 'must be empty when no outbound port has match "domain": the firewall matches domains only on those tcp ports, so these domains would allow nothing',
    });
  }
}

/** An inbound target: the NLB forwards to internal addresses only. */
export function orgIpv4(lz: LandingZone) {
  return ipv4Address.refine((ip) => !isValidCidr(`${ip}/32`) || insideOrgRanges(lz, `${ip}/32`), orgRangesMessage(lz));
}

export function allowedRegion(lz: LandingZone) {
  const regions = Object.keys(lz.network.regions);
  const message = `must be one of the allowed regions: ${regions.join(", ")}`;
  return z.enum(regions as [string, ...string[]], {
    error: (i) => (i.input === undefined ? "is required" : message),
  });
}

/** The provider's principals must live in the account the spec names, or the key policy trusts a stranger. */
export function principalsInProviderAccount(
  provider: { awsAccountId: string; principalArns: string[] },
  ctx: z.core.$RefinementCtx,
): void {
  if (!ACCOUNT_ID.test(provider.awsAccountId)) return;
  provider.principalArns.forEach((arn, index) => {
    const account = parseArn(arn)?.accountId;
    if (account === undefined || !ACCOUNT_ID.test(account) || account === provider.awsAccountId) return;
    ctx.addIssue({
      code: "custom",
      path: ["principalArns", index],
      input: arn,
      message: `must be a principal in the provider's account ${provider.awsAccountId} (provider.awsAccountId), not in ${account}`,
    });
  });
}

interface CrossFieldView {
  region: string;
  bridgeAccount: { accountId: string } | { create: unknown };
  provider?: { awsAccountId: string } | undefined;
  outbound: { endpointServiceName: string };
  inbound?: { tls?: { certificateArn: string } | undefined } | undefined;
}

/**
 * Accounts an existing bridge account can never be: the management account (no SCP governs its
 * principals, so the bridge's guardrails would not hold), the network account (shared by every provider)
 * and the provider's own account (the provider would administer its own bridge).
 */
function bridgeAccountClash(lz: LandingZone, spec: CrossFieldView): string | undefined {
  // Refinements also run after other fields failed: judge only well-formed values.
  const bridge: unknown = spec.bridgeAccount;
  const id = typeof bridge === "object" && bridge !== null && "accountId" in bridge ? bridge.accountId : undefined;
  if (typeof id !== "string" || !ACCOUNT_ID.test(id)) return undefined;
  if (id === lz.organization.managementAccountId) return "the Organizations management account: no SCP governs it";
  if (id === lz.network.accountId) return "the central network account, which every provider shares";
  if (id === spec.provider?.awsAccountId) return "the provider's own account (provider.awsAccountId)";
  return undefined;
}

/**
 * Rules spanning sections: the endpoint service and the TLS certificate must be usable from spec.region,
 * and an existing bridge account must be an account of its own.
 */
export function crossFieldRules(lz: LandingZone) {
  return (spec: CrossFieldView, ctx: z.core.$RefinementCtx): void => {
    const clash = bridgeAccountClash(lz, spec);
    if (clash !== undefined) {
      ctx.addIssue({
        code: "custom",
        path: ["bridgeAccount", "accountId"],
        input: spec.bridgeAccount,
        message: `must be an account of its own for this provider, not ${clash}`,
      });
    }
    const serviceRegion = endpointServiceRegion(spec.outbound.endpointServiceName);
    if (serviceRegion !== undefined && serviceRegion !== spec.region) {
      ctx.addIssue({
        code: "custom",
        path: ["outbound", "endpointServiceName"],
        input: spec.outbound.endpointServiceName,
        message: `must be an endpoint service in the spec's region ${spec.region}, not in ${serviceRegion} (interface endpoints are regional)`,
      });
    }
    const certificateArn = spec.inbound?.tls?.certificateArn;
    if (certificateArn === undefined || !acmCertificateArn.safeParse(certificateArn).success) return;
    const cert = parseArn(certificateArn);
    if (cert && (cert.region !== spec.region || cert.accountId !== lz.network.accountId)) {
      ctx.addIssue({
        code: "custom",
        path: ["inbound", "tls", "certificateArn"],
        input: certificateArn,
        message: `must be a certificate in the network account ${lz.network.accountId} and region ${spec.region}, where the NLB listener is created`,
      });
    }
  };
}
