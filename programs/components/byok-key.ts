import * as aws from "@pulumi/aws";
import * as pulumi from "@pulumi/pulumi";
import { GRANT_OPERATIONS, KEY_DISPOSITIONS, type AccessState, type GrantOperation, type KeyDisposition } from "../types.js";
import { assertAccountId, assertSlug, assertUnique, partitionOf, principalAccountOf, stableSuffix } from "./aws-ids.js";
import { assertGeneration } from "./generation.js";
import { buildKeyPolicy } from "./key-policy.js";

export interface ByokKeyArgs {
  readonly slug: string;
  /** Plain: selects the partition of every ARN in the key policy. */
  readonly region: string;
  readonly bridgeAccountId: pulumi.Input<string>;
  /**
   * The role the bridge provider assumes. When it is a plain string it must be one of
   * `adminRoleArns`; when it is still unknown (an account created in this run) it is added to them,
   * since nobody could have listed it.
   */
  readonly deployRoleArn: pulumi.Input<string>;
  readonly adminRoleArns: readonly string[];
  readonly providerAccountId: string;
  /** Plain: one grant per principal. */
  readonly providerPrincipalArns: readonly string[];
  readonly grantOperations: readonly GrantOperation[];
  /** Plain: each pair becomes a key-policy condition key. */
  readonly encryptionContext: Readonly<Record<string, string>>;
  readonly retiringPrincipalArn: string;
  readonly deletionWindowInDays: number;
  readonly keyStore: "kms" | "cloudhsm";
  /**
   * The CloudHsmKeyStore's `customKeyStoreId`: required with keyStore "cloudhsm", an error with
   * "kms". The store must be CONNECTED before this key is created.
   */
  readonly customKeyStoreId?: pulumi.Input<string>;
  /** Plain: `revoked` removes every grant and replaces the provider's allows with an explicit deny. */
  readonly accessState: AccessState;
  /** The onboarding's generation (types.ts): shown in the description, so a retained key is findable. */
  readonly generation?: number;
  /**
   * Set only by a decommission's first phase: the key is disabled; on the destroy that follows,
   * `retain` keeps it (disabled, data recoverable) and `shred` schedules its deletion. Absent, the key
   * is retained too: a destroy that skipped that phase must never crypto-shred by accident.
   */
  readonly decommission?: KeyDisposition;
}

/** KMS limit on encryption-context pairs in one grant constraint. */
const MAX_CONTEXT_PAIRS = 8;

/**
 * The provider's BYOK key in the bridge account (research/aws-design.md §1.5): key policy scoped to
 * the provider's principals and bound to the tenant's encryption context, an alias, and revocable
 * grants constrained to the same context.
 */
export class ByokKey extends pulumi.ComponentResource {
  public readonly keyArn: pulumi.Output<string>;
  public readonly keyId: pulumi.Output<string>;
  public readonly aliasName: pulumi.Output<string>;
  /** Grant ids only: grant tokens are secrets and are never exported. */
  public readonly grantIds: pulumi.Output<string[]>;

