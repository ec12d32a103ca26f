import { z } from "zod";
import { isValidCidr, isWorldOpen } from "./cidr.js";

/** Reusable zod validators for AWS identifiers, each with a precise message. */

/**
 * A string matching `pattern`, at most `max` characters long (the bound the pattern implies, stated so
 * the OpenAPI document carries it too). One message for both; the length is checked first and stops there.
 */
export const matching = (max: number, pattern: RegExp, message: string) => z.string().max(max, { message, abort: true }).regex(pattern, message);

export const accountId = matching(12, /^\d{12}$/, "must be a 12-digit AWS account id");

export const awsRegion = matching(32, /^[a-z]{2}(-gov|-iso[a-z]*)?-[a-z]+-\d$/, "must be an AWS region code such as eu-west-1");

const PARTITION = "aws(-cn|-us-gov)?";

export const iamRoleArn = matching(
  2048,
  new RegExp(`^arn:${PARTITION}:iam::\\d{12}:role/[\\w+=,.@/-]{1,512}$`),
  "must be an IAM role ARN (arn:aws:iam::<12 digits>:role/<name>)",
);

/** IAM principal usable in a key policy or grant: a role, a user, or an account root. */
export const iamPrincipalArn = matching(
  2048,
  new RegExp(`^arn:${PARTITION}:iam::\\d{12}:(role/[\\w+=,.@/-]{1,512}|user/[\\w+=,.@/-]{1,512}|root)$`),
  "must be an IAM principal ARN (role, user or account root)",
);

/**
 * A principal the BYOK key and its grants are scoped to: a role or a user, never the account root, which
 * would hand the key to everyone in the provider's account (guardrail: key policy scoped to the role).
 */
export const providerPrincipalArn = matching(
  2048,
  new RegExp(`^arn:${PARTITION}:iam::\\d{12}:(role|user)/[\\w+=,.@/-]{1,512}$`),
  "must be an IAM role or user ARN (arn:aws:iam::<12 digits>:role/<name>); an account root would grant the key to the whole account",
);

export const endpointServiceName = matching(
  100,
  /^com\.amazonaws\.vpce\.[a-z]{2}(-gov)?-[a-z]+-\d\.vpce-svc-[0-9a-f]{17}$/,
  "must be an endpoint service name: com.amazonaws.vpce.<region>.vpce-svc-<17 hex digits>",
);

/** IPv4 CIDR in canonical form, never 0.0.0.0/0. */
export const cidrBlock = matching(18, /^\d{1,3}(\.\d{1,3}){3}\/\d{1,2}$/, "must be an IPv4 CIDR in canonical form, e.g. 10.1.0.0/16")
  .refine(isValidCidr, { message: "must be an IPv4 CIDR in canonical form, e.g. 10.1.0.0/16", abort: true })
  .refine((c) => !isWorldOpen(c), "must not be open to the world (0.0.0.0/0)");

/** ACM certificate; an NLB TLS listener needs one in its own account and region (checked by the spec). */
export const acmCertificateArn = matching(
  2048,
  new RegExp(`^arn:${PARTITION}:acm:[a-z]{2}(-gov)?-[a-z]+-\\d:\\d{12}:certificate/[0-9a-f]{8}(-[0-9a-f]{4}){3}-[0-9a-f]{12}$`),
  "must be an ACM certificate ARN (arn:aws:acm:<region>:<12 digits>:certificate/<uuid>)",
);

/** An interface endpoint id, as the provider reports it for acceptance. */
export const vpcEndpointId = matching(22, /^vpce-[0-9a-f]{8,17}$/, "must be a VPC endpoint id (vpce- and 8–17 hex digits)");

export interface ArnParts {
  readonly partition: string;
  readonly service: string;
  readonly region: string;
  readonly accountId: string;
  readonly resource: string;
}

/** Splits an ARN into its fields; undefined when it does not have the six colon-separated parts. */
export function parseArn(arn: string): ArnParts | undefined {
  const m = /^arn:([^:]+):([^:]+):([^:]*):([^:]*):(.+)$/.exec(arn);
  if (!m) return undefined;
  return { partition: m[1]!, service: m[2]!, region: m[3]!, accountId: m[4]!, resource: m[5]! };
}

/** `com.amazonaws.vpce.eu-west-1.vpce-svc-…` → `eu-west-1`; undefined for anything else. */
export function endpointServiceRegion(serviceName: string): string | undefined {
  return /^com\.amazonaws\.vpce\.([a-z0-9-]+)\.vpce-svc-[0-9a-f]{17}$/.exec(serviceName)?.[1];
}
