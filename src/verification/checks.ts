import { awsPrincipals, fail, isAccountRoot, isDeny, list, notApplicable, pass, statements, strings, type Statement } from "./check-support.js";
import type { CheckResult, OrgPolicyFacts, RuleGroupFacts, VerificationTarget } from "./types.js";

/**
 * The checks: pure functions of the facts a reader returned and the target, one per CHECK_CODES member
 * (KMS in checks-kms.ts, the network in checks-network.ts, the firewall and the quarantine policy here).
 * The verifier makes a check `not-verifiable` when its reading failed; these judge what was read.
 */
export { checkKmsGrants, checkKmsKeyPolicy } from "./checks-kms.js";
export { checkEndpointConnections, checkNaclDeny, checkSgIngress, isDenyAllNacl } from "./checks-network.js";
export { absent, notApplicable, notVerifiable } from "./check-support.js";

/** The rule lines of a Suricata rules string: not blank, not a comment. */
function ruleLines(rulesString: string): string[] {
  return rulesString
    .split("\n")
    .map((line) => line.trim())
    .filter((line) => line !== "" && !line.startsWith("#"));
}

const actionOf = (line: string): string => line.split(/\s+/, 1)[0]?.toLowerCase() ?? "";
const sidOf = (line: string): string => /\bsid\s*:\s*(\d+)/.exec(line)?.[1] ?? "?";
const BLOCKING = new Set(["drop", "reject"]);

/**
 * FIREWALL_RULES. Revoked: the group exists (a revoke keeps it) and holds ≥ 1 rule, every one dropping or
 * rejecting. Decommissioned: the group is gone, else the revoked rule. Active: the rules string is the one the
 * program renders for the spec (when given), else the group passes something.
 */
export function checkFirewallRules(target: VerificationTarget, group: RuleGroupFacts | null): CheckResult {
  const code = "FIREWALL_RULES";
  const arn = target.ruleGroupArn ?? "";
  if (group === null) {
    if (target.expectation === "decommissioned") return pass(code, "the rule group no longer exists", { arn, exists: false });
    const note = target.expectation === "revoked" ? " (a revoke keeps it, with drop rules)" : "";
    return fail(code, `the rule group does not exist${note}`, { arn, exists: false });
  }
  const lines = ruleLines(group.rulesString);
  const actions: Record<string, number> = {};
  for (const line of lines) actions[actionOf(line)] = (actions[actionOf(line)] ?? 0) + 1;
  const evidence = { arn: group.arn, rules: lines.length, actions };

  if (target.expectation === "active") {
    if (target.expectedRulesString !== undefined) {
      if (group.rulesString.trimEnd() === target.expectedRulesString.trimEnd()) return pass(code, `the rule group holds the spec's ${lines.length} rule(s)`, evidence);
      const expected = new Set(ruleLines(target.expectedRulesString));
      const actual = new Set(lines);
      const missing = [...expected].filter((l) => !actual.has(l)).map(sidOf);
      const extra = [...actual].filter((l) => !expected.has(l)).map(sidOf);
      return fail(code, `the rules differ from the spec's: missing sid ${list(missing) || "none"}; extra sid ${list(extra) || "none"}${missing.length + extra.length === 0 ? " (order or spacing)" : ""}`, {
        ...evidence,
        missingSids: missing,
        extraSids: extra,
      });
    }
    const passes = lines.filter((l) => actionOf(l) === "pass").length;
    if (passes > 0) return pass(code, `the rule group passes traffic (${passes} pass rule(s))`, evidence);
    return fail(code, "the rule group has no pass rule: the provider's traffic is dropped", evidence);
  }
  const open = lines.filter((l) => !BLOCKING.has(actionOf(l)));
  if (lines.length === 0) return fail(code, "the rule group has no rule: nothing drops the provider's traffic", evidence);
  if (open.length > 0) return fail(code, `${open.length} rule(s) do not drop: sid ${list(open.map(sidOf))}`, { ...evidence, openSids: open.map(sidOf) });
  return pass(code, `all ${lines.length} rule(s) drop or reject`, evidence);
}

/**
 * A Deny that reaches the provider's account: a condition on aws:PrincipalAccount (or aws:SourceAccount,
 * any operator that compares strings) naming it, as buildQuarantineRcp writes, or the account as principal.
 */
function quarantines(statement: Statement, accountId: string): boolean {
  if (!isDeny(statement)) return false;
  if (strings(statement.Action).length === 0 && statement.NotAction === undefined) return false;
  if (awsPrincipals(statement).some((p) => isAccountRoot(p, accountId))) return true;
  const condition = statement.Condition;
  if (typeof condition !== "object" || condition === null) return false;
  return Object.entries(condition as Record<string, unknown>).some(
    ([operator, clauses]) =>
      /^(ForAnyValue:)?String(Equals|Like)(IgnoreCase)?$/i.test(operator) &&
      typeof clauses === "object" &&
      clauses !== null &&
      Object.entries(clauses as Record<string, unknown>).some(([key, value]) => /^aws:(PrincipalAccount|SourceAccount)$/i.test(key) && strings(value).includes(accountId)),
  );
}

/**
 * QUARANTINE_POLICY. Revoked: an RCP attached to the bridge account denies the provider's account. Active:
 * none does. Decommissioned: not applicable (the stack's policies go with it; the key and network prove it).
 */
export function checkQuarantinePolicy(target: VerificationTarget, policies: readonly OrgPolicyFacts[]): CheckResult {
  const code = "QUARANTINE_POLICY";
  if (target.expectation === "decommissioned") {
    return notApplicable(code, "decommissioned: the quarantine policy is destroyed with the stack; the key and network checks carry the proof");
  }
  const matching = policies.filter((p) => (statements(p.content) ?? []).some((s) => quarantines(s, target.providerAccountId)));
  const evidence = { bridgeAccountId: target.bridge?.accountId ?? "", attachedPolicyIds: policies.map((p) => p.policyId), quarantinePolicyIds: matching.map((p) => p.policyId) };
  if (target.expectation === "revoked") {
    if (matching.length > 0) return pass(code, `attached RCP ${list(matching.map((p) => `${p.policyId} (${p.name})`))} denies account ${target.providerAccountId}`, evidence);
    return fail(code, `no RCP attached to the bridge account denies account ${target.providerAccountId} (${policies.length} attached)`, evidence);
  }
  if (matching.length > 0) return fail(code, `a quarantine RCP is attached while active: ${list(matching.map((p) => `${p.policyId} (${p.name})`))}`, evidence);
  return pass(code, `no attached RCP denies account ${target.providerAccountId} (${policies.length} attached)`, evidence);
}
