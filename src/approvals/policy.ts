import type { Intent } from "../operations/operation.js";

/**
 * Which changes need a second person (four eyes, issue #5), from APPROVAL_RULES. A preview changes
 * nothing and a hub update follows from an approved change, so neither ever needs one.
 */
export type ApprovalRule = "decommission" | "restricted" | "revoke" | "all";
export type ApprovalRules = readonly (ApprovalRule | "none")[];

const CHANGES: ReadonlySet<Intent> = new Set(["create", "update", "revoke", "reinstate", "decommission", "key-store"]);

/**
 * The first rule that applies, or undefined when none does. `specs` are the provider's spec before and
 * after the change (one of them for create, revoke, reinstate, decommission): making a restricted
 * provider unrestricted needs an approval as much as the reverse does.
 */
export function approvalRuleFor(rules: ApprovalRules, intent: Intent, specs: readonly (Record<string, unknown> | undefined)[]): ApprovalRule | undefined {
  if (!CHANGES.has(intent) || rules.includes("none")) return undefined;
  if (rules.includes("all")) return "all";
  if (intent === "decommission" && rules.includes("decommission")) return "decommission";
  if (intent === "revoke" && rules.includes("revoke")) return "revoke";
  if (rules.includes("restricted") && specs.some((s) => s?.["dataClassification"] === "restricted")) return "restricted";
  return undefined;
}
