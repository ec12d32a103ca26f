import { readFile } from "node:fs/promises";
import { z } from "zod";
import { accountId, cidrBlock, iamRoleArn, awsRegion } from "./aws-ids.js";
import { isAccessLogPrefix, isS3BucketName } from "../../programs/components/aws-ids.js";
import { activeRuleCount } from "../../programs/components/suricata.js";
import { MAX_ALLOWED_DOMAINS, MAX_OUTBOUND_PORTS } from "./spec-fields.js";

/** An upper bound on the rules of any valid spec's active rule group (all domains, all ports port-matched). */
const LARGEST_SPEC_RULES = activeRuleCount(MAX_ALLOWED_DOMAINS, MAX_OUTBOUND_PORTS);

/**
 * Landing-zone facts the service needs: where the shared SaaS network lives, which org ranges a source
 * CIDR may come from, which regions are allowed. Read once from LANDING_ZONE_FILE and validated like a spec.
 */
const AZ_ID = /^[a-z]{2,5}\d{1,2}-az\d{1,2}$/;
const KMS_KEY_ARN = /^arn:(aws|aws-cn|aws-us-gov):kms:[a-z0-9-]+:\d{12}:key\/[0-9a-f-]{36}$/;
/** Retention values CloudWatch Logs accepts (PutRetentionPolicy). */
const RETENTION_DAYS = [1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557, 2922, 3288, 3653] as const;
const retentionInDays = z
  .number()
  .int()
  .refine((d) => (RETENTION_DAYS as readonly number[]).includes(d), `must be one of ${RETENTION_DAYS.join(", ")} (CloudWatch Logs)`);

const RegionNetwork = z
  .object({
    vpcId: z.string().regex(/^vpc-[0-9a-f]{8,17}$/, "must be a VPC id (vpc-…)"),
    /** Central private route table (towards the transit gateway) for every provider subnet. */
    routeTableId: z.string().regex(/^rtb-[0-9a-f]{8,17}$/, "must be a route table id (rtb-…)"),
    /**
     * AZ ids (`euw1-az1`), not names: ids are the same in every account, and the SaaS endpoint service
     * is only offered in some of them (research/aws-design.md §1.2). One provider subnet per id.
     */
    availabilityZoneIds: z
      .array(z.string().regex(AZ_ID, "must be an AZ id such as euw1-az1"))
      .min(1)
      .max(6)
      .refine((ids) => new Set(ids).size === ids.length, "must not repeat an AZ id"),
    /** Provider subnets are carved from this block of the central VPC, never overlapping. */
    subnetPool: cidrBlock,
    /** Size of each provider subnet; AWS subnets are /16–/28. */
    subnetPrefixLength: z.number().int().min(16).max(28).default(28),
    /** The network account's logging key for flow-log groups. */
    flowLogKmsKeyArn: z.string().regex(KMS_KEY_ARN, "must be a KMS key ARN (arn:aws:kms:<region>:<account>:key/<uuid>)"),
  })
  .strict()
  .superRefine((r, ctx) => {
    const prefix = Number(r.subnetPool.split("/")[1]);
    if (r.subnetPrefixLength < prefix) {
      ctx.addIssue({ code: "custom", path: ["subnetPrefixLength"], message: `must be at least the pool's /${prefix}` });
    }
  });

const AccessLogArchive = z
  .object({
    bucket: z.string().refine(isS3BucketName, "must be an S3 bucket name (3–63 characters of a-z, 0-9, '.' and '-')"),
    /** The log-archive account that owns the bucket: replicas are owned by it. */
    accountId,
    /** Key prefix for saas-bridge's access logs; each provider's logs go under `<prefix><name>/`. */
    prefix: z
      .string()
      .refine(isAccessLogPrefix, "must be empty or at most 100 characters of path segments of A-Z, a-z, 0-9, '_', '.' and '-', each ending in '/' (no '.' or '..' segment)")
      .default("s3-access-logs/"),
  })
  .strict();

