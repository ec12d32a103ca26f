import * as aws from "@pulumi/aws";
import * as pulumi from "@pulumi/pulumi";
import { afterEach, beforeEach, describe, expect, test, vi, type MockInstance } from "vitest";
import { cloudHsmFlowLogGroupName, CloudHsmKeyStore, type CloudHsmKeyStoreArgs } from "../../programs/components/cloudhsm-key-store.js";
import type { Evaluation, RegisteredResource } from "../../programs/evaluate-program.js";
import { evaluateComponent, ofType, single, str, T } from "./fixtures.js";

const H = {
  component: "saas-bridge:kms:CloudHsmKeyStore",
  vpc: "aws:ec2/vpc:Vpc",
  subnet: "aws:ec2/subnet:Subnet",
  defaultSg: "aws:ec2/defaultSecurityGroup:DefaultSecurityGroup",
  cluster: "aws:cloudhsmv2/cluster:Cluster",
  hsm: "aws:cloudhsmv2/hsm:Hsm",
  store: "aws:kms/customKeyStore:CustomKeyStore",
} as const;

const BRIDGE = "222222222222";
const PASSWORD = "kmsuser-Pa55word!";
const CA = "-----BEGIN CERTIFICATE-----\nMIIB...customerCA\n-----END CERTIFICATE-----\n";
/** Pulumi's wire marker for a secret value (runtime/rpc specialSecretSig). */
const SECRET_SIG = { "4dabf18193072939515e22adb298388d": "1b47061264138c4ac30d75fd1eb44270" };

const base: CloudHsmKeyStoreArgs = {
  slug: "acme-crm",
  region: "eu-west-1",
  vpcCidr: "10.90.0.0/24",
  subnets: [
    { azId: "euw1-az1", cidr: "10.90.0.0/26" },
    { azId: "euw1-az2", cidr: "10.90.0.64/26" },
  ],
  flowLogs: { kmsKeyArn: `arn:aws:kms:eu-west-1:${BRIDGE}:key/0d7a3d7e-0000-4000-8000-000000000002`, retentionInDays: 365, accountId: BRIDGE },
};
const phase2: Partial<CloudHsmKeyStoreArgs> = { keyStore: { trustAnchorCertificate: CA, kmsuserPassword: PASSWORD } };

let warn: MockInstance<typeof pulumi.log.warn>;
beforeEach(() => {
  warn = vi.spyOn(pulumi.log, "warn").mockResolvedValue(undefined);
});
afterEach(() => vi.restoreAllMocks());
/** Warnings logged against a CloudHsmKeyStore (Pulumi also warns about undefined stack outputs). */
const componentWarnings = () => warn.mock.calls.filter(([, r]) => r instanceof CloudHsmKeyStore).map(([message]) => message);

function evaluate(args: Partial<CloudHsmKeyStoreArgs> = {}, preview = false) {
  return evaluateComponent(() => {
    const bridge = new aws.Provider("bridge", { region: "eu-west-1", allowedAccountIds: [BRIDGE] });
    const hsm = new CloudHsmKeyStore("acme-hsm", { ...base, ...args }, { providers: [bridge] });
    return {
      vpcId: hsm.vpcId,
      subnetIds: hsm.subnetIds,
      clusterId: hsm.clusterId,
      clusterCsr: hsm.clusterCsr,
      customKeyStoreId: hsm.customKeyStoreId,
      manualSteps: hsm.manualSteps,
    };
  }, preview);
}

/** The subnet resource an HSM was placed in. */
function subnetOf(e: Evaluation, hsm: RegisteredResource): RegisteredResource {
  const found = ofType(e, H.subnet).find((s) => s.id === hsm.inputs["subnetId"]);
  if (!found) throw new Error(`no subnet ${String(hsm.inputs["subnetId"])}`);
  return found;
}

