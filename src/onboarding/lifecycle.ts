import { z } from "zod";
import type { AccessState } from "../../programs/types.js";
import type { Intent, OperationStatus } from "../operations/operation.js";

/**
 * Provider lifecycle (DESIGN §3), separate from operation status:
 * provisioning → active ⇄ revoked; active|revoked → decommissioning → decommissioned;
 * failed when the first provisioning does not succeed.
 */
export const LIFECYCLES = ["provisioning", "active", "revoked", "decommissioning", "decommissioned", "failed"] as const;
export const Lifecycle = z.enum(LIFECYCLES);
export type Lifecycle = z.infer<typeof Lifecycle>;

/** Where the provider will be once everything already queued has run. */
type Projection = "active" | "revoked" | "failed" | "gone";

function settled(lifecycle: Lifecycle): Projection {
  switch (lifecycle) {
    case "provisioning":
    case "active":
      return "active";
    case "revoked":
      return "revoked";
    case "failed":
      return "failed";
    case "decommissioning":
    case "decommissioned":
      return "gone";
  }
}

export function project(lifecycle: Lifecycle, pending: readonly Intent[]): Projection {
  return pending.reduce<Projection>((state, intent) => {
    switch (intent) {
      case "create":
      case "reinstate":
        return "active";
      case "revoke":
        return "revoked";
      case "decommission":
        return "gone";
      case "update":
        return state === "failed" ? "active" : state;
      case "key-store":
      case "preview":
      case "drift-check":
      case "hub-update":
      case "verify":
        return state;
    }
  }, settled(lifecycle));
}

/** Why a request is refused, or the access state its operation runs with. */
export type Admission = { readonly ok: true; readonly accessState: AccessState } | { readonly ok: false; readonly reason: string };

/**
 * Decides a request against the projected state, so that a queue such as revoke → reinstate is accepted
 * even before the revoke has run. `pending` are the provider's queued and running intents, oldest first.
 */
export function admit(intent: Exclude<Intent, "create" | "hub-update">, lifecycle: Lifecycle, pending: readonly Intent[]): Admission {
  const state = project(lifecycle, pending);
  const variant: AccessState = state === "revoked" ? "revoked" : "active";
  const refuse = (reason: string): Admission => ({ ok: false, reason });
  switch (intent) {
    case "update":
      return state === "gone" ? refuse("the provider is decommissioned or being decommissioned") : { ok: true, accessState: variant };
    case "key-store":
      if (pending.includes("key-store")) return refuse("a key-store operation is already queued or running");
      return state === "active" || state === "revoked" ? { ok: true, accessState: variant } : refuse(`the provider will be ${state}`);
    case "preview":
    case "drift-check":
      return state === "gone" ? refuse("the provider is decommissioned or being decommissioned") : { ok: true, accessState: variant };
    case "revoke":
      return state === "active" ? { ok: true, accessState: "revoked" } : refuse(`cannot revoke: the provider will be ${state}`);
    case "reinstate":
      return state === "revoked" ? { ok: true, accessState: "active" } : refuse(`cannot reinstate: the provider will be ${state}`);
    case "verify":
      // Read-only: after a decommission too (proof that access stays gone), never of a stack that never got there.
      if (state === "active" || state === "revoked") return { ok: true, accessState: state };
      return state === "gone" ? { ok: true, accessState: "revoked" } : refuse(`nothing to verify yet: the provider will be ${state}`);
    case "decommission":
      // A failed or cancelled destroy leaves `decommissioning`; asking again retries it.
      if (state !== "gone" || (lifecycle === "decommissioning" && pending.length === 0)) return { ok: true, accessState: variant };
      return refuse("the provider is already decommissioned or being decommissioned");
  }
}

/** Lifecycle when an operation starts running. */
export function onStart(intent: Intent, current: Lifecycle): Lifecycle {
  if (intent === "decommission") return "decommissioning";
  if (intent === "create") return "provisioning";
  return current;
}

/** Lifecycle when an operation ends. */
export function onFinish(intent: Intent, status: OperationStatus, accessState: AccessState, current: Lifecycle): Lifecycle {
  if (intent === "preview" || intent === "drift-check" || intent === "verify") return current;
  if (intent === "decommission") return status === "succeeded" ? "decommissioned" : current;
  if (status === "succeeded") return accessState;
  return current === "provisioning" || current === "failed" ? "failed" : current;
}
