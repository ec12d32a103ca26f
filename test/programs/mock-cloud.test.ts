import { execFile } from "node:child_process";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";
import * as aws from "@pulumi/aws";
import { describe, expect, test } from "vitest";
import { createMockCloud } from "../../programs/mock-cloud.js";
import { evaluateProgram } from "../../programs/evaluate-program.js";
import { single, T } from "./fixtures.js";

const run = (program: () => Promise<Record<string, unknown>>, preview = false) =>
  evaluateProgram(program, { project: "p", stack: "s", mocks: createMockCloud({ region: "eu-central-1", callerAccountId: "999999999999" }), preview });

describe("createMockCloud", () => {
  test("strict: an invoke nobody mocked fails the evaluation with its token", async () => {
    await expect(run(async () => ({ vpc: (await aws.ec2.getVpc({ id: "vpc-1" })).id }))).rejects.toThrow(
      "mock-cloud: unmocked invoke aws:ec2/getVpc:getVpc",
    );
  });

  test("answers identity invokes from the provider's account and region", async () => {
    const e = await run(async () => {
      const network = new aws.Provider("network", { region: "us-east-1", allowedAccountIds: ["111111111111"] });
      const ambient = await aws.getCallerIdentity();
      const scoped = await aws.getCallerIdentity({}, { provider: network });
      const region = await aws.getRegion({}, { provider: network });
      return { ambient: ambient.accountId, scoped: scoped.accountId, region: region.region };
    });
    expect(e.outputs).toEqual({ ambient: "999999999999", scoped: "111111111111", region: "us-east-1" });
  });

  test("an unmocked resource type rejects the evaluation and does not kill the process", async () => {
    const script = fileURLToPath(new URL("./scripts/unmocked-resource.ts", import.meta.url));
    const { stdout } = await promisify(execFile)(process.execPath, ["--import", "tsx", script], { timeout: 30_000 });
    expect(stdout).toContain("REJECTED failed to register new resource unmocked [random:index/randomId:RandomId]: mock-cloud: unmocked resource type");
    expect(stdout).toContain("ALIVE");
  });

  test("realistic ids and computed attributes", async () => {
    const e = await run(async () => {
      const sg = new aws.ec2.SecurityGroup("sg", { vpcId: "vpc-1" });
      new aws.vpc.SecurityGroupIngressRule("rule", { securityGroupId: sg.id, ipProtocol: "tcp", cidrIpv4: "10.0.0.0/8" });
      new aws.ec2.VpcEndpoint("ep", { vpcId: "vpc-1", serviceName: "com.amazonaws.vpce.eu-central-1.vpce-svc-0123456789abcdef0", subnetIds: ["subnet-1"] });
      const key = new aws.kms.Key("key", {});
      new aws.kms.Grant("grant", { keyId: key.arn, granteePrincipal: "arn:aws:iam::333333333333:role/x", operations: ["Decrypt"] });
      new aws.organizations.Account("acct", { email: "a@example.com" });
      return {};
    });
    expect(single(e, T.securityGroup).id).toMatch(/^sg-[0-9a-f]{17}$/);
    expect(single(e, T.ingressRule).state["securityGroupRuleId"]).toMatch(/^sgr-[0-9a-f]{17}$/);
    const endpoint = single(e, T.endpoint);
    expect(endpoint.id).toMatch(/^vpce-[0-9a-f]{17}$/);
    expect(endpoint.state["state"]).toBe("pendingAcceptance");
    expect(endpoint.state["dnsEntries"]).toContainEqual({
      dnsName: expect.stringMatching(/^vpce-[0-9a-f]{17}-[0-9a-f]{8}\.vpce-svc-0123456789abcdef0\.eu-central-1\.vpce\.amazonaws\.com$/),
      hostedZoneId: expect.stringMatching(/^Z[0-9A-F]{13}$/),
    });
    const key = single(e, T.key);
    expect(key.state["keyId"]).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-8[0-9a-f]{3}-[0-9a-f]{12}$/);
    expect(key.state["arn"]).toBe(`arn:aws:kms:eu-central-1:999999999999:key/${String(key.state["keyId"])}`);
    expect(single(e, T.grant).state["grantId"]).toMatch(/^[0-9a-f]{64}$/);
    expect(single(e, T.grant).state).not.toHaveProperty("grantToken");
    expect(single(e, T.account).id).toMatch(/^\d{12}$/);
  });

  test("ids are stable, change on a replacing input, and survive an in-place update", async () => {
    const sgId = async (args: aws.ec2.SecurityGroupArgs) => single(await run(async () => (new aws.ec2.SecurityGroup("sg", args), {})), T.securityGroup).id;
    const original = await sgId({ vpcId: "vpc-1", description: "d" });
    expect(await sgId({ vpcId: "vpc-1", description: "d" })).toBe(original);
    expect(await sgId({ vpcId: "vpc-1", description: "d", tags: { a: "b" } })).toBe(original);
    expect(await sgId({ vpcId: "vpc-2", description: "d" })).not.toBe(original);
  });

  test("any other AWS type still gets an id and an ARN", async () => {
    // A type no program uses (so no mock area defines it).
    const e = await run(async () => (new aws.sqs.QueuePolicy("policy", { queueUrl: "q", policy: "{}" }), {}));
    const policy = single(e, "aws:sqs/queuePolicy:QueuePolicy");
    expect(policy.id).toMatch(/^queue-policy-[0-9a-f]{17}$/);
    expect(policy.state["arn"]).toBe(`arn:aws:sqs:eu-central-1:999999999999:queue-policy/${policy.id}`);
    expect(policy.state["policy"]).toBe("{}");
  });
});

describe("evaluateProgram", () => {
  test("records parent, provider, dependencies and options per registration, in order", async () => {
    const e = await run(async () => {
      const provider = new aws.Provider("p", { region: "eu-central-1" });
      const sg = new aws.ec2.SecurityGroup("sg", { vpcId: "vpc-1" }, { provider, protect: true });
      new aws.vpc.SecurityGroupIngressRule("rule", { securityGroupId: sg.id, ipProtocol: "tcp" }, { provider, dependsOn: [sg] });
      return { sg: sg.id };
    });
    expect(e.resources.map((r) => r.type)).toEqual(["pulumi:pulumi:Stack", T.provider, T.securityGroup, T.ingressRule]);
    const [stack, provider, sg, rule] = e.resources;
    expect(stack?.parent).toBe("");
    expect(sg?.parent).toBe(stack?.urn);
    expect(sg?.provider).toBe(provider?.urn);
    expect(sg?.options.protect).toBe(true);
    expect(rule?.dependencies).toContain(sg?.urn);
    expect(e.state[sg?.urn ?? ""]).toEqual(sg?.state);
    expect(stack?.state).toEqual({ sg: sg?.id });
  });
});
