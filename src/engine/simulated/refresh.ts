import { isDeepStrictEqual } from "node:util";
import type { EngineEvent, PlannedStep } from "../engine.js";
import type { SimResource, Step } from "./plan.js";
import type { CloudDrift } from "./state-repo.js";

/**
 * The simulated engine's drift check (a refresh preview): every recorded resource compared with what the
 * simulated cloud holds now (the drift records a test double wrote, simulated-drift.ts). Like the Pulumi
 * engine's (event-map.ts driftOf): a resource gone from the cloud is a `delete`, one whose values differ an
 * `update` with the top-level keys that differ (names, never values); components and providers, which are
 * not read from a cloud, never drift. Nothing is written.
 */
export interface Refreshed {
  readonly steps: Step[];
  readonly planned: PlannedStep[];
  /** The planned steps, then one "Drift: …" warning per drifted resource (the Pulumi engine's text). */
  readonly events: EngineEvent[];
}

export function refreshSteps(previous: readonly SimResource[], drifted: readonly CloudDrift[]): Refreshed {
  const cloud = new Map(drifted.map((d) => [d.urn, d]));
  const steps: Step[] = [];
  const planned: PlannedStep[] = [];
  const warnings: EngineEvent[] = [];
  for (const r of previous) {
    const d = r.custom && !r.type.startsWith("pulumi:providers:") ? cloud.get(r.urn) : undefined;
    const keys = d?.change === "update" ? changedKeys(r, d.inputs) : [];
    const op = d === undefined ? "same" : d.change === "delete" ? "delete" : keys.length > 0 ? "update" : "same";
    steps.push({ op, urn: r.urn, type: r.type, name: r.name, custom: r.custom, desired: r, after: [] });
    planned.push({ urn: r.urn, resourceType: r.type, name: r.name, op, ...(op === "update" ? { keys } : {}) });
    if (op === "update" || op === "delete") warnings.push({ type: "diagnostic", severity: "warning", urn: r.urn, message: driftText(r, op, keys) });
  }
  const events: EngineEvent[] = [...planned.map((p): EngineEvent => ({ type: "resource.planned", urn: p.urn, resourceType: p.resourceType, name: p.name, op: p.op })), ...warnings];
  return { steps, planned, events };
}

function changedKeys(r: SimResource, now: Readonly<Record<string, unknown>>): string[] {
  return Object.keys(now)
    .filter((k) => !isDeepStrictEqual(r.inputs[k], now[k]))
    .sort();
}

/** The same text as the Pulumi engine's (event-map.ts driftMessage). */
function driftText(r: SimResource, op: "update" | "delete", keys: readonly string[]): string {
  const what = `${r.type} ${r.name}`;
  if (op === "delete") return `Drift: ${what} no longer exists in the cloud (deleted outside Pulumi)`;
  const listed = keys.slice(0, 20).join(", ") + (keys.length > 20 ? `, and ${keys.length - 20} more` : "");
  return `Drift: ${what} changed outside Pulumi${listed ? ` (changed: ${listed})` : ""}`;
}
