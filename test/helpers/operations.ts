import { randomUUID } from "node:crypto";
import type { Operation } from "../../src/operations/operation.js";
import { enqueueOperation } from "../../src/operations/operations-repo.js";
import type { ProviderSpec } from "../../src/onboarding/spec.js";
import { specHash } from "../../src/onboarding/spec.js";
import type { Queryable } from "../../src/store/db.js";

/** A provider row in `provisioning` and its queued `create`, as the accept path leaves them. */
export async function queuedCreate(q: Queryable, spec: ProviderSpec): Promise<Operation> {
  await q.query(
    `INSERT INTO providers (name, team, spec, spec_hash, lifecycle, engine) VALUES ($1, $2, $3, $4, 'provisioning', 'simulated')`,
    [spec.name, spec.owner.team, JSON.stringify(spec), specHash(spec)],
  );
  const { operation } = await enqueueOperation(q, {
    id: randomUUID(),
    provider: spec.name,
    intent: "create",
    kind: "up",
    accessState: "active",
    engine: "simulated",
    spec: spec as unknown as Record<string, unknown>,
    specHash: specHash(spec),
    programVersion: "test",
  });
  return operation;
}
