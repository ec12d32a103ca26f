import { createMockCloud } from "../programs/mock-cloud.js";
import { evaluateProgram, type RegisteredResource } from "../programs/evaluate-program.js";
import { toSimResources } from "../src/engine/simulated/evaluate.js";
import { providerStackProgram } from "../programs/provider-stack.js";
import { PROJECTS } from "../programs/stacks.js";
import type { ProviderStackArgs } from "../programs/types.js";
import { buildProviderSpecSchema } from "../src/onboarding/spec.js";
import { provisionalSubnets, toProviderStackArgs } from "../src/onboarding/stack-args.js";
import { criticalPath, sumOfWeights, type GraphNode } from "./dependency-graph.js";
import type { Figure } from "./report.js";
import { benchSpec, landingZone } from "./support.js";

/**
 * Figure: the critical path of the provider stack's dependency graph. The real program is evaluated under
 * the mock cloud (as the simulated engine does), every AWS resource is weighted with a typical creation
 * time from public sources (research aws-design.md §2.4), and the longest weighted chain is compared with
 * the sum of all weights (a run that creates one resource at a time). Modelled, not measured on AWS.
 */

export interface CreationTime {
  readonly seconds: number;
  readonly source: string;
}

const ASSUMED = "assumed: single API call, no public figure";

/** Typical creation time by Pulumi type token. Components and `pulumi:providers:*` weigh 0 (not listed). */
export const CREATION_SECONDS: Readonly<Record<string, CreationTime>> = {
  "aws:organizations/account:Account": {
    seconds: 600,
    source:
      "no AWS-published duration (CreateAccount is asynchronous: IN_PROGRESS → SUCCEEDED); 600 s is the Terraform " +
      "provider's default create timeout, polled every 10 s (research §2.4, TF internal/service/organizations/account.go) — an upper bound, not a typical time",
  },
  "aws:organizations/policy:Policy": { seconds: 5, source: ASSUMED },
  "aws:organizations/policyAttachment:PolicyAttachment": { seconds: 5, source: ASSUMED },

  "aws:ec2/vpcEndpoint:VpcEndpoint": {
    seconds: 180,
    source:
      "no authoritative figure (research §2.4); the only public number is a SaaS vendor's 'creating an endpoint service … takes 3 to 4 minutes' " +
      "(3rd party, pingcap/docs#10276, about the service side); 180 s = its low end, since our side only provisions the endpoint's ENIs and the provider stops waiting at pendingAcceptance",
  },
  "aws:ec2/vpcEndpointService:VpcEndpointService": {
    seconds: 30,
    source:
      "assumed: no public figure for the service alone (the provider waits for Available); with the NLB's 180 s, NLB + service = 210 s, " +
      "inside the 3rd-party '3 to 4 minutes' for a vendor's whole endpoint-service setup (pingcap/docs#10276)",
  },
  "aws:lb/loadBalancer:LoadBalancer": {
    seconds: 180,
    source:
      "assumed typical ~3 min, no AWS figure; the provider waits for `active` with a 10 min default timeout, and users report hitting that timeout " +
      "while the NLB was still provisioning (terraform-provider-aws#8054), so 600 s+ does happen (research §2.4)",
  },
  "aws:lb/targetGroup:TargetGroup": { seconds: 5, source: ASSUMED },
  "aws:lb/listener:Listener": { seconds: 5, source: ASSUMED },
  "aws:lb/targetGroupAttachment:TargetGroupAttachment": {
    seconds: 5,
    source: `${ASSUMED}; the create does not wait for the target to be healthy (~4–5 min, aws-load-balancer-controller#1786), which is not modelled`,
  },

  "aws:cloudhsmv2/cluster:Cluster": {
    seconds: 120,
    source:
      "assumed share, no per-step figure: the AWS sample's smallest stack (cluster + 1 HSM + client + initialisation) takes ~10 min " +
      "(aws-samples/aws-cloudhsm-cloudformation-template README, '~10 to ~50 minutes'); cluster + HSM #1 are modelled at 600 s together, " +
      "120 s of it for CreateCluster → UNINITIALIZED (provider timeout 120 min, research §2.4)",
  },
  "aws:cloudhsmv2/hsm:Hsm": {
    seconds: 480,
    source:
      "the other 480 s of the 600 s above (AWS sample, ~10 min lower bound); a 3rd-party Terraform demo lists aws_cloudhsm_v2_hsm at " +
      "'up to 10 minutes' (stormreply/cloudhsm-demo README)",
  },
  "aws:ec2/vpc:Vpc": { seconds: 5, source: ASSUMED },
  "aws:ec2/defaultSecurityGroup:DefaultSecurityGroup": { seconds: 5, source: `${ASSUMED} (adopts the VPC's default group)` },

  "aws:kms/key:Key": { seconds: 5, source: ASSUMED },
  "aws:kms/alias:Alias": { seconds: 5, source: ASSUMED },
  "aws:kms/grant:Grant": {
    seconds: 5,
    source: `${ASSUMED}; a grant becomes effective after 'a brief delay, usually less than five minutes', but grant tokens make it usable at once and the create does not wait (research §2.4)`,
  },
  "aws:iam/role:Role": { seconds: 5, source: ASSUMED },
  "aws:iam/rolePolicy:RolePolicy": { seconds: 5, source: ASSUMED },

  "aws:s3/bucket:Bucket": { seconds: 5, source: ASSUMED },
  "aws:s3/bucketOwnershipControls:BucketOwnershipControls": { seconds: 5, source: ASSUMED },
  "aws:s3/bucketPublicAccessBlock:BucketPublicAccessBlock": { seconds: 5, source: ASSUMED },
  "aws:s3/bucketServerSideEncryptionConfiguration:BucketServerSideEncryptionConfiguration": { seconds: 5, source: ASSUMED },
  "aws:s3/bucketVersioning:BucketVersioning": { seconds: 5, source: ASSUMED },
  "aws:s3/bucketPolicy:BucketPolicy": { seconds: 5, source: ASSUMED },
  "aws:cloudtrail/trail:Trail": { seconds: 5, source: ASSUMED },
  "aws:cloudwatch/logGroup:LogGroup": { seconds: 5, source: ASSUMED },

  "aws:ec2/subnet:Subnet": { seconds: 5, source: ASSUMED },
  "aws:ec2/routeTableAssociation:RouteTableAssociation": { seconds: 5, source: ASSUMED },
  "aws:ec2/securityGroup:SecurityGroup": { seconds: 5, source: ASSUMED },
  "aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule": { seconds: 5, source: ASSUMED },
  "aws:vpc/securityGroupEgressRule:SecurityGroupEgressRule": { seconds: 5, source: ASSUMED },
  "aws:ec2/flowLog:FlowLog": { seconds: 5, source: ASSUMED },
  "aws:networkfirewall/ruleGroup:RuleGroup": {
    seconds: 5,
    source: `${ASSUMED} (research §2.4: UNCONFIRMED); the firewall syncs rule-group changes asynchronously, outside this stack`,
  },
};

