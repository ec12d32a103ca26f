import { setTimeout as sleep } from "node:timers/promises";
import { z } from "zod";
import type { Db, Queryable } from "../store/db.js";
import { awsRegion } from "./aws-ids.js";
import { formatCidr, isValidCidr, parseCidr, type Cidr } from "./cidr.js";
import { lowestFreeBlocks } from "./cidr-blocks.js";
import { providerName } from "./spec-fields.js";

/**
 * Subnet CIDRs for each provider, carved from the landing zone's pool of a region (DESIGN §7). The
 * exclusion constraint of `subnet_allocations` (migration 002) makes overlaps impossible; this module
 * only picks the lowest free block and retries when a concurrent allocation took it first.
 */

/** AWS subnet sizes: /16 to /28 (VPC user guide, "Subnet CIDR blocks"); the table CHECKs the same. */
export const SUBNET_MIN_PREFIX = 16;
export const SUBNET_MAX_PREFIX = 28;
/** Each lost race means another allocation committed, so 20 covers 20 callers racing for one pool. */
export const MAX_ALLOCATION_ATTEMPTS = 20;

/** AZ ids (`euw1-az1`, local zones `usw2-lax1-az1`) are the same in every account, unlike AZ names. */
const AZ_ID = /^[a-z]{2,5}\d+(-[a-z]+\d+)?-az\d+$/;

/**
 * Lost races worth a fresh read: exclusion violation (another transaction took the block), unique
 * violation (a concurrent call for the same provider and AZ), deadlock and serialization failure.
 */
const RETRYABLE = new Set(["23P01", "23505", "40P01", "40001"]);

/**
 * Allocations that need new blocks take turns (a transaction-scoped advisory lock): concurrent inserts of
 * overlapping blocks in different orders deadlock on the exclusion constraint, and PostgreSQL needs
 * deadlock_timeout (1 s) to break each one (measured: a second per deadlock, one after another, under
 * load). A writer that does not take the lock still loses a race at the constraint and is retried.
 */
const ALLOCATION_LOCK = "saas-bridge:subnet-allocation";

export interface SubnetRequest {
  readonly provider: string;
  readonly region: string;
  /** The landing zone's pool for the region, canonical IPv4 CIDR. */
  readonly pool: string;
  readonly prefixLength: number;
  readonly azIds: readonly string[];
}

export interface SubnetAllocation {
  readonly azId: string;
  readonly cidr: string;
}

export interface ProviderSubnet extends SubnetAllocation {
  readonly region: string;
  readonly allocatedAt: string;
}

/** The pool has fewer free blocks than AZs still missing a subnet; nothing was allocated. */
export class SubnetPoolExhaustedError extends Error {
  constructor(
    readonly pool: string,
    readonly prefixLength: number,
    readonly missing: number,
  ) {
    super(`subnet pool ${pool} has fewer than ${missing} free /${prefixLength} block(s)`);
    this.name = "SubnetPoolExhaustedError";
  }
}

/** Every attempt lost a race to a concurrent allocation; nothing was allocated. Safe to retry later. */
export class SubnetAllocationConflictError extends Error {
  constructor(
    readonly attempts: number,
    options: { cause: unknown },
  ) {
    super(`subnet allocation lost ${attempts} races in a row to concurrent allocations; try again`, options);
    this.name = "SubnetAllocationConflictError";
  }
}

const timestamp = z.union([z.date(), z.string()]).transform((v) => new Date(v).toISOString());
const AllocationRow = z.object({ region: z.string(), az_id: z.string(), cidr: z.string(), allocated_at: timestamp });
const CidrRow = z.object({ cidr: z.string() });

/**
 * Returns one subnet per AZ id, in `azIds` order. An existing allocation for (provider, region, azId) is
 * returned unchanged, whatever `pool` and `prefixLength` say now: a re-run or a retry never moves a
 * subnet. Missing AZs get the lowest free aligned blocks of the pool, all or none. Each attempt is one
 * transaction; a lost race is retried with a fresh read, at most MAX_ALLOCATION_ATTEMPTS times.
 */
export async function allocateSubnets(db: Db, request: SubnetRequest): Promise<SubnetAllocation[]> {
  const pool = validate(request);
  for (let attempt = 1; ; attempt++) {
    try {
      return await db.transaction((tx) => allocateOnce(tx, request, pool));
    } catch (err) {
      if (!RETRYABLE.has(sqlState(err))) throw err;
      if (attempt >= MAX_ALLOCATION_ATTEMPTS) throw new SubnetAllocationConflictError(attempt, { cause: err });
      // Jitter so that the losers of one race do not collide again on the next block.
      await sleep(Math.random() * Math.min(50, 5 * attempt));
    }
  }
}

