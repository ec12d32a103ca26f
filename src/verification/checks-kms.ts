import {
  awsPrincipals,
  fail,
  hasCondition,
  isAccountRoot,
  isDeny,
  isProviderPrincipal,
  list,
  pass,
  sidOf,
  statements,
  strings,
  type Statement,
} from "./check-support.js";
import type { CheckResult, KmsGrantFacts, KmsKeyFacts, VerificationTarget } from "./types.js";

/** The key's states in which nothing can use it: enough for a decommissioned provider whatever its policy says. */
const UNUSABLE_STATES = new Set(["Disabled", "PendingDeletion", "PendingImport"]);

/**
 * KMS_GRANTS. Revoked or decommissioned: no grant names the provider (as grantee or retiring principal).
 * Active: exactly one grant per principal with exactly the spec's operations, and no other grant at all
 * (one made by hand outside the stack is extra access). `key` undefined: its reading failed, the grants decide.
 */
export function checkKmsGrants(target: VerificationTarget, key: KmsKeyFacts | null | undefined, grants: readonly KmsGrantFacts[]): CheckResult {
  const code = "KMS_GRANTS";
  const grantIds = grants.map((g) => g.grantId);
  const keyEvidence = key ? { keyId: key.keyId } : {};
  if (target.expectation !== "active") {
    const offending = grants.filter((g) => isProviderPrincipal(target, g.granteePrincipal) || (g.retiringPrincipal !== undefined && isProviderPrincipal(target, g.retiringPrincipal)));
    const evidence = { ...keyEvidence, grantIds, offendingGrantIds: offending.map((g) => g.grantId) };
    if (offending.length > 0) {
      return fail(code, `${offending.length} grant(s) still name the provider: ${list(offending.map((g) => `${g.grantId} (${g.granteePrincipal})`))}`, evidence);
    }
    if (key === null) {
      const note = target.expectation === "revoked" ? " (a revoke keeps the key: it was deleted outside the stack)" : "";
      return pass(code, `the key no longer exists${note}: no grant can give access`, evidence);
    }
    return pass(code, `no grant names the provider (${grants.length} grant(s) on the key)`, evidence);
  }

  if (key === null) return fail(code, "the key does not exist: the provider's grants cannot exist", { grantIds });
  const expected = new Set(target.grantOperations);
  const problems: string[] = [];
  const matched = new Set<string>();
  const wrong = new Set<string>();
  for (const principal of target.providerPrincipalArns) {
    const mine = grants.filter((g) => g.granteePrincipal === principal);
    const exact = mine.find((g) => !matched.has(g.grantId) && sameSet(g.operations, expected));
    if (exact) {
      matched.add(exact.grantId);
      continue;
    }
    const other = mine[0];
    if (other === undefined) problems.push(`no grant for ${principal}`);
    else {
      wrong.add(other.grantId);
      problems.push(`grant ${other.grantId} for ${principal} has operations ${[...other.operations].sort().join("+")}`);
    }
  }
  const extra = grants.filter((g) => !matched.has(g.grantId) && !wrong.has(g.grantId));
  if (extra.length > 0) problems.push(`extra grant(s) ${list(extra.map((g) => `${g.grantId} (${g.granteePrincipal})`))}`);
  const evidence = { ...keyEvidence, grantIds, matchedGrantIds: [...matched], extraGrantIds: extra.map((g) => g.grantId) };
  if (problems.length > 0) return fail(code, list(problems, 3), evidence);
  return pass(code, `one grant per principal with the spec's ${expected.size} operation(s), nothing else (${grants.length} grant(s))`, evidence);
}

function sameSet(actual: readonly string[], expected: ReadonlySet<string>): boolean {
  const seen = new Set(actual);
  return seen.size === expected.size && [...seen].every((op) => expected.has(op));
}

/** An unconditional Deny of every KMS action to the provider's account root: what a revoke writes. */
function deniesProviderAccount(statement: Statement, target: VerificationTarget, keyArn: string): boolean {
  if (!isDeny(statement) || hasCondition(statement) || statement.NotAction !== undefined) return false;
  if (!awsPrincipals(statement).some((p) => isAccountRoot(p, target.providerAccountId))) return false;
  if (!strings(statement.Action).some((a) => a === "*" || a.toLowerCase() === "kms:*")) return false;
  const resources = strings(statement.Resource);
  return resources.includes("*") || resources.includes(keyArn);
}

/** Any Deny that names the provider (its account or principals): an active provider has none. */
function namesProvider(statement: Statement, target: VerificationTarget): boolean {
  return isDeny(statement) && awsPrincipals(statement).some((p) => isProviderPrincipal(target, p));
}

/**
 * KMS_KEY_POLICY. Revoked: the policy denies the provider's account root every KMS action, unconditionally.
 * Decommissioned: the key is gone or unusable (disabled, pending deletion or import), else the revoked rule.
 * Active: the key is enabled and no Deny names the provider. Evidence: the Sids, never the document.
 */
export function checkKmsKeyPolicy(target: VerificationTarget, key: KmsKeyFacts | null): CheckResult {
  const code = "KMS_KEY_POLICY";
  if (key === null) {
    if (target.expectation === "active") return fail(code, "the key does not exist");
    const note = target.expectation === "revoked" ? " (a revoke keeps the key: it was deleted outside the stack)" : "";
    return pass(code, `the key no longer exists${note}`, { key: null });
  }
  const parsed = statements(key.policy);
  const base = { keyId: key.keyId, state: key.state, enabled: key.enabled };
  if (parsed === undefined) return fail(code, `the key policy of ${key.keyId} is not a JSON policy document`, base);
  const sids = parsed.map(sidOf);
  const denySids = parsed.flatMap((s, i) => (deniesProviderAccount(s, target, key.arn) ? [sidOf(s, i)] : []));
  const evidence = { ...base, sids, denySids };

  if (target.expectation === "active") {
    const naming = parsed.flatMap((s, i) => (namesProvider(s, target) ? [sidOf(s, i)] : []));
    if (naming.length > 0) return fail(code, `the key policy denies the provider (${list(naming)})`, { ...evidence, providerDenySids: naming });
    if (!key.enabled || key.state !== "Enabled") return fail(code, `the key ${key.keyId} is ${key.state}, not enabled`, evidence);
    return pass(code, `the key ${key.keyId} is enabled and no statement denies the provider`, evidence);
  }
  if (target.expectation === "decommissioned" && (!key.enabled || UNUSABLE_STATES.has(key.state))) {
    return pass(code, `the key ${key.keyId} is ${key.state}: nobody can use it`, evidence);
  }
  if (denySids.length > 0) return pass(code, `the key policy denies account ${target.providerAccountId} every KMS action (${list(denySids)})`, evidence);
  return fail(code, `no unconditional Deny of kms:* for account ${target.providerAccountId} in the key policy of ${key.keyId} (state ${key.state})`, evidence);
}
