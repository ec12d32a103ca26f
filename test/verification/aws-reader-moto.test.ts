import { AuthorizeSecurityGroupIngressCommand, RevokeSecurityGroupIngressCommand } from "@aws-sdk/client-ec2";
import { CreateGrantCommand, RevokeGrantCommand } from "@aws-sdk/client-kms";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createAwsAccessReader } from "../../src/verification/aws-reader.js";
import type { CheckCode, CheckStatus, VerificationResult, VerificationTarget } from "../../src/verification/types.js";
import { verifyAccess } from "../../src/verification/verifier.js";
import { motoMissing, startMoto, type MotoServer } from "../support/moto.js";
import { createLandingZone, createProvider, motoClients, moveSubnet, type MotoClients, type MotoLandingZone, type MotoProvider } from "../support/moto-provider.js";

/**
 * The verifier against moto in server mode on loopback (issue 17): resources made through the AWS SDK as a
 * revoked (and an active) stack leaves them; a clean set passes, each defect fails exactly its check.
 * Without moto the suite skips, and fails when CI is set (.ci/run installs it).
 */

const missing = motoMissing();
const inCi = Boolean(process.env["CI"]);
if (missing !== undefined && !inCi) console.warn(`aws-reader-moto: SKIPPED — ${missing}`);

/** APIs moto 5.2.6 lacks (it answers HTTP 500 with an HTML page): their checks must be not-verifiable, never pass. */
const MOTO_LACKS: Partial<Record<CheckCode, string>> = {
  ENDPOINT_CONNECTIONS: "ec2:DescribeVpcEndpointConnections (and no way to create or accept an endpoint connection)",
  FIREWALL_RULES: "network-firewall:DescribeRuleGroup (and CreateRuleGroup)",
};

const statuses = (result: VerificationResult): Record<string, CheckStatus> => Object.fromEntries(result.checks.map((c) => [c.code, c.status]));
const check = (result: VerificationResult, code: CheckCode) => result.checks.find((c) => c.code === code);

