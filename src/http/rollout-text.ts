import type { RolloutEvent } from "../fleet/rollout-events.js";
import type { ChangeSummary } from "../operations/events.js";
import { clean } from "./text-progress.js";

/**
 * The human view of a rollout's stream (`Accept: text/plain`): one line per event, e.g.
 * `[ 12/200, 1 failed] acme apply succeeded`. Provider names and error text never carry control characters.
 */
function changes(c: ChangeSummary | undefined): string {
  if (c === undefined) return "";
  const parts = Object.entries(c)
    .filter(([op, n]) => op !== "same" && n > 0)
    .map(([op, n]) => `${n} to ${op}`);
  return parts.length === 0 ? " (no changes)" : ` (${parts.join(", ")})`;
}

export function createRolloutTextFormatter(header: string): (event: RolloutEvent) => string {
  let first = true;
  return (e) => {
    const prefix = first ? `${clean(header)}\n` : "";
    first = false;
    return prefix + line(e);
  };
}

function line(e: RolloutEvent): string {
  const counter = (c: { done: number; failed: number; total: number }) =>
    `[${String(c.done).padStart(String(c.total).length)}/${c.total}${c.failed > 0 ? `, ${c.failed} failed` : ""}]`;
  switch (e.type) {
    case "rollout.created":
      return `rollout of ${clean(e.programVersion)} to ${e.total} stack(s) by ${clean(e.requestedBy)}: canary ${e.canary}, batches of ${e.batchSize}, at most ${e.maxParallel} at once, halts past ${e.maxFailures} failure(s)\n`;
    case "rollout.stack":
      return `${counter(e)} ${clean(e.provider)} ${e.phase} ${e.status}${changes(e.changes)}${e.error ? `: ${clean(e.error.message)}` : ""}\n`;
    case "rollout.awaiting-approval":
      return `previews done; awaiting approval (${clean(e.rule)}) by someone other than ${clean(e.requestedBy)}\n`;
    case "rollout.approved":
      return `approved by ${clean(e.approvedBy)}\n`;
    case "rollout.wave":
      return `wave ${e.wave + 1} of ${e.waves}${e.wave === 0 ? " (canary)" : ""}: ${e.stacks} stack(s)\n`;
    case "rollout.paused":
      return `paused by ${clean(e.by)}\n`;
    case "rollout.resumed":
      return `resumed by ${clean(e.by)}\n`;
    case "rollout.succeeded":
      return `${counter(e)} succeeded in ${(e.durationMs / 1000).toFixed(1)}s${e.skipped > 0 ? ` (${e.skipped} skipped)` : ""}\n`;
    case "rollout.halted":
      return `${counter(e)} halted: ${clean(e.reason)}\n`;
    case "rollout.cancelled":
      return `${counter(e)} cancelled: ${clean(e.reason)}\n`;
  }
}
