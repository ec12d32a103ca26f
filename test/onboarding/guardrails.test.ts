import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { buildKeyPolicy } from "../../programs/components/key-policy.js";
import { buildRulesString } from "../../programs/components/suricata.js";
import { GRANT_OPERATIONS, type AccessState, type GrantOperation, type ProviderStackArgs } from "../../programs/types.js";
import {
  evaluateGuardrails,
  GUARDRAIL_CODES,
  guardrailExpectations,
  type GuardrailExpectations,
} from "../../src/onboarding/guardrails.js";
import { provisionalSubnets, toProviderStackArgs } from "../../src/onboarding/stack-args.js";
import { evaluateProviderStack, providerStackArgs } from "../programs/fixtures.js";
import {
  active,
  BAD_GRAPHS,
  byName,
  expectations,
  goodGraph,
  N,
  patched,
  PROVIDER,
  PROVIDER_ROLE,
  providerUseCondition,
  revoked,
  ruleGroupInputs,
  ruleLines,
  T,
  withResource,
  type Graph,
} from "./guardrail-graphs.js";
import { acme, globex, lz, schema } from "./spec-fixtures.js";

const found = (graph: Graph, state: AccessState) => evaluateGuardrails(graph, expectations(state));
const withRules = (lines: readonly string[]) => ruleGroupInputs(lines);

describe("evaluateGuardrails on crafted graphs", () => {
  it.each(["active", "revoked"] as const)("passes the good %s graph", (state) => {
    expect(found(goodGraph(state), state)).toEqual([]);
  });

  it.each(BAD_GRAPHS)("$title ($state)", ({ state, graph: build, expected }) => {
    const graph = build();
    const actual = found(graph, state).map((v) => [v.code, v.urn]);
    expect(actual).toEqual(expected.map(([code, name]) => [code, byName(graph, name).urn]));
  });

  it("has a bad graph for every code", () => {
    const covered = new Set(BAD_GRAPHS.flatMap((b) => b.expected.map(([code]) => code)));
    expect(GUARDRAIL_CODES.filter((code) => !covered.has(code))).toEqual([]);
  });
});

