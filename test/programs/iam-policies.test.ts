import { readFileSync } from "node:fs";
import fc from "fast-check";
import { describe, expect, test } from "vitest";
import { createMockCloud } from "../../programs/mock-cloud.js";
import { evaluateProgram, type Evaluation } from "../../programs/evaluate-program.js";
import { networkHubProgram } from "../../programs/network-hub.js";
import type { AccessState } from "../../programs/types.js";
import { provisionalSubnets, toProviderStackArgs } from "../../src/onboarding/stack-args.js";
import { validSpecArb } from "../helpers/arbitraries.js";
import { acme, globex, lz, schema, type Body } from "../onboarding/spec-fixtures.js";
import { collectPolicies, validatePolicyDocument, type PolicyType } from "../support/iam-policy-validator.js";
import { evaluateProviderStack } from "./fixtures.js";

/**
 * Every IAM-family policy document the programs generate (key policies, SCPs, RCPs, bucket, trust and
 * role policies, and any other document found in an input) is checked by the maintained validators in
 * test/support/iam-policy-validator.ts: AWS would accept it, and every action and condition key in it
 * exists and can take effect. Specs: the examples in every shape the program branches on, and a sample
 * of generated valid specs.
 */

const CA = readFileSync(new URL("../support/certs/customer-ca.pem", import.meta.url), "utf8");

/** `hsmConnected`: CloudHSM phase 2 with the store connected, so the HSM-backed key and its policy exist. */
async function evaluateSpec(body: unknown, accessState: AccessState, hsmConnected = false): Promise<Evaluation> {
  const spec = schema.parse(body);
  const region = lz.network.regions[spec.region];
  if (!region) throw new Error(`region ${spec.region} is not in the landing zone`);
  const subnets = provisionalSubnets(region.subnetPool, region.subnetPrefixLength, region.availabilityZoneIds);
  const keyStore = hsmConnected ? { keyStore: { trustAnchorCertificate: CA, connected: true } } : {};
  return evaluateProviderStack(toProviderStackArgs(spec, lz, accessState, { subnets, connectionAccepted: accessState === "active", ...keyStore }));
}

/** `type @ where: path: message` for every finding in the graph, and every document it found by type. */
async function findingsOf(evaluation: Evaluation): Promise<{ findings: string[]; types: Set<PolicyType> }> {
  const { found, unclassified } = collectPolicies(evaluation.resources);
  const findings = unclassified.map((where) => `unclassified policy document @ ${where}`);
  for (const policy of found) {
    for (const f of await validatePolicyDocument(policy.type, policy.document, policy.text)) {
      findings.push(`${policy.type} @ ${policy.where}: ${f.path}: ${f.message}`);
    }
  }
  return { findings, types: new Set(found.map((p) => p.type)) };
}

/** globex's inbound exposure, for acme's provider account (plain TCP: its certificate is in another region). */
const inboundFor = (body: Body): Body => {
  const { tls: _tls, ...inbound } = globex()["inbound"] as Body;
  return { ...body, inbound: { ...inbound, allowedPrincipals: [`arn:aws:iam::${body["provider"]["awsAccountId"]}:root`] } };
};
const created = (body: Body): Body => ({ ...body, bridgeAccount: { create: { email: `aws-saas-${body["name"]}@example.com` } } });
const existing = (body: Body): Body => ({ ...body, bridgeAccount: { accountId: "666666666666" } });
const keyStore = (body: Body, store: "kms" | "cloudhsm"): Body => ({ ...body, kms: { ...body["kms"], keyStore: store } });

