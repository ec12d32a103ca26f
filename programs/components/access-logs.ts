import * as aws from "@pulumi/aws";
import * as pulumi from "@pulumi/pulumi";
import { denyInsecureTransport, type AuditPolicyDocument } from "./audit-policies.js";
import { assertAccountId, isAccessLogPrefix, isS3BucketName, type Partition } from "./aws-ids.js";

/**
 * Server access logging of the trail bucket (AWS Security Hub S3.9; issue 12, defect 6) into the
 * landing zone's log archive.
 *
 * S3 delivers server access logs only to a bucket "in the same AWS Region and owned by the same
 * account" as the source (S3 User Guide, "Logging requests using server access logging"), so the
 * bridge account cannot log into the archive directly: it logs into a local access-log bucket, which
 * replicates every log object to the archive bucket (S3 replication, owner overridden to the archive
 * account). The local bucket is itself an access-log destination and is not logged (that would log
 * the log deliveries). Its default encryption is SSE-S3: S3 does not deliver server access logs into
 * a bucket whose default encryption is SSE-KMS.
 */

export interface AccessLogArchive {
  /** The landing zone's log-archive bucket (any region; versioning on; it must trust the replication role, see README). */
  readonly bucket: string;
  /** Its owner: replicas are owned by that account (ObjectOwnerOverrideToBucketOwner). */
  readonly accountId: string;
  /** Key prefix in the archive for saas-bridge's access logs; ends with "/" (or is empty). */
  readonly prefix: string;
}

export function assertAccessLogArchive(archive: AccessLogArchive): void {
  if (!isS3BucketName(archive.bucket)) throw new Error(`audit: accessLogArchive.bucket "${archive.bucket}" is not an S3 bucket name`);
  assertAccountId(archive.accountId, "audit: accessLogArchive.accountId");
  if (!isAccessLogPrefix(archive.prefix)) {
    throw new Error(`audit: accessLogArchive.prefix "${archive.prefix}" must be "" or segments of A-Z, a-z, 0-9, '_', '.', '-' each ending in "/" (no "." or ".." segment)`);
  }
}

/** Where the provider's access logs go, locally and in the archive: `<prefix><slug>/`. */
const accessLogPrefix = (archive: AccessLogArchive, slug: string): string => `${archive.prefix}${slug}/`;

const S3_LOGGING_PRINCIPAL = "logging.s3.amazonaws.com";
const S3_PRINCIPAL = "s3.amazonaws.com";

export interface AccessLogNames {
  readonly partition: Partition;
  readonly accountId: string;
  /** The bucket being logged (the trail bucket). */
  readonly sourceBucketArn: string;
  readonly logBucketArn: string;
  /** `<prefix><slug>/` */
  readonly targetPrefix: string;
}

/** The local access-log bucket: TLS only; S3's log delivery writes under the prefix, for the trail bucket only. */
function buildAccessLogBucketPolicy(n: AccessLogNames): AuditPolicyDocument {
  return {
    Version: "2012-10-17",
    Statement: [
      denyInsecureTransport(n.logBucketArn),
      {
        // The S3 User Guide's "Grant permissions to the logging service principal by using a bucket policy".
        Sid: "S3ServerAccessLogsPolicy",
        Effect: "Allow",
        Principal: { Service: S3_LOGGING_PRINCIPAL },
        Action: "s3:PutObject",
        Resource: `${n.logBucketArn}/${n.targetPrefix}*`,
        Condition: { ArnLike: { "aws:SourceArn": n.sourceBucketArn }, StringEquals: { "aws:SourceAccount": n.accountId } },
      },
    ],
  };
}

function buildReplicationTrustPolicy(n: AccessLogNames): AuditPolicyDocument {
  return {
    Version: "2012-10-17",
    Statement: [
      {
        Sid: "S3Replication",
        Effect: "Allow",
        Principal: { Service: S3_PRINCIPAL },
        Action: "sts:AssumeRole",
        Condition: { StringEquals: { "aws:SourceAccount": n.accountId }, ArnLike: { "aws:SourceArn": n.logBucketArn } },
      },
    ],
  };
}

/** The S3 User Guide's replication role permissions, narrowed to the one prefix in both buckets. */
function buildReplicationRolePolicy(n: AccessLogNames, archive: AccessLogArchive): AuditPolicyDocument {
  const archiveArn = `arn:${n.partition}:s3:::${archive.bucket}`;
  return {
    Version: "2012-10-17",
    Statement: [
      { Sid: "ReadReplicationConfiguration", Effect: "Allow", Action: ["s3:GetReplicationConfiguration", "s3:ListBucket"], Resource: n.logBucketArn },
      {
        Sid: "ReadLogObjects",
        Effect: "Allow",
        Action: ["s3:GetObjectVersionForReplication", "s3:GetObjectVersionAcl", "s3:GetObjectVersionTagging"],
        Resource: `${n.logBucketArn}/${n.targetPrefix}*`,
      },
      {
        Sid: "ReplicateToLogArchive",
        Effect: "Allow",
        Action: ["s3:ReplicateObject", "s3:ReplicateTags", "s3:ObjectOwnerOverrideToBucketOwner"],
        Resource: `${archiveArn}/${n.targetPrefix}*`,
      },
    ],
  };
}

