import { describe, expect, test } from "vitest";
import { BridgeAccount, type BridgeAccountArgs } from "../../programs/components/bridge-account.js";
import { evaluateComponent, ofType, single, str, T } from "./fixtures.js";

const existing: BridgeAccountArgs = {
  slug: "acme-crm",
  region: "eu-west-1",
  tags: { "saas:provider": "acme-crm" },
  bridge: { kind: "existing", accountId: "222222222222", accessRoleName: "OrganizationAccountAccessRole" },
};
const created: BridgeAccountArgs = {
  ...existing,
  bridge: { kind: "create", email: "saas+acme@example.com", saasOuId: "ou-ab12-abcdefgh", accessRoleName: "SaasBridgeAccess" },
};

function evaluate(args: BridgeAccountArgs) {
  return evaluateComponent(() => {
    const bridge = new BridgeAccount("acme-bridge", args);
    return { accountId: bridge.accountId, deployRoleArn: bridge.deployRoleArn };
  });
}

const parse = (value: unknown): unknown => JSON.parse(str(value));

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
    const e = await evaluate({ ...existing, region: "cn-north-1" });
    expect(e.outputs["deployRoleArn"]).toBe("arn:aws-cn:iam::222222222222:role/OrganizationAccountAccessRole");
  });

  test.each([
    [{ ...existing, bridge: { ...existing.bridge, accountId: "12345" } }, /12-digit AWS account id/],
    [{ ...created, bridge: { ...created.bridge, email: "not-an-email" } }, /invalid account email/],
    [{ ...created, bridge: { ...created.bridge, saasOuId: "r-abcd" } }, /invalid OU id/],
    [{ ...existing, bridge: { ...existing.bridge, accessRoleName: "bad role" } }, /invalid access role name/],
    [{ ...existing, slug: "Acme_CRM" }, /invalid provider slug/],
  ] as [BridgeAccountArgs, RegExp][])("rejects impossible args %#", async (args, message) => {
    await expect(evaluate(args)).rejects.toThrow(message);
  });
});
