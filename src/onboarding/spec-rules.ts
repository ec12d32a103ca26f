import { z } from "zod";
import { acmCertificateArn, cidrBlock, endpointServiceRegion, parseArn } from "./aws-ids.js";
import { cidrWithin, isValidCidr, isWorldOpen } from "./cidr.js";
import { ipv4Address } from "./spec-fields.js";
import type { LandingZone } from "./landing-zone.js";

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
  outbound: { endpointServiceName: string };
  inbound?: { tls?: { certificateArn: string } | undefined } | undefined;
}

/** Rules spanning sections: the endpoint service and the TLS certificate must be usable from spec.region. */
export function crossFieldRules(lz: LandingZone) {
  return (spec: CrossFieldView, ctx: z.core.$RefinementCtx): void => {
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
