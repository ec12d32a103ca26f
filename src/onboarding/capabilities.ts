import { AppError, type FieldError } from "../errors.js";
import type { ProviderSpec } from "./spec.js";

/**
 * Parts of a valid spec that this version's programs cannot build yet. They are refused (422, naming
 * the field) rather than accepted and silently left out: the caller must never believe an inbound
 * exposure or an HSM-backed key exists when it does not. Both arrive with the full programs (issue #3).
 */
export function assertBuildable(spec: ProviderSpec): void {
  const errors: FieldError[] = [];
  if (spec.inbound !== undefined) {
    errors.push({ path: "/inbound", message: "inbound exposure (NLB + endpoint service) is not built by this version yet" });
  }
  if (spec.kms.keyStore === "cloudhsm") {
    errors.push({ path: "/kms/keyStore", message: "CloudHSM key stores are not built by this version yet; use \"kms\"" });
  }
  if (errors.length > 0) {
    throw new AppError("UNSUPPORTED_FEATURE", "The spec is valid, but this version cannot build all of it yet.", { errors });
  }
}