/** Any AWS type missing from the table; the figure lists the types that fell back to it. */
export const DEFAULT_CREATION: CreationTime = { seconds: 5, source: "assumed default: type not in CREATION_SECONDS" };

function weightOf(r: Pick<RegisteredResource, "type" | "custom">, defaulted: Set<string>): number {
  if (!r.custom || r.type.startsWith("pulumi:providers:")) return 0;
  const entry = CREATION_SECONDS[r.type];
  if (entry) return entry.seconds;
  defaulted.add(r.type);
  return DEFAULT_CREATION.seconds;
}

/** The ordering edges the simulated engine honours (its own derivation: dependencies, provider, parent). */
export function toGraph(registered: readonly RegisteredResource[], defaulted: Set<string>): GraphNode[] {
  return toSimResources(registered).map((r) => ({ urn: r.urn, weightSeconds: weightOf(r, defaulted), after: [...r.dependencies] }));
}

interface Case {
  readonly key: string;
  readonly label: string;
  readonly args: ProviderStackArgs;
}

interface CaseResult {
  readonly awsResources: number;
  readonly registrations: number;
  readonly edges: number;
  readonly criticalPathSeconds: number;
  readonly sequentialSeconds: number;
  readonly ratio: number;
  /** The weighted steps of the critical path, first to last. */
  readonly path: string;
}

/** The HSM VPC of case (d): the landing zone's block split in four, first two AZ ids (as the service does). */
const CLOUD_HSM: NonNullable<ProviderStackArgs["kms"]["cloudHsm"]> = {
  vpcCidr: "10.255.0.0/24",
  subnets: [
    { azId: "euw1-az1", cidr: "10.255.0.0/26" },
    { azId: "euw1-az2", cidr: "10.255.0.64/26" },
  ],
};

function argsFor(body: Record<string, unknown>): ProviderStackArgs {
  const spec = buildProviderSpecSchema(landingZone).parse(body);
  const region = landingZone.network.regions[spec.region]!;
  const subnets = provisionalSubnets(region.subnetPool, region.subnetPrefixLength, region.availabilityZoneIds);
  return toProviderStackArgs(spec, landingZone, "active", { subnets, connectionAccepted: false });
}

function cases(): Case[] {
  const base = benchSpec("bench-critical");
  const hsm = argsFor({ ...base, kms: { ...(base["kms"] as Record<string, unknown>), keyStore: "cloudhsm" } });
  return [
    { key: "a", label: "(a) existing bridge account", args: argsFor(base) },
    {
      key: "b",
      label: "(b) bridge account created in the run",
      args: argsFor({ ...base, bridgeAccount: { create: { email: "aws-saas-bench-critical@example.com" } } }),
    },
    {
      key: "c",
      label: "(c) with inbound exposure (NLB + endpoint service)",
      args: argsFor({
        ...base,
        // As examples/globex.json: two internal targets, the provider's account may connect.
        inbound: {
          targets: [
            { ip: "10.40.12.10", port: 8443 },
            { ip: "10.40.13.10", port: 8443 },
          ],
          allowedPrincipals: ["arn:aws:iam::444444444444:root"],
          sourceCidrs: ["100.64.12.0/24"],
        },
      }),
    },
    { key: "d", label: "(d) CloudHSM key store, phase 1", args: { ...hsm, kms: { ...hsm.kms, keyStore: "cloudhsm", cloudHsm: CLOUD_HSM } } },
  ];
}