export const LandingZoneSchema = z
  .object({
    organization: z
      .object({
        managementAccountId: accountId,
        saasOuId: z.string().regex(/^ou-[0-9a-z]{4,32}-[a-z0-9]{8,32}$/, "must be an OU id (ou-…)"),
        /** Every allowed source CIDR must sit inside one of these. */
        orgCidrRanges: z.array(cidrBlock).min(1),
      })
      .strict(),
    network: z
      .object({
        accountId,
        deployRoleArn: iamRoleArn,
        /** One shared SaaS VPC per allowed region; the keys are the allowed regions. */
        regions: z.record(awsRegion, RegionNetwork).refine((r) => Object.keys(r).length > 0, "at least one region"),
        flowLogRetentionInDays: retentionInDays.default(365),
      })
      .strict(),
    bridge: z
      .object({
        /** Role assumed in a bridge account (OrganizationAccountAccessRole for org-created accounts). */
        accessRoleName: z.string().regex(/^[\w+=,.@-]{1,64}$/),
        /** Break-glass and pipeline roles kept as KMS key administrators in every bridge account. */
        keyAdminRoleArns: z.array(iamRoleArn).default([]),
        /** Offboarding role allowed to retire grants out of band. */
        retiringPrincipalArn: iamRoleArn,
      })
      .strict(),
    kms: z
      .object({
        deletionWindowInDays: z.number().int().min(7).max(30).default(30),
        /** HSM VPC in each bridge account using CloudHSM (accounts are not routed to each other). */
        cloudHsmVpcCidr: cidrBlock.default("10.255.0.0/24"),
      })
      .strict()
      .prefault({}),
    firewall: z
      .object({
        /** Fixed at creation: at least what the largest valid spec needs, so no valid spec is refused later. */
        ruleGroupCapacity: z.number().int().min(LARGEST_SPEC_RULES).max(30_000).default(1_000),
        /** The central policy owned by the network-hub stack of each region. */
        policyName: z.string().regex(/^[a-zA-Z0-9-]{1,120}$/).default("saas-bridge-central"),
        /**
         * Stateful rule groups one policy may reference. AWS documents an immutable per-policy limit
         * whose value research could not read (research/aws-design.md §2.5, §7.2): set it from the
         * Network Firewall quotas page of your account; onboarding beyond it is refused up front.
         */
        maxRuleGroupsPerPolicy: z.number().int().min(1).max(1_000).default(20),
      })
      .strict()
      .prefault({}),
    audit: z
      .object({
        retentionInDays: retentionInDays.default(365),
        /**
         * The log archive that receives every trail bucket's S3 server access logs (AWS Security Hub S3.9).
         * S3 only logs into a bucket of the source's own account and region, so each bridge account logs
         * locally and replicates under `<prefix><provider name>/` to this bucket, which must have
         * versioning on and a bucket policy that lets the bridge accounts' replication roles write there.
         */
        accessLogArchive: AccessLogArchive,
      })
      .strict(),
  })
  .strict();

export type LandingZone = z.infer<typeof LandingZoneSchema>;

export function allowedRegions(lz: LandingZone): string[] {
  return Object.keys(lz.network.regions);
}

/** The landing-zone file is unreadable or invalid; the message has one line per problem. */
export class LandingZoneError extends Error {
  override name = "LandingZoneError";
}

/** Reads and validates the file; throws LandingZoneError listing one line per problem. */
export async function loadLandingZone(path: string): Promise<LandingZone> {
  let raw: unknown;
  try {
    raw = JSON.parse(await readFile(path, "utf8"));
  } catch (err) {
    throw new LandingZoneError(`LANDING_ZONE_FILE ${path}: ${(err as Error).message}`);
  }
  const parsed = LandingZoneSchema.safeParse(raw);
  if (!parsed.success) {
    const lines = parsed.error.issues.map((i) => `LANDING_ZONE_FILE ${path}: ${i.path.join(".") || "(root)"}: ${i.message}`);
    throw new LandingZoneError(lines.join("\n"));
  }
  return parsed.data;
}
