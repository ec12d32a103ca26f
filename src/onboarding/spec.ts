import { z } from "zod";
import { accountId, endpointServiceName, iamPrincipalArn, acmCertificateArn, providerPrincipalArn, vpcEndpointId } from "./aws-ids.js";
import type { LandingZone } from "./landing-zone.js";
import {
  accountEmail,
  arrayOf,
  contactEmail,
  dataClassification,
  encryptionContext,
  expiresAt,
  firewallDomain,
  grantOperation,
  keyStore,
  MAX_ALLOWED_DOMAINS,
  MAX_OUTBOUND_PORTS,
  port,
  portMatch,
  printableText,
  protocol,
  providerName,
  strictObject,
  teamSlug,
  typeError,
  uniqueBy,
} from "./spec-fields.js";
import { allowedRegion, crossFieldRules, domainsMatchPorts, inboundSourceCidr, orgCidr, orgIpv4, principalsInProviderAccount, udpNeedsPortMatch } from "./spec-rules.js";
import { GRANT_OPERATIONS } from "../../programs/types.js";

export { canonicalJson, specHash } from "./spec-hash.js";
export { zodIssuesToFieldErrors, type FieldErrorOptions } from "./spec-issues.js";

export const SPEC_API_VERSION = "saas-bridge/v1";

const identity = (s: string) => s;

/**
 * The ProviderSpec (DESIGN §3), the body of POST/PUT /v1/providers. Built per landing zone because the
 * allowed regions and org CIDR ranges are configuration. Pure: nothing here reads the clock or the network
 * (whether `expiresAt` lies in the future is the use case's call).
 */
export function buildProviderSpecSchema(lz: LandingZone) {
  const bridgeAccount = z.union(
    [
      strictObject({ accountId }),
      strictObject({ create: strictObject({ email: accountEmail }) }),
    ],
    { error: "must be either {accountId} for an existing account or {create: {email}} for a new one" },
  );

  const provider = strictObject({
    awsAccountId: accountId,
    principalArns: arrayOf(providerPrincipalArn, 1, 10, "principal ARNs").superRefine(uniqueBy(identity, "principal ARN")),
  }).superRefine(principalsInProviderAccount);

  const outbound = strictObject({
    endpointServiceName,
    ports: arrayOf(strictObject({ port, protocol, match: portMatch.optional() }).superRefine(udpNeedsPortMatch), 1, MAX_OUTBOUND_PORTS, "ports").superRefine(
      uniqueBy((p) => `${p.port}/${p.protocol}`, "port and protocol"),
    ),
    allowedSourceCidrs: arrayOf(orgCidr(lz), 1, 50, "CIDRs").superRefine(uniqueBy(identity, "CIDR")),
    privateDns: z.boolean({ error: typeError("true or false") }).default(true),
  });

  const inbound = strictObject({
    targets: arrayOf(strictObject({ ip: orgIpv4(lz), port }), 1, 20, "targets").superRefine(
      uniqueBy((t) => `${t.ip}:${t.port}`, "target ip and port"),
    ),
    allowedPrincipals: arrayOf(iamPrincipalArn, 1, 10, "principal ARNs").superRefine(uniqueBy(identity, "principal ARN")),
    tls: strictObject({ certificateArn: acmCertificateArn }).optional(),
    /** The provider's endpoints (`vpce-…`) to accept; usually added by an update once it has created them. */
    acceptedEndpointIds: arrayOf(vpcEndpointId, 0, 20, "endpoint ids").superRefine(uniqueBy(identity, "endpoint id")).default([]),
    /**
     * The SaaS's client addresses as seen through PrivateLink: the NLB enforces its security group on
     * PrivateLink traffic, and these (on the listener ports) are its only ingress sources.
     */
    sourceCidrs: arrayOf(inboundSourceCidr, 1, 50, "CIDRs").superRefine(uniqueBy(identity, "CIDR")),
  });

  return strictObject({
    apiVersion: z.literal(SPEC_API_VERSION, {
      error: (i) => (i.input === undefined ? "is required" : `must be "${SPEC_API_VERSION}"`),
    }),
    name: providerName,
    displayName: printableText(1, 100),
    owner: strictObject({ team: teamSlug, contact: contactEmail }),
    dataClassification,
    region: allowedRegion(lz),
    bridgeAccount,
    provider,
    outbound,
    inbound: inbound.optional(),
    firewall: strictObject({
      /** Matched on the outbound ports with match "domain"; empty when there is none (spec-rules). */
      allowedDomains: arrayOf(firewallDomain, 0, MAX_ALLOWED_DOMAINS, "domains").superRefine(uniqueBy(identity, "domain")),
    }),
    kms: strictObject({
      grantOperations: arrayOf(grantOperation, 1, GRANT_OPERATIONS.length, "grant operations").superRefine(
        uniqueBy(identity, "grant operation"),
      ),
      encryptionContext,
      keyStore,
    }),
    expiresAt: expiresAt.optional(),
  })
    .superRefine(crossFieldRules(lz))
    .superRefine(domainsMatchPorts);
}

export type ProviderSpecSchema = ReturnType<typeof buildProviderSpecSchema>;
/** A parsed spec: defaults applied (privateDns, keyStore). */
export type ProviderSpec = z.output<ProviderSpecSchema>;
/** What a client sends (defaulted fields optional). */
export type ProviderSpecInput = z.input<ProviderSpecSchema>;