describe("evaluateGuardrails accepts equivalent safe forms", () => {
  const ok = (graph: Graph, state: AccessState = "active") => expect(found(graph, state)).toEqual([]);

  it("protocol numbers and string ports", () => ok(patched(active(), N.ingress, { ipProtocol: "6", fromPort: "443", toPort: "443" })));
  it("a key in a custom key store without rotation", () =>
    ok(patched(active(), N.key, { enableKeyRotation: false, customKeyStoreId: "cks-0123456789abcdef0" })));
  it("grant constraints with encryptionContextEquals and differently cased keys", () =>
    ok(patched(active(), N.grant, { constraints: [{ encryptionContextEquals: { "SAAS:TENANT": "acme-crm", "saas:provider": "acme" } }] })));
  it("condition keys in another case (IAM context keys are case-insensitive)", () => {
    const StringEquals = { "KMS:EncryptionContext:SAAS:TENANT": "acme-crm", "kms:encryptioncontext:saas:provider": "acme" };
    ok(patched(active(), N.key, { policy: providerUseCondition({ ArnEquals: { "AWS:PrincipalArn": PROVIDER_ROLE }, StringEquals }) }));
  });
  it("a revoked Deny naming the bare account id, in a single-statement policy", () => {
    const policy = JSON.stringify({ Statement: { Effect: "Deny", Principal: { AWS: PROVIDER }, Action: "*", Resource: "*" } });
    ok(patched(revoked(), N.key, { policy }), "revoked");
  });
  it("a bucket matched by its explicit name, without ids", () => {
    const graph = patched(patched(active(), N.bucket, { bucket: "explicit-name", bucketPrefix: undefined }), N.pab, { bucket: "explicit-name" });
    // Issue 12: the access-log bucket and the logging named explicitly too; a VPC has no name to match by.
    const logs = patched(patched(graph, N.accessLogBucket, { bucket: "explicit-logs", bucketPrefix: undefined }), N.accessLogPab, { bucket: "explicit-logs" });
    const named = patched(logs, N.bucketLogging, { bucket: "explicit-name", targetBucket: "explicit-logs" }).filter((r) => r.name !== N.hsmVpc && r.name !== N.hsmFlowLog);
    ok(named.map((r) => ({ ...r, id: "", dependencies: [] })));
  });
  it("a computed bucket name matched by the bucket's id alone", () =>
    ok(active().map((r) => (r.name === N.pab ? { ...r, dependencies: [] } : r))));
  it("a bucket matched through dependencies when the PAB's bucket is unknown", () => ok(patched(active(), N.pab, { bucket: undefined })));
  it("one drop ip from any source, or reject", () => {
    const passes = ruleLines("active").filter((l) => l.startsWith("pass"));
    ok(patched(active(), N.ruleGroup, withRules([...passes, 'drop ip any any -> any any (msg:"all"; sid:1;)'])));
    ok(patched(active(), N.ruleGroup, withRules([...passes, "reject ip any any <> $SAAS_NET any (sid:1;)"])));
  });

  it("fails closed on a bare subset: a computed bucket name cannot be matched without ids", () => {
    const bare = active().map(({ urn, type, name, inputs, custom }) => ({ urn, type, name, inputs, custom }));
    const unknown = bare.map((r) => (r.name === N.pab ? { ...r, inputs: { ...r.inputs, bucket: undefined } } : r));
    const violations = evaluateGuardrails(unknown, expectations("active"));
    // Issue 12: access logging and flow logs are matched by ids too, so they fail closed the same way.
    expect(violations.map((v) => [v.code, v.resourceName])).toEqual([
      ["BUCKET_PUBLIC_ACCESS_NOT_BLOCKED", N.bucket],
      ["BUCKET_ACCESS_LOGGING_DISABLED", N.bucket],
      ["BUCKET_PUBLIC_ACCESS_NOT_BLOCKED", N.accessLogBucket],
      ["BUCKET_ACCESS_LOGGING_DISABLED", N.accessLogBucket],
      ["VPC_FLOW_LOGS_MISSING", N.hsmVpc],
    ]);
  });

  it("orders violations by the resource's position in the graph", () => {
    const graph = patched(patched(active(), N.trail, { enableLogFileValidation: false }), N.ingress, { cidrIpv4: "0.0.0.0/0" });
    expect(found(graph, "active").map((v) => v.resourceName)).toEqual([N.ingress, N.trail]);
  });
});

describe("violation messages", () => {
  it("name the resource, say what is expected, and never carry secret inputs", () => {
    const secret = "S3CR3T-grant-token-and-password";
    let graph = patched(active(), N.grant, { granteePrincipal: "arn:aws:iam::444444444444:role/x", grantToken: secret, constraints: [] });
    graph = withResource(graph, "aws:kms/customKeyStore:CustomKeyStore", "store", { keyStorePassword: secret });
    graph = patched(graph, N.key, { enableKeyRotation: false, description: secret });
    const violations = found(graph, "revoked");
    const codes = ["GRANT_NOT_SCOPED", "GRANT_UNCONSTRAINED", "REVOKED_ACCESS_REMAINS", "KMS_KEY_ROTATION_DISABLED"];
    expect(violations.map((v) => v.code)).toEqual(expect.arrayContaining(codes));
    for (const v of violations) {
      expect(v.message).not.toContain(secret);
      expect(v.message).toMatch(/expected/);
      expect([v.resourceName, v.resourceType]).toEqual([byName(graph, v.resourceName).name, byName(graph, v.resourceName).type]);
    }
  });
});

