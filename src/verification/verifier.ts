import { setMaxListeners } from "node:events";
import {
  absent,
  checkEndpointConnections,
  checkFirewallRules,
  checkKmsGrants,
  checkKmsKeyPolicy,
  checkNaclDeny,
  checkQuarantinePolicy,
  checkSgIngress,
  notApplicable,
  notVerifiable,
} from "./checks.js";
import { CHECK_CODES, type AccessReader, type CheckCode, type CheckResult, type Reading, type VerificationResult, type VerificationStatus, type VerificationTarget } from "./types.js";

export interface VerifyAccessOptions {
  /** Aborts every read in flight; the verification then rejects (a cancelled verification has no result). */
  readonly signal: AbortSignal;
  /** Milliseconds since the epoch (tests pin it). */
  readonly now?: () => number;
}

type Judged<T> = (value: T) => CheckResult;

/** The check of a reading: the verdict on what was read, or `not-verifiable` with the reason it was not. */
function judge<T>(code: CheckCode, reading: Reading<T> | undefined, verdict: Judged<T>, skipped: () => CheckResult): CheckResult {
  if (reading === undefined) return skipped();
  return reading.ok ? verdict(reading.value) : notVerifiable(code, reading.reason);
}

/**
 * Verifies a provider's access against what AWS says now (issue 17): every independent read at once, then
 * one check per capability in CHECK_CODES order. A read is only made when the target names what it reads;
 * the check of a capability the target lacks says why it was not read.
 */
export async function verifyAccess(reader: AccessReader, target: VerificationTarget, options: VerifyAccessOptions): Promise<VerificationResult> {
  const now = options.now ?? Date.now;
  // A signal of its own for the reads: every read in flight listens to it (and the SDK per request), more
  // than the default warning threshold of 10; it follows the caller's.
  const signal = AbortSignal.any([options.signal]);
  setMaxListeners(0, signal);
  const started = now();
  const { bridge, network, keyArn, securityGroupId, ruleGroupArn } = target;
  const serviceName = target.inbound?.serviceName;
  const readsPolicies = bridge !== undefined && target.expectation !== "decommissioned";

  const [key, grants, rules, nacls, service, group, policies] = await Promise.all([
    bridge && keyArn ? reader.kmsKey(bridge, keyArn, signal) : undefined,
    bridge && keyArn ? reader.kmsGrants(bridge, keyArn, signal) : undefined,
    securityGroupId ? reader.securityGroupRules(network, securityGroupId, signal) : undefined,
    target.subnetIds.length > 0 ? reader.subnetNacls(network, target.subnetIds, signal) : undefined,
    serviceName ? reader.endpointService(network, serviceName, signal) : undefined,
    ruleGroupArn ? reader.ruleGroup(network, ruleGroupArn, signal) : undefined,
    readsPolicies ? reader.attachedPolicies(target.management, bridge.accountId, "RESOURCE_CONTROL_POLICY", signal) : undefined,
  ]);

  const noKey = (code: CheckCode) => (): CheckResult => (keyArn ? absent(code, target, "bridge account (where the key lives)") : absent(code, target, "KMS key ARN"));
  const byCode: Record<CheckCode, CheckResult> = {
    KMS_GRANTS: judge("KMS_GRANTS", grants, (value) => checkKmsGrants(target, key?.ok ? key.value : undefined, value), noKey("KMS_GRANTS")),
    KMS_KEY_POLICY: judge("KMS_KEY_POLICY", key, (value) => checkKmsKeyPolicy(target, value), noKey("KMS_KEY_POLICY")),
    SG_INGRESS: judge("SG_INGRESS", rules, (value) => checkSgIngress(target, value), () =>
      target.expectedIngress.length > 0 ? absent("SG_INGRESS", target, "security group id") : notApplicable("SG_INGRESS", "no security group known and no ingress expected"),
    ),
    NACL_DENY: judge("NACL_DENY", nacls, (value) => checkNaclDeny(target, value), () => checkNaclDeny(target, [])),
    ENDPOINT_CONNECTIONS: judge("ENDPOINT_CONNECTIONS", service, (value) => checkEndpointConnections(target, value), () =>
      target.inbound ? absent("ENDPOINT_CONNECTIONS", target, "endpoint service name") : notApplicable("ENDPOINT_CONNECTIONS", "the provider has no inbound exposure"),
    ),
    FIREWALL_RULES: judge("FIREWALL_RULES", group, (value) => checkFirewallRules(target, value), () => absent("FIREWALL_RULES", target, "firewall rule group ARN")),
    QUARANTINE_POLICY: judge("QUARANTINE_POLICY", policies, (value) => checkQuarantinePolicy(target, value), () =>
      bridge ? checkQuarantinePolicy(target, []) : notApplicable("QUARANTINE_POLICY", "no bridge account known: nothing to attach a quarantine policy to"),
    ),
  };

  const checks = CHECK_CODES.map((code) => byCode[code]);
  const calls = [key, grants, rules, nacls, service, group, policies].reduce((sum, reading) => sum + (reading?.calls ?? 0), 0);
  return {
    status: overall(checks),
    expectation: target.expectation,
    reader: reader.name,
    checkedAt: new Date(started).toISOString(),
    durationMs: Math.max(0, now() - started),
    calls,
    checks,
  };
}

function overall(checks: readonly CheckResult[]): VerificationStatus {
  if (checks.some((c) => c.status === "fail")) return "failed";
  if (checks.some((c) => c.status === "not-verifiable")) return "incomplete";
  return "passed";
}
