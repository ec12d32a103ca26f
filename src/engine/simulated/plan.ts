import { isDeepStrictEqual } from "node:util";
import { REPLACE_ON } from "../../../programs/mocks/index.js";
import type { ResourceOp } from "../../operations/events.js";

/** One resource as the simulated backend records it (what a Pulumi checkpoint would hold). */
export interface SimResource {
  readonly urn: string;
  readonly type: string;
  readonly name: string;
  readonly parent: string | null;
  readonly custom: boolean;
  readonly inputs: Record<string, unknown>;
  readonly outputs: Record<string, unknown>;
  /** URNs that must exist first: explicit/implicit dependencies, the provider, the parent. */
  readonly dependencies: readonly string[];
  /** `retainOnDelete`: a delete only removes it from the stack; it stays in the cloud. */
  readonly retainOnDelete: boolean;
}

export interface Step {
  readonly op: ResourceOp;
  readonly urn: string;
  readonly type: string;
  readonly name: string;
  /** Managed by a resource provider (false for components), so the step takes real time. */
  readonly custom: boolean;
  /** State after the step (absent for delete). */
  readonly desired?: SimResource;
  /** URNs this step waits for. */
  readonly after: readonly string[];
  /** A delete of a `retainOnDelete` resource: no cloud call, the resource stays. */
  readonly retain?: boolean;
}

function changeOp(previous: SimResource, desired: SimResource): ResourceOp {
  if (previous.type !== desired.type) return "replace";
  if (isDeepStrictEqual(previous.inputs, desired.inputs)) return "same";
  const forceNew = REPLACE_ON[desired.type] ?? [];
  return forceNew.some((k) => !isDeepStrictEqual(previous.inputs[k], desired.inputs[k])) ? "replace" : "update";
}

/**
 * `up`: the desired resources in registration order (which already respects dependencies), each
 * create/update/replace/same; then deletes of resources no longer desired, dependents first.
 */
export function planUp(previous: readonly SimResource[], desired: readonly SimResource[]): Step[] {
  const prevByUrn = new Map(previous.map((r) => [r.urn, r]));
  const desiredUrns = new Set(desired.map((r) => r.urn));
  const steps: Step[] = desired.map((r) => {
    const prev = prevByUrn.get(r.urn);
    const after = r.dependencies.filter((d) => desiredUrns.has(d));
    return { op: prev ? changeOp(prev, r) : "create", urn: r.urn, type: r.type, name: r.name, custom: r.custom, desired: r, after };
  });
  return steps.concat(planDeletes(previous.filter((r) => !desiredUrns.has(r.urn))));
}

/** `destroy`: every recorded resource, dependents before what they depend on. */
export function planDestroy(previous: readonly SimResource[]): Step[] {
  return planDeletes(previous);
}

function planDeletes(doomed: readonly SimResource[]): Step[] {
  const doomedUrns = new Set(doomed.map((r) => r.urn));
  // A resource is deleted after everything (still doomed) that depends on it.
  const dependents = new Map<string, string[]>();
  for (const r of doomed) {
    for (const d of r.dependencies) {
      if (doomedUrns.has(d)) dependents.set(d, [...(dependents.get(d) ?? []), r.urn]);
    }
  }
  return [...doomed].reverse().map((r) => ({
    op: "delete" as const,
    urn: r.urn,
    type: r.type,
    name: r.name,
    custom: r.custom,
    after: dependents.get(r.urn) ?? [],
    ...(r.retainOnDelete ? { retain: true } : {}),
  }));
}

export function summarize(steps: readonly Step[]): Record<ResourceOp, number> {
  const summary: Record<ResourceOp, number> = { create: 0, update: 0, delete: 0, replace: 0, same: 0 };
  for (const s of steps) summary[s.op] += 1;
  return summary;
}
