import * as aws from "@pulumi/aws";
import * as pulumi from "@pulumi/pulumi";
import {
  buildDeliveryRolePolicy,
  buildDeliveryTrustPolicy,
  buildLoggingKeyPolicy,
  buildTrailBucketPolicy,
  type AuditNames,
} from "./audit-policies.js";
import { assertAccessLogArchive, createAccessLogging, type AccessLogArchive } from "./access-logs.js";
import { assertAccountId, assertSlug, assertUnique, partitionOf, principalAccountOf } from "./aws-ids.js";
import { generationSuffix } from "./generation.js";

export interface BridgeAuditArgs {
  readonly slug: string;
  /** Plain: selects the partition and the service principals of every policy. */
  readonly region: string;
  /** The bridge account (where the caller's provider deploys). */
  readonly accountId: pulumi.Input<string>;
  /** One of CloudWatch Logs' allowed values; 0 keeps events forever. */
  readonly retentionInDays: number;
  /** Key administrators; may include the deploy role of an account created in this run (an Output). */
  readonly adminRoleArns: readonly pulumi.Input<string>[];
  /** Roles allowed to decrypt the trail's S3 objects (auditors). Default: none. */
  readonly readerRoleArns?: readonly string[];
  /** The landing zone's log archive: the trail bucket's server access logs end up there (S3.9, access-logs.ts). */
  readonly accessLogArchive: AccessLogArchive;
  /**
   * Other log groups of this account the logging key may encrypt (CloudWatch Logs is allowed for them
   * by name), e.g. the CloudHSM VPC's flow logs. Default: none.
   */
  readonly additionalLogGroupNames?: readonly string[];
  /** The onboarding's generation (generation.ts): from 2 on, the retained trail and log group names carry it. */
  readonly generation?: number;
}

/** PutRetentionPolicy's allowed values (CloudWatch Logs API reference). */
export const LOG_RETENTION_DAYS: readonly number[] = [
  0, 1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557, 2922, 3288, 3653,
];


/**
 * The bridge account's audit trail (research/aws-design.md §1.6): a logging key separate from BYOK, a
 * hardened S3 bucket, an encrypted CloudWatch log group with its delivery role, and a multi-region
 * trail with log file validation.
 */
export class BridgeAudit extends pulumi.ComponentResource {
  public readonly trailArn: pulumi.Output<string>;
  public readonly bucketName: pulumi.Output<string>;
  public readonly logGroupName: pulumi.Output<string>;
  public readonly loggingKeyArn: pulumi.Output<string>;

