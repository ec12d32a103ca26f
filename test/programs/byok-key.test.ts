import * as pulumi from "@pulumi/pulumi";
import { describe, expect, test, vi } from "vitest";
import { ByokKey, type ByokKeyArgs } from "../../programs/components/byok-key.js";
import { CloudHsmKeyStore } from "../../programs/components/cloudhsm-key-store.js";
import { providerUseActions } from "../../programs/components/key-policy.js";
import { expandAction } from "../support/iam-policy-validator.js";
import { evaluateComponent, keyPolicyOf, ofType, single, T, type Statement } from "./fixtures.js";

const BRIDGE = "222222222222";
const PROVIDER = "333333333333";
const DEPLOY = `arn:aws:iam::${BRIDGE}:role/OrganizationAccountAccessRole`;
const PRINCIPALS = [`arn:aws:iam::${PROVIDER}:role/acme-kms`, `arn:aws:iam::${PROVIDER}:role/path/acme-batch`];
const CONTEXT = { "saas:tenant": "acme", "saas:env": "prod" };
const STORE_ID = "cks-0123456789abcdef0";

const base: ByokKeyArgs = {
  slug: "acme-crm",
  region: "eu-west-1",
  bridgeAccountId: BRIDGE,
  deployRoleArn: DEPLOY,
  adminRoleArns: [DEPLOY, `arn:aws:iam::${BRIDGE}:role/break-glass`],
  providerAccountId: PROVIDER,
  providerPrincipalArns: PRINCIPALS,
  grantOperations: ["Encrypt", "Decrypt", "GenerateDataKey", "DescribeKey"],
  encryptionContext: CONTEXT,
  retiringPrincipalArn: `arn:aws:iam::${BRIDGE}:role/saas-bridge-offboarding`,
  deletionWindowInDays: 14,
  keyStore: "kms",
  accessState: "active",
};

function evaluate(args: Partial<ByokKeyArgs> = {}) {
  return evaluateComponent(() => {
    const key = new ByokKey("acme-byok", { ...base, ...args });
    return { keyArn: key.keyArn, keyId: key.keyId, aliasName: key.aliasName, grantIds: key.grantIds };
  });
}

const bySid = (statements: Statement[], sid: string) => statements.find((s) => s.Sid === sid);
/** KMS actions that use a key or hand out its use (grants), by IAM's names. */
const KEY_USE = /^kms:(CreateGrant|Encrypt|Decrypt|ReEncrypt|GenerateDataKey|GenerateMac|VerifyMac|Sign|Verify|DeriveSharedSecret|GenerateRandom|GetPublicKey)/;
const providerRoot = `arn:aws:iam::${PROVIDER}:root`;

