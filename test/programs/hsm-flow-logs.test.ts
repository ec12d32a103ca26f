import { describe, expect, test } from "vitest";
import { evaluateProviderStack, ofType, providerStackArgs, str } from "./fixtures.js";

/**
 * Issue 12, defect 6 (EC2.6) across components: the CloudHSM VPC's flow-log group is encrypted with the
 * bridge account's audit logging key, whose key policy must name exactly that group, in every generation.
 */
const hsmArgs = (generation: number) =>
  providerStackArgs({
    generation,
    kms: {
      ...providerStackArgs().kms,
      keyStore: "cloudhsm",
      cloudHsm: { vpcCidr: "10.255.0.0/24", subnets: [{ azId: "euw1-az1", cidr: "10.255.0.0/26" }, { azId: "euw1-az2", cidr: "10.255.0.64/26" }] },
    },
  });

describe("CloudHSM VPC flow logs in the provider stack", () => {
  test.each([1, 2])("generation %i: the logging key lets CloudWatch Logs use it for the HSM flow-log group it encrypts", async (generation) => {
    const e = await evaluateProviderStack(hsmArgs(generation));
    const vpc = ofType(e, "aws:ec2/vpc:Vpc");
    expect(vpc).toHaveLength(1);
    const flowLog = ofType(e, "aws:ec2/flowLog:FlowLog").find((f) => f.inputs["vpcId"] === vpc[0]!.id);
    const group = ofType(e, "aws:cloudwatch/logGroup:LogGroup").find((g) => g.state["arn"] === flowLog?.inputs["logDestination"]);
    if (!group) throw new Error("no flow log on the HSM VPC, or no log group for it");
    const key = ofType(e, "aws:kms/key:Key").find((k) => k.state["arn"] === group.inputs["kmsKeyId"]);
    if (!key) throw new Error("the HSM flow-log group is not encrypted with a key of this stack");
    expect(key.parent).toContain("BridgeAudit");
    const policy = JSON.parse(str(key.inputs["policy"])) as { Statement: { Sid: string; Condition: Record<string, Record<string, unknown>> }[] };
    const logs = policy.Statement.find((s) => s.Sid === "CloudWatchLogsUse");
    expect(logs?.Condition["ArnLike"]?.["kms:EncryptionContext:aws:logs:arn"]).toContain(group.state["arn"]);
    expect(str(group.inputs["name"]).endsWith(generation === 1 ? "/cloudhsm-vpc-flow-logs" : `/cloudhsm-vpc-flow-logs-g${generation}`)).toBe(true);
    expect(group.inputs["retentionInDays"]).toBe(365);
  });
});
