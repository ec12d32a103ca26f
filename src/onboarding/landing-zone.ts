import { readFile } from "node:fs/promises";
import { z } from "zod";
import { accountId, cidrBlock, iamRoleArn, awsRegion } from "./aws-ids.js";

/**
 * Landing-zone facts the service needs: where the shared SaaS network lives, which org ranges a source
 * CIDR may come from, which regions are allowed. Read once from LANDING_ZONE_FILE and validated like a spec.
 */
const RegionNetwork = z
  .object({
    vpcId: z.string().regex(/^vpc-[0-9a-f]{8,17}$/, "must be a VPC id (vpc-…)"),
    endpointSubnetIds: z
      .array(z.string().regex(/^subnet-[0-9a-f]{8,17}$/, "must be a subnet id (subnet-…)"))
      .min(1)
      .max(6),
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
    kms: z.object({ deletionWindowInDays: z.number().int().min(7).max(30).default(30) }).strict().default({ deletionWindowInDays: 30 }),
    firewall: z
      .object({ ruleGroupCapacity: z.number().int().min(10).max(30_000).default(1_000) })
      .strict()
      .default({ ruleGroupCapacity: 1_000 }),
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
