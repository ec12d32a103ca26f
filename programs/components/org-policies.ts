import type { Partition } from "./aws-ids.js";

/**
 * Pure builders of the bridge account's Organizations policies (research/aws-design.md §1.1, §4.1):
 * the per-account SCP and the quarantine RCP of a revoked provider. Plain values in, plain documents
 * out, so the size limit can be checked before anything is registered.
 */

type Condition = Readonly<Record<string, Readonly<Record<string, string | readonly string[]>>>>;

export interface OrgStatement {
  readonly Sid: string;
  readonly Effect: "Deny";
  /** RCPs require `"*"`; SCPs have no Principal element. */
  readonly Principal?: "*";
  readonly Action?: readonly string[];
  readonly NotAction?: readonly string[];
  readonly Resource: string | readonly string[];
  readonly Condition?: Condition;
}

export interface OrgPolicyDocument {
  readonly Version: "2012-10-17";
  readonly Statement: readonly OrgStatement[];
}

/** AWS Organizations quota for SCPs and RCPs (research §1.1, AWS Organizations quotas page). */
export const MAX_ORG_POLICY_CHARS = 5120;

export interface BridgeScpArgs {
  readonly partition: Partition;
  readonly accessRoleName: string;
  readonly allowedRegions: readonly string[];
  readonly keyAdminRoleArns: readonly string[];
  /**
   * The account the SCP is attached to: only its roles are named. Undefined keeps every admin role,
   * the longest document, for checking the quota before the id of an account created in this run is known.
   */
  readonly bridgeAccountId: string | undefined;
}

/**
 * Global services (single endpoint, mostly us-east-1) exempted from the region deny, after the AWS
 * example "Deny access to AWS based on the requested AWS Region". `kms:*` is deliberately NOT exempt:
 * every key of this account lives in an allowed region.
 */
export const GLOBAL_SERVICE_ACTIONS = [
  "account:*",
  "aws-portal:*",
  "budgets:*",
  "ce:*",
  "cloudfront:*",
  "cur:*",
  "globalaccelerator:*",
  "health:*",
  "iam:*",
  "organizations:*",
  "pricing:*",
  "route53:*",
  "route53domains:*",
  "s3:GetAccountPublic*",
  "s3:ListAllMyBuckets",
  "s3:PutAccountPublic*",
  "shield:*",
  "sts:*",
  "support:*",
  "trustedadvisor:*",
  "waf:*",
] as const;

export const ROLE_CHANGE_ACTIONS = [
  "iam:AttachRolePolicy",
  "iam:DeleteRole",
  "iam:DeleteRolePermissionsBoundary",
  "iam:DeleteRolePolicy",
  "iam:DetachRolePolicy",
  "iam:PutRolePermissionsBoundary",
  "iam:PutRolePolicy",
  "iam:UpdateAssumeRolePolicy",
  "iam:UpdateRole",
  "iam:UpdateRoleDescription",
  "iam:TagRole",
  "iam:UntagRole",
] as const;

export const KEY_PROTECTION_ACTIONS = ["kms:PutKeyPolicy", "kms:ScheduleKeyDeletion", "kms:DisableKey"] as const;

/**
 * The access role by name in any account: the id of an account created in this run is unknown when
 * the document is built, and an SCP only ever applies to principals of the accounts it is attached to.
 */
export function accessRolePattern(partition: Partition, accessRoleName: string): string {
  return `arn:${partition}:iam::*:role/${accessRoleName}`;
}

/**
 * The key admin roles an SCP on the bridge account can govern (issue 12, defect 8): those of that
 * account. An SCP never applies to another account's principals (nor ever to the management
 * account's), and IAM only changes roles of the caller's own account, so naming any other role, as an
 * exception or as a protected resource, does nothing. The access role is already covered by its pattern.
 */
function governedAdminRoles(args: BridgeScpArgs): string[] {
  return args.keyAdminRoleArns.filter((arn) => {
    const [, , , , account, resource] = arn.split(":");
    const inAccount = args.bridgeAccountId === undefined || account === args.bridgeAccountId;
    return inAccount && resource !== `role/${args.accessRoleName}`;
  });
}

