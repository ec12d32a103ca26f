import { GRANT_OPERATIONS } from "../../../programs/types.js";
import {
  beyondSpec,
  deniesProviderAccount,
  isWorld,
  namesProvider,
  nonProviderUses,
  parseKeyPolicy,
  providerAllowProblem,
} from "./key-policy.js";
import {
  asArray,
  isRecord,
  nonEmptyString,
  ofType,
  show,
  TYPES,
  violation,
  type GuardrailExpectations,
  type GuardrailViolation,
  type PlannedResource,
} from "./types.js";

/** The BYOK key, its policy and its grants (research/aws-design.md §1.5, §4.1 "KMS"). */

export function keyRotationRules(resources: readonly PlannedResource[]): GuardrailViolation[] {
  return ofType(resources, TYPES.key)
    // Keys in a custom key store (CloudHSM) cannot rotate automatically: AWS rejects EnableKeyRotation
    // for them (KMS EnableKeyRotation API reference), so they are the one exception.
    .filter((k) => k.inputs["enableKeyRotation"] !== true && !nonEmptyString(k.inputs["customKeyStoreId"]))
    .map((k) =>
      violation(k, "KMS_KEY_ROTATION_DISABLED", `enableKeyRotation is ${show(k.inputs["enableKeyRotation"] ?? "unset")}; expected true (only keys in a custom key store are exempt)`),
    );
}

/** Does a `kmsKeyId`-style reference (key id, key ARN) name this key? Needs the key's id (its KeyId). */
function refersToKey(reference: unknown, key: PlannedResource): boolean {
  return nonEmptyString(key.id) && typeof reference === "string" && (reference === key.id || reference.endsWith(`:key/${key.id}`));
}

/**
 * Keys the provider never uses: those that encrypt our own audit evidence (a log group's or a trail's
 * `kmsKeyId`). Every other key is treated as the provider's and must deny it once revoked. Without ids
 * (a bare subset of the graph) no key is recognised as an audit key, so all of them must deny: the rule
 * fails closed rather than guessing from names or aliases.
 */
function auditKeys(resources: readonly PlannedResource[], keys: readonly PlannedResource[]): Set<string> {
  const references = ofType(resources, TYPES.logGroup, TYPES.trail).map((r) => r.inputs["kmsKeyId"]);
  return new Set(keys.filter((k) => references.some((ref) => refersToKey(ref, k))).map((k) => k.urn));
}

/**
 * Every key policy (on the key or as a separate `kms.KeyPolicy`): no Allow to `*`; a provider Allow is
 * limited to its principals and, for anything but DescribeKey, to the tenant's encryption context.
 * Revoked: no provider Allow at all, and each key but the audit keys denies the provider account
 * outright — the Deny also blocks any grant the revoke failed to delete (research §4.1).
 */
