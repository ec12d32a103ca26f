import * as aws from "@pulumi/aws";
import * as pulumi from "@pulumi/pulumi";
import type { Partition } from "./aws-ids.js";
import { generationSuffix } from "./generation.js";
import type { CreatedSubnet } from "./subnet-nacl.js";

export interface FlowLogsConfig {
  /** The network account's logging key from the landing zone (a key ARN: CloudWatch Logs takes no alias). */
  readonly kmsKeyArn: string;
  readonly retentionInDays: number;
}

/** The values PutRetentionPolicy accepts (CloudWatch Logs API reference). */
const RETENTION_DAYS: ReadonlySet<number> = new Set([
  1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557, 2922, 3288, 3653,
]);

const KMS_KEY_ARN =
  /^arn:(aws|aws-cn|aws-us-gov):kms:([a-z0-9-]+):(\d{12}):key\/(?:[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}|mrk-[0-9a-f]{32})$/;

function assertKmsKeyArn(kmsKeyArn: string, partition: Partition, region: string, what: string): void {
  const match = KMS_KEY_ARN.exec(kmsKeyArn);
  if (!match) throw new Error(`${what}: flowLogs.kmsKeyArn "${kmsKeyArn}" is not a KMS key ARN (arn:<p>:kms:<region>:<account>:key/<id>)`);
  if (match[1] !== partition || match[2] !== region) {
    throw new Error(`${what}: flowLogs.kmsKeyArn "${kmsKeyArn}" is not in ${partition}/${region}, where the log group lives`);
  }
}

function assertRetention(retentionInDays: number, what: string): void {
  if (!RETENTION_DAYS.has(retentionInDays)) {
    throw new Error(`${what}: flowLogs.retentionInDays ${retentionInDays} is not a CloudWatch Logs retention value`);
  }
}

/** A symmetric key ARN in the stack's partition and region (an alias or another region's key is refused). */
export function assertFlowLogsConfig(config: FlowLogsConfig, partition: Partition, region: string, what = "endpoint"): void {
  assertKmsKeyArn(config.kmsKeyArn, partition, region, what);
  assertRetention(config.retentionInDays, what);
}

export interface FlowLogsArgs {
  readonly slug: string;
  readonly partition: Partition;
  readonly region: string;
  readonly networkAccountId: string;
  readonly config: FlowLogsConfig;
  readonly subnets: readonly CreatedSubnet[];
  /** The onboarding's generation (generation.ts): from 2 on, the retained log group's name carries it. */
  readonly generation?: number;
}

interface DeliveryArgs {
  readonly slug: string;
  readonly partition: Partition;
  readonly region: string;
  /** The account the flow logs (and so the role and the log group) live in. */
  readonly accountId: pulumi.Input<string>;
  readonly logGroupName: string;
  readonly kmsKeyArn: pulumi.Input<string>;
  readonly retentionInDays: number;
  readonly roleDescription: string;
}

interface Delivery {
  readonly logGroup: aws.cloudwatch.LogGroup;
  readonly role: aws.iam.Role;
  readonly policy: aws.iam.RolePolicy;
}

/** A KMS-encrypted, retained log group and the role VPC Flow Logs delivers into it with. */
function createDelivery(name: string, args: DeliveryArgs, parent: pulumi.Resource): Delivery {
  const logGroup = new aws.cloudwatch.LogGroup(
    `${name}-flow-logs`,
    { name: args.logGroupName, kmsKeyId: args.kmsKeyArn, retentionInDays: args.retentionInDays },
    // Flow logs are audit evidence: they must outlive the provider's stack (research §4.2).
    { parent, retainOnDelete: true },
  );

  // Confused-deputy guard: only flow logs of this account, in this region, may assume the role
  // (https://docs.aws.amazon.com/vpc/latest/userguide/flow-logs-iam-role.html).
  const role = new aws.iam.Role(
    `${name}-flow-logs-role`,
    {
      description: args.roleDescription,
      assumeRolePolicy: pulumi.jsonStringify(
        pulumi.output(args.accountId).apply((accountId) => ({
          Version: "2012-10-17",
          Statement: [
            {
              Sid: "VpcFlowLogsDelivery",
              Effect: "Allow",
              Principal: { Service: "vpc-flow-logs.amazonaws.com" },
              Action: "sts:AssumeRole",
              Condition: {
                StringEquals: { "aws:SourceAccount": accountId },
                ArnLike: { "aws:SourceArn": `arn:${args.partition}:ec2:${args.region}:${accountId}:vpc-flow-log/*` },
              },
            },
          ],
        })),
      ),
    },
    { parent },
  );

  // The group exists already, so no logs:CreateLogGroup; `:*` covers its log streams.
  const policy = new aws.iam.RolePolicy(
    `${name}-flow-logs-policy`,
    {
      role: role.id,
      policy: pulumi.jsonStringify({
        Version: "2012-10-17",
        Statement: [
          {
            Sid: "DeliverToProviderLogGroup",
            Effect: "Allow",
            Action: ["logs:CreateLogStream", "logs:PutLogEvents", "logs:DescribeLogStreams"],
            Resource: [logGroup.arn, pulumi.interpolate`${logGroup.arn}:*`],
          },
        ],
      }),
    },
    { parent },
  );
  return { logGroup, role, policy };
}

