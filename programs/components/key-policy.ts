import { GRANT_OPERATIONS, type GrantOperation } from "../types.js";
import { accountRootArn, type Partition } from "./aws-ids.js";
import type { ByokKeyArgs } from "./byok-key.js";

/**
 * Pure builder of the BYOK key policy (research/aws-design.md §1.5). Kept apart from the component so
 * that it is a plain function of plain values, serialised with `pulumi.jsonStringify` rather than the
 * `iam.getPolicyDocument` invoke (which would run through the not-yet-configured bridge provider in a
 * preview of a new account, research §2.3).
 */

export interface PolicyStatement {
  readonly Sid: string;
  readonly Effect: "Allow" | "Deny";
  readonly Principal: { readonly AWS: string | readonly string[] };
  readonly Action: readonly string[];
  readonly Resource: "*";
  readonly Condition?: Readonly<Record<string, Readonly<Record<string, string | readonly string[]>>>>;
}

export interface KeyPolicyDocument {
  readonly Version: "2012-10-17";
  readonly Statement: readonly PolicyStatement[];
}

/** The component's plain arguments, with the two values it resolves first (partition, account id). */
export type KeyPolicyArgs = Pick<
  ByokKeyArgs,
  "adminRoleArns" | "providerAccountId" | "providerPrincipalArns" | "grantOperations" | "encryptionContext" | "accessState"
> & {
  readonly partition: Partition;
  readonly bridgeAccountId: string;
  /**
   * The role that creates the provider's grants (the deploy role). Absent, nobody may create grants:
   * the admins cannot, by design.
   */
  readonly grantCreatorArn?: string;
};

/**
 * Key management without any use of the key (issue 12, defect 2). Named one by one, never `kms:Create*`
 * and the like: that wildcard includes `kms:CreateGrant`, with which an admin could grant itself
 * Decrypt. No grant creation, no cryptographic operation (Encrypt, Decrypt, ReEncrypt*,
 * GenerateDataKey*, GenerateMac, Sign, Verify, DeriveSharedSecret...), no GetPublicKey; revoking a
 * grant removes access and stays. What the pipeline and a person need to manage, rotate, disable
 * (decommission) and delete the key and its alias.
 */
export const ADMIN_ACTIONS = [
  "kms:DescribeKey",
  "kms:GetKeyPolicy",
  "kms:GetKeyRotationStatus",
  "kms:ListGrants",
  "kms:ListKeyPolicies",
  "kms:ListKeyRotations",
  "kms:ListResourceTags",
  "kms:PutKeyPolicy",
  "kms:UpdateKeyDescription",
  "kms:CreateAlias",
  "kms:UpdateAlias",
  "kms:DeleteAlias",
  "kms:TagResource",
  "kms:UntagResource",
  "kms:EnableKey",
  "kms:DisableKey",
  "kms:EnableKeyRotation",
  "kms:DisableKeyRotation",
  "kms:RotateKeyOnDemand",
  "kms:RevokeGrant",
  "kms:ScheduleKeyDeletion",
  "kms:CancelKeyDeletion",
] as const;

/**
 * Grant operations that carry an encryption context, mapped to their exact action. Exact names, not
 * `GenerateDataKey*`: the wildcard would also allow GenerateDataKeyPair*, which was never granted.
 * DescribeKey carries no context, so a context condition would never match it: it gets its own
 * statement.
 */
const CONTEXT_ACTIONS: Readonly<Record<Exclude<GrantOperation, "DescribeKey">, string>> = {
  Encrypt: "kms:Encrypt",
  Decrypt: "kms:Decrypt",
  GenerateDataKey: "kms:GenerateDataKey",
  GenerateDataKeyWithoutPlaintext: "kms:GenerateDataKeyWithoutPlaintext",
  ReEncryptFrom: "kms:ReEncryptFrom",
  ReEncryptTo: "kms:ReEncryptTo",
};

