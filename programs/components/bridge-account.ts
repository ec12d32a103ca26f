import * as aws from "@pulumi/aws";
import * as pulumi from "@pulumi/pulumi";
import type { AccessState, ProviderStackArgs } from "../types.js";
import { assertAccountId, assertRegion, assertSlug, assertUnique, partitionOf, principalAccountOf, sessionName } from "./aws-ids.js";
import { buildBridgeScp, buildQuarantineRcp, renderOrgPolicy } from "./org-policies.js";

export interface BridgeAccountArgs {
  readonly slug: string;
  /** Plain: the variant decides whether an Organizations account is created at all. */
  readonly bridge: ProviderStackArgs["bridge"];
  /** Plain: it also selects the partition of the role ARN. */
  readonly region: string;
  readonly tags: pulumi.Input<Record<string, pulumi.Input<string>>>;
  /** Plain: the SCP denies every other region; must include `region`. */
  readonly allowedRegions: readonly string[];
  /** Plain: the only principals (with the access role) the SCP lets change key policies or delete keys. */
  readonly keyAdminRoleArns: readonly string[];
  /** Plain: the account the quarantine RCP shuts out when access is revoked. */
  readonly providerAccountId: string;
  /** Plain: `revoked` attaches the quarantine RCP. */
  readonly accessState: AccessState;
}

const ROLE_NAME = /^[\w+=,.@-]{1,64}$/;
const OU_ID = /^ou-[0-9a-z]{4,32}-[a-z0-9]{8,32}$/;
const EMAIL = /^[^@\s]+@[^@\s]+\.[^@\s]+$/;

/**
 * The per-provider bridge account (research/aws-design.md §1.1) and an AWS provider that deploys into
 * it. An `existing` account is only referenced; a `create` account is created through Organizations
 * with the default (management) provider inherited from the parent. Either way the account gets its
 * own SCP and, while access is revoked, a quarantine RCP, both managed from the management account.
 */
export class BridgeAccount extends pulumi.ComponentResource {
  public readonly accountId: pulumi.Output<string>;
  /** The role the bridge provider assumes; it must stay a KMS key administrator. */
  public readonly deployRoleArn: pulumi.Output<string>;
  public readonly provider: aws.Provider;
  public readonly scpId: pulumi.Output<string>;
  /** Only while access is revoked. */
  public readonly quarantinePolicyId: pulumi.Output<string> | undefined;

