import { createHash, randomUUID } from "node:crypto";
import { hubStackName } from "../../programs/stacks.js";
import { HUB_PROGRAM_VERSION } from "../../programs/version.js";
import type { Operation } from "../operations/operation.js";
import * as ops from "../operations/operations-repo.js";
import type { Queryable } from "../store/db.js";

/**
 * The service side of the network hub (DESIGN §7): the central firewall policy of a region must list the
 * rule group of every provider there, and AWS has no association resource, so one hub stack per region
 * owns the list. Provider changes that add or remove a group request a hub update; requests coalesce into
 * the one queued update, which reads the list from the store only when it starts.
 */

/** Providers of `region` whose rule group the policy must list. */
export async function hubRuleGroups(q: Queryable, region: string): Promise<{ provider: string; arn: string }[]> {
  return q.query<{ provider: string; arn: string }>(
    `SELECT p.name AS provider, p.outputs->>'ruleGroupArn' AS arn
       FROM providers p
      WHERE p.spec->>'region' = $1
        AND p.lifecycle NOT IN ('decommissioning', 'decommissioned')
        AND coalesce(p.outputs->>'ruleGroupArn', '') <> ''
        -- A queued decommission takes the group out now: its destroy waits for this very update.
        AND NOT EXISTS (SELECT 1 FROM operations d
                         WHERE d.provider = p.name AND d.intent = 'decommission' AND d.status IN ('queued', 'running'))
      ORDER BY p.name`,
    [region],
  );
}

/** Providers of `region` that hold, or will hold, a rule group in its policy. */
export async function providersHoldingRuleGroups(q: Queryable, region: string): Promise<number> {
  const rows = await q.query<{ n: number }>(
    `SELECT count(*)::int AS n FROM providers WHERE spec->>'region' = $1 AND lifecycle NOT IN ('decommissioned', 'failed')`,
    [region],
  );
  return rows[0]?.n ?? 0;
}

/** What every operation of a region's hub stack runs with: the stack, its spec (the region) and the hub program. */
export function hubStackOperation(region: string) {
  const spec = { region };
  return {
    provider: hubStackName(region),
    accessState: "active",
    spec,
    specHash: createHash("sha256").update(JSON.stringify(spec)).digest("hex"),
    programVersion: HUB_PROGRAM_VERSION,
  } as const;
}

/** Queues a hub update of `region`, or joins the one already queued. */
export async function requestHubUpdate(q: Queryable, engine: string, region: string): Promise<Operation> {
  const { operation } = await ops.enqueueCoalesced(q, { id: randomUUID(), ...hubStackOperation(region), intent: "hub-update", kind: "up", engine });
  return operation;
}

/** The hub update a decommission waited for did not succeed: its rule group may still be referenced. */
export function hubBlockerProblem(blocker: Operation | undefined): string | undefined {
  if (blocker === undefined || blocker.status === "succeeded") return undefined;
  return (
    `the network hub update ${blocker.id} that removes this provider's rule group from the central firewall ` +
    `policy ended ${blocker.status}; a referenced rule group cannot be deleted, so nothing was destroyed. ` +
    `Decommission again to retry.`
  );
}