const round3 = (n: number): number => Math.round(n * 1000) / 1000;

async function analyse(c: Case, defaulted: Set<string>): Promise<CaseResult> {
  const mocks = createMockCloud({ region: c.args.region, callerAccountId: c.args.managementAccountId });
  const program = async (): Promise<Record<string, unknown>> => ({ ...(await providerStackProgram(c.args)()) });
  const evaluation = await evaluateProgram(program, { stack: `bench-critical-${c.key}`, project: PROJECTS.provider, mocks });
  const nodes = toGraph(evaluation.resources, defaulted);
  const byUrn = new Map(evaluation.resources.map((r) => [r.urn, r]));
  const weights = new Map(nodes.map((n) => [n.urn, n.weightSeconds]));
  const { seconds, path } = criticalPath(nodes);
  const sequential = sumOfWeights(nodes);
  const steps = path
    .filter((urn) => (weights.get(urn) ?? 0) > 0)
    .map((urn) => `${byUrn.get(urn)?.type.replace(/^aws:/, "") ?? urn} ${weights.get(urn)} s`);
  return {
    awsResources: evaluation.resources.filter((r) => r.custom && r.type.startsWith("aws:")).length,
    registrations: evaluation.resources.length,
    edges: nodes.reduce((total, n) => total + n.after.length, 0),
    criticalPathSeconds: seconds,
    sequentialSeconds: sequential,
    ratio: sequential === 0 ? 0 : round3(seconds / sequential),
    path: steps.join(" → "),
  };
}

export async function measureCriticalPath(): Promise<Figure> {
  const defaulted = new Set<string>();
  const results: { readonly c: Case; readonly r: CaseResult }[] = [];
  // One at a time: Pulumi's mock runtime is process-global (evaluateProgram serializes anyway).
  for (const c of cases()) results.push({ c, r: await analyse(c, defaulted) });
  const [a] = results;
  if (!a) throw new Error("critical-path: no cases");

  const numbers = (r: CaseResult): Record<string, number> => ({
    awsResources: r.awsResources,
    registrations: r.registrations,
    edges: r.edges,
    criticalPathSeconds: r.criticalPathSeconds,
    sequentialSeconds: r.sequentialSeconds,
    criticalOverSequential: r.ratio,
  });
  const weighted = Object.entries(CREATION_SECONDS)
    .filter(([, w]) => w.seconds !== 5)
    .map(([type, w]) => `${type.replace(/^aws:/, "")} ${w.seconds} s`)
    .join(", ");

  return {
    id: "critical-path",
    title: "Critical path of the provider stack's dependency graph (modelled)",
    ratio: a.r.sequentialSeconds === 0 ? 0 : a.r.criticalPathSeconds / a.r.sequentialSeconds,
    ratioMeaning: "case (a) critical-path seconds ÷ sum of all creation seconds (a fully sequential run); lower = more parallel",
    subject: { criticalPathSeconds: a.r.criticalPathSeconds, awsResources: a.r.awsResources, registrations: a.r.registrations },
    baseline: { sequentialSeconds: a.r.sequentialSeconds },
    diagnostics: Object.fromEntries(results.map(({ c, r }) => [c.label, numbers(r)])),
    notes: [
      "MODELLED times from public sources (research aws-design.md §2.4, CREATION_SECONDS in bench/critical-path.ts), not measured AWS runs",
      "graph = the real provider program evaluated under the mock cloud; edges = dependencies + explicit provider + parent (as the simulated engine), root stack dropped; " +
        "components and pulumi:providers:* weigh 0; unbounded parallelism (Pulumi's default)",
      `weights: ${weighted}; every other listed AWS type 5 s (assumed: single API call, no public figure)`,
      `types on the default weight (${DEFAULT_CREATION.seconds} s, ${DEFAULT_CREATION.source}): ${defaulted.size === 0 ? "none" : [...defaulted].sort().join(", ")}`,
      ...results.map(({ c, r }) => `${c.label}: critical path ${r.criticalPathSeconds} s of ${r.sequentialSeconds} s sequential: ${r.path}`),
      "outside every run, so not in these graphs: the SaaS accepting the endpoint (private DNS is a second up), the SaaS creating its endpoint to our service, " +
        "the HSM initialisation ceremony, HSM #2 and the custom key store (CloudHSM phase 2), NLB target health (~4–5 min)",
    ],
  };
}