  constructor(name: string, args: BridgeAuditArgs, opts?: pulumi.ComponentResourceOptions) {
    super("saas-bridge:audit:BridgeAudit", name, {}, opts);

    assertSlug(args.slug);
    const partition = partitionOf(args.region);
    if (typeof args.accountId === "string") assertAccountId(args.accountId, "audit: accountId");
    if (!LOG_RETENTION_DAYS.includes(args.retentionInDays)) {
      throw new Error(`audit: retentionInDays must be one of ${LOG_RETENTION_DAYS.join(", ")}, got ${args.retentionInDays}`);
    }
    if (args.adminRoleArns.length === 0) throw new Error("audit: at least one admin role is required");
    // Admins are deduplicated, not rejected: callers append the deploy role, often already listed.
    for (const arn of args.adminRoleArns) if (typeof arn === "string") principalAccountOf(arn, partition);
    const readerRoleArns = args.readerRoleArns ?? [];
    for (const arn of readerRoleArns) principalAccountOf(arn, partition);
    assertUnique(readerRoleArns, "audit reader role");
    assertAccessLogArchive(args.accessLogArchive);
    const additionalLogGroupNames = args.additionalLogGroupNames ?? [];
    for (const group of additionalLogGroupNames) {
      // CloudWatch Logs group names (CreateLogGroup); no wildcard, which the key policy would widen.
      if (!/^[\w\-/.#]{1,512}$/.test(group)) throw new Error(`audit: additional log group name "${group}" is invalid`);
    }
    assertUnique(additionalLogGroupNames, "audit additional log group");

    // Fixed names: the policies below reference the trail and log group by ARN before they exist.
    // Both are retained on destroy, so a later onboarding of the same name needs other names.
    const generation = generationSuffix(args.generation);
    const trailName = `saas-bridge-${args.slug}${generation}`;
    const logGroupName = `/saas-bridge/${args.slug}/cloudtrail${generation}`;
    const names: pulumi.Output<AuditNames> = pulumi.output(args.accountId).apply((accountId) => {
      assertAccountId(accountId, "audit: accountId");
      return { partition, region: args.region, accountId, trailName, logGroupName, additionalLogGroupNames };
    });

    // Retained on destroy: decommission must never delete audit evidence (research §4.2). Deleting the
    // key would schedule its deletion, after which every log object and event is unreadable; deleting
    // the bucket's configuration resources would leave the retained evidence public-able, unversioned
    // or SSE-S3; deleting the role would silently break the retained trail's CloudWatch delivery.
    const retained: pulumi.CustomResourceOptions = { parent: this, retainOnDelete: true };

    const keyPolicy = pulumi.all([names, pulumi.all([...args.adminRoleArns])]).apply(([n, admins]) => {
      for (const arn of admins) principalAccountOf(arn, partition);
      return buildLoggingKeyPolicy({ ...n, adminRoleArns: [...new Set(admins)], readerRoleArns });
    });
    const key = new aws.kms.Key(
      `${name}-logging-key`,
      {
        description: `saas-bridge audit logs (CloudTrail, CloudWatch Logs) for ${args.slug}`,
        keyUsage: "ENCRYPT_DECRYPT",
        customerMasterKeySpec: "SYMMETRIC_DEFAULT",
        enableKeyRotation: true,
        rotationPeriodInDays: 365,
        deletionWindowInDays: 30,
        multiRegion: false,
        bypassPolicyLockoutSafetyCheck: false,
        policy: pulumi.jsonStringify(keyPolicy),
      },
      retained,
    );
    new aws.kms.Alias(`${name}-logging-alias`, { name: `alias/saas-audit/${args.slug}`, targetKeyId: key.keyId }, { parent: this });

    const bucket = new aws.s3.Bucket(
      `${name}-trail-bucket`,
      // A generated suffix: bucket names are global. bucketPrefix is limited to 37 characters.
      { bucketPrefix: `saas-audit-${args.slug.slice(0, 25)}-`, forceDestroy: false },
      retained,
    );
    const publicAccess = new aws.s3.BucketPublicAccessBlock(
      `${name}-trail-bucket-public-access`,
      { bucket: bucket.id, blockPublicAcls: true, blockPublicPolicy: true, ignorePublicAcls: true, restrictPublicBuckets: true },
      retained,
    );
    // ACLs disabled: the bucket owner owns every object CloudTrail writes.
    new aws.s3.BucketOwnershipControls(`${name}-trail-bucket-ownership`, { bucket: bucket.id, rule: { objectOwnership: "BucketOwnerEnforced" } }, retained);
    new aws.s3.BucketVersioning(`${name}-trail-bucket-versioning`, { bucket: bucket.id, versioningConfiguration: { status: "Enabled" } }, retained);
    const encryption = new aws.s3.BucketServerSideEncryptionConfiguration(
      `${name}-trail-bucket-encryption`,
      {
        bucket: bucket.id,
        rules: [{ applyServerSideEncryptionByDefault: { sseAlgorithm: "aws:kms", kmsMasterKeyId: key.arn }, bucketKeyEnabled: true }],
      },
      retained,
    );
    const bucketPolicy = new aws.s3.BucketPolicy(
      `${name}-trail-bucket-policy`,
      {
        bucket: bucket.id,
        policy: pulumi.jsonStringify(pulumi.all([names, bucket.arn]).apply(([n, bucketArn]) => buildTrailBucketPolicy({ ...n, bucketArn }))),
      },
      // S3 rejects concurrent configuration changes of one bucket (OperationAborted).
      { ...retained, dependsOn: [publicAccess] },
    );

    // S3.9 (issue 12, defect 6): the trail bucket's server access logs, into the log archive.
    createAccessLogging(name, { slug: args.slug, partition, accountId: names.apply((n) => n.accountId), source: bucket, archive: args.accessLogArchive, opts: retained });

    const logGroup = new aws.cloudwatch.LogGroup(
      `${name}-trail-log-group`,
      { name: logGroupName, logGroupClass: "STANDARD", retentionInDays: args.retentionInDays, kmsKeyId: key.arn },
      retained,
    );
    const role = new aws.iam.Role(
      `${name}-trail-delivery-role`,
      {
        // A prefix (≤ 38 characters), not a name: a retained role never blocks a later onboarding.
        namePrefix: `sb-trail-${args.slug.slice(0, 28)}-`,
        description: `CloudTrail ${trailName} delivery to CloudWatch Logs`,
        assumeRolePolicy: pulumi.jsonStringify(names.apply(buildDeliveryTrustPolicy)),
      },
      retained,
    );
    const rolePolicy = new aws.iam.RolePolicy(
      `${name}-trail-delivery-policy`,
      { role: role.id, policy: pulumi.jsonStringify(logGroup.arn.apply(buildDeliveryRolePolicy)) },
      retained,
    );

    const trail = new aws.cloudtrail.Trail(
      `${name}-trail`,
      {
        name: trailName,
        s3BucketName: bucket.bucket,
        enableLogging: true,
        enableLogFileValidation: true,
        isMultiRegionTrail: true,
        includeGlobalServiceEvents: true,
        isOrganizationTrail: false,
        kmsKeyId: key.arn,
        // The v7 log group ARN has no `:*` suffix; CloudTrail wants the streams wildcard.
        cloudWatchLogsGroupArn: pulumi.interpolate`${logGroup.arn}:*`,
        cloudWatchLogsRoleArn: role.arn,
        eventSelectors: [{ readWriteType: "All", includeManagementEvents: true }],
      },
      // CreateTrail checks the bucket policy and the role's permissions when it is called.
      { ...retained, dependsOn: [bucketPolicy, encryption, rolePolicy] },
    );

    this.trailArn = trail.arn;
    this.bucketName = bucket.bucket;
    this.logGroupName = logGroup.name;
    this.loggingKeyArn = key.arn;

    this.registerOutputs({
      trailArn: this.trailArn,
      bucketName: this.bucketName,
      logGroupName: this.logGroupName,
      loggingKeyArn: this.loggingKeyArn,
    });
  }
}