describe("key policy and rule parsers (properties)", () => {
  interface PolicyArgs {
    principals: string[];
    operations: GrantOperation[];
    context: Record<string, string>;
    bridge: string;
  }
  const policyArgs: fc.Arbitrary<PolicyArgs> = fc.record({
    principals: fc
      .uniqueArray(fc.stringMatching(/^[a-z][a-z0-9-]{0,20}$/), { minLength: 1, maxLength: 3 })
      .map((names) => names.map((n) => `arn:aws:iam::${PROVIDER}:role/${n}`)),
    operations: fc.subarray([...GRANT_OPERATIONS], { minLength: 1 }),
    // Grant constraints compare keys case-insensitively, so the spec never has two keys differing by case.
    context: fc
      .dictionary(fc.stringMatching(/^[a-z][a-z:]{0,10}$/), fc.stringMatching(/^[a-z0-9-]{1,12}$/), { minKeys: 1, maxKeys: 4 })
      .filter((c) => new Set(Object.keys(c).map((k) => k.toLowerCase())).size === Object.keys(c).length),
    bridge: fc.stringMatching(/^[0-9]{12}$/).filter((a) => a !== PROVIDER),
  });
  const states = fc.constantFrom<AccessState>("active", "revoked");
  const expectFor = (state: AccessState, a: PolicyArgs): GuardrailExpectations =>
    expectations(state, { providerPrincipalArns: a.principals, encryptionContext: a.context, grantOperations: a.operations });
  const keyGraph = (policy: unknown) => [
    { urn: "urn:k", type: T.key, name: "k", custom: true, inputs: { enableKeyRotation: true, policy: JSON.stringify(policy) } },
  ];
  const build = (state: AccessState, a: PolicyArgs) =>
    buildKeyPolicy({
      partition: "aws",
      bridgeAccountId: a.bridge,
      adminRoleArns: [`arn:aws:iam::${a.bridge}:role/admin`],
      providerAccountId: PROVIDER,
      providerPrincipalArns: a.principals,
      grantOperations: a.operations,
      encryptionContext: a.context,
      accessState: state,
    });

  it("every policy the program's builder emits passes, active and revoked", () => {
    fc.assert(
      fc.property(policyArgs, states, (a, state) => {
        expect(evaluateGuardrails(keyGraph(build(state, a)), expectFor(state, a))).toEqual([]);
      }),
    );
  });

  it("dropping any encryption-context condition from a provider crypto statement is flagged", () => {
    const withCrypto = policyArgs.filter((a) => a.operations.some((op) => op !== "DescribeKey"));
    fc.assert(
      fc.property(withCrypto, fc.nat(), (a, pick) => {
        type Doc = { Statement: { Sid: string; Condition: Record<string, Record<string, unknown>> }[] };
        const doc = JSON.parse(JSON.stringify(build("active", a))) as Doc;
        const conditions = doc.Statement.find((st) => st.Sid === "ProviderUse")?.Condition["StringEquals"] ?? {};
        const keys = Object.keys(conditions);
        delete conditions[keys[pick % keys.length] ?? ""];
        expect(evaluateGuardrails(keyGraph(doc), expectFor("active", a)).map((v) => v.code)).toEqual(["KEY_POLICY_NOT_SCOPED"]);
      }),
    );
  });

  it("any Allow to * is flagged, whatever its actions and conditions", () => {
    const world = fc.constantFrom<unknown>("*", { AWS: "*" }, { AWS: ["arn:aws:iam::111111111111:root", "*"] });
    const operators = fc.constantFrom("StringEquals", "ArnEquals", "Bool");
    const condition = fc.option(fc.dictionary(operators, fc.dictionary(fc.string(), fc.string())), { nil: undefined });
    fc.assert(
      fc.property(policyArgs, world, fc.array(fc.string(), { minLength: 1 }), condition, states, (a, principal, actions, c, state) => {
        const doc = build(state, a);
        const allow = { Effect: "Allow", Principal: principal, Action: actions, Resource: "*", ...(c ? { Condition: c } : {}) };
        const codes = evaluateGuardrails(keyGraph({ ...doc, Statement: [...doc.Statement, allow] }), expectFor(state, a)).map((v) => v.code);
        expect(codes).toContain("KEY_POLICY_NOT_SCOPED");
      }),
    );
  });

  it("every rules string the program's builder emits passes; removing any of its drops is flagged", () => {
    const domain = fc.tuple(fc.boolean(), fc.stringMatching(/^[a-z][a-z0-9]{0,8}\.[a-z]{2,5}$/)).map(([w, d]) => (w ? `*.${d}` : d));
    const group = (lines: string[]) => [{ urn: "urn:g", type: T.ruleGroup, name: "g", custom: true, inputs: ruleGroupInputs(lines) }];
    // udp is always port-matched; tcp either way. Domains exist exactly when a domain port does.
    const port = fc
      .record({ port: fc.integer({ min: 1, max: 65_535 }), protocol: fc.constantFrom("tcp" as const, "udp" as const), match: fc.constantFrom("domain" as const, "port" as const) })
      .map((p) => (p.protocol === "udp" ? { ...p, match: "port" as const } : p));
    const ports = fc.uniqueArray(port, { minLength: 1, maxLength: 6, selector: (p) => `${p.protocol}/${p.port}` });
    fc.assert(
      fc.property(ports, fc.uniqueArray(domain, { minLength: 1, maxLength: 6 }), states, fc.nat(), (ports, domains, state, pick) => {
        const allowedDomains = ports.some((p) => p.match === "domain") ? domains : [];
        const lines = buildRulesString({ slug: "p", allowedDomains, ports, sidBase: 1_000_000, accessState: state }).rulesString.split("\n");
        const expect_ = expectations(state, { outboundPorts: ports });
        expect(evaluateGuardrails(group(lines), expect_)).toEqual([]);
        const drops = lines.flatMap((l, i) => (l.startsWith("drop") ? [i] : []));
        const cut = lines.filter((_, i) => i !== drops[pick % drops.length]);
        expect(evaluateGuardrails(group(cut), expect_).map((v) => v.code)).toEqual(["FIREWALL_NOT_DEFAULT_DROP"]);
        // The same rules against a spec without one of its ports: every pass for that port is flagged.
        const dropped = ports[pick % ports.length]!;
        const narrower = expectations(state, { outboundPorts: ports.filter((p) => p !== dropped) });
        const flagged = evaluateGuardrails(group(lines), narrower).map((v) => v.code);
        expect(flagged).toEqual(state === "active" && (dropped.match === "port" || allowedDomains.length > 0) ? ["FIREWALL_PASS_NOT_IN_SPEC"] : []);
      }),
    );
  });
});

