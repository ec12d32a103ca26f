import { bucketLoggingRules, bucketRules, logGroupRules, trailRules } from "./guardrail-rules/audit.js";
import { deletionProtectionRules } from "./guardrail-rules/deletion.js";
import { firewallRules } from "./guardrail-rules/firewall.js";
import { grantRules, keyPolicyRules, keyRotationRules } from "./guardrail-rules/kms.js";
import { endpointRules, flowLogRules, inboundRules, securityGroupRules } from "./guardrail-rules/network.js";
import type { GuardrailExpectations, GuardrailViolation, PlannedResource, Rule } from "./guardrail-rules/types.js";
import type { ProviderSpec } from "./spec.js";
import { effectivePortMatch } from "./spec-rules.js";

export {
  GUARDRAIL_CODES,
  GUARDRAIL_SUMMARIES,
  type GuardrailCode,
  type GuardrailExpectations,
  type GuardrailViolation,
  type PlannedResource,
} from "./guardrail-rules/types.js";

/**
 * Guardrails (DESIGN.md §3): a pure check of the planned resource graph — what the provider-stack
 * program registers under the mock cloud — against what the spec allows. Run before queueing (a
 * non-empty result is a 422) and on every preview or drift check.
 *
 * The rules judge the resources, not our builders: they would catch a component that regressed, an
 * out-of-band edit imported into the graph, or a future program variant. A value that is missing or
 * not known (a real engine's preview) is a violation: the rules fail closed. Messages name fields and
 * the few non-secret values needed to act (ports, CIDRs, principals, statement ids), never whole inputs.
 */

const RULES: readonly Rule[] = [
  securityGroupRules,
  endpointRules,
  inboundRules,
  keyRotationRules,
  keyPolicyRules,
  grantRules,
  logGroupRules,
  trailRules,
  bucketRules,
  bucketLoggingRules,
  flowLogRules,
  firewallRules,
  deletionProtectionRules,
];

/** Violations ordered by the resource's position in `resources`, then by rule. */
export function evaluateGuardrails(resources: readonly PlannedResource[], expect: GuardrailExpectations): GuardrailViolation[] {
  const position = new Map(resources.map((r, i) => [r.urn, i]));
  const found = RULES.flatMap((rule) => rule(resources, expect));
  return found
    .map((v, i) => ({ v, i }))
    .sort((a, b) => (position.get(a.v.urn) ?? 0) - (position.get(b.v.urn) ?? 0) || a.i - b.i)
    .map(({ v }) => v);
}

/** What the guardrails hold a provider's stack to, from its validated spec. */
export function guardrailExpectations(spec: ProviderSpec, accessState: "active" | "revoked"): GuardrailExpectations {
  return {
    accessState,
    providerAccountId: spec.provider.awsAccountId,
    providerPrincipalArns: [...spec.provider.principalArns],
    outboundPorts: spec.outbound.ports.map((p) => ({ port: p.port, protocol: p.protocol, match: effectivePortMatch(p) })),
    outboundSourceCidrs: [...spec.outbound.allowedSourceCidrs],
    inboundPorts: [...new Set((spec.inbound?.targets ?? []).map((t) => t.port))],
    inboundSourceCidrs: [...(spec.inbound?.sourceCidrs ?? [])],
    encryptionContext: { ...spec.kms.encryptionContext },
    grantOperations: [...spec.kms.grantOperations],
  };
}
