import { describe, expect, it } from "vitest";
import { AppError } from "../../src/errors.js";
import { firewallSidBase, provisionalSubnets, toNetworkHubArgs, toProviderStackArgs } from "../../src/onboarding/stack-args.js";
import { acme, globex, lz, schema } from "./spec-fixtures.js";

function deepFreeze<T>(value: T): T {
  if (value !== null && typeof value === "object") {
    for (const v of Object.values(value)) deepFreeze(v);
    Object.freeze(value);
  }
  return value;
}

const placement = {
  subnets: [
    { azId: "euw1-az1", cidr: "10.100.0.0/28" },
    { azId: "euw1-az2", cidr: "10.100.0.16/28" },
    { azId: "euw1-az3", cidr: "10.100.0.32/28" },
  ],
  connectionAccepted: false,
};

describe("toProviderStackArgs", () => {
  it("maps an existing bridge account (acme)", () => {
    const spec = deepFreeze(schema.parse(acme()));
    expect(toProviderStackArgs(spec, deepFreeze(structuredClone(lz)), "active", placement)).toEqual({
      name: "acme",
      accessState: "active",
      region: "eu-west-1",
      allowedRegions: ["eu-west-1", "eu-central-1"],
      tags: {
        "saas:provider": "acme",
        "saas:team": "data-platform",
        "saas:data-classification": "confidential",
        "managed-by": "saas-bridge",
      },
      managementAccountId: "111111111111",
      network: {
        accountId: "222222222222",
        deployRoleArn: "arn:aws:iam::222222222222:role/saas-bridge-network-deploy",
        vpcId: "vpc-0a1b2c3d4e5f60718",
        routeTableId: "rtb-0a1b2c3d4e5f60718",
        subnets: placement.subnets,
        flowLogs: { kmsKeyArn: "arn:aws:kms:eu-west-1:222222222222:key/0b7d3c52-4f0e-4a43-9a1e-1c2d3e4f5a6b", retentionInDays: 365 },
      },
      bridge: { kind: "existing", accountId: "333333333333", accessRoleName: "OrganizationAccountAccessRole" },
      provider: { awsAccountId: "444444444444", principalArns: ["arn:aws:iam::444444444444:role/acme-byok-access"] },
      outbound: {
        endpointServiceName: "com.amazonaws.vpce.eu-west-1.vpce-svc-0123456789abcdef0",
        ports: [
          { port: 443, protocol: "tcp", match: "domain" },
          { port: 8443, protocol: "tcp", match: "domain" },
        ],
        allowedSourceCidrs: ["10.20.0.0/16", "172.16.8.0/22"],
        privateDns: true,
        connectionAccepted: false,
      },
      firewall: {
        allowedDomains: ["api.acme.example", "ingest.eu.acme.example", "*.cdn.acme.example"],
        sidBase: firewallSidBase("acme"),
        capacity: 1000,
      },
      kms: {
        grantOperations: ["Encrypt", "Decrypt", "GenerateDataKey", "DescribeKey"],
        encryptionContext: { "saas:tenant": "example-corp", "saas:provider": "acme" },
        keyStore: "kms",
        adminRoleArns: [
          "arn:aws:iam::333333333333:role/OrganizationAccountAccessRole",
          "arn:aws:iam::111111111111:role/break-glass-admin",
        ],
        retiringPrincipalArn: "arn:aws:iam::111111111111:role/saas-offboarding",
        deletionWindowInDays: 30,
      },
      audit: { retentionInDays: 365, accessLogArchive: { bucket: "example-org-log-archive-eu-west-1", accountId: "444444444444", prefix: "s3-access-logs/" } },
      generation: 1,
    });
  });

  it("maps an account to create (globex): SaaS OU, and only the landing zone's key admins", () => {
    const args = toProviderStackArgs(schema.parse(globex()), lz, "revoked", placement);
    expect(args.accessState).toBe("revoked");
    expect(args.bridge).toEqual({
      kind: "create",
      email: "aws-saas-globex@example.com",
      saasOuId: "ou-ab12-saas0001",
      accessRoleName: "OrganizationAccountAccessRole",
    });
    expect(args.kms.adminRoleArns).toEqual(["arn:aws:iam::111111111111:role/break-glass-admin"]);
    expect(args.kms.keyStore).toBe("cloudhsm");
    // The HSM VPC is split over the region's first two AZ ids.
    expect(args.kms.cloudHsm).toEqual({
      vpcCidr: "10.255.0.0/24",
      subnets: [
        { azId: "euc1-az1", cidr: "10.255.0.0/26" },
        { azId: "euc1-az2", cidr: "10.255.0.64/26" },
      ],
    });
    expect(args.inbound).toEqual({
      targets: [
        { ip: "10.40.12.10", port: 8443 },
        { ip: "10.40.13.10", port: 8443 },
      ],
      allowedPrincipals: ["arn:aws:iam::555555555555:root"],
      certificateArn: "arn:aws:acm:eu-central-1:222222222222:certificate/1f2e3d4c-5b6a-4789-8abc-0123456789ab",
      acceptedEndpointIds: [],
      sourceCidrs: ["100.64.12.0/24"],
    });
    expect(args.network.vpcId).toBe("vpc-0f1e2d3c4b5a69788");
    expect(args.tags["saas:data-classification"]).toBe("restricted");
  });

  it("does not list the bridge role twice when the landing zone already names it", () => {
    const role = "arn:aws:iam::333333333333:role/OrganizationAccountAccessRole";
    const args = toProviderStackArgs(schema.parse(acme()), { ...lz, bridge: { ...lz.bridge, keyAdminRoleArns: [role] } }, "active", placement);
    expect(args.kms.adminRoleArns).toEqual([role]);
  });

  it("builds the bridge role ARN in the landing zone's partition", () => {
    const cn = { ...lz, network: { ...lz.network, deployRoleArn: "arn:aws-cn:iam::222222222222:role/deploy" } };
    expect(toProviderStackArgs(schema.parse(acme()), cn, "active", placement).kms.adminRoleArns[0]).toBe(
      "arn:aws-cn:iam::333333333333:role/OrganizationAccountAccessRole",
    );
  });

  it("copies rather than shares its inputs' arrays", () => {
    const args = toProviderStackArgs(schema.parse(acme()), lz, "active", placement);
    expect(args.network.subnets).not.toBe(placement.subnets);
    expect(args.network.subnets).toEqual(placement.subnets);
  });

  it("passes on whether the provider accepted the endpoint connection", () => {
    const args = toProviderStackArgs(schema.parse(acme()), lz, "active", { ...placement, connectionAccepted: true });
    expect(args.outbound.connectionAccepted).toBe(true);
  });

  it("provisional subnets are the pool's first aligned blocks, one per AZ id", () => {
    expect(provisionalSubnets("10.100.0.0/20", 28, ["euw1-az1", "euw1-az2"])).toEqual([
      { azId: "euw1-az1", cidr: "10.100.0.0/28" },
      { azId: "euw1-az2", cidr: "10.100.0.16/28" },
    ]);
  });

  it("hub args carry the landing zone's policy and network account", () => {
    const groups = [{ provider: "acme", arn: "arn:aws:network-firewall:eu-west-1:222222222222:stateful-rulegroup/saas-acme" }];
    expect(toNetworkHubArgs("eu-west-1", lz, groups)).toEqual({
      region: "eu-west-1",
      network: { accountId: "222222222222", deployRoleArn: "arn:aws:iam::222222222222:role/saas-bridge-network-deploy" },
      tags: { "managed-by": "saas-bridge", "saas:stack": "network-hub" },
      policyName: "saas-bridge-central",
      ruleGroups: groups,
    });
  });

  it("refuses a region the landing zone no longer configures", () => {
    const spec = schema.parse(acme());
    const { ["eu-west-1"]: _removed, ...regions } = lz.network.regions;
    const call = () => toProviderStackArgs(spec, { ...lz, network: { ...lz.network, regions } }, "active", placement);
    expect(call).toThrow(AppError);
    expect(call).toThrow(/eu-west-1 is not configured/);
  });
});

describe("firewallSidBase", () => {
  it("is stable, aligned to a 1,000-SID range and inside [1,000,000, 101,000,000)", () => {
    for (const name of ["acme", "globex", "a-b", "zz9"]) {
      const sid = firewallSidBase(name);
      expect(sid).toBe(firewallSidBase(name));
      expect(sid % 1000).toBe(0);
      expect(sid).toBeGreaterThanOrEqual(1_000_000);
      expect(sid + 999).toBeLessThan(101_000_000);
    }
  });

  it("spreads names over the slots", () => {
    const names = Array.from({ length: 200 }, (_, i) => `provider-${i}`);
    expect(new Set(names.map(firewallSidBase)).size).toBeGreaterThan(190);
  });
});
