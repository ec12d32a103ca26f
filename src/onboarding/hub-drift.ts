import { recordAllowed, SYSTEM_ACTOR } from "../auth/actor.js";
import type { EventData } from "../operations/events.js";
import { regionOfHubStack, type Operation, type OperationStatus } from "../operations/operation.js";
import * as ops from "../operations/operations-repo.js";
import type { Queryable } from "../store/db.js";
import { flagged, weakensHubPolicy } from "./access-drift.js";
import { nextDrift, type DriftDeps } from "./drift.js";
import { getHub, registerHub, setHubDrift } from "./network-hubs-repo.js";

export const hubLink = (region: string) => `/v1/network-hubs/${encodeURIComponent(region)}`;

/**
 * A network hub's drift (issue 16), in the transaction that ends an operation of its stack: the first hub update
 * that succeeds makes the hub exist (network_hubs); a drift check records what it found, any hub update that ran
 * makes the last result `unknown` (drift.ts nextDrift, as for a provider). Drift found is a `drift.found` notice
 * for the subscriptions of all teams (a hub belongs to none); drift of the central firewall policy is
 * security-relevant: a `security.hub-policy-drifted` event (critical), the notice says so, audited as the system.
 */
export async function onHubOperationFinished(tx: Queryable, deps: DriftDeps, op: Operation, status: OperationStatus): Promise<void> {
  const region = regionOfHubStack(op.provider);
  if (op.intent === "hub-update" && status === "succeeded") await registerHub(tx, region, op.provider);
  const hub = await getHub(tx, region, true);
  if (hub === undefined) return;
  const next = nextDrift(hub.drift, op, status);
  if (next === undefined) return;
  await setHubDrift(tx, region, next);
  if (next.status !== "drifted") return;
  const { resources, checkedAt } = next;
  const weakened = flagged(resources, weakensHubPolicy);
  if (weakened.length > 0) {
    const message =
      `network hub ${region}: the central firewall policy changed outside the engine; providers' rule groups may no longer be ` +
      "enforced. Check it in the network account: the next hub update applies the policy the service computes";
    const event: EventData = { type: "security.hub-policy-drifted", severity: "critical", message, resources: weakened };
    await ops.appendEvent(tx, op.id, null, event);
  }
  await deps.notify?.(tx, {
    type: "drift.found",
    team: null,
    subject: `network-hubs/${region}`,
    data: {
      networkHub: region,
      stack: op.provider,
      operationId: op.id,
      status: "drifted",
      checkedAt,
      resources,
      securityRelevant: weakened.length > 0,
      severity: weakened.length > 0 ? "critical" : "warning",
      links: { networkHub: hubLink(region), operation: `/v1/operations/${op.id}` },
    },
  });
  if (weakened.length > 0 && deps.audit !== undefined) {
    // Last: the audit append holds the chain head until commit (src/audit/append.ts).
    await recordAllowed(deps.audit, tx, SYSTEM_ACTOR, "network-hub.policy-drifted", { kind: "network-hub", id: region }, {
      operationId: op.id,
      severity: "critical",
      resources: weakened.map((r) => ({ urn: r.urn, type: r.type, change: r.change, keys: [...r.keys], reason: r.reason })),
    });
  }
}