const SHAPES: [string, Body, boolean][] = [
  ["acme (example)", acme(), false],
  ["globex (example)", globex(), false],
  ...(["kms", "cloudhsm"] as const).flatMap((store): [string, Body, boolean][] => [
    [`existing account, ${store}, no inbound`, keyStore(existing(acme()), store), false],
    [`existing account, ${store}, inbound`, keyStore(inboundFor(existing(acme())), store), false],
    [`created account, ${store}, no inbound`, keyStore(created(acme()), store), false],
    [`created account, ${store}, inbound`, keyStore(inboundFor(created(acme())), store), false],
  ]),
  // CloudHSM phase 2, the store connected: the HSM-backed BYOK key and its policy.
  ["existing account, cloudhsm connected, no inbound", keyStore(existing(acme()), "cloudhsm"), true],
  ["created account, cloudhsm connected, inbound", keyStore(inboundFor(created(acme())), "cloudhsm"), true],
];

describe("IAM policy documents of the programs", () => {
  test.each(SHAPES)("%s: valid for their policy type, active and revoked", async (_, body, hsmConnected) => {
    const seen = new Set<PolicyType>();
    for (const state of ["active", "revoked"] as const) {
      const evaluation = await evaluateSpec(body, state, hsmConnected);
      if (hsmConnected) expect(evaluation.resources.some((r) => r.type === "aws:kms/key:Key" && typeof r.inputs["customKeyStoreId"] === "string")).toBe(true);
      const { findings, types } = await findingsOf(evaluation);
      expect(findings).toEqual([]);
      types.forEach((t) => seen.add(t));
      if (state === "revoked") expect(types.has("rcp")).toBe(true);
    }
    // The collector really finds the documents it is meant to check.
    expect([...seen].sort()).toEqual(["bucket", "identity", "key", "rcp", "scp", "trust"]);
  });

  test.each(SHAPES)("%s: the SCP names no account but the one it is attached to (issue 12, defect 8)", async (_, body, hsmConnected) => {
    // An SCP governs only the principals of the accounts it is attached to, and IAM only acts on the
    // caller's own account: an ARN of any other account in it (a management-account role) does nothing.
    const e = await evaluateSpec(body, "active", hsmConnected);
    const scp = e.resources.find((r) => r.type === "aws:organizations/policy:Policy" && r.inputs["type"] === "SERVICE_CONTROL_POLICY");
    const target = e.resources.find((r) => r.type === "aws:organizations/policyAttachment:PolicyAttachment" && r.inputs["policyId"] === scp?.id);
    const accounts = [...String(scp?.inputs["content"]).matchAll(/arn:[^:"]+:[^:"]+:[^:"]*:(\d{12}):/g)].map((m) => m[1]);
    expect(target?.inputs["targetId"]).toMatch(/^\d{12}$/);
    expect(accounts.filter((account) => account !== target?.inputs["targetId"])).toEqual([]);
  });

  test("generated valid specs: zero findings", async () => {
    await fc.assert(
      fc.asyncProperty(validSpecArb(lz), fc.constantFrom<AccessState>("active", "revoked"), async (body, state) => {
        expect((await findingsOf(await evaluateSpec(body, state))).findings).toEqual([]);
      }),
      { numRuns: 12 },
    );
  }, 120_000);

  test("the network-hub program generates no IAM policy document", async () => {
    const evaluation = await evaluateProgram(
      networkHubProgram({
        region: "eu-west-1",
        network: { accountId: lz.network.accountId, deployRoleArn: lz.network.deployRoleArn },
        tags: { "managed-by": "saas-bridge" },
        policyName: lz.firewall.policyName,
        ruleGroups: [{ provider: "acme", arn: `arn:aws:network-firewall:eu-west-1:${lz.network.accountId}:stateful-rulegroup/saas-acme` }],
      }),
      { project: "saas-bridge-hub", stack: "network-hub.eu-west-1", mocks: createMockCloud({ region: "eu-west-1", callerAccountId: "999999999999" }) },
    );
    expect(collectPolicies(evaluation.resources)).toEqual({ found: [], unclassified: [] });
  });
});

describe("the IAM policy validator catches what AWS would reject or ignore", () => {
  const doc = (statement: Record<string, unknown>) => ({ Version: "2012-10-17", Statement: [statement] });
  const keyStatement = { Sid: "S", Effect: "Allow", Principal: { AWS: "arn:aws:iam::111111111111:root" }, Action: "kms:Decrypt", Resource: "*" };
  const scpStatement = { Sid: "S", Effect: "Deny", Action: "organizations:LeaveOrganization", Resource: "*" };
  const rcpStatement = { Sid: "S", Effect: "Deny", Principal: "*", Action: "kms:*", Resource: "*" };
  const messages = async (type: PolicyType, statement: Record<string, unknown>) =>
    (await validatePolicyDocument(type, doc(statement))).map((f) => f.message).join("\n");

  test.each<[string, PolicyType, Record<string, unknown>, RegExp]>([
    ["an unknown action", "key", { ...keyStatement, Action: "kms:Decrypts" }, /kms:Decrypts matches no kms action/],
    ["a wildcard matching nothing", "key", { ...keyStatement, Action: "kms:Frobnicate*" }, /matches no kms action/],
    ["an unknown service", "identity", { Effect: "Allow", Action: "kmss:Decrypt", Resource: "*" }, /service "kmss"/],
    ["a misspelt condition key", "key", { ...keyStatement, Condition: { ArnEquals: { "aws:PrincipalArnn": "arn:aws:iam::111111111111:role/x" } } }, /aws:PrincipalArnn does not exist/],
    ["a condition key no action of the statement has", "key", { ...keyStatement, Condition: { StringEquals: { "kms:GranteePrincipal": "x" } } }, /applies to none/],
    ["a Principal in an SCP", "scp", { ...scpStatement, Principal: "*" }, /Principal/],
    ["an Allow in an RCP", "rcp", { ...rcpStatement, Effect: "Allow" }, /Effect must be "Deny"/],
    ["a service without RCP support in an RCP", "rcp", { ...rcpStatement, Action: "ec2:*" }, /ec2 does not support resource control policies/],
    ["an S3 action in a key policy", "key", { ...keyStatement, Action: "s3:GetObject" }, /not a kms action/],
    ["a Resource in a trust policy", "trust", { Effect: "Allow", Principal: { Service: "cloudtrail.amazonaws.com" }, Action: "sts:AssumeRole", Resource: "*" }, /Resource/],
    ["a malformed AWS principal", "key", { ...keyStatement, Principal: { AWS: "arn:aws:iam::1111:root" } }, /not an account, root, role or user principal/],
    ["a Resource that is not an ARN", "identity", { Effect: "Allow", Action: "logs:PutLogEvents", Resource: "log-group:/x" }, /is not "\*" or an ARN/],
    ["a Bool condition that is not a boolean", "bucket", { ...keyStatement, Action: "s3:*", Principal: "*", Condition: { Bool: { "aws:SecureTransport": "no" } } }, /"true" or "false"/],
  ])("%s", async (_, type, statement, expected) => {
    expect(await messages(type, statement)).toMatch(expected);
  });

  test("a document in the old policy language", async () => {
    expect(await validatePolicyDocument("identity", { Version: "2008-10-17", Statement: [{ Effect: "Allow", Action: "s3:GetObject", Resource: "*" }] })).toEqual([
      { path: "Version", message: 'Version is not "2012-10-17"' },
    ]);
  });

  test("a policy document at a place the collector does not know is reported", () => {
    const resource = {
      urn: "urn:x", type: "aws:sqs/queuePolicy:QueuePolicy", name: "q", parent: "", custom: true, provider: "", dependencies: [], id: "q", state: {},
      inputs: { policy: JSON.stringify(doc(keyStatement)) },
      options: { protect: false, retainOnDelete: false, ignoreChanges: [], deleteBeforeReplace: false, additionalSecretOutputs: [] },
    };
    expect(collectPolicies([resource]).unclassified).toEqual(["aws:sqs/queuePolicy:QueuePolicy::q.policy"]);
  });
});