export function buildBridgeScp(args: BridgeScpArgs): OrgPolicyDocument {
  const accessRole = accessRolePattern(args.partition, args.accessRoleName);
  const exceptAccessRole: Condition = { ArnNotLike: { "aws:PrincipalArn": accessRole } };
  const admins = governedAdminRoles(args);
  return {
    Version: "2012-10-17",
    Statement: [
      { Sid: "DenyLeaveOrganization", Effect: "Deny", Action: ["organizations:LeaveOrganization"], Resource: "*" },
      {
        // The pipeline (access role) still manages its own trail; nobody else may blind it.
        Sid: "ProtectCloudTrail",
        Effect: "Deny",
        Action: ["cloudtrail:StopLogging", "cloudtrail:DeleteTrail", "cloudtrail:UpdateTrail", "cloudtrail:PutEventSelectors"],
        Resource: "*",
        Condition: exceptAccessRole,
      },
      {
        // The key admins are protected too: the KMS exemption below is only as strong as the trust
        // policies of the exempted roles.
        Sid: "ProtectPrivilegedRoles",
        Effect: "Deny",
        Action: ROLE_CHANGE_ACTIONS,
        Resource: [accessRole, ...admins],
        Condition: exceptAccessRole,
      },
      {
        Sid: "DenyInternetPaths",
        Effect: "Deny",
        Action: [
          "ec2:CreateInternetGateway",
          "ec2:AttachInternetGateway",
          "ec2:CreateEgressOnlyInternetGateway",
          "ec2:CreateNatGateway",
          "ec2:CreateVpcPeeringConnection",
          "ec2:AcceptVpcPeeringConnection",
        ],
        Resource: "*",
      },
      {
        // Also covers DeletePublicAccessBlock on the account (it is authorised by this action).
        Sid: "ProtectAccountPublicAccessBlock",
        Effect: "Deny",
        Action: ["s3:PutAccountPublicAccessBlock"],
        Resource: "*",
        Condition: exceptAccessRole,
      },
      {
        Sid: "DenyOtherRegions",
        Effect: "Deny",
        NotAction: GLOBAL_SERVICE_ACTIONS,
        Resource: "*",
        Condition: { StringNotEquals: { "aws:RequestedRegion": [...args.allowedRegions] } },
      },
      {
        // ArnNotLike with several values: denied unless the caller matches one of them.
        Sid: "ProtectKmsKeys",
        Effect: "Deny",
        Action: KEY_PROTECTION_ACTIONS,
        Resource: "*",
        Condition: { ArnNotLike: { "aws:PrincipalArn": [...admins, accessRole] } },
      },
    ],
  };
}

/**
 * Services an RCP can govern (AWS KMS developer guide, "Resource control policies"). `kms:RetireGrant`
 * is not restricted by RCPs; revoking the grants themselves is ByokKey's job (research §4.1).
 */
export const QUARANTINE_ACTIONS = ["kms:*", "s3:*", "sts:*", "sqs:*", "secretsmanager:*"] as const;

/** Denies every principal of the provider's account access to this account's resources. */
export function buildQuarantineRcp(providerAccountId: string): OrgPolicyDocument {
  return {
    Version: "2012-10-17",
    Statement: [
      {
        Sid: "QuarantineProvider",
        Effect: "Deny",
        Principal: "*",
        Action: QUARANTINE_ACTIONS,
        Resource: "*",
        Condition: { StringEquals: { "aws:PrincipalAccount": providerAccountId } },
      },
    ],
  };
}

/** Minified JSON (Organizations counts every character) checked against the quota. */
export function renderOrgPolicy(document: OrgPolicyDocument, what: string): string {
  const content = JSON.stringify(document);
  if (content.length > MAX_ORG_POLICY_CHARS) {
    throw new Error(`${what}: policy is ${content.length} characters, the limit is ${MAX_ORG_POLICY_CHARS}`);
  }
  return content;
}
