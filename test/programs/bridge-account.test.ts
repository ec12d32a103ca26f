import { describe, expect, test } from "vitest";
import { BridgeAccount, type BridgeAccountArgs } from "../../programs/components/bridge-account.js";
import { evaluateComponent, ofType, single, str, T } from "./fixtures.js";

const BREAK_GLASS = "arn:aws:iam::222222222222:role/break-glass";
const existing: BridgeAccountArgs = {
  slug: "acme-crm",
  region: "eu-west-1",
  tags: { "saas:provider": "acme-crm" },
  bridge: { kind: "existing", accountId: "222222222222", accessRoleName: "OrganizationAccountAccessRole" },
  allowedRegions: ["eu-west-1", "eu-central-1"],
  keyAdminRoleArns: ["arn:aws:iam::222222222222:role/OrganizationAccountAccessRole", BREAK_GLASS],
  providerAccountId: "333333333333",
  accessState: "active",
};
const created: BridgeAccountArgs = {
  ...existing,
  bridge: { kind: "create", email: "saas+acme@example.com", saasOuId: "ou-ab12-abcdefgh", accessRoleName: "SaasBridgeAccess" },
};

function evaluate(args: BridgeAccountArgs) {
  return evaluateComponent(() => {
    const bridge = new BridgeAccount("acme-bridge", args);
    return {
      accountId: bridge.accountId,
      deployRoleArn: bridge.deployRoleArn,
      scpId: bridge.scpId,
      quarantinePolicyId: bridge.quarantinePolicyId ?? "none",
    };
  });
}

const parse = (value: unknown): unknown => JSON.parse(str(value));

const POLICY = "aws:organizations/policy:Policy";
const ATTACHMENT = "aws:organizations/policyAttachment:PolicyAttachment";
const ACCESS_ROLE = "arn:aws:iam::222222222222:role/OrganizationAccountAccessRole";
const APP_ROLE = "arn:aws:iam::222222222222:role/app";

type Values = string | string[];
interface Statement {
  Sid: string;
  Effect: string;
  Principal?: string;
  Action?: Values;
  NotAction?: Values;
  Resource: Values;
  Condition?: Record<string, Record<string, Values>>;
}
interface Request {
  action: string;
  principalArn: string;
  region?: string;
  resource?: string;
}

/** A deliberately small evaluator of the Deny statements we emit (wildcards, the operators used). */
const list = (v: Values | undefined): string[] => (v === undefined ? [] : typeof v === "string" ? [v] : v);
const glob = (pattern: string, value: string, flags = ""): boolean =>
  new RegExp(`^${pattern.split("*").map((p) => p.replace(/[.+?^${}()|[\]\\]/g, "\\$&")).join(".*")}$`, flags).test(value);
const OPERATORS: Record<string, (actual: string, values: string[]) => boolean> = {
  ArnLike: (a, vs) => vs.some((v) => glob(v, a)),
  ArnNotLike: (a, vs) => !vs.some((v) => glob(v, a)),
  StringEquals: (a, vs) => vs.includes(a),
  StringNotEquals: (a, vs) => !vs.includes(a),
};
function deniedBy(statements: Statement[], r: Request): string[] {
  const context: Record<string, string> = {
    "aws:PrincipalArn": r.principalArn,
    "aws:PrincipalAccount": r.principalArn.split(":")[4] ?? "",
    "aws:RequestedRegion": r.region ?? "eu-west-1",
  };
  const matches = (s: Statement): boolean =>
    (s.Action ? list(s.Action).some((a) => glob(a, r.action, "i")) : !list(s.NotAction).some((a) => glob(a, r.action, "i"))) &&
    list(s.Resource).some((p) => glob(p, r.resource ?? "*")) &&
    Object.entries(s.Condition ?? {}).every(([op, keys]) =>
      Object.entries(keys).every(([key, values]) => {
        const operator = OPERATORS[op];
        if (!operator) throw new Error(`operator ${op} not simulated`);
        return operator(context[key] ?? "", list(values));
      }),
    );
  return statements.filter((s) => s.Effect === "Deny" && matches(s)).map((s) => s.Sid);
}
const statementsOf = (content: unknown): Statement[] => (JSON.parse(str(content)) as { Statement: Statement[] }).Statement;
const policyOfType = (e: Awaited<ReturnType<typeof evaluate>>, type: string) => {
  const found = ofType(e, POLICY).filter((p) => p.inputs["type"] === type);
  if (found.length !== 1) throw new Error(`expected one ${type}, found ${found.length}`);
  return found[0] as (typeof found)[number];
};

