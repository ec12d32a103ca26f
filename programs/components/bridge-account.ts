import * as aws from "@pulumi/aws";
import * as pulumi from "@pulumi/pulumi";
import type { ProviderStackArgs } from "../types.js";
import { assertAccountId, assertSlug, partitionOf, sessionName } from "./aws-ids.js";

export interface BridgeAccountArgs {
  readonly slug: string;
  /** Plain: the variant decides whether an Organizations account is created at all. */
  readonly bridge: ProviderStackArgs["bridge"];
  /** Plain: it also selects the partition of the role ARN. */
  readonly region: string;
  readonly tags: pulumi.Input<Record<string, pulumi.Input<string>>>;
}

const ROLE_NAME = /^[\w+=,.@-]{1,64}$/;
const OU_ID = /^ou-[0-9a-z]{4,32}-[a-z0-9]{8,32}$/;
const EMAIL = /^[^@\s]+@[^@\s]+\.[^@\s]+$/;

/**
 * The per-provider bridge account (research/aws-design.md §1.1) and an AWS provider that deploys into
 * it. An `existing` account is only referenced; a `create` account is created through Organizations
 * with the default (management) provider inherited from the parent.
 */
export class BridgeAccount extends pulumi.ComponentResource {
  public readonly accountId: pulumi.Output<string>;
  /** The role the bridge provider assumes; it must stay a KMS key administrator. */
  public readonly deployRoleArn: pulumi.Output<string>;
  public readonly provider: aws.Provider;

  constructor(name: string, args: BridgeAccountArgs, opts?: pulumi.ComponentResourceOptions) {
    super("saas-bridge:account:BridgeAccount", name, {}, opts);

    assertSlug(args.slug);
    const partition = partitionOf(args.region);
    if (!ROLE_NAME.test(args.bridge.accessRoleName)) {
      throw new Error(`bridge: invalid access role name "${args.bridge.accessRoleName}"`);
    }

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

    this.accountId = accountId;
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

    this.registerOutputs({ accountId: this.accountId, deployRoleArn: this.deployRoleArn });
  }
}