  constructor(name: string, args: ByokKeyArgs, opts?: pulumi.ComponentResourceOptions) {
    super("saas-bridge:kms:ByokKey", name, {}, opts);

    if (args.keyStore !== "kms" && args.keyStore !== "cloudhsm") {
      throw new Error(`kms: keyStore must be kms or cloudhsm, got "${String(args.keyStore)}"`);
    }
    const hsmBacked = args.keyStore === "cloudhsm";
    if (hsmBacked && args.customKeyStoreId === undefined) {
      throw new Error("kms: keyStore cloudhsm requires customKeyStoreId (the CloudHsmKeyStore's customKeyStoreId)");
    }
    if (!hsmBacked && args.customKeyStoreId !== undefined) {
      throw new Error("kms: customKeyStoreId is only valid with keyStore cloudhsm");
    }
    if (typeof args.customKeyStoreId === "string" && !/^cks-[0-9a-f]{17}$/.test(args.customKeyStoreId)) {
      throw new Error(`kms: customKeyStoreId "${args.customKeyStoreId}" is not a custom key store id (cks-…)`);
    }
    assertSlug(args.slug);
    const partition = partitionOf(args.region);
    assertAccountId(args.providerAccountId, "kms: provider account id");
    if (args.providerPrincipalArns.length === 0) throw new Error("kms: at least one provider principal is required");
    assertUnique(args.providerPrincipalArns, "kms provider principal");
    for (const arn of args.providerPrincipalArns) {
      if (principalAccountOf(arn, partition) !== args.providerAccountId) {
        throw new Error(`kms: provider principal "${arn}" is not in the provider account ${args.providerAccountId}`);
      }
    }
    if (args.grantOperations.length === 0) throw new Error("kms: at least one grant operation is required");
    assertUnique(args.grantOperations, "kms grant operation");
    const unknownOp = args.grantOperations.find((op) => !GRANT_OPERATIONS.includes(op));
    if (unknownOp !== undefined) throw new Error(`kms: grant operation "${unknownOp}" is not allowed`);
    const context = Object.entries(args.encryptionContext);
    if (context.length === 0 || context.length > MAX_CONTEXT_PAIRS) {
      throw new Error(`kms: the encryption context needs 1..${MAX_CONTEXT_PAIRS} pairs, got ${context.length}`);
    }
    if (context.some(([k, v]) => k.length === 0 || v.length === 0)) {
      throw new Error("kms: encryption context keys and values must be non-empty");
    }
    // Grant constraints compare keys case-insensitively, key-policy conditions case-sensitively.
    assertUnique(context.map(([k]) => k.toLowerCase()), "kms encryption context key (case-insensitive)");
    if (args.adminRoleArns.length === 0) throw new Error("kms: at least one admin role is required");
    for (const arn of args.adminRoleArns) {
      if (principalAccountOf(arn, partition) === args.providerAccountId) {
        throw new Error(`kms: admin role "${arn}" belongs to the provider's account`);
      }
    }
    if (typeof args.deployRoleArn === "string" && !args.adminRoleArns.includes(args.deployRoleArn)) {
      // Otherwise PutKeyPolicy fails its lockout safety check, or the pipeline loses the key.
      throw new Error(`kms: adminRoleArns must include the deploy role ${args.deployRoleArn}`);
    }
    principalAccountOf(args.retiringPrincipalArn, partition);
    const window = args.deletionWindowInDays;
    if (!Number.isInteger(window) || window < 7 || window > 30) {
      throw new Error(`kms: deletionWindowInDays must be an integer in 7..30, got ${window}`);
    }

    assertGeneration(args.generation);
    if (args.decommission !== undefined && !KEY_DISPOSITIONS.includes(args.decommission)) {
      throw new Error(`kms: decommission must be retain or shred, got "${String(args.decommission)}"`);
    }
    const generation = args.generation === undefined || args.generation === 1 ? "" : ` (generation ${args.generation})`;
    const fate = { retain: "disabled and retained: the data it encrypts stays recoverable", shred: "disabled and scheduled for deletion" };

    const policy = pulumi
      .all([args.bridgeAccountId, args.deployRoleArn])
      .apply(([bridgeAccountId, deployRoleArn]) =>
        buildKeyPolicy({
          partition,
          bridgeAccountId,
          adminRoleArns: [...new Set([...args.adminRoleArns, deployRoleArn])],
          // The bridge provider (this role) creates the grants below; admins as such cannot.
          grantCreatorArn: deployRoleArn,
          providerAccountId: args.providerAccountId,
          providerPrincipalArns: args.providerPrincipalArns,
          grantOperations: args.grantOperations,
          encryptionContext: args.encryptionContext,
          accessState: args.accessState,
        }),
      );

    const key = new aws.kms.Key(
      `${name}-key`,
      {
        // A retained key has no alias left (it is deleted so the name can be onboarded again): the
        // description and tags keep it findable.
        description:
          `saas-bridge BYOK key for ${args.slug}${generation}` + (args.decommission ? `; decommissioned, ${fate[args.decommission]}` : ""),
        ...(args.decommission ? { isEnabled: false, tags: { "saas:decommissioned": args.decommission } } : {}),
        keyUsage: "ENCRYPT_DECRYPT",
        customerMasterKeySpec: "SYMMETRIC_DEFAULT",
        // "You cannot enable automatic rotation of ... KMS keys in a custom key store"
        // (https://docs.aws.amazon.com/kms/latest/APIReference/API_EnableKeyRotation.html): off
        // explicitly, and no rotation period is sent (research §1.5, §1.7).
        ...(hsmBacked
          ? { customKeyStoreId: args.customKeyStoreId, enableKeyRotation: false }
          : { enableKeyRotation: true, rotationPeriodInDays: 365 }),
        deletionWindowInDays: window,
        multiRegion: false,
        bypassPolicyLockoutSafetyCheck: false,
        policy: pulumi.jsonStringify(policy),
      },
      // Fail-safe (issue 12, defect 7): only an explicit `shred` lets a destroy schedule the deletion.
      { parent: this, retainOnDelete: args.decommission !== "shred" },
    );

    const alias = new aws.kms.Alias(
      `${name}-alias`,
      { name: `alias/saas/${args.slug}`, targetKeyId: key.keyId },
      { parent: this },
    );

    const grants =
      args.accessState === "active"
        ? args.providerPrincipalArns.map(
            (principal) =>
              new aws.kms.Grant(
                `${name}-grant-${stableSuffix(principal)}`,
                {
                  keyId: key.arn,
                  granteePrincipal: principal,
                  operations: [...args.grantOperations],
                  // KMS applies the constraint to every operation that takes a context; DescribeKey
                  // is allowed alongside but unconstrained (KMS GrantConstraints API reference).
                  constraints: [{ encryptionContextSubset: { ...args.encryptionContext } }],
                  retiringPrincipal: args.retiringPrincipalArn,
                  // false = RevokeGrant on delete, so revoking really cuts access (research §0).
                  retireOnDelete: false,
                },
                { parent: this },
              ),
          )
        : [];

    this.keyArn = key.arn;
    this.keyId = key.keyId;
    this.aliasName = alias.name;
    this.grantIds = pulumi.all(grants.map((g) => g.grantId));

    this.registerOutputs({ keyArn: this.keyArn, keyId: this.keyId, aliasName: this.aliasName, grantIds: this.grantIds });
  }
}