/** What every flow log here records: all traffic, at the finest aggregation (research §1.2). */
function flowLogInputs(delivery: Delivery) {
  return {
    trafficType: "ALL",
    logDestinationType: "cloud-watch-logs",
    logDestination: delivery.logGroup.arn,
    iamRoleArn: delivery.role.arn,
    maxAggregationInterval: 60,
  };
}

/**
 * Flow logs of every provider subnet into one KMS-encrypted log group (research/aws-design.md §1.2).
 * Returns the log group name.
 */
export function createFlowLogs(name: string, args: FlowLogsArgs, parent: pulumi.Resource): pulumi.Output<string> {
  const delivery = createDelivery(
    name,
    {
      slug: args.slug,
      partition: args.partition,
      region: args.region,
      accountId: args.networkAccountId,
      logGroupName: `/saas/${args.slug}/vpc-flow-logs${generationSuffix(args.generation)}`,
      kmsKeyArn: args.config.kmsKeyArn,
      retentionInDays: args.config.retentionInDays,
      roleDescription: `saas-bridge: VPC flow logs delivery for ${args.slug}`,
    },
    parent,
  );
  for (const { azId, subnet } of args.subnets) {
    new aws.ec2.FlowLog(
      `${name}-flow-log-${azId}`,
      { subnetId: subnet.id, ...flowLogInputs(delivery) },
      // After the policy: delivery fails (and is only reported in the flow log status) without it.
      { parent, dependsOn: [delivery.policy] },
    );
  }
  return delivery.logGroup.name;
}

export interface VpcFlowLogArgs {
  readonly slug: string;
  readonly partition: Partition;
  readonly region: string;
  /** The account that owns the VPC (the bridge account for the CloudHSM VPC); may be known only at deploy time. */
  readonly accountId: pulumi.Input<string>;
  readonly vpcId: pulumi.Input<string>;
  readonly logGroupName: string;
  /** A key ARN of that account whose policy lets CloudWatch Logs use it for `logGroupName`. */
  readonly kmsKeyArn: pulumi.Input<string>;
  readonly retentionInDays: number;
  /** For messages: the component the VPC belongs to. */
  readonly what: string;
}

/** The plain parts of a VPC flow log's settings; a key ARN that is an Output is checked by AWS. */
export function assertVpcFlowLogArgs(
  args: Pick<VpcFlowLogArgs, "kmsKeyArn" | "retentionInDays">,
  partition: Partition,
  region: string,
  what: string,
): void {
  if (typeof args.kmsKeyArn === "string") assertKmsKeyArn(args.kmsKeyArn, partition, region, what);
  assertRetention(args.retentionInDays, what);
}

/**
 * One VPC-level flow log (AWS Security Hub EC2.6 checks the VPC, not its subnets) into a KMS-encrypted,
 * retained log group. Returns the log group name.
 */
export function createVpcFlowLog(name: string, args: VpcFlowLogArgs, parent: pulumi.Resource): pulumi.Output<string> {
  assertVpcFlowLogArgs(args, args.partition, args.region, args.what);
  const delivery = createDelivery(
    name,
    {
      slug: args.slug,
      partition: args.partition,
      region: args.region,
      accountId: args.accountId,
      logGroupName: args.logGroupName,
      kmsKeyArn: args.kmsKeyArn,
      retentionInDays: args.retentionInDays,
      roleDescription: `saas-bridge: ${args.what} VPC flow logs delivery for ${args.slug}`,
    },
    parent,
  );
  new aws.ec2.FlowLog(`${name}-flow-log-vpc`, { vpcId: args.vpcId, ...flowLogInputs(delivery) }, { parent, dependsOn: [delivery.policy] });
  return delivery.logGroup.name;
}