describe("ByokKey", () => {
  test("symmetric key with yearly rotation and the deletion window from the args", async () => {
    const key = single(await evaluate(), T.key);
    expect(key.inputs).toMatchObject({
      enableKeyRotation: true,
      rotationPeriodInDays: 365,
      deletionWindowInDays: 14,
      keyUsage: "ENCRYPT_DECRYPT",
      customerMasterKeySpec: "SYMMETRIC_DEFAULT",
      bypassPolicyLockoutSafetyCheck: false,
    });
  });

  test("admin statement: bridge root restricted to the admin roles, including the deploy role; no crypto", async () => {
    const admin = bySid(keyPolicyOf(await evaluate()), "KeyAdministration");
    expect(admin?.Principal.AWS).toBe(`arn:aws:iam::${BRIDGE}:root`);
    expect(admin?.Condition?.["ArnEquals"]?.["aws:PrincipalArn"]).toEqual(base.adminRoleArns);
    expect(admin?.Condition?.["ArnEquals"]?.["aws:PrincipalArn"]).toContain(DEPLOY);
    expect(admin?.Action).not.toContain("kms:*");
    expect(admin?.Action.filter((a) => /Encrypt|Decrypt|GenerateDataKey/.test(a))).toEqual([]);
  });

  test("admin actions are explicit, and none of them uses the key or lets anyone use it (issue 12, defect 2)", async () => {
    const admin = bySid(keyPolicyOf(await evaluate()), "KeyAdministration");
    const actions = admin?.Action ?? [];
    expect(actions.filter((a) => /[*?]/.test(a))).toEqual([]);
    // Against IAM's own list of KMS actions: CreateGrant would let an admin grant itself Decrypt.
    const granted = (await Promise.all(actions.map(expandAction))).flat();
    expect(granted).toHaveLength(actions.length);
    expect(granted.filter((a) => KEY_USE.test(a))).toEqual([]);
  });

  test("the deploy role may create grants only for the provider's principals and the spec's operations", async () => {
    const statements = keyPolicyOf(await evaluate());
    const grants = bySid(statements, "ProviderGrants");
    expect(grants).toEqual({
      Sid: "ProviderGrants",
      Effect: "Allow",
      Principal: { AWS: `arn:aws:iam::${BRIDGE}:root` },
      Action: ["kms:CreateGrant"],
      Resource: "*",
      Condition: {
        ArnEquals: { "aws:PrincipalArn": [DEPLOY] },
        StringEquals: { "kms:GranteePrincipal": PRINCIPALS, "kms:GrantConstraintType": "EncryptionContextSubset" },
        "ForAllValues:StringEquals": { "kms:GrantOperations": base.grantOperations },
      },
    });
    // No other statement for a non-provider principal allows creating grants.
    const others = statements.filter((s) => s.Sid !== "ProviderGrants" && s.Principal.AWS !== providerRoot);
    expect(others.flatMap((s) => s.Action).filter((a) => /CreateGrant|^kms:Create\*|^kms:\*$/.test(a))).toEqual([]);
    expect(bySid(keyPolicyOf(await evaluate({ accessState: "revoked" })), "ProviderGrants")).toBeUndefined();
  });

  test("the provider gets exactly the spec's operations: no DescribeKey unless the spec lists it (issue 12, defect 3)", async () => {
    const statements = keyPolicyOf(await evaluate({ grantOperations: ["Encrypt", "Decrypt"] }));
    const provider = statements.filter((s) => s.Principal.AWS === providerRoot && s.Effect === "Allow");
    expect(provider.flatMap((s) => s.Action).sort()).toEqual(["kms:Decrypt", "kms:Encrypt"]);
    const describeOnly = keyPolicyOf(await evaluate({ grantOperations: ["DescribeKey"] }));
    expect(describeOnly.filter((s) => s.Principal.AWS === providerRoot).flatMap((s) => s.Action)).toEqual(["kms:DescribeKey"]);
  });

  test("provider use needs BOTH the principal ARN and every encryption-context pair", async () => {
    const statements = keyPolicyOf(await evaluate());
    const use = bySid(statements, "ProviderUse");
    expect(use?.Principal.AWS).toBe(providerRoot);
    expect(use?.Action).toEqual(["kms:Encrypt", "kms:Decrypt", "kms:GenerateDataKey"]);
    expect(use?.Condition).toEqual({
      ArnEquals: { "aws:PrincipalArn": PRINCIPALS },
      StringEquals: { "kms:EncryptionContext:saas:tenant": "acme", "kms:EncryptionContext:saas:env": "prod" },
    });
    const describeKey = bySid(statements, "ProviderDescribeKey");
    expect(describeKey?.Action).toEqual(["kms:DescribeKey"]);
    expect(describeKey?.Condition).toEqual({ ArnEquals: { "aws:PrincipalArn": PRINCIPALS } });
    const providerAllows = statements.filter((s) => s.Principal.AWS === providerRoot && s.Effect === "Allow");
    expect(providerAllows.flatMap((s) => s.Action).some((a) => a.includes("*"))).toBe(false);
  });

  test("an admin role from another account brings its own account root as a principal", async () => {
    const central = "arn:aws:iam::555555555555:role/central-break-glass";
    const admin = bySid(keyPolicyOf(await evaluate({ adminRoleArns: [DEPLOY, central] })), "KeyAdministration");
    expect(admin?.Principal.AWS).toEqual([`arn:aws:iam::${BRIDGE}:root`, "arn:aws:iam::555555555555:root"]);
    expect(admin?.Condition?.["ArnEquals"]?.["aws:PrincipalArn"]).toEqual([DEPLOY, central]);
  });

  test("policy actions are the exact grant operations, never wildcards that would add more", () => {
    expect(providerUseActions(["ReEncryptFrom", "GenerateDataKeyWithoutPlaintext"])).toEqual([
      "kms:GenerateDataKeyWithoutPlaintext",
      "kms:ReEncryptFrom",
    ]);
    expect(providerUseActions(["DescribeKey"])).toEqual([]);
  });

  test("one constrained, revocable grant per provider principal; grant tokens stay secret", async () => {
    const e = await evaluate();
    const grants = ofType(e, T.grant);
    const key = single(e, T.key);
    expect(grants.map((g) => g.inputs["granteePrincipal"])).toEqual(PRINCIPALS);
    for (const grant of grants) {
      expect(grant.inputs).toMatchObject({
        keyId: key.state["arn"],
        operations: base.grantOperations,
        constraints: [{ encryptionContextSubset: CONTEXT }],
        retiringPrincipal: base.retiringPrincipalArn,
        retireOnDelete: false,
      });
      expect(grant.options.additionalSecretOutputs).toEqual(["grantToken"]);
    }
    expect(e.outputs["grantIds"]).toEqual(grants.map((g) => g.state["grantId"]));
    expect(JSON.stringify(e.outputs)).not.toMatch(/grantToken/i);
    expect(JSON.stringify(single(e, "saas-bridge:kms:ByokKey").state)).not.toMatch(/grantToken/i);
  });

  test("alias alias/saas/<slug> targets the key", async () => {
    const e = await evaluate();
    expect(single(e, T.alias).inputs).toEqual({ name: "alias/saas/acme-crm", targetKeyId: single(e, T.key).state["keyId"] });
    expect(e.outputs["aliasName"]).toBe("alias/saas/acme-crm");
  });

  test("revoked: no grants, no allow for the provider, an explicit Deny kms:* on its account", async () => {
    const active = await evaluate();
    const revoked = await evaluate({ accessState: "revoked" });
    expect(ofType(revoked, T.grant)).toHaveLength(0);
    expect(revoked.outputs["grantIds"]).toEqual([]);
    const statements = keyPolicyOf(revoked);
    expect(statements.filter((s) => s.Principal.AWS === providerRoot && s.Effect === "Allow")).toEqual([]);
    expect(bySid(statements, "ProviderRevoked")).toMatchObject({ Effect: "Deny", Principal: { AWS: providerRoot }, Action: ["kms:*"] });
    expect(bySid(statements, "KeyAdministration")).toEqual(bySid(keyPolicyOf(active), "KeyAdministration"));
    // The key and alias survive: same resources, same key id.
    expect(single(revoked, T.key).id).toBe(single(active, T.key).id);
    expect(single(revoked, T.alias).urn).toBe(single(active, T.alias).urn);
  });

  test("a deploy role only known at run time (new account) is added to the admins", async () => {
    const e = await evaluate({ deployRoleArn: pulumi.output(`arn:aws:iam::${BRIDGE}:role/NewAccountRole`), adminRoleArns: [`arn:aws:iam::${BRIDGE}:role/break-glass`] });
    const admins = bySid(keyPolicyOf(e), "KeyAdministration")?.Condition?.["ArnEquals"]?.["aws:PrincipalArn"];
    expect(admins).toEqual([`arn:aws:iam::${BRIDGE}:role/break-glass`, `arn:aws:iam::${BRIDGE}:role/NewAccountRole`]);
  });

  test("HSM-backed: the key lives in the custom key store, with rotation explicitly off and no period", async () => {
    const key = single(await evaluate({ keyStore: "cloudhsm", customKeyStoreId: STORE_ID }), T.key);
    expect(key.inputs).toMatchObject({ customKeyStoreId: STORE_ID, enableKeyRotation: false, multiRegion: false, keyUsage: "ENCRYPT_DECRYPT" });
    expect(key.inputs).not.toHaveProperty("rotationPeriodInDays");
    expect(single(await evaluate(), T.key).inputs).not.toHaveProperty("customKeyStoreId");
  });

  test("HSM-backed: policy, grants and alias are exactly those of the KMS-backed key", async () => {
    const kms = await evaluate();
    const hsm = await evaluate({ keyStore: "cloudhsm", customKeyStoreId: STORE_ID });
    expect(keyPolicyOf(hsm)).toEqual(keyPolicyOf(kms));
    const grantInputs = (e: typeof kms) => ofType(e, T.grant).map((g) => ({ ...g.inputs, keyId: undefined }));
    expect(grantInputs(hsm)).toEqual(grantInputs(kms));
    expect(grantInputs(hsm)).toHaveLength(PRINCIPALS.length);
    for (const grant of ofType(hsm, T.grant)) expect(grant.inputs["keyId"]).toBe(single(hsm, T.key).state["arn"]);
    expect(single(hsm, T.alias).inputs["name"]).toBe("alias/saas/acme-crm");
    const revoked = await evaluate({ keyStore: "cloudhsm", customKeyStoreId: STORE_ID, accessState: "revoked" });
    expect(ofType(revoked, T.grant)).toEqual([]);
    expect(bySid(keyPolicyOf(revoked), "ProviderRevoked")?.Effect).toBe("Deny");
  });

  test("HSM-backed: takes the store id straight from a CloudHsmKeyStore in the same program", async () => {
    // Wiring only: in a real run the store must be CONNECTED first (CloudHsmKeyStore.manualSteps).
    vi.spyOn(pulumi.log, "warn").mockResolvedValue(undefined);
    const e = await evaluateComponent(() => {
      const store = new CloudHsmKeyStore("acme-hsm", {
        slug: "acme-crm",
        region: "eu-west-1",
        vpcCidr: "10.90.0.0/24",
        subnets: [
          { azId: "euw1-az1", cidr: "10.90.0.0/26" },
          { azId: "euw1-az2", cidr: "10.90.0.64/26" },
        ],
        keyStore: { trustAnchorCertificate: "-----BEGIN CERTIFICATE-----\n...\n-----END CERTIFICATE-----", kmsuserPassword: "correct-horse" },
        flowLogs: { accountId: "222222222222", kmsKeyArn: "arn:aws:kms:eu-west-1:222222222222:key/0d7a3d7e-0000-4000-8000-000000000002", retentionInDays: 365 },
      });
      if (!store.customKeyStoreId) throw new Error("phase 2 store expected");
      new ByokKey("acme-byok", { ...base, keyStore: "cloudhsm", customKeyStoreId: store.customKeyStoreId });
    });
    const store = single(e, "aws:kms/customKeyStore:CustomKeyStore");
    const key = single(e, T.key);
    expect(key.inputs["customKeyStoreId"]).toBe(store.id);
    expect(key.dependencies).toContain(store.urn);
  });

  test.each([
    [{ keyStore: "cloudhsm" as const }, /keyStore cloudhsm requires customKeyStoreId/],
    [{ customKeyStoreId: STORE_ID }, /customKeyStoreId is only valid with keyStore cloudhsm/],
    [{ keyStore: "cloudhsm" as const, customKeyStoreId: "cluster-abcdefghijk" }, /is not a custom key store id/],
    [{ keyStore: "xks" as never }, /keyStore must be kms or cloudhsm/],
    [{ adminRoleArns: [`arn:aws:iam::${BRIDGE}:role/break-glass`] }, /must include the deploy role/],
    [{ adminRoleArns: [DEPLOY, `arn:aws:iam::${PROVIDER}:role/admin`] }, /belongs to the provider's account/],
    [{ providerPrincipalArns: [`arn:aws:iam::444444444444:role/other`] }, /not in the provider account/],
    [{ providerPrincipalArns: ["*"] }, /invalid IAM principal ARN/],
    [{ providerPrincipalArns: [`arn:aws:iam::${PROVIDER}:root`] }, /invalid IAM principal ARN/],
    [{ providerPrincipalArns: [] }, /at least one provider principal/],
    [{ encryptionContext: {} }, /encryption context needs 1..8 pairs/],
    [{ encryptionContext: { "saas:tenant": "" } }, /must be non-empty/],
    [{ encryptionContext: { Tenant: "a", tenant: "a" } }, /duplicate kms encryption context key/],
    [{ grantOperations: [] }, /at least one grant operation/],
    [{ grantOperations: ["CreateGrant" as never] }, /is not allowed/],
    [{ deletionWindowInDays: 5 }, /deletionWindowInDays must be an integer in 7..30/],
    [{ region: "moon-1" }, /invalid AWS region/],
  ])("rejects impossible args %j", async (args, message) => {
    await expect(evaluate(args)).rejects.toThrow(message);
  });
});