async function allocateOnce(tx: Queryable, request: SubnetRequest, pool: Cidr): Promise<SubnetAllocation[]> {
  const existing = await tx.query(
    "SELECT region, az_id, cidr::text AS cidr, allocated_at FROM subnet_allocations WHERE provider = $1 AND region = $2",
    [request.provider, request.region],
  );
  const byAz = new Map(existing.map((r) => AllocationRow.parse(r)).map((r) => [r.az_id, r.cidr]));
  const missing = request.azIds.filter((az) => !byAz.has(az));
  if (missing.length > 0) {
    // Read after the lock: under READ COMMITTED the next statement sees what the last holder committed.
    await tx.query("SELECT pg_advisory_xact_lock(hashtext($1))", [ALLOCATION_LOCK]);
    // `&&` on the GiST index: only rows that overlap the pool, whatever their region.
    const rows = await tx.query("SELECT cidr::text AS cidr FROM subnet_allocations WHERE cidr && $1::cidr", [
      formatCidr(pool),
    ]);
    const taken = rows.map((r) => parseCidr(CidrRow.parse(r).cidr)).filter((c): c is Cidr => c !== undefined);
    const blocks = lowestFreeBlocks(pool, request.prefixLength, taken, missing.length);
    if (blocks === undefined) throw new SubnetPoolExhaustedError(request.pool, request.prefixLength, missing.length);
    const cidrs = blocks.map(formatCidr);
    await tx.query(
      `INSERT INTO subnet_allocations (provider, region, az_id, cidr)
       SELECT $1, $2, az_id, cidr::cidr FROM unnest($3::text[], $4::text[]) AS t(az_id, cidr)`,
      [request.provider, request.region, missing, cidrs],
    );
    missing.forEach((az, i) => byAz.set(az, cidrs[i]!));
  }
  return request.azIds.map((azId) => ({ azId, cidr: byAz.get(azId)! }));
}

/** Frees every subnet of the provider (on decommission), in all regions; returns how many. */
export async function releaseSubnets(q: Queryable, provider: string): Promise<number> {
  const rows = await q.query("DELETE FROM subnet_allocations WHERE provider = $1 RETURNING az_id", [provider]);
  return rows.length;
}

export async function subnetsOf(q: Queryable, provider: string): Promise<ProviderSubnet[]> {
  const rows = await q.query(
    `SELECT region, az_id, cidr::text AS cidr, allocated_at FROM subnet_allocations
      WHERE provider = $1 ORDER BY region, az_id`,
    [provider],
  );
  return rows
    .map((r) => AllocationRow.parse(r))
    .map((r) => ({ region: r.region, azId: r.az_id, cidr: r.cidr, allocatedAt: r.allocated_at }));
}

function validate(request: SubnetRequest): Cidr {
  const { provider, region, pool, prefixLength, azIds } = request;
  if (!providerName.safeParse(provider).success) throw new Error(`provider: not a provider name: ${JSON.stringify(provider)}`);
  if (!awsRegion.safeParse(region).success) throw new Error(`region: not an AWS region code: ${JSON.stringify(region)}`);
  const parsed = parseCidr(pool);
  if (parsed === undefined || !isValidCidr(pool)) {
    throw new Error(`pool: must be an IPv4 CIDR in canonical form such as 10.64.0.0/16, got ${JSON.stringify(pool)}`);
  }
  const lowest = Math.max(parsed.prefix, SUBNET_MIN_PREFIX);
  if (!Number.isInteger(prefixLength) || prefixLength < lowest || prefixLength > SUBNET_MAX_PREFIX) {
    throw new Error(`prefixLength: must be an integer from ${lowest} to ${SUBNET_MAX_PREFIX} for pool ${pool}, got ${prefixLength}`);
  }
  if (azIds.length === 0) throw new Error("azIds: at least one AZ id is required");
  for (const az of azIds) {
    if (!AZ_ID.test(az)) throw new Error(`azIds: not an AZ id such as euw1-az1: ${JSON.stringify(az)}`);
  }
  if (new Set(azIds).size !== azIds.length) throw new Error(`azIds: duplicate AZ id in ${azIds.join(", ")}`);
  return parsed;
}

function sqlState(err: unknown): string {
  const code = (err as { code?: unknown } | null)?.code;
  return typeof code === "string" ? code : "";
}