export function providerUseActions(operations: readonly GrantOperation[]): string[] {
  return GRANT_OPERATIONS.filter((op) => op !== "DescribeKey" && operations.includes(op)).map(
    (op) => CONTEXT_ACTIONS[op as Exclude<GrantOperation, "DescribeKey">],
  );
}

export function buildKeyPolicy(args: KeyPolicyArgs): KeyPolicyDocument {
  const providerRoot = accountRootArn(args.partition, args.providerAccountId);
  const principalCondition = { "aws:PrincipalArn": [...args.providerPrincipalArns] };
  // Admin roles may live outside the bridge account (a central break-glass role, or any admin of an
  // account created in this run, whose id nobody knew): each one's account root must be a principal,
  // or its aws:PrincipalArn condition could never match.
  const adminAccounts = [...new Set([args.bridgeAccountId, ...args.adminRoleArns.map((arn) => arn.split(":")[4] ?? "")])];
  const adminRoots = adminAccounts.map((account) => accountRootArn(args.partition, account));
  const statements: PolicyStatement[] = [
    {
      // Account root + aws:PrincipalArn instead of listing roles as principals: PutKeyPolicy does not
      // fail on a role that does not exist yet, and the deploy role keeps admin (lockout check).
      Sid: "KeyAdministration",
      Effect: "Allow",
      Principal: { AWS: adminRoots.length === 1 ? (adminRoots[0] ?? "") : adminRoots },
      Action: ADMIN_ACTIONS,
      Resource: "*",
      Condition: { ArnEquals: { "aws:PrincipalArn": [...args.adminRoleArns] } },
    },
  ];

  if (args.accessState === "revoked") {
    // An explicit deny beats every allow in the key policy and every grant (research §4.1).
    statements.push({ Sid: "ProviderRevoked", Effect: "Deny", Principal: { AWS: providerRoot }, Action: ["kms:*"], Resource: "*" });
    return { Version: "2012-10-17", Statement: statements };
  }

  if (args.grantCreatorArn !== undefined) {
    const creatorRoot = accountRootArn(args.partition, args.grantCreatorArn.split(":")[4] ?? "");
    statements.push({
      // The pipeline creates the grants, but only ones an admin cannot turn into its own use: for the
      // provider's principals, the spec's operations, constrained to an encryption context (the
      // constraint's pairs are checked by the guardrails on the grant resources).
      Sid: "ProviderGrants",
      Effect: "Allow",
      Principal: { AWS: creatorRoot },
      Action: ["kms:CreateGrant"],
      Resource: "*",
      Condition: {
        ArnEquals: { "aws:PrincipalArn": [args.grantCreatorArn] },
        StringEquals: { "kms:GranteePrincipal": [...args.providerPrincipalArns], "kms:GrantConstraintType": "EncryptionContextSubset" },
        "ForAllValues:StringEquals": { "kms:GrantOperations": [...args.grantOperations] },
      },
    });
  }

  const useActions = providerUseActions(args.grantOperations);
  if (useActions.length > 0) {
    const contextCondition = Object.fromEntries(
      Object.entries(args.encryptionContext).map(([k, v]) => [`kms:EncryptionContext:${k}`, v]),
    );
    statements.push({
      // The encryption context binds every call to this tenant (a confused-deputy guard, like an
      // ExternalId); StringEquals on each pair, so all of them must be present.
      Sid: "ProviderUse",
      Effect: "Allow",
      Principal: { AWS: providerRoot },
      Action: useActions,
      Resource: "*",
      Condition: { ArnEquals: principalCondition, StringEquals: contextCondition },
    });
  }
  // Exactly the spec's operations (issue 12, defect 3): DescribeKey only when the spec grants it.
  if (args.grantOperations.includes("DescribeKey")) {
    statements.push({
      Sid: "ProviderDescribeKey",
      Effect: "Allow",
      Principal: { AWS: providerRoot },
      Action: ["kms:DescribeKey"],
      Resource: "*",
      Condition: { ArnEquals: principalCondition },
    });
  }
  return { Version: "2012-10-17", Statement: statements };
}
