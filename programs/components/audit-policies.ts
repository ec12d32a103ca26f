import { accountRootArn, type Partition } from "./aws-ids.js";
import { ADMIN_ACTIONS } from "./key-policy.js";

/**
 * Pure builders of BridgeAudit's policy documents (research/aws-design.md §1.6), from resolved plain
 * values. Every service-principal statement is pinned to this account's own trail or log group
 * (`aws:SourceArn` / encryption context), the confused-deputy guard the CloudTrail and CloudWatch
 * Logs guides recommend.
 */

type Principal = { readonly AWS: string | readonly string[] } | { readonly Service: string } | "*";

export interface AuditStatement {
  readonly Sid: string;
  readonly Effect: "Allow" | "Deny";
  /** Absent in identity policies (RolePolicy). */
  readonly Principal?: Principal;
  readonly Action: string | readonly string[];
  /** Absent in trust policies. */
  readonly Resource?: string | readonly string[];
  readonly Condition?: Readonly<Record<string, Readonly<Record<string, string | readonly string[]>>>>;
}

export interface AuditPolicyDocument {
  readonly Version: "2012-10-17";
  readonly Statement: readonly AuditStatement[];
}

export interface AuditNames {
  readonly partition: Partition;
  readonly region: string;
  readonly accountId: string;
  readonly trailName: string;
  readonly logGroupName: string;
  /** Other log groups of this account the logging key serves (the CloudHSM VPC's flow logs). */
  readonly additionalLogGroupNames?: readonly string[];
}

export const CLOUDTRAIL_PRINCIPAL = "cloudtrail.amazonaws.com";

/** The trail ARN from its parts, so the key and bucket policies need not wait for the trail (no cycle). */
export function trailArnOf(n: AuditNames): string {
  return `arn:${n.partition}:cloudtrail:${n.region}:${n.accountId}:trail/${n.trailName}`;
}

export function logGroupArnOf(n: AuditNames): string {
  return `arn:${n.partition}:logs:${n.region}:${n.accountId}:log-group:${n.logGroupName}`;
}

/** The trail's log group ARN, or (with additional groups, e.g. the HSM VPC's flow logs) the list of all. */
function logsArnCondition(n: AuditNames): string | string[] {
  const extra = (n.additionalLogGroupNames ?? []).map((logGroupName) => logGroupArnOf({ ...n, logGroupName }));
  return extra.length === 0 ? logGroupArnOf(n) : [logGroupArnOf(n), ...extra];
}

/** CloudWatch Logs' regional service principal (`.com.cn` in the China partition). */
export function logsPrincipalOf(partition: Partition, region: string): string {
  return `logs.${region}.${partition === "aws-cn" ? "amazonaws.com.cn" : "amazonaws.com"}`;
}

/**
 * As in key-policy.ts: the account roots of the roles (a role of another account needs its root as
 * the principal, or the aws:PrincipalArn condition could never match), narrowed to the roles.
 */
function rolesPrincipal(partition: Partition, accountId: string, roleArns: readonly string[]): Principal {
  const accounts = [...new Set([accountId, ...roleArns.map((arn) => arn.split(":")[4] ?? "")])];
  const roots = accounts.map((account) => accountRootArn(partition, account));
  return { AWS: roots.length === 1 ? (roots[0] ?? "") : roots };
}

export interface LoggingKeyPolicyArgs extends AuditNames {
  readonly adminRoleArns: readonly string[];
  readonly readerRoleArns: readonly string[];
}