describe("CloudHsmKeyStore", () => {
  test("phase 1: a private VPC, one subnet per AZ id, the FIPS cluster and exactly one HSM, no key store", async () => {
    const e = await evaluate();
    const vpc = single(e, H.vpc);
    expect(vpc.inputs).toMatchObject({ cidrBlock: "10.90.0.0/24", enableDnsSupport: true, enableDnsHostnames: true });
    const subnets = ofType(e, H.subnet);
    expect(subnets.map((s) => [s.inputs["availabilityZoneId"], s.inputs["cidrBlock"]])).toEqual(base.subnets.map((s) => [s.azId, s.cidr]));
    for (const subnet of subnets) expect(subnet.inputs).toMatchObject({ vpcId: vpc.id, mapPublicIpOnLaunch: false });
    // Nothing that could give the HSM network a path to or from the Internet.
    expect(e.resources.filter((r) => /internetGateway|natGateway|eip|route:Route$|egressOnly/i.test(r.type))).toEqual([]);
    const defaultSg = single(e, H.defaultSg);
    expect(defaultSg.inputs["vpcId"]).toBe(vpc.id);
    expect(defaultSg.inputs).not.toHaveProperty("ingress");
    expect(defaultSg.inputs).not.toHaveProperty("egress");

    const cluster = single(e, H.cluster);
    expect(cluster.inputs).toMatchObject({ hsmType: "hsm2m.medium", mode: "FIPS" });
    expect([...(cluster.inputs["subnetIds"] as string[])].sort()).toEqual(subnets.map((s) => s.id).sort());
    const hsm = single(e, H.hsm);
    expect(hsm.inputs["clusterId"]).toBe(cluster.state["clusterId"]);
    expect(subnetOf(e, hsm).inputs["availabilityZoneId"]).toBe("euw1-az1");
    expect(ofType(e, H.store)).toEqual([]);
    expect(e.outputs).toMatchObject({ vpcId: vpc.id, subnetIds: subnets.map((s) => s.id), clusterId: cluster.state["clusterId"] });
    expect(e.outputs["customKeyStoreId"]).toBeUndefined();
    expect(str(e.outputs["clusterCsr"])).toMatch(/^-----BEGIN CERTIFICATE REQUEST-----\n/);
  });

  test("every child is created in the bridge account, under the component", async () => {
    const e = await evaluate(phase2);
    const bridge = single(e, T.provider);
    const component = single(e, H.component);
    const children = e.resources.filter((r) => r.parent === component.urn);
    expect(children.length).toBe(e.resources.filter((r) => r.type.startsWith("aws:")).length);
    for (const child of children) expect(child.provider).toBe(bridge.urn);
  });

  test("the cluster and its network survive destroy; HSMs do not (deleting one forces a backup)", async () => {
    const e = await evaluate(phase2);
    for (const type of [H.vpc, H.subnet, H.cluster]) {
      for (const r of ofType(e, type)) expect(r.options.retainOnDelete, r.name).toBe(true);
    }
    for (const r of ofType(e, H.hsm)) expect(r.options.retainOnDelete).toBe(false);
    // AWS deletes a store only disconnected and empty (after the key's window): a destroy keeps it.
    expect(single(e, H.store).options.retainOnDelete).toBe(true);
  });

  test("phase 2, connected: no step is left, and changes to the password are ignored (KMS rotated it)", async () => {
    const e = await evaluate({ keyStore: { trustAnchorCertificate: CA, kmsuserPassword: PASSWORD, connected: true } });
    expect(e.outputs["manualSteps"]).toEqual([]);
    expect(single(e, H.store).options.ignoreChanges).toEqual(["keyStorePassword"]);
    // Before the connection a corrected password must reach the store (UpdateCustomKeyStore).
    expect(single(await evaluate(phase2), H.store).options.ignoreChanges).toEqual([]);
  });

  test("phase 1 lists the initialisation ceremony in order, and logs nothing itself", async () => {
    const e = await evaluate();
    const steps = e.outputs["manualSteps"] as string[];
    expect(steps).toHaveLength(4);
    const order = [
      /describe-clusters.*ClusterCsr.*sign/s,
      /initialize-cluster.*cluster activate/s,
      /"kmsuser".*crypto-user/s,
      /PUT \/v1\/providers\/acme-crm\/key-store.*saas-bridge:kmsuserPassword.*euw1-az2.*connects it/s,
    ];
    order.forEach((pattern, i) => expect(steps[i]).toMatch(pattern));
    expect(componentWarnings()).toEqual([]);
  });

  test("phase 2: second HSM in the other AZ after the first, and the key store after both", async () => {
    const e = await evaluate(phase2);
    const hsms = ofType(e, H.hsm);
    expect(hsms).toHaveLength(2);
    const [first, second] = hsms as [RegisteredResource, RegisteredResource];
    expect(hsms.map((h) => subnetOf(e, h).inputs["availabilityZoneId"])).toEqual(["euw1-az1", "euw1-az2"]);
    expect(second.dependencies).toContain(first.urn);
    const cluster = single(e, H.cluster);
    const store = single(e, H.store);
    expect(store.inputs).toMatchObject({
      customKeyStoreName: "saas-bridge-acme-crm",
      customKeyStoreType: "AWS_CLOUDHSM",
      cloudHsmClusterId: cluster.state["clusterId"],
      trustAnchorCertificate: CA,
    });
    expect(store.dependencies).toEqual(expect.arrayContaining([first.urn, second.urn]));
    expect(e.outputs["customKeyStoreId"]).toBe(store.id);
    expect(store.id).toMatch(/^cks-[0-9a-f]{17}$/);
  });

  test("phase 2: the kmsuser password is sent as a secret, kept secret in state, and never logged or exported", async () => {
    const e = await evaluate(phase2);
    const store = single(e, H.store);
    expect(store.inputs["keyStorePassword"]).toEqual({ ...SECRET_SIG, value: PASSWORD });
    expect(store.options.additionalSecretOutputs).toContain("keyStorePassword");
    const steps = e.outputs["manualSteps"] as string[];
    // Not connected yet: the one step left says who connects it and how to retry.
    expect(steps).toHaveLength(1);
    expect(steps[0]).toMatch(/not connected yet.*connects it.*PUT \/v1\/providers\/acme-crm\/key-store again.*connect-custom-key-store/s);
    expect(componentWarnings()).toEqual([]);
    expect(JSON.stringify(warn.mock.calls)).not.toContain(PASSWORD);
    expect(JSON.stringify(e.outputs)).not.toContain(PASSWORD);
    expect(JSON.stringify(single(e, H.component).state)).not.toContain(PASSWORD);
  });

  test("moving to phase 2 keeps the cluster and the first HSM (no replacement)", async () => {
    const one = await evaluate();
    const two = await evaluate(phase2);
    expect(single(two, H.cluster).id).toBe(single(one, H.cluster).id);
    const first = single(one, H.hsm);
    const same = ofType(two, H.hsm).find((h) => h.urn === first.urn);
    expect(same?.id).toBe(first.id);
  });

  test("HSMs are named by AZ id: swapping the two subnets renames nothing", async () => {
    const urns = (e: Evaluation) => ofType(e, H.hsm).map((h) => h.urn).sort();
    const swapped = { ...phase2, subnets: [...base.subnets].reverse() };
    expect(urns(await evaluate(swapped))).toEqual(urns(await evaluate(phase2)));
  });

  test("hsm1.medium takes no mode", async () => {
    const cluster = single(await evaluate({ hsmType: "hsm1.medium" }), H.cluster);
    expect(cluster.inputs["hsmType"]).toBe("hsm1.medium");
    expect(cluster.inputs).not.toHaveProperty("mode");
  });

  test("previews without invokes while ids are unknown", async () => {
    const e = await evaluate(phase2, true);
    expect(ofType(e, H.hsm)).toHaveLength(2);
    expect(ofType(e, H.store)).toHaveLength(1);
  });

  const az = (azId: string, cidr: string) => ({ azId, cidr });
  test.each([
    [{ subnets: [az("euw1-az1", "10.90.0.0/26")] }, /at least 2 distinct AZ ids, got 1/],
    [{ subnets: [az("euw1-az1", "10.90.0.0/26"), az("euw1-az1", "10.90.0.64/26")] }, /duplicate cloudhsm subnets azId "euw1-az1"/],
    [{ subnets: [az("euw1-az1", "10.90.0.0/26"), az("euw1-az2", "10.91.0.0/26")] }, /"10.91.0.0\/26" is outside vpcCidr 10.90.0.0\/24/],
    [{ subnets: [az("euw1-az1", "10.90.0.0/25"), az("euw1-az2", "10.90.0.64/26")] }, /"10.90.0.0\/25" overlaps "10.90.0.64\/26"/],
    [{ subnets: [az("euw1-az1", "10.90.0.0/26"), az("use1-az2", "10.90.0.64/26")] }, /"use1-az2" is not in region eu-west-1/],
    [{ subnets: [az("euw1-az1", "10.90.0.0/26"), az("eu-west-1b", "10.90.0.64/26")] }, /"eu-west-1b" is not an AZ id/],
    [{ subnets: [az("euw1-az1", "10.90.0.0/26"), az("euw1-az2", "10.90.0.64/29")] }, /must be between \/16 and \/28/],
    [{ vpcCidr: "10.0.0.0/8" }, /vpcCidr: CIDR "10.0.0.0\/8" must be between \/16 and \/28/],
    [{ vpcCidr: "10.90.0.1/24" }, /not a network address/],
    [{ hsmType: "hsm9.huge" as never }, /hsmType must be one of/],
    [{ keyStore: { trustAnchorCertificate: CA, kmsuserPassword: "short" } }, /kmsuserPassword must be 7-32 characters/],
    [{ keyStore: { trustAnchorCertificate: "customerCA.crt", kmsuserPassword: PASSWORD } }, /must be a PEM certificate/],
    [{ slug: "Acme_CRM" }, /invalid provider slug/],
    [{ region: "moon-1" }, /invalid AWS region/],
  ])("rejects impossible args %j", async (args, message) => {
    await expect(evaluate(args)).rejects.toThrow(message);
  });

  test("a rejected password is not echoed in the error", async () => {
    const secret = "x".repeat(40);
    await expect(evaluate({ keyStore: { trustAnchorCertificate: CA, kmsuserPassword: secret } })).rejects.toThrow(
      expect.objectContaining({ message: expect.not.stringContaining(secret) as unknown }),
    );
  });

  test("AZ ids are checked against other regions' naming too", async () => {
    const args = {
      region: "us-gov-west-1",
      subnets: [az("usgw1-az1", "10.90.0.0/26"), az("usgw1-az2", "10.90.0.64/26")],
      flowLogs: { ...base.flowLogs, kmsKeyArn: `arn:aws-us-gov:kms:us-gov-west-1:${BRIDGE}:key/0d7a3d7e-0000-4000-8000-000000000002` },
    };
    expect(ofType(await evaluate(args), H.hsm)).toHaveLength(1);
    await expect(evaluate({ ...args, subnets: [az("usgw1-az1", "10.90.0.0/26"), az("usw1-az2", "10.90.0.64/26")] })).rejects.toThrow(/not in region/);
  });
});

