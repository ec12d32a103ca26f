import { describe, expect, it } from "vitest";
import { admit, onFinish, onStart, project } from "../../src/onboarding/lifecycle.js";

describe("provider lifecycle", () => {
  it("projects queued intents so revoke → reinstate can be queued back to back", () => {
    expect(project("active", ["revoke"])).toBe("revoked");
    expect(admit("reinstate", "active", ["revoke"])).toEqual({ ok: true, accessState: "active" });
    expect(admit("reinstate", "active", []).ok).toBe(false);
  });

  it("keeps an update's variant: updating a revoked provider stays revoked", () => {
    expect(admit("update", "revoked", [])).toEqual({ ok: true, accessState: "revoked" });
    expect(admit("update", "active", ["revoke"])).toEqual({ ok: true, accessState: "revoked" });
  });

  it("refuses everything but a retry once decommissioning is queued or done", () => {
    expect(admit("update", "active", ["decommission"]).ok).toBe(false);
    expect(admit("revoke", "decommissioned", []).ok).toBe(false);
    expect(admit("decommission", "active", ["decommission"]).ok).toBe(false);
    expect(admit("decommission", "decommissioning", []).ok).toBe(true);
    expect(admit("preview", "decommissioned", []).ok).toBe(false);
  });

  it("moves lifecycle on start and finish", () => {
    expect(onStart("decommission", "revoked")).toBe("decommissioning");
    expect(onFinish("create", "succeeded", "active", "provisioning")).toBe("active");
    expect(onFinish("create", "failed", "active", "provisioning")).toBe("failed");
    expect(onFinish("create", "interrupted", "active", "provisioning")).toBe("failed");
    expect(onFinish("revoke", "succeeded", "revoked", "active")).toBe("revoked");
    expect(onFinish("revoke", "failed", "revoked", "active")).toBe("active");
    expect(onFinish("decommission", "succeeded", "active", "decommissioning")).toBe("decommissioned");
    expect(onFinish("decommission", "cancelled", "active", "decommissioning")).toBe("decommissioning");
    expect(onFinish("preview", "succeeded", "active", "revoked")).toBe("revoked");
  });
});
