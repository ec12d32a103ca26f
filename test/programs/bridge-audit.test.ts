import * as aws from "@pulumi/aws";
import * as pulumi from "@pulumi/pulumi";
import { describe, expect, test } from "vitest";
import { BridgeAudit, type BridgeAuditArgs } from "../../programs/components/bridge-audit.js";
import type { AuditStatement } from "../../programs/components/audit-policies.js";
import type { Evaluation, RegisteredResource } from "../../programs/evaluate-program.js";
import { expandAction } from "../support/iam-policy-validator.js";
import { evaluateComponent, ofType, single as singleOf, str, T } from "./fixtures.js";

const A = {
  bucket: "aws:s3/bucket:Bucket",
  publicAccess: "aws:s3/bucketPublicAccessBlock:BucketPublicAccessBlock",
  ownership: "aws:s3/bucketOwnershipControls:BucketOwnershipControls",
  versioning: "aws:s3/bucketVersioning:BucketVersioning",
  encryption: "aws:s3/bucketServerSideEncryptionConfiguration:BucketServerSideEncryptionConfiguration",
  bucketPolicy: "aws:s3/bucketPolicy:BucketPolicy",
  logGroup: "aws:cloudwatch/logGroup:LogGroup",
  role: "aws:iam/role:Role",
  rolePolicy: "aws:iam/rolePolicy:RolePolicy",
  trail: "aws:cloudtrail/trail:Trail",
} as const;

const BRIDGE = "222222222222";
const DEPLOY = `arn:aws:iam::${BRIDGE}:role/OrganizationAccountAccessRole`;
const BREAK_GLASS = `arn:aws:iam::${BRIDGE}:role/break-glass`;
const TRAIL_ARN = `arn:aws:cloudtrail:eu-west-1:${BRIDGE}:trail/saas-bridge-acme-crm`;
const LOG_GROUP_ARN = `arn:aws:logs:eu-west-1:${BRIDGE}:log-group:/saas-bridge/acme-crm/cloudtrail`;

const ARCHIVE = { bucket: "example-org-log-archive", accountId: "444444444444", prefix: "s3-access-logs/" };
const base: BridgeAuditArgs = {
  slug: "acme-crm",
  region: "eu-west-1",
  accountId: BRIDGE,
  retentionInDays: 365,
  adminRoleArns: [DEPLOY, BREAK_GLASS],
  accessLogArchive: ARCHIVE,
};

function evaluate(args: Partial<BridgeAuditArgs> = {}, region = "eu-west-1"): Promise<Evaluation> {
  return evaluateComponent(() => {
    const provider = new aws.Provider("bridge", { region, allowedAccountIds: [BRIDGE] });
    const audit = new BridgeAudit("acme-audit", { ...base, region, ...args }, { providers: [provider] });
    return { trailArn: audit.trailArn, bucketName: audit.bucketName, logGroupName: audit.logGroupName, loggingKeyArn: audit.loggingKeyArn };
  });
}

/** The access-log bucket and its delivery (access-logs.ts, S3.9) have a describe block of their own. */
const isAccessLogPart = (r: RegisteredResource): boolean => /-access-log-|-trail-bucket-logging$/.test(r.name);
/** The one resource of `type` among the trail's own (the access-log part aside). */
const single = (e: Evaluation, type: string): RegisteredResource => singleOf({ ...e, resources: e.resources.filter((r) => !isAccessLogPart(r)) }, type);

const policyOf = (value: unknown): AuditStatement[] => (JSON.parse(str(value)) as { Statement: AuditStatement[] }).Statement;
const bySid = (statements: AuditStatement[], sid: string): AuditStatement => {
  const found = statements.find((s) => s.Sid === sid);
  if (!found) throw new Error(`no statement ${sid}`);
  return found;
};
const keyPolicy = (e: Evaluation) => policyOf(single(e, T.key).inputs["policy"]);
const actions = (s: AuditStatement): string[] => (typeof s.Action === "string" ? [s.Action] : [...s.Action]);

