import { describe, expect, it } from "vitest";
import {
  checkEndpointConnections,
  checkFirewallRules,
  checkKmsGrants,
  checkKmsKeyPolicy,
  checkNaclDeny,
  checkQuarantinePolicy,
  checkSgIngress,
} from "../../src/verification/checks.js";
import type { KmsGrantFacts, SecurityGroupRuleFacts } from "../../src/verification/types.js";
import { ACTIVE_RULES, OPERATIONS, PRINCIPALS, PROVIDER_ACCOUNT, REVOKED_RULES, RULE_GROUP_ARN, key, keyPolicy, nacl, quarantineContent, target } from "./fixtures.js";

const grant = (grantId: string, granteePrincipal: string, operations = OPERATIONS, retiringPrincipal?: string): KmsGrantFacts => ({
  grantId,
  granteePrincipal,
  operations,
  ...(retiringPrincipal ? { retiringPrincipal } : {}),
});
const egress: SecurityGroupRuleFacts = { ruleId: "sgr-out", egress: true, protocol: "-1", cidrIpv4: "0.0.0.0/0" };
const https: SecurityGroupRuleFacts = { ruleId: "sgr-in", egress: false, protocol: "tcp", fromPort: 443, toPort: 443, cidrIpv4: "10.20.0.0/16" };

describe("KMS_GRANTS", () => {
  const revokedKey = key(keyPolicy("revoked"));
  it("revoked: passes with no grant for the provider, fails naming a leftover grant (grantee or retiring principal)", () => {
    expect(checkKmsGrants(target("revoked"), revokedKey, [grant("g-other", "arn:aws:iam::444444444444:role/x")]).status).toBe("pass");
    const leftover = checkKmsGrants(target("revoked"), revokedKey, [grant("g-1", PRINCIPALS[0] ?? "")]);
    expect(leftover).toMatchObject({ status: "fail", evidence: { offendingGrantIds: ["g-1"] } });
    expect(leftover.message).toContain("g-1");
    // Any principal of the provider's account, not only the spec's.
    expect(checkKmsGrants(target("revoked"), revokedKey, [grant("g-2", `arn:aws:iam::${PROVIDER_ACCOUNT}:role/handmade`)]).status).toBe("fail");
    expect(checkKmsGrants(target("revoked"), revokedKey, [grant("g-3", "arn:aws:iam::444444444444:role/x", OPERATIONS, PRINCIPALS[1])]).status).toBe("fail");
  });
  it("a deleted key passes for decommissioned and for revoked (said so)", () => {
    expect(checkKmsGrants(target("decommissioned"), null, []).status).toBe("pass");
    const revoked = checkKmsGrants(target("revoked"), null, []);
    expect(revoked.status).toBe("pass");
    expect(revoked.message).toContain("revoke keeps the key");
  });
  it("active: exactly one grant per principal with exactly the operations; missing, wrong or extra fails", () => {
    const exact = [grant("g-a", PRINCIPALS[0] ?? ""), grant("g-b", PRINCIPALS[1] ?? "", [...OPERATIONS].reverse())];
    expect(checkKmsGrants(target("active"), key(keyPolicy("active")), exact).status).toBe("pass");
    const missing = checkKmsGrants(target("active"), key(keyPolicy("active")), exact.slice(0, 1));
    expect(missing.status).toBe("fail");
    expect(missing.message).toContain(`no grant for ${PRINCIPALS[1]}`);
    const wrongOps = checkKmsGrants(target("active"), key(keyPolicy("active")), [exact[0] as KmsGrantFacts, grant("g-b", PRINCIPALS[1] ?? "", ["Decrypt"])]);
    expect(wrongOps.message).toContain("g-b");
    const handMade = checkKmsGrants(target("active"), key(keyPolicy("active")), [...exact, grant("g-hand", "arn:aws:iam::555555555555:role/intruder", ["Decrypt"])]);
    expect(handMade).toMatchObject({ status: "fail", evidence: { extraGrantIds: ["g-hand"] } });
    expect(checkKmsGrants(target("active"), null, []).status).toBe("fail");
  });
});