export function keyPolicyRules(resources: readonly PlannedResource[], expect: GuardrailExpectations): GuardrailViolation[] {
  const out: GuardrailViolation[] = [];
  const revoked = expect.accessState === "revoked";
  const denying: PlannedResource[] = [];
  const keys = ofType(resources, TYPES.key);
  const audit = auditKeys(resources, keys);
  const isAuditKey = (holder: PlannedResource) =>
    audit.has(holder.urn) || (holder.type === TYPES.keyPolicy && keys.some((k) => audit.has(k.urn) && refersToKey(holder.inputs["keyId"], k)));

  for (const holder of ofType(resources, TYPES.key, TYPES.keyPolicy)) {
    const parsed = parseKeyPolicy(holder.inputs["policy"]);
    if (!parsed.ok) {
      out.push(
        violation(holder, "KEY_POLICY_NOT_SCOPED", `key policy ${parsed.reason}; expected a policy document whose provider statements can be checked`),
      );
      continue;
    }
    // Issue 12, defect 2: administrators manage a key and never use it, nor hand out its use; on a
    // provider's key nobody else uses it either. An audit key's readers (no administration) may decrypt.
    for (const use of nonProviderUses(parsed.statements, expect)) {
      if (use.administeredBy === undefined && isAuditKey(holder)) continue;
      const who = use.administeredBy
        ? `lets the key administrators of statement ${show(use.administeredBy.sid)} use ${show(use.uses)}`
        : `lets ${show(use.statement.principals)} use a provider's key: ${show(use.uses)}`;
      out.push(
        violation(holder, "KEY_ADMIN_CAN_USE_KEY", `statement ${show(use.statement.sid)} ${who}; expected administration by explicit actions without CreateGrant or any cryptographic operation, and grants created only for the provider's principals within the spec's operations`),
      );
    }
    for (const s of parsed.statements) {
      if (s.effect !== "Allow") continue;
      if (isWorld(s)) {
        out.push(violation(holder, "KEY_POLICY_NOT_SCOPED", `statement ${show(s.sid)} allows principal "*"; expected named principals`));
        continue;
      }
      if (!namesProvider(s, expect)) continue;
      // Issue 12, defect 3: exactly the spec's operations, wildcards expanded.
      const extra = beyondSpec(s, expect);
      if (extra.length > 0) {
        out.push(
          violation(holder, "KEY_POLICY_NOT_SCOPED", `statement ${show(s.sid)} allows the provider ${show(extra)} beyond the spec's grant operations; expected only ${show(expect.grantOperations)}`),
        );
      }
      const problem = providerAllowProblem(s, expect);
      if (problem !== undefined) out.push(violation(holder, "KEY_POLICY_NOT_SCOPED", problem));
      if (revoked) {
        out.push(
          violation(holder, "REVOKED_ACCESS_REMAINS", `statement ${show(s.sid)} still allows the provider ${show(s.actions)} while it is revoked; expected no Allow for account ${expect.providerAccountId}`),
        );
      }
    }
    if (parsed.statements.some((s) => deniesProviderAccount(s, expect))) denying.push(holder);
  }

  if (revoked) {
    for (const key of keys.filter((k) => !audit.has(k.urn))) {
      const denied = denying.some((d) => d.urn === key.urn || (d.type === TYPES.keyPolicy && refersToKey(d.inputs["keyId"], key)));
      if (!denied) {
        out.push(
          violation(key, "REVOKED_ACCESS_REMAINS", `key policy does not deny the revoked provider; expected an unconditional Deny of kms:* for arn:…:iam::${expect.providerAccountId}:root`),
        );
      }
    }
  }
  return out;
}

/** Context pairs a grant constraint entry does not pin (keys compare case-insensitively in grants). */
function uncoveredPairs(constraint: unknown, context: Readonly<Record<string, string>>): string[] {
  if (!isRecord(constraint)) return Object.keys(context);
  const maps = [constraint["encryptionContextSubset"], constraint["encryptionContextEquals"]].filter(isRecord);
  return Object.entries(context)
    .filter(([k, v]) => !maps.some((m) => Object.entries(m).some(([mk, mv]) => mk.toLowerCase() === k.toLowerCase() && mv === v)))
    .map(([k]) => k);
}

export function grantRules(resources: readonly PlannedResource[], expect: GuardrailExpectations): GuardrailViolation[] {
  const out: GuardrailViolation[] = [];
  // The spec's operations, within the service's allow-list (CreateGrant would let the grantee re-grant).
  const allowed: readonly string[] = GRANT_OPERATIONS.filter((op) => expect.grantOperations.includes(op));
  for (const grant of ofType(resources, TYPES.grant)) {
    // Only the named fields below reach a message: a grant's token is a secret.
    const grantee = grant.inputs["granteePrincipal"];
    if (typeof grantee !== "string" || !expect.providerPrincipalArns.includes(grantee)) {
      out.push(
        violation(grant, "GRANT_NOT_SCOPED", `granteePrincipal ${show(grantee)} is not a provider principal; expected one of ${show(expect.providerPrincipalArns)}`),
      );
    }
    const extra = asArray(grant.inputs["operations"]).filter((op) => typeof op !== "string" || !allowed.includes(op));
    if (extra.length > 0) {
      out.push(violation(grant, "GRANT_NOT_SCOPED", `operations ${show(extra)} are outside the spec's grant operations ${show(allowed)}`));
    }
    // Every constraint entry must pin the whole context: how several entries combine is the provider's
    // business, so none of them may be weaker.
    const constraints = asArray(grant.inputs["constraints"]);
    const uncovered =
      constraints.length === 0
        ? Object.keys(expect.encryptionContext)
        : [...new Set(constraints.flatMap((c) => uncoveredPairs(c, expect.encryptionContext)))];
    if (constraints.length === 0 || uncovered.length > 0) {
      out.push(
        violation(grant, "GRANT_UNCONSTRAINED", `grant constraints do not pin the encryption context keys ${show(uncovered)}; expected encryptionContextSubset (or ...Equals) with every pair of the spec`),
      );
    }
    if (expect.accessState === "revoked") {
      out.push(
        violation(grant, "REVOKED_ACCESS_REMAINS", `grant to ${show(grantee)} remains while the provider is revoked; expected no grant (deleting it revokes it)`),
      );
    }
  }
  return out;
}
