import { arn, dnsSuffix, globalArn, type Computed, type Context, type MockArea } from "./context.js";

/**
 * Trail bucket and its configuration, log group, CloudTrail and the delivery role (see context.ts); the
 * bridge account's Organizations policies are in organizations.ts. ForceNew lists follow the Terraform
 * provider schemas as far as known; the ones marked "guess" were not checked against the schema.
 */

const text = (c: Context, key: string): string | undefined => {
  const value = c.inputs[key];
  return typeof value === "string" && value.length > 0 ? value : undefined;
};

/** Pulumi's auto-name: the logical name and a 7-character random suffix. */
const autoName = (c: Context): string => `${c.name}-${c.hex(7, "name")}`;

/** The bucket configuration resources are identified by their bucket (Terraform id = bucket name). */
const byBucket: Computed = (c) => ({ id: text(c, "bucket") ?? autoName(c), state: {} });

export const audit: MockArea = {
  replaceOn: {
    "aws:s3/bucket:Bucket": ["bucket", "bucketPrefix", "objectLockEnabled"],
    "aws:s3/bucketPublicAccessBlock:BucketPublicAccessBlock": ["bucket"],
    "aws:s3/bucketOwnershipControls:BucketOwnershipControls": ["bucket"],
    "aws:s3/bucketVersioning:BucketVersioning": ["bucket"],
    "aws:s3/bucketServerSideEncryptionConfiguration:BucketServerSideEncryptionConfiguration": ["bucket"],
    "aws:s3/bucketPolicy:BucketPolicy": ["bucket"],
    "aws:cloudwatch/logGroup:LogGroup": ["name", "namePrefix", "logGroupClass"],
    "aws:cloudtrail/trail:Trail": ["name"],
    "aws:iam/role:Role": ["name", "namePrefix", "path"],
    "aws:iam/rolePolicy:RolePolicy": ["role", "name", "namePrefix"],
  },
  computed: {
    "aws:s3/bucket:Bucket": (c) => {
      // Terraform's generated suffix is 26 characters (bucketPrefix ≤ 37, name ≤ 63).
      const name = text(c, "bucket") ?? `${text(c, "bucketPrefix") ?? "terraform-"}${c.hex(26, "name")}`;
      const suffix = dnsSuffix(c.partition);
      return {
        id: name,
        state: {
          bucket: name,
          arn: `arn:${c.partition}:s3:::${name}`,
          bucketDomainName: `${name}.s3.${suffix}`,
          bucketRegionalDomainName: `${name}.s3.${c.region}.${suffix}`,
          region: c.region,
        },
      };
    },
    "aws:s3/bucketPublicAccessBlock:BucketPublicAccessBlock": byBucket,
    "aws:s3/bucketOwnershipControls:BucketOwnershipControls": byBucket,
    "aws:s3/bucketVersioning:BucketVersioning": byBucket,
    "aws:s3/bucketServerSideEncryptionConfiguration:BucketServerSideEncryptionConfiguration": byBucket,
    "aws:s3/bucketPolicy:BucketPolicy": byBucket,
    // Since provider v4 the log group ARN has no trailing `:*`.
    "aws:cloudwatch/logGroup:LogGroup": (c) => {
      const name = text(c, "name") ?? `${text(c, "namePrefix") ?? ""}${c.hex(26, "name")}`;
      return { id: name, state: { name, arn: arn(c, "logs", `log-group:${name}`) } };
    },
    "aws:cloudtrail/trail:Trail": (c) => {
      const name = text(c, "name") ?? autoName(c);
      const trailArn = arn(c, "cloudtrail", `trail/${name}`);
      return { id: trailArn, state: { name, arn: trailArn, homeRegion: c.region } };
    },
    "aws:iam/role:Role": (c) => {
      const name = text(c, "name") ?? (text(c, "namePrefix") ? `${text(c, "namePrefix")}${c.hex(26, "name")}` : autoName(c));
      const path = text(c, "path") ?? "/";
      return {
        id: name,
        state: {
          name,
          path,
          arn: globalArn(c, "iam", `role${path}${name}`),
          uniqueId: `AROA${c.hex(17, "unique").toUpperCase()}`,
        },
      };
    },
    "aws:iam/rolePolicy:RolePolicy": (c) => {
      const name = text(c, "name") ?? autoName(c);
      return { id: `${text(c, "role") ?? ""}:${name}`, state: { name } };
    },
  },
};