describe("BridgeAudit", () => {
  test("policies name the very trail and log group that get created (no drift, no cycle)", async () => {
    const e = await evaluate();
    expect(e.outputs["trailArn"]).toBe(TRAIL_ARN);
    expect(single(e, A.logGroup).state["arn"]).toBe(LOG_GROUP_ARN);
    expect(e.outputs["logGroupName"]).toBe("/saas-bridge/acme-crm/cloudtrail");
    expect(e.outputs["loggingKeyArn"]).toBe(single(e, T.key).state["arn"]);
  });

  test("logging key: symmetric, rotated, admins manage it without any cryptographic use", async () => {
    const e = await evaluate();
    expect(single(e, T.key).inputs).toMatchObject({ enableKeyRotation: true, keyUsage: "ENCRYPT_DECRYPT", bypassPolicyLockoutSafetyCheck: false });
    const admin = bySid(keyPolicy(e), "KeyAdministration");
    expect(admin.Principal).toEqual({ AWS: `arn:aws:iam::${BRIDGE}:root` });
    expect(admin.Condition).toEqual({ ArnEquals: { "aws:PrincipalArn": [DEPLOY, BREAK_GLASS] } });
    expect(actions(admin).filter((a) => /^kms:(\*|Encrypt|Decrypt|ReEncrypt|GenerateDataKey)/.test(a))).toEqual([]);
    expect(single(e, T.alias).inputs).toMatchObject({ name: "alias/saas-audit/acme-crm", targetKeyId: single(e, T.key).id });
  });

  test("logging key: admin actions are explicit and none of them uses the key or grants its use (issue 12, defect 2)", async () => {
    const admin = actions(bySid(keyPolicy(await evaluate()), "KeyAdministration"));
    expect(admin.filter((a) => /[*?]/.test(a))).toEqual([]);
    const granted = (await Promise.all(admin.map(expandAction))).flat();
    expect(granted).toHaveLength(admin.length);
    const use = /^kms:(CreateGrant|Encrypt|Decrypt|ReEncrypt|GenerateDataKey|GenerateMac|VerifyMac|Sign|Verify|DeriveSharedSecret|GenerateRandom|GetPublicKey)/;
    expect(granted.filter((a) => use.test(a))).toEqual([]);
  });

  test("logging key: services may use it only for this log group and this trail", async () => {
    const statements = keyPolicy(await evaluate());
    expect(bySid(statements, "CloudWatchLogsUse")).toMatchObject({
      Principal: { Service: "logs.eu-west-1.amazonaws.com" },
      Condition: { ArnLike: { "kms:EncryptionContext:aws:logs:arn": LOG_GROUP_ARN } },
    });
    expect(bySid(statements, "CloudTrailEncrypt")).toMatchObject({
      Principal: { Service: "cloudtrail.amazonaws.com" },
      Action: "kms:GenerateDataKey*",
      Condition: { StringEquals: { "aws:SourceArn": TRAIL_ARN }, StringLike: { "kms:EncryptionContext:aws:cloudtrail:arn": TRAIL_ARN } },
    });
    expect(bySid(statements, "CloudTrailDescribeKey")).toMatchObject({ Action: "kms:DescribeKey", Condition: { StringEquals: { "aws:SourceArn": TRAIL_ARN } } });
    // Nobody may decrypt unless readers are configured; every service statement is conditioned.
    expect(statements.filter((s) => typeof s.Principal === "object" && "AWS" in s.Principal && actions(s).includes("kms:Decrypt"))).toEqual([]);
    for (const s of statements) expect(s.Condition, s.Sid).toBeDefined();
  });

  test("readers decrypt only what CloudTrail encrypted", async () => {
    const auditor = "arn:aws:iam::555555555555:role/auditor";
    const reader = bySid(keyPolicy(await evaluate({ readerRoleArns: [auditor] })), "ReadTrailLogs");
    expect(reader).toMatchObject({
      Principal: { AWS: [`arn:aws:iam::${BRIDGE}:root`, "arn:aws:iam::555555555555:root"] },
      Action: "kms:Decrypt",
      Condition: { ArnEquals: { "aws:PrincipalArn": [auditor] }, Null: { "kms:EncryptionContext:aws:cloudtrail:arn": "false" } },
    });
  });

  test("a deploy role that is still an Output becomes a key admin", async () => {
    const later = pulumi.output("arn:aws:iam::444444444444:role/SaasBridgeAccess");
    // A deploy role appended to a list that already holds it is listed once.
    const admin = bySid(keyPolicy(await evaluate({ adminRoleArns: [BREAK_GLASS, later, pulumi.output(BREAK_GLASS)] })), "KeyAdministration");
    expect(admin.Condition?.["ArnEquals"]?.["aws:PrincipalArn"]).toEqual([BREAK_GLASS, "arn:aws:iam::444444444444:role/SaasBridgeAccess"]);
    expect(admin.Principal).toEqual({ AWS: [`arn:aws:iam::${BRIDGE}:root`, "arn:aws:iam::444444444444:root"] });
  });

  test("bucket: never force-destroyed, no public access, owner-enforced, versioned, SSE-KMS with the logging key", async () => {
    const e = await evaluate();
    const bucket = single(e, A.bucket);
    expect(bucket.inputs["forceDestroy"]).toBe(false);
    expect(str(bucket.inputs["bucketPrefix"]).length).toBeLessThanOrEqual(37);
    expect(e.outputs["bucketName"]).toBe(bucket.id);
    const config = [A.publicAccess, A.ownership, A.versioning, A.encryption, A.bucketPolicy].map((t) => single(e, t));
    for (const c of config) expect(c.inputs["bucket"], c.type).toBe(bucket.id);
    expect(single(e, A.publicAccess).inputs).toMatchObject({ blockPublicAcls: true, blockPublicPolicy: true, ignorePublicAcls: true, restrictPublicBuckets: true });
    expect(single(e, A.ownership).inputs["rule"]).toEqual({ objectOwnership: "BucketOwnerEnforced" });
    expect(single(e, A.versioning).inputs["versioningConfiguration"]).toEqual({ status: "Enabled" });
    expect(single(e, A.encryption).inputs["rules"]).toEqual([
      { applyServerSideEncryptionByDefault: { sseAlgorithm: "aws:kms", kmsMasterKeyId: e.outputs["loggingKeyArn"] }, bucketKeyEnabled: true },
    ]);
  });

  test("a 63-character slug still fits the bucket and role name limits", async () => {
    const slug = `a${"b".repeat(61)}c`;
    const e = await evaluate({ slug });
    expect(str(single(e, A.bucket).inputs["bucketPrefix"]).length).toBeLessThanOrEqual(37);
    expect(str(single(e, A.bucket).state["bucket"]).length).toBeLessThanOrEqual(63);
    expect(str(single(e, A.role).inputs["namePrefix"]).length).toBeLessThanOrEqual(38);
    expect(str(single(e, A.role).state["name"]).length).toBeLessThanOrEqual(64);
  });

  test("bucket policy: TLS only, and CloudTrail may write only this trail's logs under this account's prefix", async () => {
    const e = await evaluate();
    const bucketArn = str(single(e, A.bucket).state["arn"]);
    const statements = policyOf(single(e, A.bucketPolicy).inputs["policy"]);
    expect(bySid(statements, "DenyInsecureTransport")).toEqual({
      Sid: "DenyInsecureTransport",
      Effect: "Deny",
      Principal: "*",
      Action: "s3:*",
      Resource: [bucketArn, `${bucketArn}/*`],
      Condition: { Bool: { "aws:SecureTransport": "false" } },
    });
    expect(bySid(statements, "CloudTrailAclCheck")).toMatchObject({ Action: "s3:GetBucketAcl", Resource: bucketArn, Condition: { StringEquals: { "aws:SourceArn": TRAIL_ARN } } });
    expect(bySid(statements, "CloudTrailWrite")).toMatchObject({
      Action: "s3:PutObject",
      Resource: `${bucketArn}/AWSLogs/${BRIDGE}/*`,
      Condition: { StringEquals: { "aws:SourceArn": TRAIL_ARN, "s3:x-amz-acl": "bucket-owner-full-control" } },
    });
    expect(statements.filter((s) => s.Effect === "Allow" && s.Principal === "*")).toEqual([]);
  });

  test("log group encrypted with the logging key; delivery role trusts only this trail and writes only its streams", async () => {
    const e = await evaluate();
    expect(single(e, A.logGroup).inputs).toMatchObject({ retentionInDays: 365, kmsKeyId: e.outputs["loggingKeyArn"], logGroupClass: "STANDARD" });
    const role = single(e, A.role);
    expect(policyOf(role.inputs["assumeRolePolicy"])).toEqual([
      { Sid: "CloudTrailDelivery", Effect: "Allow", Principal: { Service: "cloudtrail.amazonaws.com" }, Action: "sts:AssumeRole", Condition: { StringEquals: { "aws:SourceArn": TRAIL_ARN } } },
    ]);
    const rolePolicy = single(e, A.rolePolicy);
    expect(rolePolicy.inputs["role"]).toBe(role.id);
    expect(policyOf(rolePolicy.inputs["policy"])).toEqual([
      { Sid: "WriteTrailLogStreams", Effect: "Allow", Action: ["logs:CreateLogStream", "logs:PutLogEvents"], Resource: `${LOG_GROUP_ARN}:*` },
    ]);
  });

  test("trail: validated, multi-region, KMS-encrypted, delivered to CloudWatch Logs, created after the bucket policy", async () => {
    const e = await evaluate();
    const trail = single(e, A.trail);
    expect(trail.inputs).toMatchObject({
      name: "saas-bridge-acme-crm",
      s3BucketName: e.outputs["bucketName"],
      enableLogging: true,
      enableLogFileValidation: true,
      isMultiRegionTrail: true,
      includeGlobalServiceEvents: true,
      kmsKeyId: e.outputs["loggingKeyArn"],
      cloudWatchLogsGroupArn: `${LOG_GROUP_ARN}:*`,
      cloudWatchLogsRoleArn: single(e, A.role).state["arn"],
      eventSelectors: [{ readWriteType: "All", includeManagementEvents: true }],
    });
    expect(trail.dependencies).toContain(single(e, A.bucketPolicy).urn);
    expect(trail.dependencies).toContain(single(e, A.rolePolicy).urn);
  });

  test("decommission keeps the evidence: key, bucket (with its hardening), log group and trail are retained", async () => {
    const e = await evaluate();
    for (const type of [T.key, A.bucket, A.publicAccess, A.versioning, A.encryption, A.bucketPolicy, A.logGroup, A.trail, A.role]) {
      expect(single(e, type).options.retainOnDelete, type).toBe(true);
    }
    expect(single(e, T.alias).options.retainOnDelete).toBe(false);
  });

  test("everything is deployed through the caller's bridge provider", async () => {
    const e = await evaluate();
    const provider = single(e, T.provider);
    const custom = e.resources.filter((r) => r.custom && r.type !== T.provider);
    // 12 for the trail, 10 for its access logging (bucket + 5 configurations, logging, role, policy, replication).
    expect(custom).toHaveLength(22);
    for (const r of custom) expect(r.provider, r.type).toBe(provider.urn);
  });

  test("preview of a new account: an unknown account id still registers every resource", async () => {
    const e = await evaluateComponent(() => {
      const account = new aws.organizations.Account("new", { name: "saas-acme", email: "saas+acme@example.com" });
      const provider = new aws.Provider("bridge", { region: "eu-west-1", allowedAccountIds: [account.id] });
      new BridgeAudit("acme-audit", { ...base, accountId: account.id }, { providers: [provider] });
    }, true);
    expect(e.resources.filter((r) => r.custom && r.type.startsWith("aws:")).map((r) => r.type).sort()).toEqual(
      [
        T.account, T.alias, T.key, ...Object.values(A),
        // The access-log bucket (S3.9): its configurations, the logging, replication and its role.
        A.bucket, A.publicAccess, A.ownership, A.versioning, A.encryption, A.bucketPolicy, A.role, A.rolePolicy,
        "aws:s3/bucketLogging:BucketLogging", "aws:s3/bucketReplicationConfig:BucketReplicationConfig",
      ].sort(),
    );
  });

  test("uses the China partition's ARNs and CloudWatch Logs principal", async () => {
    const e = await evaluate({ adminRoleArns: [`arn:aws-cn:iam::${BRIDGE}:role/OrganizationAccountAccessRole`] }, "cn-north-1");
    const logs = bySid(keyPolicy(e), "CloudWatchLogsUse");
    expect(logs.Principal).toEqual({ Service: "logs.cn-north-1.amazonaws.com.cn" });
    expect(e.outputs["trailArn"]).toBe(`arn:aws-cn:cloudtrail:cn-north-1:${BRIDGE}:trail/saas-bridge-acme-crm`);
    expect(bySid(keyPolicy(e), "CloudTrailEncrypt").Condition?.["StringEquals"]?.["aws:SourceArn"]).toBe(e.outputs["trailArn"]);
  });

  test.each([
    [{ retentionInDays: 10 }, /retentionInDays must be one of/],
    [{ adminRoleArns: [] }, /at least one admin role/],
    [{ adminRoleArns: ["arn:aws:iam::*:role/x"] }, /invalid IAM principal ARN/],
    [{ readerRoleArns: [DEPLOY, DEPLOY] }, /duplicate audit reader role/],
    [{ readerRoleArns: ["arn:aws-cn:iam::555555555555:role/auditor"] }, /invalid IAM principal ARN/],
    [{ accountId: "2222" }, /12-digit AWS account id/],
    [{ slug: "Acme" }, /invalid provider slug/],
  ] as [Partial<BridgeAuditArgs>, RegExp][])("rejects impossible args %#", async (args, message) => {
    await expect(evaluate(args)).rejects.toThrow(message);
  });

  test("no resource is registered when the args are rejected", async () => {
    const e = await evaluateComponent(() => {
      expect(() => new BridgeAudit("bad", { ...base, retentionInDays: 2 })).toThrow();
    });
    expect(ofType(e, T.key)).toHaveLength(0);
  });
});