  constructor(name: string, args: BridgeAccountArgs, opts?: pulumi.ComponentResourceOptions) {
    super("saas-bridge:account:BridgeAccount", name, {}, opts);

    assertSlug(args.slug);
    const partition = partitionOf(args.region);
    if (!ROLE_NAME.test(args.bridge.accessRoleName)) {
      throw new Error(`bridge: invalid access role name "${args.bridge.accessRoleName}"`);
    }
    if (args.allowedRegions.length === 0) throw new Error("bridge: allowedRegions must not be empty");
    args.allowedRegions.forEach(assertRegion);
    assertUnique(args.allowedRegions, "bridge allowed region");
    // Otherwise the SCP would lock the pipeline out of the bridge account's own region.
    if (!args.allowedRegions.includes(args.region)) {
      throw new Error(`bridge: allowedRegions must include the deployment region ${args.region}`);
    }
    assertAccountId(args.providerAccountId, "bridge: providerAccountId");
    if (args.bridge.kind === "existing" && args.bridge.accountId === args.providerAccountId) {
      throw new Error("bridge: the bridge account cannot be the provider's own account");
    }
    if (args.keyAdminRoleArns.length === 0) throw new Error("bridge: keyAdminRoleArns must not be empty");
    assertUnique(args.keyAdminRoleArns, "bridge key admin role");
    for (const arn of args.keyAdminRoleArns) {
      if (principalAccountOf(arn, partition) === args.providerAccountId) {
        throw new Error(`bridge: key admin role "${arn}" belongs to the provider's account`);
      }
    }
    const scpArgs = { partition, accessRoleName: args.bridge.accessRoleName, allowedRegions: args.allowedRegions, keyAdminRoleArns: args.keyAdminRoleArns };
    // Plain values only, so the quota is checked before anything is registered: with every admin role,
    // the longest the SCP can get once the account's id is known.
    renderOrgPolicy(buildBridgeScp({ ...scpArgs, bridgeAccountId: undefined }), "bridge SCP");
    const rcpContent = args.accessState === "revoked" ? renderOrgPolicy(buildQuarantineRcp(args.providerAccountId), "bridge RCP") : undefined;

    let accountId: pulumi.Output<string>;
    if (args.bridge.kind === "existing") {
      assertAccountId(args.bridge.accountId, "bridge.accountId");
      accountId = pulumi.output(args.bridge.accountId);
    } else {
      if (!EMAIL.test(args.bridge.email)) throw new Error(`bridge: invalid account email "${args.bridge.email}"`);
      if (!OU_ID.test(args.bridge.saasOuId)) throw new Error(`bridge: invalid OU id "${args.bridge.saasOuId}"`);
      const account = new aws.organizations.Account(
        `${name}-account`,
        {
          name: `saas-${args.slug}`,
          email: args.bridge.email,
          parentId: args.bridge.saasOuId,
          roleName: args.bridge.accessRoleName,
          iamUserAccessToBilling: "DENY",
          // Explicit: `true` would call CloseAccount on destroy (90-day closure, 10 %/30 days quota).
          closeOnDeletion: false,
        },
        {
          parent: this,
          // Without closure, deleting would try RemoveAccountFromOrganization: never do that silently.
          retainOnDelete: true,
          // AWS cannot read these back; a diff on them would force a replacement of the account.
          ignoreChanges: ["roleName", "iamUserAccessToBilling"],
          customTimeouts: { create: "30m" },
        },
      );
      accountId = account.id;
    }

    // Organizations policies live in the management account: the parent's (default) provider.
    const scp = new aws.organizations.Policy(
      `${name}-scp`,
      {
        name: `saas-bridge-${args.slug}`,
        description: `saas-bridge guardrails for the ${args.slug} bridge account`,
        type: "SERVICE_CONTROL_POLICY",
        // Only the bridge account's own roles: an SCP cannot govern any other (issue 12, defect 8).
        content: accountId.apply((id) => renderOrgPolicy(buildBridgeScp({ ...scpArgs, bridgeAccountId: id }), "bridge SCP")),
      },
      { parent: this },
    );
    new aws.organizations.PolicyAttachment(`${name}-scp-attachment`, { policyId: scp.id, targetId: accountId }, { parent: this });

    let quarantine: aws.organizations.Policy | undefined;
    if (rcpContent !== undefined) {
      // An SCP cannot stop the provider's principals from using our resources; an RCP can (research §4.1).
      quarantine = new aws.organizations.Policy(
        `${name}-quarantine`,
        {
          name: `saas-bridge-${args.slug}-quarantine`,
          description: `saas-bridge: ${args.slug} access revoked; denies account ${args.providerAccountId}`,
          type: "RESOURCE_CONTROL_POLICY",
          content: rcpContent,
        },
        { parent: this },
      );
      new aws.organizations.PolicyAttachment(
        `${name}-quarantine-attachment`,
        { policyId: quarantine.id, targetId: accountId },
        { parent: this },
      );
    }

    this.accountId = accountId;
    this.scpId = scp.id;
    this.quarantinePolicyId = quarantine?.id;
    this.deployRoleArn = pulumi.interpolate`arn:${partition}:iam::${accountId}:role/${args.bridge.accessRoleName}`;
    this.provider = new aws.Provider(
      `${name}-provider`,
      {
        region: args.region,
        assumeRoles: [{ roleArn: this.deployRoleArn, sessionName: sessionName(args.slug) }],
        // Fails fast if the role ever resolves into another account.
        allowedAccountIds: [accountId],
        defaultTags: { tags: args.tags },
      },
      { parent: this },
    );

    this.registerOutputs({
      accountId: this.accountId,
      deployRoleArn: this.deployRoleArn,
      scpId: this.scpId,
      quarantinePolicyId: this.quarantinePolicyId,
    });
  }
}