describe("CloudHsmKeyStore: flow logs on the HSM VPC (issue 12, defect 6, AWS Security Hub EC2.6)", () => {
  const LOGGING_KEY = `arn:aws:kms:eu-west-1:${BRIDGE}:key/0d7a3d7e-0000-4000-8000-000000000002`;
  const flowLogs = { kmsKeyArn: LOGGING_KEY, retentionInDays: 365, accountId: BRIDGE };
  const F = { flowLog: "aws:ec2/flowLog:FlowLog", logGroup: "aws:cloudwatch/logGroup:LogGroup", role: "aws:iam/role:Role", policy: "aws:iam/rolePolicy:RolePolicy" };

  test("one VPC-level flow log of ALL traffic into a KMS-encrypted, retained log group in the bridge account", async () => {
    const e = await evaluate({ flowLogs } as Partial<CloudHsmKeyStoreArgs>);
    const vpc = single(e, H.vpc);
    const flowLog = single(e, F.flowLog);
    expect(flowLog.inputs).toMatchObject({ vpcId: vpc.id, trafficType: "ALL", logDestinationType: "cloud-watch-logs", maxAggregationInterval: 60 });
    expect(flowLog.inputs).not.toHaveProperty("subnetId");
    const group = single(e, F.logGroup);
    expect(group.inputs).toMatchObject({ name: "/saas-bridge/acme-crm/cloudhsm-vpc-flow-logs", kmsKeyId: LOGGING_KEY, retentionInDays: 365 });
    expect(group.options.retainOnDelete).toBe(true);
    expect(flowLog.inputs["logDestination"]).toBe(group.state["arn"]);
    const role = single(e, F.role);
    expect(flowLog.inputs["iamRoleArn"]).toBe(role.state["arn"]);
    const trust = JSON.parse(str(role.inputs["assumeRolePolicy"])) as { Statement: { Principal: unknown; Condition: unknown }[] };
    expect(trust.Statement).toEqual([
      expect.objectContaining({
        Principal: { Service: "vpc-flow-logs.amazonaws.com" },
        Condition: {
          StringEquals: { "aws:SourceAccount": BRIDGE },
          ArnLike: { "aws:SourceArn": `arn:aws:ec2:eu-west-1:${BRIDGE}:vpc-flow-log/*` },
        },
      }),
    ]);
    expect(flowLog.dependencies).toContain(single(e, F.policy).urn);
  });

  test("from generation 2 on, the retained log group's name carries the generation (issue 12, defect 9)", async () => {
    const e = await evaluate({ flowLogs: { ...flowLogs, generation: 2 } } as Partial<CloudHsmKeyStoreArgs>);
    expect(single(e, F.logGroup).inputs["name"]).toBe("/saas-bridge/acme-crm/cloudhsm-vpc-flow-logs-g2");
    expect(cloudHsmFlowLogGroupName("acme-crm", 2)).toBe("/saas-bridge/acme-crm/cloudhsm-vpc-flow-logs-g2");
    expect(cloudHsmFlowLogGroupName("acme-crm", 1)).toBe("/saas-bridge/acme-crm/cloudhsm-vpc-flow-logs");
  });

  test("phase 2 keeps the same flow log (no rename)", async () => {
    const one = await evaluate({ flowLogs } as Partial<CloudHsmKeyStoreArgs>);
    const two = await evaluate({ flowLogs, ...phase2 } as Partial<CloudHsmKeyStoreArgs>);
    expect(single(two, F.flowLog).urn).toBe(single(one, F.flowLog).urn);
  });

  test.each([
    [{ kmsKeyArn: "alias/saas-audit/acme-crm" }, /not a KMS key ARN/],
    [{ kmsKeyArn: LOGGING_KEY.replace("eu-west-1", "us-east-1") }, /not in aws\/eu-west-1/],
    [{ retentionInDays: 13 }, /retention/],
  ])("rejects flowLogs %j", async (override, message) => {
    await expect(evaluate({ flowLogs: { ...flowLogs, ...override } } as Partial<CloudHsmKeyStoreArgs>)).rejects.toThrow(message);
  });
});
