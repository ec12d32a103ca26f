import { DescribeKeyCommand, GetKeyPolicyCommand, KMSClient, ListGrantsCommand } from "@aws-sdk/client-kms";
import { DescribeRuleGroupCommand, NetworkFirewallClient } from "@aws-sdk/client-network-firewall";
import { DescribePolicyCommand, ListPoliciesForTargetCommand, OrganizationsClient } from "@aws-sdk/client-organizations";
import { createEc2Reads } from "./aws-reader-ec2.js";
import { createAwsSession, pages, read, serviceErrorName, type AwsSessionOptions } from "./aws-session.js";
import type { AccessReader, AccountRef, KmsGrantFacts, OrgPolicyFacts } from "./types.js";

/**
 * The access reader on the AWS SDK v3 (issue 17): read calls only, as the role of each AccountRef (assumed
 * with STS from the process's default credential chain), so what it reports is what AWS enforces now, not
 * what a stack's state believes. Read-only permissions it needs: kms:DescribeKey, kms:GetKeyPolicy,
 * kms:ListGrants; ec2:DescribeSecurityGroupRules, ec2:DescribeSecurityGroups, ec2:DescribeNetworkAcls,
 * ec2:DescribeVpcEndpointServiceConfigurations, ec2:DescribeVpcEndpointConnections,
 * ec2:DescribeVpcEndpointServicePermissions; network-firewall:DescribeRuleGroup;
 * organizations:ListPoliciesForTarget, organizations:DescribePolicy.
 */
export type AwsAccessReaderOptions = AwsSessionOptions;

/** KMS and Organizations page sizes: their documented maximums. */
const GRANTS_PAGE = 100;
const POLICIES_PAGE = 20;

export function createAwsAccessReader(options: AwsAccessReaderOptions = {}): AccessReader {
  const session = createAwsSession(options);
  const kms = (at: AccountRef): KMSClient => session.client("kms", at, (config) => new KMSClient(config));
  const firewall = (at: AccountRef): NetworkFirewallClient => session.client("network-firewall", at, (config) => new NetworkFirewallClient(config));
  const organizations = (at: AccountRef): OrganizationsClient => session.client("organizations", at, (config) => new OrganizationsClient(config));

  return {
    name: "aws",
    ...createEc2Reads(session),

    kmsKey(at, keyArn, signal) {
      return read("kms:DescribeKey", signal, async (calls) => {
        let metadata;
        try {
          metadata = (await calls.send("kms:DescribeKey", (abortSignal) => kms(at).send(new DescribeKeyCommand({ KeyId: keyArn }), { abortSignal }))).KeyMetadata;
        } catch (err) {
          if (serviceErrorName(err) === "NotFoundException") return null;
          throw err;
        }
        if (!metadata?.KeyId) return null;
        let policy = "";
        try {
          const out = await calls.send("kms:GetKeyPolicy", (abortSignal) => kms(at).send(new GetKeyPolicyCommand({ KeyId: keyArn, PolicyName: "default" }), { abortSignal }));
          policy = out.Policy ?? "";
        } catch (err) {
          // A key pending deletion or import may refuse its policy: the key's state is then the evidence.
          if (serviceErrorName(err) !== "KMSInvalidStateException") throw err;
        }
        return { keyId: metadata.KeyId, arn: metadata.Arn ?? keyArn, enabled: metadata.Enabled === true, state: metadata.KeyState ?? "Unknown", policy };
      });
    },

    kmsGrants(at, keyArn, signal) {
      return read("kms:ListGrants", signal, async (calls) => {
        try {
          const grants = await pages(calls, "kms:ListGrants", (Marker, abortSignal) =>
            kms(at)
              .send(new ListGrantsCommand({ KeyId: keyArn, Limit: GRANTS_PAGE, Marker }), { abortSignal })
              .then((out) => ({ items: out.Grants ?? [], next: out.Truncated ? out.NextMarker : undefined })),
          );
          return grants.map(
            (grant): KmsGrantFacts => ({
              grantId: grant.GrantId ?? "",
              granteePrincipal: grant.GranteePrincipal ?? "",
              ...(grant.RetiringPrincipal ? { retiringPrincipal: grant.RetiringPrincipal } : {}),
              operations: grant.Operations ?? [],
              ...(grant.Constraints?.EncryptionContextSubset ? { encryptionContextSubset: grant.Constraints.EncryptionContextSubset } : {}),
            }),
          );
        } catch (err) {
          // A deleted key has no grants left.
          if (serviceErrorName(err) === "NotFoundException") return [];
          throw err;
        }
      });
    },

    ruleGroup(at, arn, signal) {
      return read("network-firewall:DescribeRuleGroup", signal, async (calls) => {
        try {
          const out = await calls.send("network-firewall:DescribeRuleGroup", (abortSignal) => firewall(at).send(new DescribeRuleGroupCommand({ RuleGroupArn: arn }), { abortSignal }));
          // The program writes Suricata rules as a string; a group written as structured rules has none, and
          // the check then sees no rule at all (never a pass for active, and no drop for revoked).
          return { arn: out.RuleGroupResponse?.RuleGroupArn ?? arn, rulesString: out.RuleGroup?.RulesSource?.RulesString ?? "" };
        } catch (err) {
          if (serviceErrorName(err) === "ResourceNotFoundException") return null;
          throw err;
        }
      });
    },

    attachedPolicies(at, targetAccountId, type, signal) {
      return read("organizations:ListPoliciesForTarget", signal, async (calls) => {
        let summaries;
        try {
          summaries = await pages(calls, "organizations:ListPoliciesForTarget", (NextToken, abortSignal) =>
            organizations(at)
              .send(new ListPoliciesForTargetCommand({ TargetId: targetAccountId, Filter: type, MaxResults: POLICIES_PAGE, NextToken }), { abortSignal })
              .then((out) => ({ items: out.Policies ?? [], next: out.NextToken })),
          );
        } catch (err) {
          // An account outside the organization has nothing attached.
          const name = serviceErrorName(err);
          if (name === "TargetNotFoundException" || name === "AccountNotFoundException") return [];
          throw err;
        }
        // The documents are independent reads: asked for at once.
        return Promise.all(
          summaries.map(async (summary): Promise<OrgPolicyFacts> => {
            const policyId = summary.Id ?? "";
            const out = await calls.send("organizations:DescribePolicy", (abortSignal) => organizations(at).send(new DescribePolicyCommand({ PolicyId: policyId }), { abortSignal }));
            return { policyId, name: out.Policy?.PolicySummary?.Name ?? summary.Name ?? "", content: out.Policy?.Content ?? "" };
          }),
        );
      });
    },
  };
}
