import { ofType, show, TYPES, violation, type GuardrailViolation, type PlannedResource } from "./types.js";

/**
 * ELB.6 (AWS Foundational Security Best Practices): deletion protection on. The decommissioning variant
 * turns it off in the `up` a decommission runs before its destroy; guardrails never judge that variant
 * (a destroy is not checked), so any graph they see must keep it on.
 */
export function deletionProtectionRules(resources: readonly PlannedResource[]): GuardrailViolation[] {
  return ofType(resources, TYPES.loadBalancer)
    .filter((lb) => lb.inputs["enableDeletionProtection"] !== true)
    .map((lb) =>
      violation(lb, "NLB_DELETION_PROTECTION_OFF", `enableDeletionProtection is ${show(lb.inputs["enableDeletionProtection"] ?? "unset")}; expected true`),
    );
}