/** The expectations a stack's own arguments imply (the service derives them from the spec instead). */
function expectationsOf(args: ProviderStackArgs): GuardrailExpectations {
  return {
    accessState: args.accessState,
    providerAccountId: args.provider.awsAccountId,
    providerPrincipalArns: args.provider.principalArns,
    outboundPorts: args.outbound.ports,
    outboundSourceCidrs: args.outbound.allowedSourceCidrs,
    inboundPorts: [...new Set((args.inbound?.targets ?? []).map((t) => t.port))],
    inboundSourceCidrs: args.inbound?.sourceCidrs ?? [],
    encryptionContext: args.kms.encryptionContext,
    grantOperations: args.kms.grantOperations,
  };
}

describe("the real provider-stack program passes its guardrails", () => {
  const created = providerStackArgs({
    bridge: { kind: "create", email: "saas+acme@example.com", saasOuId: "ou-ab12-abcdefgh", accessRoleName: "OrganizationAccountAccessRole" },
  });
  const inbound = providerStackArgs({
    inbound: {
      targets: [{ ip: "10.20.1.10", port: 8443 }, { ip: "10.20.1.11", port: 8443 }],
      allowedPrincipals: [`arn:aws:iam::${PROVIDER}:root`],
      acceptedEndpointIds: ["vpce-0123456789abcdef0"],
      sourceCidrs: ["100.64.0.0/24"],
    },
  });
  const states = ["active", "revoked"] as const;

  it.each([
    ["existing account", providerStackArgs()],
    ["created account", created],
    ["inbound exposure", inbound],
  ])("%s, active and revoked", async (_, args) => {
    for (const accessState of states) {
      const stack = { ...args, accessState };
      const evaluation = await evaluateProviderStack(stack);
      expect(evaluateGuardrails(evaluation.resources, expectationsOf(stack))).toEqual([]);
    }
  });

  it("sees every kind of resource it checks, and catches a change to the real graph", async () => {
    for (const accessState of states) {
      const stack = { ...inbound, accessState };
      const { resources } = await evaluateProviderStack(stack);
      const types = new Set(resources.map((r) => r.type));
      const checked = [T.sg, T.endpoint, T.lb, T.listener, T.service, T.ruleGroup, T.key, T.logGroup, T.bucket, T.pab, T.trail];
      expect(checked.filter((t) => !types.has(t))).toEqual([]);
      if (accessState === "active") expect([T.ingress, T.grant, T.accepter].filter((t) => !types.has(t))).toEqual([]);

      // Without its PAB the audit bucket is reported; without its Deny only the BYOK key is (the audit
      // key is recognised through the log group and trail that use it, by the mock's real ids).
      const byok = resources.find((r) => r.type === T.key && String(r.inputs["policy"]).includes(PROVIDER));
      // Two buckets: the trail's and its access-log bucket (issue 12, S3.9).
      const buckets = resources.filter((r) => r.type === T.bucket);
      if (!byok || buckets.length !== 2) throw new Error("no BYOK key or not two buckets in the graph");
      const mutated = resources
        .filter((r) => r.type !== T.pab)
        .map((r) => (r === byok ? { ...r, inputs: { ...r.inputs, policy: JSON.stringify({ Statement: [] }) } } : r));
      const expected = [[byok, "REVOKED_ACCESS_REMAINS"] as const, ...buckets.map((b) => [b, "BUCKET_PUBLIC_ACCESS_NOT_BLOCKED"] as const)]
        .filter(([, code]) => accessState === "revoked" || code !== "REVOKED_ACCESS_REMAINS")
        .sort(([a], [b]) => resources.indexOf(a) - resources.indexOf(b))
        .map(([r, code]) => [code, r.urn]);
      expect(evaluateGuardrails(mutated, expectationsOf(stack)).map((v) => [v.code, v.urn])).toEqual(expected);
    }
  });

  it.each([
    ["acme", acme],
    ["globex (new account, inbound, CloudHSM)", globex],
  ])("from the example spec %s, as the service derives both", async (_, example) => {
    const spec = schema.parse(example());
    const region = lz.network.regions[spec.region];
    if (!region) throw new Error(`example region ${spec.region} is not in the landing zone`);
    const subnets = provisionalSubnets(region.subnetPool, region.subnetPrefixLength, region.availabilityZoneIds);
    for (const accessState of states) {
      const args = toProviderStackArgs(spec, lz, accessState, { subnets, connectionAccepted: true });
      const evaluation = await evaluateProviderStack(args);
      expect(evaluateGuardrails(evaluation.resources, guardrailExpectations(spec, accessState))).toEqual([]);
    }
  });
});

