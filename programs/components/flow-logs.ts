import * as aws from "@pulumi/aws";
import * as pulumi from "@pulumi/pulumi";
import type { Partition } from "./aws-ids.js";
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

/** A symmetric key ARN in the stack's partition and region (an alias or another region's key is refused). */
export function assertFlowLogsConfig(config: FlowLogsConfig, partition: Partition, region: string): void {
  const match = KMS_KEY_ARN.exec(config.kmsKeyArn);
  if (!match) throw new Error(`endpoint: flowLogs.kmsKeyArn "${config.kmsKeyArn}" is not a KMS key ARN (arn:<p>:kms:<region>:<account>:key/<id>)`);
  if (match[1] !== partition || match[2] !== region) {
    throw new Error(`endpoint: flowLogs.kmsKeyArn "${config.kmsKeyArn}" is not in ${partition}/${region}, where the log group lives`);
  }
  if (!RETENTION_DAYS.has(config.retentionInDays)) {
    throw new Error(`endpoint: flowLogs.retentionInDays ${config.retentionInDays} is not a CloudWatch Logs retention value`);
  }
}

export interface FlowLogsArgs {
  readonly slug: string;
  readonly partition: Partition;
  readonly region: string;
  readonly networkAccountId: string;
  readonly config: FlowLogsConfig;
  readonly subnets: readonly CreatedSubnet[];
}

/**
 * Flow logs of every provider subnet into one KMS-encrypted log group (research/aws-design.md §1.2).
 * Returns the log group name.
 */
export function createFlowLogs(name: string, args: FlowLogsArgs, parent: pulumi.Resource): pulumi.Output<string> {
  const logGroup = new aws.cloudwatch.LogGroup(
    `${name}-flow-logs`,
    { name: `/saas/${args.slug}/vpc-flow-logs`, kmsKeyId: args.config.kmsKeyArn, retentionInDays: args.config.retentionInDays },
    // Flow logs are audit evidence: they must outlive the provider's stack (research §4.2).
    { parent, retainOnDelete: true },
  );

  // Confused-deputy guard: only flow logs of the network account, in this region, may assume the role
  // (https://docs.aws.amazon.com/vpc/latest/userguide/flow-logs-iam-role.html).
  const role = new aws.iam.Role(
    `${name}-flow-logs-role`,
    {
      description: `saas-bridge: VPC flow logs delivery for ${args.slug}`,
      assumeRolePolicy: JSON.stringify({
        Version: "2012-10-17",
        Statement: [
          {
            Sid: "VpcFlowLogsDelivery",
            Effect: "Allow",
            Principal: { Service: "vpc-flow-logs.amazonaws.com" },
            Action: "sts:AssumeRole",
            Condition: {
              StringEquals: { "aws:SourceAccount": args.networkAccountId },
              ArnLike: { "aws:SourceArn": `arn:${args.partition}:ec2:${args.region}:${args.networkAccountId}:vpc-flow-log/*` },
            },
          },
        ],
      }),
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

  for (const { azId, subnet } of args.subnets) {
    new aws.ec2.FlowLog(
      `${name}-flow-log-${azId}`,
      {
        subnetId: subnet.id,
        trafficType: "ALL",
        logDestinationType: "cloud-watch-logs",
        logDestination: logGroup.arn,
        iamRoleArn: role.arn,
        maxAggregationInterval: 60,
      },
      // After the policy: delivery fails (and is only reported in the flow log status) without it.
      { parent, dependsOn: [policy] },
    );
  }
  return logGroup.name;
}
