/**
 * Which drift of a *revoked* provider re-opens its access (issue 16): a security event, not only a finding.
 * Read from what the revoked variant of the provider program builds (programs/components): the endpoint's
 * security group without ingress, the deny NACL on its subnets, the BYOK key policy that denies the provider
 * and no grants, the firewall rule group, the quarantine RCP attached to the bridge account, the inbound
 * endpoint service allowing no principal. A resource that is gone (`delete`) or whose listed keys changed
 * (`update`; no keys listed: any change) matches. Key names only: values are never read here.
 */
export interface DriftedResource {
  readonly urn: string;
  readonly type: string;
  readonly change: "update" | "delete";
  readonly keys: readonly string[];
}

interface Rule {
  readonly type: string;
  /** `update` keys that re-open access; undefined: any update. Absent `update`: only a delete matches. */
  readonly update?: readonly string[] | "any";
  readonly onDelete: boolean;
  readonly reason: string;
}

export const ACCESS_RULES: readonly Rule[] = [
  { type: "aws:ec2/securityGroup:SecurityGroup", update: ["ingress", "egress"], onDelete: false, reason: "a security group rule may admit traffic again" },
  { type: "aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule", update: "any", onDelete: false, reason: "an ingress rule changed" },
  { type: "aws:vpc/securityGroupEgressRule:SecurityGroupEgressRule", update: "any", onDelete: false, reason: "an egress rule changed" },
  { type: "aws:kms/key:Key", update: ["policy", "isEnabled"], onDelete: false, reason: "the BYOK key policy changed: the provider's explicit deny may be gone" },
  { type: "aws:kms/grant:Grant", update: "any", onDelete: false, reason: "a KMS grant changed" },
  { type: "aws:ec2/networkAcl:NetworkAcl", update: ["ingress", "egress", "subnetIds"], onDelete: true, reason: "the deny NACL changed or is gone" },
  { type: "aws:ec2/networkAclRule:NetworkAclRule", update: "any", onDelete: true, reason: "a deny NACL rule changed or is gone" },
  { type: "aws:ec2/networkAclAssociation:NetworkAclAssociation", update: ["networkAclId", "subnetId"], onDelete: true, reason: "the deny NACL is no longer associated with the provider's subnet" },
  { type: "aws:networkfirewall/ruleGroup:RuleGroup", update: ["ruleGroup", "rules", "rulesSource"], onDelete: true, reason: "the provider's firewall rule group changed or is gone" },
  { type: "aws:organizations/policy:Policy", update: ["content"], onDelete: true, reason: "an organization policy of the bridge account (the quarantine RCP or the SCP) changed or is gone" },
  { type: "aws:organizations/policyAttachment:PolicyAttachment", update: ["policyId", "targetId"], onDelete: true, reason: "an organization policy (the quarantine RCP or the SCP) is no longer attached to the bridge account" },
  { type: "aws:ec2/vpcEndpointService:VpcEndpointService", update: ["allowedPrincipals", "acceptanceRequired"], onDelete: false, reason: "the inbound endpoint service admits principals again" },
  { type: "aws:iam/role:Role", update: ["assumeRolePolicy"], onDelete: false, reason: "a role's trust policy changed" },
  { type: "aws:iam/rolePolicy:RolePolicy", update: ["policy"], onDelete: false, reason: "a role's permissions changed" },
];

/**
 * Which drift of a **network hub** is security-relevant (issue 16): the central firewall policy lists every
 * provider's rule group and drops what no rule passes (programs/network-hub.ts); a changed policy document or a
 * deleted policy may stop enforcing a provider's rules, revoked ones included. Its tags or description are not.
 */
export const HUB_POLICY_RULES: readonly Rule[] = [
  {
    type: "aws:networkfirewall/firewallPolicy:FirewallPolicy",
    update: ["firewallPolicy", "encryptionConfiguration", "name"],
    onDelete: true,
    reason: "the central firewall policy changed or is gone: providers' rule groups may no longer be enforced",
  },
];

/** A classifier over a rule table: why a drifted resource matches, or undefined. */
function classifier(rules: readonly Rule[]): (d: DriftedResource) => string | undefined {
  const byType = new Map(rules.map((r) => [r.type, r]));
  return (d) => {
    const rule = byType.get(d.type);
    if (rule === undefined) return undefined;
    if (d.change === "delete") return rule.onDelete ? rule.reason : undefined;
    if (rule.update === undefined) return undefined;
    if (rule.update === "any") return rule.reason;
    const hit = d.keys.filter((k) => rule.update!.includes(k));
    return hit.length > 0 ? `${rule.reason} (changed: ${hit.join(", ")})` : undefined;
  };
}

/** Why this drift of a revoked provider re-opens access, or undefined when it does not. */
export const reopensAccess = classifier(ACCESS_RULES);

/** Why this drift of a network hub is security-relevant, or undefined when it is not. */
export const weakensHubPolicy = classifier(HUB_POLICY_RULES);

/** The resources a classifier flags, each with its reason. */
export function flagged<T extends DriftedResource>(resources: readonly T[], classify: (d: DriftedResource) => string | undefined): (T & { reason: string })[] {
  return resources.flatMap((r) => {
    const reason = classify(r);
    return reason === undefined ? [] : [{ ...r, reason }];
  });
}