export function buildLoggingKeyPolicy(n: LoggingKeyPolicyArgs): AuditPolicyDocument {
  const trailArn = trailArnOf(n);
  const readers: AuditStatement[] =
    n.readerRoleArns.length === 0
      ? []
      : [
          {
            // S3 decrypts trail objects for readers with kms:Decrypt; only data CloudTrail encrypted
            // (the CloudTrail guide's "Granting decrypt permissions" statement).
            Sid: "ReadTrailLogs",
            Effect: "Allow",
            Principal: rolesPrincipal(n.partition, n.accountId, n.readerRoleArns),
            Action: "kms:Decrypt",
            Resource: "*",
            Condition: {
              ArnEquals: { "aws:PrincipalArn": [...n.readerRoleArns] },
              Null: { "kms:EncryptionContext:aws:cloudtrail:arn": "false" },
            },
          },
        ];
  return {
    Version: "2012-10-17",
    Statement: [
      {
        // Management only, no cryptographic use.
        Sid: "KeyAdministration",
        Effect: "Allow",
        Principal: rolesPrincipal(n.partition, n.accountId, n.adminRoleArns),
        Action: ADMIN_ACTIONS,
        Resource: "*",
        Condition: { ArnEquals: { "aws:PrincipalArn": [...n.adminRoleArns] } },
      },
      ...readers,
      {
        // The statement from the CloudWatch Logs guide ("Encrypt log data using AWS KMS"), for this
        // one log group only.
        Sid: "CloudWatchLogsUse",
        Effect: "Allow",
        Principal: { Service: logsPrincipalOf(n.partition, n.region) },
        Action: ["kms:Encrypt*", "kms:Decrypt*", "kms:ReEncrypt*", "kms:GenerateDataKey*", "kms:Describe*"],
        Resource: "*",
        Condition: { ArnLike: { "kms:EncryptionContext:aws:logs:arn": logsArnCondition(n) } },
      },
      {
        Sid: "CloudTrailEncrypt",
        Effect: "Allow",
        Principal: { Service: CLOUDTRAIL_PRINCIPAL },
        Action: "kms:GenerateDataKey*",
        Resource: "*",
        Condition: {
          StringEquals: { "aws:SourceArn": trailArn },
          StringLike: { "kms:EncryptionContext:aws:cloudtrail:arn": trailArn },
        },
      },
      {
        // DescribeKey carries no encryption context, so only the source trail pins it.
        Sid: "CloudTrailDescribeKey",
        Effect: "Allow",
        Principal: { Service: CLOUDTRAIL_PRINCIPAL },
        Action: "kms:DescribeKey",
        Resource: "*",
        Condition: { StringEquals: { "aws:SourceArn": trailArn } },
      },
    ],
  };
}

/** A bucket policy statement refusing every request to the bucket and its objects that is not over TLS. */
export function denyInsecureTransport(bucketArn: string): AuditPolicyDocument["Statement"][number] {
  return {
    Sid: "DenyInsecureTransport",
    Effect: "Deny",
    Principal: "*",
    Action: "s3:*",
    Resource: [bucketArn, `${bucketArn}/*`],
    Condition: { Bool: { "aws:SecureTransport": "false" } },
  };
}

/** After the CloudTrail guide's "Amazon S3 bucket policy for CloudTrail", plus TLS-only access. */
export function buildTrailBucketPolicy(n: AuditNames & { readonly bucketArn: string }): AuditPolicyDocument {
  const trailArn = trailArnOf(n);
  return {
    Version: "2012-10-17",
    Statement: [
      denyInsecureTransport(n.bucketArn),
      {
        Sid: "CloudTrailAclCheck",
        Effect: "Allow",
        Principal: { Service: CLOUDTRAIL_PRINCIPAL },
        Action: "s3:GetBucketAcl",
        Resource: n.bucketArn,
        Condition: { StringEquals: { "aws:SourceArn": trailArn } },
      },
      {
        Sid: "CloudTrailWrite",
        Effect: "Allow",
        Principal: { Service: CLOUDTRAIL_PRINCIPAL },
        Action: "s3:PutObject",
        Resource: `${n.bucketArn}/AWSLogs/${n.accountId}/*`,
        Condition: { StringEquals: { "aws:SourceArn": trailArn, "s3:x-amz-acl": "bucket-owner-full-control" } },
      },
    ],
  };
}

/** Trust of the CloudTrail → CloudWatch Logs delivery role: this trail only. */
export function buildDeliveryTrustPolicy(n: AuditNames): AuditPolicyDocument {
  return {
    Version: "2012-10-17",
    Statement: [
      {
        Sid: "CloudTrailDelivery",
        Effect: "Allow",
        Principal: { Service: CLOUDTRAIL_PRINCIPAL },
        Action: "sts:AssumeRole",
        Condition: { StringEquals: { "aws:SourceArn": trailArnOf(n) } },
      },
    ],
  };
}

export function buildDeliveryRolePolicy(logGroupArn: string): AuditPolicyDocument {
  return {
    Version: "2012-10-17",
    Statement: [
      {
        Sid: "WriteTrailLogStreams",
        Effect: "Allow",
        Action: ["logs:CreateLogStream", "logs:PutLogEvents"],
        Resource: `${logGroupArn}:*`,
      },
    ],
  };
}
