import { createHash } from "node:crypto";

/**
 * Small pure helpers shared by the components: partitions, ARNs, identifier and CIDR checks, stable
 * child name suffixes. No invokes: `aws.getPartition()` would be routed through a provider whose assumed
 * role is unknown while a new bridge account is previewed (research/aws-design.md §2.3).
 */

export type Partition = "aws" | "aws-cn" | "aws-us-gov";

const REGION = /^[a-z]{2}(-[a-z]+)+-\d{1,2}$/;
const ACCOUNT_ID = /^\d{12}$/;
const SLUG = /^[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?$/;
/** IAM principals we accept: roles and users (paths allowed), never wildcards. */
const PRINCIPAL_ARN = /^arn:(aws|aws-cn|aws-us-gov):iam::(\d{12}):(role|user)\/[\w+=,.@/-]{1,512}$/;

export function assertRegion(region: string): void {
  if (!REGION.test(region)) throw new Error(`invalid AWS region "${region}"`);
}

export function partitionOf(region: string): Partition {
  assertRegion(region);
  if (region.startsWith("cn-")) return "aws-cn";
  if (region.startsWith("us-gov-")) return "aws-us-gov";
  return "aws";
}

export function assertAccountId(value: string, what: string): void {
  if (!ACCOUNT_ID.test(value)) throw new Error(`${what} must be a 12-digit AWS account id, got "${value}"`);
}

/** Slugs end up in resource names, Suricata `msg` strings and KMS alias names: keep them boring. */
export function assertSlug(value: string): void {
  if (!SLUG.test(value)) throw new Error(`invalid provider slug "${value}" (DNS label: [a-z0-9-], 1-63 chars)`);
}

/** Parses an IAM role/user ARN and returns its account id; throws on anything else. */
export function principalAccountOf(arn: string, partition: Partition): string {
  const match = PRINCIPAL_ARN.exec(arn);
  if (!match || match[1] !== partition || match[2] === undefined) {
    throw new Error(`invalid IAM principal ARN "${arn}" (expected arn:${partition}:iam::<account>:role/<name>)`);
  }
  return match[2];
}

export function accountRootArn(partition: Partition, accountId: string): string {
  return `arn:${partition}:iam::${accountId}:root`;
}

/** STS session names are limited to 64 characters of [\w+=,.@-]. */
export function sessionName(slug: string): string {
  return `saas-bridge-${slug}`.slice(0, 64);
}

/**
 * A short stable suffix for child names derived from a value that may contain characters a URN
 * should not (`:` and `/` in ARNs). Stable per value, so adding one principal never renames another.
 */
export function stableSuffix(value: string): string {
  return createHash("sha256").update(value).digest("hex").slice(0, 8);
}

export function assertUnique(values: readonly string[], what: string): void {
  const seen = new Set<string>();
  for (const value of values) {
    if (seen.has(value)) throw new Error(`duplicate ${what} "${value}"`);
    seen.add(value);
  }
}

const IPV4_CIDR = /^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})\/(\d{1,2})$/;

/** Accepts canonical IPv4 CIDRs only (network address, /1–/32); never 0.0.0.0/0. */
export function assertIpv4Cidr(cidr: string, what: string): void {
  const match = IPV4_CIDR.exec(cidr);
  const octets = match ? match.slice(1, 5).map(Number) : [];
  const prefix = match ? Number(match[5]) : -1;
  if (!match || octets.some((o) => o > 255) || prefix > 32) throw new Error(`${what}: invalid IPv4 CIDR "${cidr}"`);
  if (prefix === 0) throw new Error(`${what}: CIDR "${cidr}" would open access to the whole Internet`);
  const address = octets.reduce((acc, o) => acc * 256 + o, 0);
  if (address % 2 ** (32 - prefix) !== 0) throw new Error(`${what}: CIDR "${cidr}" is not a network address`);
}

/** S3 general purpose bucket names (S3 User Guide, "Bucket naming rules"): no IP form, no "..", no reserved prefix or suffix. */
const BUCKET_NAME = /^(?!xn--|sthree-|amzn-s3-demo-)(?!\d+\.\d+\.\d+\.\d+$)(?!.*\.\.)(?!.*(-s3alias|--ol-s3)$)[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$/;
const PREFIX = /^([A-Za-z0-9_.-]+\/)*$/;

export const isS3BucketName = (name: string): boolean => BUCKET_NAME.test(name);

/** `""` or segments of A-Z, a-z, 0-9, '_', '.', '-' each ending in "/", no "." or ".." segment, ≤ 100 characters. */
export const isAccessLogPrefix = (prefix: string): boolean =>
  prefix.length <= 100 && PREFIX.test(prefix) && !prefix.split("/").some((p) => p === "." || p === "..");

/**
 * The widest inbound client block: /16 is the largest CIDR block a VPC (where the SaaS's clients live) can
 * have. The spec (src/onboarding/spec-rules.ts) and the inbound component both refuse anything wider.
 */
export const INBOUND_SOURCE_MIN_PREFIX = 16;