export interface AccessLoggingArgs {
  readonly slug: string;
  readonly partition: Partition;
  /** The bridge account. */
  readonly accountId: pulumi.Output<string>;
  /** The bucket to log (the trail bucket). */
  readonly source: aws.s3.Bucket;
  readonly archive: AccessLogArchive;
  /** Options of every configuration resource (retained, like the trail bucket's). */
  readonly opts: pulumi.CustomResourceOptions;
}

/** The access-log bucket, the trail bucket's logging into it, and its replication to the archive. Returns the local bucket. */
export function createAccessLogging(name: string, args: AccessLoggingArgs): aws.s3.Bucket {
  const { opts } = args;
  const targetPrefix = accessLogPrefix(args.archive, args.slug);
  const bucket = new aws.s3.Bucket(
    `${name}-access-log-bucket`,
    // bucketPrefix ≤ 37 characters, as for the trail bucket.
    { bucketPrefix: `saas-access-${args.slug.slice(0, 24)}-`, forceDestroy: false },
    opts,
  );
  const publicAccess = new aws.s3.BucketPublicAccessBlock(
    `${name}-access-log-bucket-public-access`,
    { bucket: bucket.id, blockPublicAcls: true, blockPublicPolicy: true, ignorePublicAcls: true, restrictPublicBuckets: true },
    opts,
  );
  // ACLs disabled: log delivery is granted by the bucket policy (the S3 User Guide's recommended way).
  new aws.s3.BucketOwnershipControls(`${name}-access-log-bucket-ownership`, { bucket: bucket.id, rule: { objectOwnership: "BucketOwnerEnforced" } }, opts);
  // Replication requires versioning on the source.
  const versioning = new aws.s3.BucketVersioning(`${name}-access-log-bucket-versioning`, { bucket: bucket.id, versioningConfiguration: { status: "Enabled" } }, opts);
  new aws.s3.BucketServerSideEncryptionConfiguration(
    `${name}-access-log-bucket-encryption`,
    { bucket: bucket.id, rules: [{ applyServerSideEncryptionByDefault: { sseAlgorithm: "AES256" } }] },
    opts,
  );

  const names = pulumi.all([args.accountId, args.source.arn, bucket.arn]).apply(([accountId, sourceBucketArn, logBucketArn]) => ({
    partition: args.partition,
    accountId,
    sourceBucketArn,
    logBucketArn,
    targetPrefix,
  }));
  const policy = new aws.s3.BucketPolicy(
    `${name}-access-log-bucket-policy`,
    { bucket: bucket.id, policy: pulumi.jsonStringify(names.apply(buildAccessLogBucketPolicy)) },
    // S3 rejects concurrent configuration changes of one bucket (OperationAborted).
    { ...opts, dependsOn: [publicAccess] },
  );

  new aws.s3.BucketLogging(
    `${name}-trail-bucket-logging`,
    {
      bucket: args.source.id,
      targetBucket: bucket.id,
      targetPrefix,
      // <prefix><slug>/<account>/<region>/<bucket>/<yyyy>/<mm>/<dd>/…: one provider's logs per prefix.
      targetObjectKeyFormat: { partitionedPrefix: { partitionDateSource: "EventTime" } },
    },
    // Delivery is checked against the target's policy.
    { ...opts, dependsOn: [policy] },
  );

  const role = new aws.iam.Role(
    `${name}-access-log-replication-role`,
    {
      namePrefix: `sb-logs-${args.slug.slice(0, 28)}-`,
      description: `saas-bridge: replicate ${args.slug}'s S3 access logs to the log archive`,
      assumeRolePolicy: pulumi.jsonStringify(names.apply(buildReplicationTrustPolicy)),
    },
    opts,
  );
  const rolePolicy = new aws.iam.RolePolicy(
    `${name}-access-log-replication-policy`,
    { role: role.id, policy: pulumi.jsonStringify(names.apply((n) => buildReplicationRolePolicy(n, args.archive))) },
    opts,
  );
  new aws.s3.BucketReplicationConfig(
    `${name}-access-log-replication`,
    {
      bucket: bucket.id,
      role: role.arn,
      rules: [
        {
          id: "to-log-archive",
          status: "Enabled",
          filter: { prefix: targetPrefix },
          deleteMarkerReplication: { status: "Disabled" },
          destination: {
            bucket: `arn:${args.partition}:s3:::${args.archive.bucket}`,
            account: args.archive.accountId,
            accessControlTranslation: { owner: "Destination" },
          },
        },
      ],
    },
    { ...opts, dependsOn: [versioning, rolePolicy] },
  );
  return bucket;
}