describe("BridgeAccount", () => {
  test("existing account: no Organizations call, a provider pinned to that account", async () => {
    const e = await evaluate(existing);
    expect(ofType(e, T.account)).toHaveLength(0);
    expect(e.outputs["accountId"]).toBe("222222222222");
    const provider = single(e, T.provider);
    expect(provider.name).toBe("acme-bridge-provider");
    expect(provider.inputs["region"]).toBe("eu-west-1");
    expect(parse(provider.inputs["allowedAccountIds"])).toEqual(["222222222222"]);
    expect(parse(provider.inputs["assumeRoles"])).toEqual([
      { roleArn: "arn:aws:iam::222222222222:role/OrganizationAccountAccessRole", sessionName: "saas-bridge-acme-crm" },
    ]);
    expect(parse(provider.inputs["defaultTags"])).toEqual({ tags: { "saas:provider": "acme-crm" } });
  });

  test("created account: denied billing access, never closed on delete, retained, unreadable fields ignored", async () => {
    const e = await evaluate(created);
    const account = single(e, T.account);
    expect(account.inputs).toEqual({
      name: "saas-acme-crm",
      email: "saas+acme@example.com",
      parentId: "ou-ab12-abcdefgh",
      roleName: "SaasBridgeAccess",
      iamUserAccessToBilling: "DENY",
      closeOnDeletion: false,
    });
    expect(account.options.retainOnDelete).toBe(true);
    expect(account.options.ignoreChanges).toEqual(["roleName", "iamUserAccessToBilling"]);
    // The management account's (default) provider creates it.
    expect(account.provider).toBe("");
    expect(account.id).toMatch(/^\d{12}$/);
    expect(e.outputs["accountId"]).toBe(account.id);
    expect(e.outputs["deployRoleArn"]).toBe(`arn:aws:iam::${account.id}:role/SaasBridgeAccess`);
  });

  test("created account: the provider assumes the access role in the new account and only that account", async () => {
    const e = await evaluate(created);
    const account = single(e, T.account);
    const provider = single(e, T.provider);
    expect(parse(provider.inputs["allowedAccountIds"])).toEqual([account.id]);
    expect(parse(provider.inputs["assumeRoles"])).toEqual([
      { roleArn: `arn:aws:iam::${account.id}:role/SaasBridgeAccess`, sessionName: "saas-bridge-acme-crm" },
    ]);
    expect(provider.dependencies).toContain(account.urn);
  });

  test("uses the partition of the region", async () => {
    const cn = { region: "cn-north-1", allowedRegions: ["cn-north-1"], keyAdminRoleArns: ["arn:aws-cn:iam::222222222222:role/admin"] };
    const e = await evaluate({ ...existing, ...cn });
    expect(e.outputs["deployRoleArn"]).toBe("arn:aws-cn:iam::222222222222:role/OrganizationAccountAccessRole");
    const kms = statementsOf(single(e, POLICY).inputs["content"]).find((s) => s.Sid === "ProtectKmsKeys");
    expect(kms?.Condition?.["ArnNotLike"]?.["aws:PrincipalArn"]).toEqual([...cn.keyAdminRoleArns, "arn:aws-cn:iam::*:role/OrganizationAccountAccessRole"]);
  });

  test("SCP: one per account, minified within the 5,120-character quota, attached from the management account", async () => {
    const e = await evaluate(existing);
    const scp = single(e, POLICY);
    expect(scp.inputs["type"]).toBe("SERVICE_CONTROL_POLICY");
    const content = str(scp.inputs["content"]);
    expect(content.length).toBeLessThanOrEqual(5120);
    expect(content).toBe(JSON.stringify(JSON.parse(content)));
    const attachment = single(e, ATTACHMENT);
    expect(attachment.inputs).toEqual({ policyId: scp.id, targetId: "222222222222" });
    expect([scp.provider, attachment.provider]).toEqual(["", ""]);
    expect(e.outputs["scpId"]).toBe(scp.id);
    expect(scp.id).toMatch(/^p-[0-9a-z]{8,}$/);
  });

  test("SCP: guardrails hold for everyone but the named exceptions", async () => {
    const scp = statementsOf(single(await evaluate(existing), POLICY).inputs["content"]);
    const denied = (r: Request) => deniedBy(scp, r);
    expect(denied({ action: "organizations:LeaveOrganization", principalArn: ACCESS_ROLE })).toEqual(["DenyLeaveOrganization"]);
    for (const action of ["cloudtrail:StopLogging", "cloudtrail:DeleteTrail", "cloudtrail:UpdateTrail"]) {
      expect(denied({ action, principalArn: BREAK_GLASS })).toEqual(["ProtectCloudTrail"]);
      expect(denied({ action, principalArn: ACCESS_ROLE })).toEqual([]);
    }
    for (const resource of [ACCESS_ROLE, BREAK_GLASS]) {
      expect(denied({ action: "iam:UpdateAssumeRolePolicy", principalArn: APP_ROLE, resource })).toEqual(["ProtectPrivilegedRoles"]);
    }
    expect(denied({ action: "iam:UpdateAssumeRolePolicy", principalArn: APP_ROLE, resource: APP_ROLE })).toEqual([]);
    for (const action of ["ec2:CreateInternetGateway", "ec2:CreateNatGateway", "ec2:CreateVpcPeeringConnection"]) {
      expect(denied({ action, principalArn: ACCESS_ROLE })).toEqual(["DenyInternetPaths"]);
    }
    expect(denied({ action: "s3:PutAccountPublicAccessBlock", principalArn: APP_ROLE })).toEqual(["ProtectAccountPublicAccessBlock"]);
    for (const action of ["kms:PutKeyPolicy", "kms:ScheduleKeyDeletion", "kms:DisableKey"]) {
      expect(denied({ action, principalArn: APP_ROLE })).toEqual(["ProtectKmsKeys"]);
      expect(denied({ action, principalArn: BREAK_GLASS })).toEqual([]);
      expect(denied({ action, principalArn: ACCESS_ROLE })).toEqual([]);
    }
    expect(denied({ action: "kms:Decrypt", principalArn: APP_ROLE })).toEqual([]);
  });

  test("SCP: other regions are denied except for global services", async () => {
    const scp = statementsOf(single(await evaluate(existing), POLICY).inputs["content"]);
    const denied = (action: string, region: string) => deniedBy(scp, { action, principalArn: ACCESS_ROLE, region });
    expect(denied("ec2:RunInstances", "us-east-1")).toEqual(["DenyOtherRegions"]);
    expect(denied("kms:CreateKey", "us-east-1")).toEqual(["DenyOtherRegions"]);
    expect(denied("ec2:RunInstances", "eu-central-1")).toEqual([]);
    for (const action of ["iam:CreateRole", "sts:AssumeRole", "organizations:DescribeOrganization", "support:DescribeCases"]) {
      expect(denied(action, "us-east-1")).toEqual([]);
    }
  });

  test("SCP: the access role of a created account is exempt by name, although its account id was unknown", async () => {
    const e = await evaluate(created);
    const account = single(e, T.account);
    const scp = statementsOf(single(e, POLICY).inputs["content"]);
    const role = (name: string) => `arn:aws:iam::${account.id}:role/${name}`;
    expect(deniedBy(scp, { action: "kms:PutKeyPolicy", principalArn: role("SaasBridgeAccess") })).toEqual([]);
    expect(deniedBy(scp, { action: "kms:PutKeyPolicy", principalArn: role("OrganizationAccountAccessRole") })).toEqual(["ProtectKmsKeys"]);
    const attachment = single(e, ATTACHMENT);
    expect(attachment.inputs["targetId"]).toBe(account.id);
    expect(attachment.dependencies).toContain(account.urn);
  });

  test("SCP: names no role of another account, which it could never govern (issue 12, defect 8)", async () => {
    // SCPs only apply to the principals of the accounts they are attached to (never to the management
    // account's), and IAM only changes roles of the caller's own account.
    const management = "arn:aws:iam::111111111111:role/break-glass-admin";
    const content = str(single(await evaluate({ ...existing, keyAdminRoleArns: [...existing.keyAdminRoleArns, management] }), POLICY).inputs["content"]);
    expect(content).not.toContain("111111111111");
    expect(content).toContain(BREAK_GLASS);
    const e = await evaluate(created);
    const account = single(e, T.account);
    const createdContent = str(single(e, POLICY).inputs["content"]);
    expect(account.id).not.toBe("222222222222");
    expect(createdContent).not.toContain("222222222222");
  });

  test("SCP over the quota is rejected before anything is registered", async () => {
    const admins = Array.from({ length: 80 }, (_, i) => `arn:aws:iam::222222222222:role/kms-admin-${i}`);
    await expect(evaluate({ ...existing, keyAdminRoleArns: admins })).rejects.toThrow(/bridge SCP: policy is \d+ characters, the limit is 5120/);
  });

  test("active: no quarantine policy", async () => {
    const e = await evaluate(existing);
    expect(ofType(e, POLICY).map((p) => p.inputs["type"])).toEqual(["SERVICE_CONTROL_POLICY"]);
    expect(ofType(e, ATTACHMENT)).toHaveLength(1);
    expect(e.outputs["quarantinePolicyId"]).toBe("none");
  });

  test.each([existing, created])("revoked: a quarantine RCP shuts the provider's account out of this account %#", async (args) => {
    const e = await evaluate({ ...args, accessState: "revoked" });
    const rcp = policyOfType(e, "RESOURCE_CONTROL_POLICY");
    expect(str(rcp.inputs["content"]).length).toBeLessThanOrEqual(5120);
    const statements = statementsOf(rcp.inputs["content"]);
    expect(statements).toEqual([
      {
        Sid: "QuarantineProvider",
        Effect: "Deny",
        Principal: "*",
        Action: ["kms:*", "s3:*", "sts:*", "sqs:*", "secretsmanager:*"],
        Resource: "*",
        Condition: { StringEquals: { "aws:PrincipalAccount": "333333333333" } },
      },
    ]);
    expect(deniedBy(statements, { action: "kms:Decrypt", principalArn: "arn:aws:iam::333333333333:role/acme-kms" })).toEqual(["QuarantineProvider"]);
    expect(deniedBy(statements, { action: "kms:Decrypt", principalArn: BREAK_GLASS })).toEqual([]);
    const attachment = ofType(e, ATTACHMENT).find((a) => a.inputs["policyId"] === rcp.id);
    expect(attachment?.inputs["targetId"]).toBe(e.outputs["accountId"]);
    expect(e.outputs["quarantinePolicyId"]).toBe(rcp.id);
    expect(policyOfType(e, "SERVICE_CONTROL_POLICY").id).toBe(e.outputs["scpId"]);
  });

  test.each([
    [{ ...existing, bridge: { ...existing.bridge, accountId: "12345" } }, /12-digit AWS account id/],
    [{ ...created, bridge: { ...created.bridge, email: "not-an-email" } }, /invalid account email/],
    [{ ...created, bridge: { ...created.bridge, saasOuId: "r-abcd" } }, /invalid OU id/],
    [{ ...existing, bridge: { ...existing.bridge, accessRoleName: "bad role" } }, /invalid access role name/],
    [{ ...existing, slug: "Acme_CRM" }, /invalid provider slug/],
    [{ ...existing, allowedRegions: [] }, /allowedRegions must not be empty/],
    [{ ...existing, allowedRegions: ["eu-central-1"] }, /must include the deployment region eu-west-1/],
    [{ ...existing, allowedRegions: ["eu-west-1", "mars-1"] }, /invalid AWS region "mars-1"/],
    [{ ...existing, allowedRegions: ["eu-west-1", "eu-west-1"] }, /duplicate bridge allowed region/],
    [{ ...existing, providerAccountId: "3333" }, /12-digit AWS account id/],
    [{ ...existing, providerAccountId: "222222222222" }, /cannot be the provider's own account/],
    [{ ...existing, keyAdminRoleArns: [] }, /keyAdminRoleArns must not be empty/],
    [{ ...existing, keyAdminRoleArns: ["arn:aws:iam::333333333333:role/admin"] }, /belongs to the provider's account/],
    [{ ...existing, keyAdminRoleArns: ["arn:aws:iam::*:role/admin"] }, /invalid IAM principal ARN/],
  ] as [BridgeAccountArgs, RegExp][])("rejects impossible args %#", async (args, message) => {
    await expect(evaluate(args)).rejects.toThrow(message);
  });
});