describe("guardrailExpectations", () => {
  it("takes the provider, ports, distinct inbound ports and context from the spec", () => {
    expect(guardrailExpectations(schema.parse(globex()), "revoked")).toEqual({
      accessState: "revoked",
      providerAccountId: "555555555555",
      providerPrincipalArns: ["arn:aws:iam::555555555555:role/globex-kms-client", "arn:aws:iam::555555555555:role/globex-batch"],
      outboundPorts: [{ port: 443, protocol: "tcp", match: "domain" }, { port: 514, protocol: "udp", match: "port" }],
      outboundSourceCidrs: ["10.40.0.0/16"],
      inboundPorts: [8443],
      inboundSourceCidrs: ["100.64.12.0/24"],
      encryptionContext: { "saas:tenant": "example-corp" },
      grantOperations: ["Encrypt", "Decrypt", "GenerateDataKeyWithoutPlaintext"],
    });
    expect(guardrailExpectations(schema.parse(acme()), "active").inboundPorts).toEqual([]);
  });
});

describe("issue 12 controls on the real provider-stack graph (defects 5 and 6)", () => {
  const hsmArgs = providerStackArgs({
    kms: {
      ...providerStackArgs().kms,
      keyStore: "cloudhsm",
      cloudHsm: { vpcCidr: "10.255.0.0/24", subnets: [{ azId: "euw1-az1", cidr: "10.255.0.0/26" }, { azId: "euw1-az2", cidr: "10.255.0.64/26" }] },
    },
  });

  it("removing the HSM VPC's flow log, the trail bucket's logging or the NLB's enforcement turns a guardrail red", async () => {
    const inbound = providerStackArgs({
      ...hsmArgs,
      inbound: {
        targets: [{ ip: "10.20.1.10", port: 8443 }],
        allowedPrincipals: [`arn:aws:iam::${PROVIDER}:root`],
        acceptedEndpointIds: [],
        sourceCidrs: ["100.64.0.0/24"],
      },
    });
    const { resources } = await evaluateProviderStack(inbound);
    expect(evaluateGuardrails(resources, expectationsOf(inbound))).toEqual([]);
    const codes = (graph: typeof resources) => evaluateGuardrails(graph, expectationsOf(inbound)).map((v) => v.code);
    expect(codes(resources.filter((r) => r.type !== "aws:ec2/flowLog:FlowLog" || r.inputs["vpcId"] === undefined))).toEqual(["VPC_FLOW_LOGS_MISSING"]);
    expect(codes(resources.filter((r) => r.type !== "aws:s3/bucketLogging:BucketLogging"))).toEqual([
      "BUCKET_ACCESS_LOGGING_DISABLED",
      "BUCKET_ACCESS_LOGGING_DISABLED",
    ]);
    const off = resources.map((r) => (r.type === T.lb ? { ...r, inputs: { ...r.inputs, enforceSecurityGroupInboundRulesOnPrivateLinkTraffic: "off" } } : r));
    expect(codes(off)).toEqual(["NLB_PRIVATELINK_NOT_ENFORCED"]);
    expect(codes(resources)).toEqual([]);
  });

  it("removing the trail bucket's logging turns BUCKET_ACCESS_LOGGING_DISABLED red (defect 6, S3.9)", async () => {
    const args = providerStackArgs();
    const { resources } = await evaluateProviderStack(args);
    expect(evaluateGuardrails(resources, expectationsOf(args))).toEqual([]);
    const without = resources.filter((r) => r.type !== "aws:s3/bucketLogging:BucketLogging");
    expect(evaluateGuardrails(without, expectationsOf(args)).map((v) => v.code)).toEqual(["BUCKET_ACCESS_LOGGING_DISABLED", "BUCKET_ACCESS_LOGGING_DISABLED"]);
  });

  it("the NLB's ingress sources come from the spec: another spec's CIDRs turn NLB_SG_HAS_INGRESS red", async () => {
    const spec = schema.parse(globex());
    const region = lz.network.regions[spec.region]!;
    const subnets = provisionalSubnets(region.subnetPool, region.subnetPrefixLength, region.availabilityZoneIds);
    const args = toProviderStackArgs(spec, lz, "active", { subnets, connectionAccepted: true });
    const { resources } = await evaluateProviderStack(args);
    const other = { ...guardrailExpectations(spec, "active"), inboundSourceCidrs: ["100.64.99.0/24"] };
    expect(evaluateGuardrails(resources, other).map((v) => v.code)).toEqual(["NLB_SG_HAS_INGRESS"]);
  });
});