describe("BridgeAudit: server access logging of the trail bucket into the log archive (issue 12, defect 6, S3.9)", () => {
  const S = {
    logging: "aws:s3/bucketLogging:BucketLogging",
    replication: "aws:s3/bucketReplicationConfig:BucketReplicationConfig",
  } as const;
  /** The trail's bucket (prefix saas-audit-) and the access-log bucket (prefix saas-access-). */
  const bucketsOf = (e: Evaluation) => {
    const find = (prefix: string) => {
      const found = ofType(e, A.bucket).filter((b) => str(b.inputs["bucketPrefix"]).startsWith(prefix));
      if (found.length !== 1) throw new Error(`expected one bucket with prefix ${prefix}, found ${found.length}`);
      return found[0]!;
    };
    return { trail: find("saas-audit-"), logs: find("saas-access-") };
  };
  const ofBucket = (e: Evaluation, type: string, bucketId: string) => ofType(e, type).filter((r) => r.inputs["bucket"] === bucketId);

  test("the trail bucket logs into a local access-log bucket under <prefix><slug>/, partitioned by event time", async () => {
    const e = await evaluate();
    const { trail, logs } = bucketsOf(e);
    const logging = singleOf(e, S.logging);
    expect(logging.inputs).toMatchObject({
      bucket: trail.id,
      targetBucket: logs.id,
      targetPrefix: "s3-access-logs/acme-crm/",
      targetObjectKeyFormat: { partitionedPrefix: { partitionDateSource: "EventTime" } },
    });
    expect(logging.options.retainOnDelete).toBe(true);
  });

  test("the access-log bucket is hardened like the trail bucket, with SSE-S3 (S3 delivers no access logs into SSE-KMS)", async () => {
    const e = await evaluate();
    const { logs } = bucketsOf(e);
    expect(logs.inputs["forceDestroy"]).toBe(false);
    expect(logs.options.retainOnDelete).toBe(true);
    expect(singleOf({ ...e, resources: ofBucket(e, A.publicAccess, logs.id) }, A.publicAccess).inputs).toMatchObject({
      blockPublicAcls: true, blockPublicPolicy: true, ignorePublicAcls: true, restrictPublicBuckets: true,
    });
    expect(ofBucket(e, A.ownership, logs.id)[0]?.inputs["rule"]).toEqual({ objectOwnership: "BucketOwnerEnforced" });
    expect(ofBucket(e, A.versioning, logs.id)[0]?.inputs["versioningConfiguration"]).toEqual({ status: "Enabled" });
    expect(ofBucket(e, A.encryption, logs.id)[0]?.inputs["rules"]).toEqual([{ applyServerSideEncryptionByDefault: { sseAlgorithm: "AES256" } }]);
  });

  test("only S3's log delivery, for the trail bucket of this account, may write, under the prefix; TLS only", async () => {
    const e = await evaluate();
    const { trail, logs } = bucketsOf(e);
    const statements = policyOf(ofBucket(e, A.bucketPolicy, logs.id)[0]?.inputs["policy"]);
    expect(bySid(statements, "DenyInsecureTransport")).toMatchObject({ Effect: "Deny", Condition: { Bool: { "aws:SecureTransport": "false" } } });
    expect(bySid(statements, "S3ServerAccessLogsPolicy")).toEqual({
      Sid: "S3ServerAccessLogsPolicy",
      Effect: "Allow",
      Principal: { Service: "logging.s3.amazonaws.com" },
      Action: "s3:PutObject",
      Resource: `${str(logs.state["arn"])}/s3-access-logs/acme-crm/*`,
      Condition: { ArnLike: { "aws:SourceArn": trail.state["arn"] }, StringEquals: { "aws:SourceAccount": BRIDGE } },
    });
  });

  test("every log object under the prefix is replicated to the archive bucket, owned by the archive account", async () => {
    const e = await evaluate();
    const { logs } = bucketsOf(e);
    const replication = singleOf(e, S.replication);
    expect(replication.inputs).toMatchObject({
      bucket: logs.id,
      rules: [
        {
          id: "to-log-archive",
          status: "Enabled",
          filter: { prefix: "s3-access-logs/acme-crm/" },
          deleteMarkerReplication: { status: "Disabled" },
          destination: { bucket: "arn:aws:s3:::example-org-log-archive", account: "444444444444", accessControlTranslation: { owner: "Destination" } },
        },
      ],
    });
    const role = ofType(e, A.role).find((r) => r.state["arn"] === replication.inputs["role"]);
    if (!role) throw new Error("no replication role");
    expect(policyOf(role.inputs["assumeRolePolicy"])).toEqual([
      expect.objectContaining({
        Principal: { Service: "s3.amazonaws.com" },
        Condition: { StringEquals: { "aws:SourceAccount": BRIDGE }, ArnLike: { "aws:SourceArn": logs.state["arn"] } },
      }),
    ]);
    const permissions = policyOf(ofType(e, A.rolePolicy).find((p) => p.inputs["role"] === role.id)?.inputs["policy"]);
    expect(bySid(permissions, "ReplicateToLogArchive")).toMatchObject({
      Action: ["s3:ReplicateObject", "s3:ReplicateTags", "s3:ObjectOwnerOverrideToBucketOwner"],
      Resource: "arn:aws:s3:::example-org-log-archive/s3-access-logs/acme-crm/*",
    });
    expect(permissions.flatMap(actions)).not.toContain("s3:ReplicateDelete");
  });

  test.each([
    [{ ...ARCHIVE, bucket: "Not_A_Bucket" }, /not an S3 bucket name/],
    [{ ...ARCHIVE, bucket: "10.0.0.1" }, /not an S3 bucket name/],
    [{ ...ARCHIVE, accountId: "4444" }, /12-digit/],
    [{ ...ARCHIVE, prefix: "no-trailing-slash" }, /prefix/],
    [{ ...ARCHIVE, prefix: "../" }, /prefix/],
  ])("rejects accessLogArchive %j", async (accessLogArchive, message) => {
    await expect(evaluate({ accessLogArchive })).rejects.toThrow(message);
  });
});

describe("BridgeAudit: the logging key also serves the CloudHSM VPC's flow logs (issue 12, defect 6, EC2.6)", () => {
  const HSM_GROUP = "/saas-bridge/acme-crm/cloudhsm-vpc-flow-logs";

  test("CloudWatch Logs may use it for exactly the trail's and the named additional log groups", async () => {
    const statements = keyPolicy(await evaluate({ additionalLogGroupNames: [HSM_GROUP] }));
    expect(bySid(statements, "CloudWatchLogsUse").Condition).toEqual({
      ArnLike: { "kms:EncryptionContext:aws:logs:arn": [LOG_GROUP_ARN, `arn:aws:logs:eu-west-1:${BRIDGE}:log-group:${HSM_GROUP}`] },
    });
  });

  test.each([[["/saas-bridge/*"]], [[HSM_GROUP, HSM_GROUP]]])("rejects additional log groups %j", async (additionalLogGroupNames) => {
    await expect(evaluate({ additionalLogGroupNames })).rejects.toThrow(/additional log group/);
  });
});