describe("KMS_KEY_POLICY", () => {
  it("revoked: the unconditional Deny of kms:* to the provider's root passes; without it, or conditioned, fails", () => {
    const ok = checkKmsKeyPolicy(target("revoked"), key(keyPolicy("revoked")));
    expect(ok).toMatchObject({ status: "pass", evidence: { denySids: ["ProviderRevoked"], sids: ["KeyAdministration", "ProviderRevoked"] } });
    expect(JSON.stringify(ok.evidence)).not.toContain("Statement");
    expect(checkKmsKeyPolicy(target("revoked"), key(keyPolicy("active"))).status).toBe("fail");
    const conditioned = JSON.parse(keyPolicy("revoked")) as { Statement: Record<string, unknown>[] };
    (conditioned.Statement[1] as Record<string, unknown>)["Condition"] = { Bool: { "aws:ViaAWSService": "false" } };
    expect(checkKmsKeyPolicy(target("revoked"), key(JSON.stringify(conditioned))).status).toBe("fail");
    // The principal as an array and the action "*" are the same deny.
    const asArray = JSON.stringify({ Statement: [{ Effect: "Deny", Principal: { AWS: [`arn:aws:iam::${PROVIDER_ACCOUNT}:root`] }, Action: "*", Resource: "*" }] });
    expect(checkKmsKeyPolicy(target("revoked"), key(asArray)).status).toBe("pass");
    expect(checkKmsKeyPolicy(target("revoked"), key("not json")).status).toBe("fail");
  });
  it("decommissioned: gone or unusable passes; an enabled key needs the revoked deny", () => {
    expect(checkKmsKeyPolicy(target("decommissioned"), null).status).toBe("pass");
    expect(checkKmsKeyPolicy(target("decommissioned"), key(keyPolicy("active"), "PendingDeletion")).status).toBe("pass");
    expect(checkKmsKeyPolicy(target("decommissioned"), key(keyPolicy("active"), "Disabled")).status).toBe("pass");
    expect(checkKmsKeyPolicy(target("decommissioned"), key(keyPolicy("active"))).status).toBe("fail");
    expect(checkKmsKeyPolicy(target("decommissioned"), key(keyPolicy("revoked"))).status).toBe("pass");
  });
  it("active: enabled without a deny naming the provider passes; a deny or a disabled key fails", () => {
    expect(checkKmsKeyPolicy(target("active"), key(keyPolicy("active"))).status).toBe("pass");
    expect(checkKmsKeyPolicy(target("active"), key(keyPolicy("revoked"))).status).toBe("fail");
    expect(checkKmsKeyPolicy(target("active"), key(keyPolicy("active"), "Disabled")).status).toBe("fail");
    expect(checkKmsKeyPolicy(target("active"), null).status).toBe("fail");
  });
});

describe("SG_INGRESS", () => {
  it("revoked/decommissioned: no group or only egress passes; an ingress rule fails with its id, source and port", () => {
    expect(checkSgIngress(target("revoked"), null).status).toBe("pass");
    expect(checkSgIngress(target("decommissioned"), [egress]).status).toBe("pass");
    const left = checkSgIngress(target("revoked"), [egress, https]);
    expect(left.status).toBe("fail");
    expect(left.message).toContain("sgr-in 10.20.0.0/16 tcp/443");
  });
  it("active: exactly the expected ingress; extra or missing fails", () => {
    expect(checkSgIngress(target("active"), [egress, { ...https, protocol: "6" }]).status).toBe("pass");
    expect(checkSgIngress(target("active"), [egress]).message).toContain("missing 10.20.0.0/16 tcp/443-443");
    const extra = checkSgIngress(target("active"), [https, { ruleId: "sgr-x", egress: false, protocol: "tcp", fromPort: 22, toPort: 22, cidrIpv4: "0.0.0.0/0" }]);
    expect(extra.status).toBe("fail");
    expect(extra.message).toContain("sgr-x");
    expect(checkSgIngress(target("active"), [{ ...https, fromPort: 0, toPort: 65535 }]).status).toBe("fail");
    expect(checkSgIngress(target("active"), null).status).toBe("fail");
  });
});

describe("NACL_DENY", () => {
  it("revoked: every subnet on the deny-all NACL passes; a subnet on another NACL or gone fails naming it", () => {
    expect(checkNaclDeny(target("revoked"), [nacl("subnet-aaaa", "deny"), nacl("subnet-bbbb", "deny")]).status).toBe("pass");
    const moved = checkNaclDeny(target("revoked"), [nacl("subnet-aaaa", "deny"), nacl("subnet-bbbb", "default")]);
    expect(moved.status).toBe("fail");
    expect(moved.message).toContain("subnet-bbbb on acl-default");
    const gone = checkNaclDeny(target("revoked"), [nacl("subnet-aaaa", "deny")]);
    expect(gone.status).toBe("fail");
    expect(gone.message).toContain("subnet-bbbb");
  });
  it("a deny rule that is not the first entry does not count", () => {
    const late = nacl("subnet-aaaa", "default");
    const withLateDeny = { ...late, entries: [...late.entries, { ruleNumber: 200, egress: false, action: "deny" as const, protocol: "-1", cidrBlock: "0.0.0.0/0" }] };
    expect(checkNaclDeny(target("revoked", { subnetIds: ["subnet-aaaa"] }), [withLateDeny]).status).toBe("fail");
  });
  it("decommissioned: gone or denied passes; active: none denied passes; no subnets is not applicable", () => {
    expect(checkNaclDeny(target("decommissioned"), []).status).toBe("pass");
    expect(checkNaclDeny(target("decommissioned"), [nacl("subnet-aaaa", "default")]).status).toBe("fail");
    expect(checkNaclDeny(target("active"), [nacl("subnet-aaaa", "default"), nacl("subnet-bbbb", "default")]).status).toBe("pass");
    expect(checkNaclDeny(target("active"), [nacl("subnet-aaaa", "default"), nacl("subnet-bbbb", "deny")]).status).toBe("fail");
    expect(checkNaclDeny(target("revoked", { subnetIds: [] }), []).status).toBe("not-applicable");
  });
});

