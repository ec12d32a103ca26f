import { describe, expect, it } from "vitest";
import { CHECK_CODES, type AccessReader, type Reading } from "../../src/verification/types.js";
import { verifyAccess } from "../../src/verification/verifier.js";
import { REVOKED_RULES, RULE_GROUP_ARN, key, keyPolicy, nacl, quarantineContent, target } from "./fixtures.js";

const ok = <T>(value: T, calls = 1): Reading<T> => ({ ok: true, value, calls });

/** A revoked provider's facts; `override` replaces one method's answer. Unknown reads throw (a strict fake). */
function reader(override: Partial<AccessReader> = {}, log: string[] = []): AccessReader {
  const base: AccessReader = {
    name: "fake",
    kmsKey: async () => ok(key(keyPolicy("revoked"))),
    kmsGrants: async () => ok([]),
    securityGroupRules: async () => ok([{ ruleId: "sgr-out", egress: true, protocol: "-1", cidrIpv4: "0.0.0.0/0" }]),
    subnetNacls: async (_at, ids) => ok(ids.map((id) => nacl(id, "deny"))),
    endpointService: async () => ok({ serviceId: "vpce-svc-0abc", serviceName: "svc", allowedPrincipals: [], connections: [] }, 3),
    ruleGroup: async () => ok({ arn: RULE_GROUP_ARN, rulesString: REVOKED_RULES }),
    attachedPolicies: async () => ok([{ policyId: "p-1", name: "saas-bridge-acme-quarantine", content: quarantineContent() }], 2),
  };
  const all = { ...base, ...override };
  return new Proxy(all, {
    get(obj, prop: string) {
      if (!(prop in obj)) throw new Error(`unexpected read ${prop}`);
      if (prop !== "name") log.push(prop);
      return obj[prop as keyof AccessReader];
    },
  });
}

const signal = () => AbortSignal.timeout(5_000);

describe("verifyAccess", () => {
  it("answers one result per code in CHECK_CODES order, sums the calls and times the run", async () => {
    let t = 1_000_000;
    const result = await verifyAccess(reader(), target("revoked"), { signal: signal(), now: () => (t += 40) });
    expect(result.checks.map((c) => c.code)).toEqual([...CHECK_CODES]);
    expect(result).toMatchObject({ status: "passed", expectation: "revoked", reader: "fake", calls: 1 + 1 + 1 + 1 + 3 + 1 + 2, durationMs: 40 });
    expect(result.checkedAt).toBe(new Date(1_000_040).toISOString());
  });

  it("a failed reading makes its check not verifiable (incomplete), never a pass; a fail wins over it", async () => {
    const denied: Reading<never> = { ok: false, reason: "network-firewall:DescribeRuleGroup: AccessDeniedException (HTTP 400)", calls: 1 };
    const incomplete = await verifyAccess(reader({ ruleGroup: async () => denied }), target("revoked"), { signal: signal() });
    expect(incomplete.status).toBe("incomplete");
    expect(incomplete.checks.find((c) => c.code === "FIREWALL_RULES")).toMatchObject({ status: "not-verifiable", message: expect.stringContaining("AccessDeniedException") });
    const failed = await verifyAccess(reader({ ruleGroup: async () => denied, kmsGrants: async () => ok([{ grantId: "g-1", granteePrincipal: "arn:aws:iam::222222222222:role/ingest", operations: ["Decrypt"] }]) }), target("revoked"), {
      signal: signal(),
    });
    expect(failed.status).toBe("failed");
  });

  it("reads nothing it has no id for: no key, no inbound, no bridge are not applicable for a revoke", async () => {
    const log: string[] = [];
    const { keyArn: _k, inbound: _i, bridge: _b, ...bare } = target("revoked");
    const result = await verifyAccess(reader({}, log), bare, { signal: signal() });
    const byCode = Object.fromEntries(result.checks.map((c) => [c.code, c.status]));
    expect(byCode).toEqual({
      KMS_GRANTS: "not-applicable",
      KMS_KEY_POLICY: "not-applicable",
      SG_INGRESS: "pass",
      NACL_DENY: "pass",
      ENDPOINT_CONNECTIONS: "not-applicable",
      FIREWALL_RULES: "pass",
      QUARANTINE_POLICY: "not-applicable",
    });
    expect(log.sort()).toEqual(["ruleGroup", "securityGroupRules", "subnetNacls"]);
  });

  it("an active provider without the ids its access needs fails, and decommissioned reads no policies", async () => {
    const { keyArn: _k, ruleGroupArn: _r, ...bare } = target("active");
    const active = await verifyAccess(reader(), bare, { signal: signal() });
    expect(active.checks.filter((c) => c.status === "fail").map((c) => c.code)).toEqual(expect.arrayContaining(["KMS_GRANTS", "KMS_KEY_POLICY", "FIREWALL_RULES"]));
    const log: string[] = [];
    const decommissioned = await verifyAccess(reader({}, log), target("decommissioned"), { signal: signal() });
    expect(log).not.toContain("attachedPolicies");
    expect(decommissioned.checks.find((c) => c.code === "QUARANTINE_POLICY")?.status).toBe("not-applicable");
  });

  it("an abort rejects the verification", async () => {
    const controller = new AbortController();
    const slow: AccessReader["kmsGrants"] = (_at, _arn, s) =>
      new Promise((_, reject) => s.addEventListener("abort", () => reject(Object.assign(new Error("aborted"), { name: "AbortError" })), { once: true }));
    const pending = verifyAccess(reader({ kmsGrants: slow }), target("revoked"), { signal: controller.signal });
    controller.abort();
    await expect(pending).rejects.toMatchObject({ name: "AbortError" });
  });
});
