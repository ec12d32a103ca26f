import type { Actor } from "../auth/actor.js";
import { AppError } from "../errors.js";
import type { Operation } from "../operations/operation.js";
import type { Queryable } from "../store/db.js";
import { accept, type AcceptDeps, type Accepted, type Idempotency } from "./accept.js";
import { driftOf, type DriftState } from "./drift.js";
import { hubStackOperation } from "./network-hub.js";
import { getHub, hubOperations, listHubs, type NetworkHubRecord } from "./network-hubs-repo.js";

/**
 * Use cases on network hubs (DESIGN §7; issue 16): one per region with a hub stack. A hub belongs to no team:
 * the routes are for admins. No Fastify here.
 */
export interface NetworkHubView {
  readonly region: string;
  readonly stack: string;
  readonly createdAt: string;
  readonly drift: DriftState;
  /** The stack's latest operation (a hub update or a drift check). */
  readonly lastOperation: Operation | undefined;
  /** The latest hub update that succeeded: what the central policy lists (its outputs). */
  readonly lastUpdate: Operation | undefined;
}

const notFound = (region: string) => new AppError("NOT_FOUND", `No network hub in region "${region}".`);

async function viewOf(q: Queryable, hub: NetworkHubRecord): Promise<NetworkHubView> {
  const { last, lastUpdate } = await hubOperations(q, hub.stack);
  return { region: hub.region, stack: hub.stack, createdAt: hub.created_at, drift: driftOf(hub.drift), lastOperation: last, lastUpdate };
}

export async function listNetworkHubs(deps: Pick<AcceptDeps, "db">): Promise<NetworkHubView[]> {
  const hubs = await listHubs(deps.db);
  return Promise.all(hubs.map((h) => viewOf(deps.db, h)));
}

export async function getNetworkHub(deps: Pick<AcceptDeps, "db">, region: string): Promise<NetworkHubView> {
  const hub = await getHub(deps.db, region);
  if (hub === undefined) throw notFound(region);
  return viewOf(deps.db, hub);
}

/** A drift check of the region's hub stack now (a refresh preview: it changes nothing), audited as the caller's. */
export async function requestHubDriftCheck(deps: AcceptDeps, actor: Actor, region: string, idempotency?: Idempotency): Promise<Accepted> {
  const hub = hubStackOperation(region);
  const request = { actor, action: "network-hub.drift-check", idempotency, resource: { kind: "network-hub", id: region } } as const;
  return accept({ ...deps, programVersion: hub.programVersion }, request, async (tx, newOperation) => {
    if ((await getHub(tx, region, true)) === undefined) throw notFound(region);
    return newOperation({ ...hub, intent: "drift-check", kind: "refresh" });
  });
}