describe.skipIf(missing !== undefined && !inCi)("access verification against moto", () => {
  let moto: MotoServer | undefined;
  let clients: MotoClients;
  let zone: MotoLandingZone;
  let revoked: MotoProvider;
  let active: MotoProvider;
  let baseline: Record<string, CheckStatus>;
  const reader = () => createAwsAccessReader({ endpoint: moto?.endpoint ?? "", requestTimeoutMs: 5_000 });
  const verify = (target: VerificationTarget) => verifyAccess(reader(), target, { signal: AbortSignal.timeout(30_000) });

  beforeAll(async () => {
    if (missing !== undefined) throw new Error(`CI is set and moto is not installed: ${missing}`);
    // The SDK's default chain (the management account's reads, STS for the roles) finds these dummies; the
    // test process only, and moto never checks them.
    process.env["AWS_ACCESS_KEY_ID"] = "testing";
    process.env["AWS_SECRET_ACCESS_KEY"] = "testing";
    delete process.env["AWS_PROFILE"];
    moto = await startMoto();
    clients = motoClients(moto.endpoint);
    zone = await createLandingZone(clients);
    revoked = await createProvider(clients, zone, 0, "revoked");
    active = await createProvider(clients, zone, 1, "active");
  }, 90_000);
  afterAll(async () => {
    await moto?.stop();
  });

  it("a clean revoked set passes every check moto can answer; the others are not verifiable, never passed", async () => {
    const result = await verify(revoked.target);
    baseline = statuses(result);
    for (const [code, api] of Object.entries(MOTO_LACKS)) {
      const c = check(result, code as CheckCode);
      console.warn(`aws-reader-moto: moto lacks ${api}: ${code} is ${c?.status} (${c?.message})`);
      expect(c?.status).toBe("not-verifiable");
    }
    expect(baseline).toEqual({
      KMS_GRANTS: "pass",
      KMS_KEY_POLICY: "pass",
      SG_INGRESS: "pass",
      NACL_DENY: "pass",
      ENDPOINT_CONNECTIONS: "not-verifiable",
      FIREWALL_RULES: "not-verifiable",
      QUARANTINE_POLICY: "pass",
    });
    expect(result.status).toBe("incomplete");
    expect(result.reader).toBe("aws");
    expect(result.calls).toBeGreaterThanOrEqual(8);
    expect(check(result, "NACL_DENY")?.evidence).toMatchObject({ missingSubnetIds: [] });
    expect(check(result, "KMS_KEY_POLICY")?.evidence).toMatchObject({ denySids: ["ProviderRevoked"] });
    // Reasons are one clean line: no credentials, no HTML.
    for (const c of result.checks) expect(c.message).not.toMatch(/testing|<html|\n/i);
  });

  it("a leftover grant for a provider principal fails KMS_GRANTS and nothing else", async () => {
    const principal = revoked.target.providerPrincipalArns[0] ?? "";
    const grant = await clients.kms.send(new CreateGrantCommand({ KeyId: revoked.keyArn, GranteePrincipal: principal, Operations: ["Decrypt"] }));
    try {
      const result = await verify(revoked.target);
      expect(statuses(result)).toEqual({ ...baseline, KMS_GRANTS: "fail" });
      expect(check(result, "KMS_GRANTS")?.message).toContain(grant.GrantId ?? "?");
      expect(result.status).toBe("failed");
    } finally {
      await clients.kms.send(new RevokeGrantCommand({ KeyId: revoked.keyArn, GrantId: grant.GrantId ?? "" }));
    }
  });

  it("a re-added ingress rule fails SG_INGRESS and nothing else", async () => {
    const out = await clients.ec2.send(
      new AuthorizeSecurityGroupIngressCommand({ GroupId: revoked.securityGroupId, IpPermissions: [{ IpProtocol: "tcp", FromPort: 443, ToPort: 443, IpRanges: [{ CidrIp: "10.20.0.0/16" }] }] }),
    );
    const ruleId = out.SecurityGroupRules?.[0]?.SecurityGroupRuleId ?? "";
    try {
      const result = await verify(revoked.target);
      expect(statuses(result)).toEqual({ ...baseline, SG_INGRESS: "fail" });
      expect(check(result, "SG_INGRESS")?.message).toContain("10.20.0.0/16 tcp/443");
    } finally {
      await clients.ec2.send(new RevokeSecurityGroupIngressCommand({ GroupId: revoked.securityGroupId, SecurityGroupRuleIds: [ruleId] }));
    }
  });

  it("a subnet moved back to the default NACL fails NACL_DENY and nothing else", async () => {
    const subnetId = revoked.subnetIds[1] ?? "";
    await moveSubnet(clients.ec2, subnetId, zone.defaultNaclId);
    try {
      const result = await verify(revoked.target);
      expect(statuses(result)).toEqual({ ...baseline, NACL_DENY: "fail" });
      expect(check(result, "NACL_DENY")?.message).toContain(`${subnetId} on ${zone.defaultNaclId}`);
    } finally {
      await moveSubnet(clients.ec2, subnetId, revoked.denyNaclId ?? "");
    }
  });

  it("an accepted endpoint connection cannot be made in moto: the check stays not verifiable", async () => {
    console.warn(`aws-reader-moto: moto lacks ${MOTO_LACKS.ENDPOINT_CONNECTIONS ?? ""}; the accepted-connection defect is covered by the unit tests only`);
    const result = await verify(revoked.target);
    expect(check(result, "ENDPOINT_CONNECTIONS")).toMatchObject({ status: "not-verifiable" });
    expect(check(result, "ENDPOINT_CONNECTIONS")?.message).toContain("ec2:DescribeVpcEndpointConnections");
  });

  it("the same set verified as decommissioned passes (the quarantine is not applicable then)", async () => {
    const result = await verify({ ...revoked.target, expectation: "decommissioned" });
    expect(statuses(result)).toEqual({ ...baseline, QUARANTINE_POLICY: "not-applicable" });
  });

  it("active: the stack's grants, ingress and open subnets pass; a hand-made extra grant fails KMS_GRANTS only", async () => {
    const clean = await verify(active.target);
    expect(statuses(clean)).toEqual({ ...baseline });
    const grant = await clients.kms.send(new CreateGrantCommand({ KeyId: active.keyArn, GranteePrincipal: "arn:aws:iam::999999999999:role/intruder", Operations: ["Decrypt"] }));
    const result = await verify(active.target);
    expect(statuses(result)).toEqual({ ...baseline, KMS_GRANTS: "fail" });
    expect(check(result, "KMS_GRANTS")?.evidence).toMatchObject({ extraGrantIds: [grant.GrantId ?? "?"] });
    // A revoked expectation on an active set fails what a revoke changes.
    const asRevoked = statuses(await verify({ ...active.target, expectation: "revoked" }));
    expect(asRevoked).toMatchObject({ KMS_GRANTS: "fail", KMS_KEY_POLICY: "fail", SG_INGRESS: "fail", NACL_DENY: "fail", QUARANTINE_POLICY: "fail" });
  });

  it("reads answer null for what is gone, and an abort rejects", async () => {
    const r = reader();
    const signal = AbortSignal.timeout(10_000);
    const at = revoked.target.network;
    const gone = await r.kmsKey(at, revoked.keyArn.replace(/key\/.*/, "key/00000000-0000-0000-0000-000000000000"), signal);
    expect(gone).toMatchObject({ ok: true, value: null, calls: 1 });
    expect(await r.securityGroupRules(at, "sg-0123456789abcdef0", signal)).toMatchObject({ ok: true, value: null, calls: 2 });
    const controller = new AbortController();
    controller.abort();
    await expect(verifyAccess(r, revoked.target, { signal: controller.signal })).rejects.toMatchObject({ name: "AbortError" });
  });

  it("an unreachable endpoint makes every read check not verifiable, with a clean reason", async () => {
    const closed = createAwsAccessReader({ endpoint: "http://127.0.0.1:9", requestTimeoutMs: 2_000, maxAttempts: 1 });
    const result = await verifyAccess(closed, revoked.target, { signal: AbortSignal.timeout(20_000) });
    expect(result.status).toBe("incomplete");
    expect(result.checks.every((c) => c.status === "not-verifiable")).toBe(true);
    expect(check(result, "SG_INGRESS")?.message).toMatch(/could not read AWS: .*(unreachable|ECONNREFUSED|credentials)/i);
  });
});