describe("ENDPOINT_CONNECTIONS", () => {
  const service = (state: string, allowedPrincipals: string[] = []) => ({
    serviceId: "vpce-svc-0abc",
    serviceName: "com.amazonaws.vpce.eu-west-1.vpce-svc-0abc",
    allowedPrincipals,
    connections: [{ endpointId: "vpce-0aaa", state }],
  });
  it("revoked/decommissioned: no service, or only rejected connections and no principal, passes", () => {
    expect(checkEndpointConnections(target("revoked"), null).status).toBe("pass");
    expect(checkEndpointConnections(target("revoked"), service("rejected")).status).toBe("pass");
    const accepted = checkEndpointConnections(target("revoked"), service("available"));
    expect(accepted.status).toBe("fail");
    expect(accepted.message).toContain("vpce-0aaa available");
    expect(checkEndpointConnections(target("decommissioned"), service("pendingAcceptance")).status).toBe("fail");
    expect(checkEndpointConnections(target("revoked"), service("rejected", [`arn:aws:iam::${PROVIDER_ACCOUNT}:root`])).status).toBe("fail");
  });
  it("active: exactly the accepted ids available", () => {
    expect(checkEndpointConnections(target("active"), service("available")).status).toBe("pass");
    expect(checkEndpointConnections(target("active"), service("rejected")).status).toBe("fail");
    const extra = { ...service("available"), connections: [{ endpointId: "vpce-0aaa", state: "available" }, { endpointId: "vpce-0bbb", state: "available" }] };
    expect(checkEndpointConnections(target("active"), extra).message).toContain("vpce-0bbb");
  });
});

describe("FIREWALL_RULES", () => {
  const group = (rulesString: string) => ({ arn: RULE_GROUP_ARN, rulesString });
  it("revoked: ≥ 1 rule, all drop or reject; a pass rule, no rule or no group fails", () => {
    expect(checkFirewallRules(target("revoked"), group(`# revoked\n${REVOKED_RULES}\n`)).status).toBe("pass");
    const open = checkFirewallRules(target("revoked"), group(ACTIVE_RULES));
    expect(open.status).toBe("fail");
    expect(open.message).toContain("sid 1000");
    expect(checkFirewallRules(target("revoked"), group("# nothing\n")).status).toBe("fail");
    expect(checkFirewallRules(target("revoked"), null).status).toBe("fail");
  });
  it("decommissioned: gone passes, else the revoked rule; active: exactly the expected rules", () => {
    expect(checkFirewallRules(target("decommissioned"), null).status).toBe("pass");
    expect(checkFirewallRules(target("decommissioned"), group(ACTIVE_RULES)).status).toBe("fail");
    expect(checkFirewallRules(target("active"), group(`${ACTIVE_RULES}\n`)).status).toBe("pass");
    expect(checkFirewallRules(target("active"), group(REVOKED_RULES)).status).toBe("fail");
    const { expectedRulesString: _, ...noExpectation } = target("active");
    expect(checkFirewallRules(noExpectation, group(ACTIVE_RULES)).status).toBe("pass");
    expect(checkFirewallRules(noExpectation, group(REVOKED_RULES)).status).toBe("fail");
  });
});

describe("QUARANTINE_POLICY", () => {
  const rcp = { policyId: "p-quarantine", name: "saas-bridge-acme-quarantine", content: quarantineContent() };
  const other = { policyId: "p-other", name: "other", content: JSON.stringify({ Statement: { Effect: "Deny", Principal: "*", Action: "s3:*", Resource: "*", Condition: { StringEquals: { "aws:PrincipalAccount": "999999999999" } } } }) };
  it("revoked: the attached RCP of buildQuarantineRcp passes; none or another account's fails", () => {
    expect(checkQuarantinePolicy(target("revoked"), [other, rcp])).toMatchObject({ status: "pass", evidence: { quarantinePolicyIds: ["p-quarantine"] } });
    expect(checkQuarantinePolicy(target("revoked"), [other]).status).toBe("fail");
    expect(checkQuarantinePolicy(target("revoked"), []).status).toBe("fail");
  });
  it("active: none attached passes, the quarantine attached fails; decommissioned is not applicable", () => {
    expect(checkQuarantinePolicy(target("active"), [other]).status).toBe("pass");
    expect(checkQuarantinePolicy(target("active"), [rcp]).status).toBe("fail");
    expect(checkQuarantinePolicy(target("decommissioned"), [rcp]).status).toBe("not-applicable");
  });
});
