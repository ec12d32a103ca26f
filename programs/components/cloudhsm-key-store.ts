import * as aws from "@pulumi/aws";
import * as pulumi from "@pulumi/pulumi";
import { assertIpv4Cidr, assertSlug, assertUnique, partitionOf } from "./aws-ids.js";
import { assertVpcFlowLogArgs, createVpcFlowLog } from "./flow-logs.js";
import { generationSuffix } from "./generation.js";

export type HsmType = "hsm2m.medium" | "hsm1.medium";

export interface HsmSubnet {
  /** AZ *id* (e.g. `euw1-az1`), not name: names are shuffled per account, ids are not. */
  readonly azId: string;
  readonly cidr: string;
}

/** Phase 2 inputs, available once the operator has initialised the cluster out of band. */
export interface HsmKeyStoreInputs {
  /** The issuing CA certificate (`customerCA.crt`) used to sign the cluster CSR. */
  readonly trustAnchorCertificate: pulumi.Input<string>;
  /** Password of the `kmsuser` crypto user; always sent as a secret. */
  readonly kmsuserPassword: pulumi.Input<string>;
  /** KMS has connected the store (ConnectCustomKeyStore is not a resource: the caller connects it). */
  readonly connected?: boolean;
}

export interface CloudHsmKeyStoreArgs {
  readonly slug: string;
  /** Plain: checks that every AZ id belongs to it. */
  readonly region: string;
  readonly vpcCidr: string;
  /** Plain: one private subnet per AZ id; HSM 1 goes into the first, HSM 2 into the second. */
  readonly subnets: readonly HsmSubnet[];
  readonly hsmType?: HsmType;
  /** Plain presence selects the phase: absent = phase 1 (cluster + first HSM only). */
  readonly keyStore?: HsmKeyStoreInputs;
  /** Flow logs of the HSM VPC (AWS Security Hub EC2.6), in the bridge account. */
  readonly flowLogs: HsmFlowLogs;
}

export interface HsmFlowLogs {
  /** The bridge account (the VPC's owner); an Output when the account is created in this run. */
  readonly accountId: pulumi.Input<string>;
  /**
   * A key ARN of the bridge account whose policy lets CloudWatch Logs use it for
   * `cloudHsmFlowLogGroupName(slug, generation)`: BridgeAudit's logging key, given that name.
   */
  readonly kmsKeyArn: pulumi.Input<string>;
  readonly retentionInDays: number;
  /** The onboarding's generation (generation.ts): the retained log group's name carries it from 2 on. */
  readonly generation?: number;
}

/** The HSM VPC's flow-log group, next to the trail's (`/saas-bridge/<slug>/cloudtrail`). */
export function cloudHsmFlowLogGroupName(slug: string, generation?: number): string {
  return `/saas-bridge/${slug}/cloudhsm-vpc-flow-logs${generationSuffix(generation)}`;
}

const HSM_TYPES: readonly HsmType[] = ["hsm2m.medium", "hsm1.medium"];
/** AWS VPC and subnet IPv4 CIDR sizes (EC2 CreateVpc / CreateSubnet). */
const MIN_PREFIX = 16;
const MAX_PREFIX = 28;
const AZ_ID = /^([a-z]+\d+)-az\d+$/;
const DIRECTION: Readonly<Record<string, string>> = {
  north: "n", south: "s", east: "e", west: "w", central: "c", gov: "g",
  northeast: "ne", northwest: "nw", southeast: "se", southwest: "sw",
};

/** `eu-west-1` → `euw1`, `us-gov-west-1` → `usgw1`; undefined when a part is not known. */
function azIdPrefixOf(region: string): string | undefined {
  const [geo = "", ...rest] = region.split("-");
  const parts = rest.slice(0, -1).map((p) => DIRECTION[p]);
  return parts.every((p) => p !== undefined) ? `${geo}${parts.join("")}${rest.at(-1) ?? ""}` : undefined;
}

/** [first, last] address of a CIDR already checked by `assertIpv4Cidr`. */
function rangeOf(cidr: string): readonly [number, number] {
  const [ip = "", prefix = "0"] = cidr.split("/");
  const start = ip.split(".").reduce((acc, o) => acc * 256 + Number(o), 0);
  return [start, start + 2 ** (32 - Number(prefix)) - 1];
}

function assertPrefix(cidr: string, what: string): void {
  const prefix = Number(cidr.split("/")[1]);
  if (prefix < MIN_PREFIX || prefix > MAX_PREFIX) {
    throw new Error(`${what}: CIDR "${cidr}" must be between /${MIN_PREFIX} and /${MAX_PREFIX}`);
  }
}

/**
 * A CloudHSM cluster in its own VPC and, once the operator has initialised it, the KMS custom key
 * store on top (research/aws-design.md §1.7, §2.2). Two phases, because initialisation (sign the CSR,
 * InitializeCluster, create `kmsuser`) is a human ceremony no resource performs, and a second HSM
 * cannot be added to an uninitialised cluster (TF issue #7437). The steps still owed by the operator
 * are returned in `manualSteps` and logged as warnings; nothing is hidden in a wait.
 */
export class CloudHsmKeyStore extends pulumi.ComponentResource {
  public readonly vpcId: pulumi.Output<string>;
  public readonly subnetIds: pulumi.Output<string[]>;
  public readonly clusterId: pulumi.Output<string>;
  /**
   * The cluster CSR. AWS only returns it while the cluster is UNINITIALIZED *and* has an HSM, i.e.
   * after this component's first run: it stays undefined until the state is refreshed.
   */
  public readonly clusterCsr: pulumi.Output<string | undefined>;
  /** Only in phase 2. */
  public readonly customKeyStoreId: pulumi.Output<string> | undefined;
  /** Out-of-band steps still required for the current phase, in order. */
  public readonly manualSteps: readonly string[];

  constructor(name: string, args: CloudHsmKeyStoreArgs, opts?: pulumi.ComponentResourceOptions) {
    super("saas-bridge:kms:CloudHsmKeyStore", name, {}, opts);

    assertSlug(args.slug);
    const partition = partitionOf(args.region);
    const hsmType = args.hsmType ?? "hsm2m.medium";
    if (!HSM_TYPES.includes(hsmType)) throw new Error(`cloudhsm: hsmType must be one of ${HSM_TYPES.join(", ")}, got "${String(hsmType)}"`);
    assertIpv4Cidr(args.vpcCidr, "cloudhsm vpcCidr");
    assertPrefix(args.vpcCidr, "cloudhsm vpcCidr");
    // CreateCustomKeyStore and CreateKey need two active HSMs in different AZs
    // (CloudHsmClusterInvalidConfigurationException).
    if (args.subnets.length < 2) throw new Error(`cloudhsm: subnets need at least 2 distinct AZ ids, got ${args.subnets.length}`);
    const azPrefix = azIdPrefixOf(args.region);
    for (const { azId } of args.subnets) {
      const match = AZ_ID.exec(azId);
      if (!match) throw new Error(`cloudhsm: subnets azId "${azId}" is not an AZ id like "euw1-az1"`);
      if (azPrefix !== undefined && match[1] !== azPrefix) {
        throw new Error(`cloudhsm: subnets azId "${azId}" is not in region ${args.region} (expected ${azPrefix}-azN)`);
      }
    }
    assertUnique(args.subnets.map((s) => s.azId), "cloudhsm subnets azId");
    const [vpcFirst, vpcLast] = rangeOf(args.vpcCidr);
    const ranges = args.subnets.map(({ cidr }) => {
      assertIpv4Cidr(cidr, "cloudhsm subnets cidr");
      assertPrefix(cidr, "cloudhsm subnets cidr");
      const range = rangeOf(cidr);
      if (range[0] < vpcFirst || range[1] > vpcLast) throw new Error(`cloudhsm: subnets cidr "${cidr}" is outside vpcCidr ${args.vpcCidr}`);
      return { cidr, range };
    });
    for (const [i, a] of ranges.entries()) {
      for (const b of ranges.slice(i + 1)) {
        if (a.range[0] <= b.range[1] && b.range[0] <= a.range[1]) throw new Error(`cloudhsm: subnets cidr "${a.cidr}" overlaps "${b.cidr}"`);
      }
    }
    assertVpcFlowLogArgs(args.flowLogs, partition, args.region, "cloudhsm");
    if (args.keyStore) {
      const { kmsuserPassword, trustAnchorCertificate } = args.keyStore;
      // KMS accepts 7-32 characters (CreateCustomKeyStore KeyStorePassword). Never echo the value.
      if (typeof kmsuserPassword === "string" && (kmsuserPassword.length < 7 || kmsuserPassword.length > 32)) {
        throw new Error("cloudhsm: keyStore.kmsuserPassword must be 7-32 characters");
      }
      if (typeof trustAnchorCertificate === "string" && !trustAnchorCertificate.trimStart().startsWith("-----BEGIN CERTIFICATE-----")) {
        throw new Error("cloudhsm: keyStore.trustAnchorCertificate must be a PEM certificate (customerCA.crt)");
      }
    }

    // Retained on delete: the cluster holds the key material and its backups, and the VPC/subnets
    // cannot be deleted while it (its security group) exists, nor could HSMs be re-added without
    // them. `destroy` therefore removes only the HSMs, which forces a backup that a new HSM in the
    // same cluster restores (CloudHSM "Managing backups"); deleting the cluster stays a deliberate
    // manual act after the KMS key deletion window (research §4.2: decommission is two-phase).
    const keep = { parent: this, retainOnDelete: true };

    const vpc = new aws.ec2.Vpc(
      `${name}-vpc`,
      { cidrBlock: args.vpcCidr, enableDnsSupport: true, enableDnsHostnames: true },
      keep,
    );
    // EC2.6 (issue 12, defect 6): a VPC-level flow log. Its group is retained with the VPC; the flow
    // log itself goes with the stack, as the HSMs do.
    createVpcFlowLog(
      name,
      {
        slug: args.slug,
        partition,
        region: args.region,
        accountId: args.flowLogs.accountId,
        vpcId: vpc.id,
        logGroupName: cloudHsmFlowLogGroupName(args.slug, args.flowLogs.generation),
        kmsKeyArn: args.flowLogs.kmsKeyArn,
        retentionInDays: args.flowLogs.retentionInDays,
        what: "cloudhsm",
      },
      this,
    );
    // Adopting the default security group strips its allow-all rules (CIS AWS Foundations 5.4);
    // CloudHSM creates and manages the cluster's own group.
    new aws.ec2.DefaultSecurityGroup(`${name}-default-sg`, { vpcId: vpc.id }, { parent: this });

    // No internet gateway and no public IPs: the VPC's main route table only has the local route.
    const subnets = args.subnets.map(
      ({ azId, cidr }) =>
        new aws.ec2.Subnet(
          `${name}-subnet-${azId}`,
          { vpcId: vpc.id, cidrBlock: cidr, availabilityZoneId: azId, mapPublicIpOnLaunch: false },
          keep,
        ),
    );

    const timeouts = { create: "120m", update: "120m", delete: "120m" };
    const cluster = new aws.cloudhsmv2.Cluster(
      `${name}-cluster`,
      {
        hsmType,
        // hsm2m.medium requires a mode; FIPS is what KMS key stores are meant for. hsm1.medium is
        // FIPS-only and takes no mode (research §7, point 3: its lifecycle is to be checked).
        ...(hsmType === "hsm2m.medium" ? { mode: "FIPS" } : {}),
        subnetIds: subnets.map((s) => s.id),
      },
      { ...keep, customTimeouts: timeouts },
    );

    // Named by AZ id, so swapping the two subnets renames nothing. Not retained: see `keep`.
    const [first, second] = args.subnets.map((s, i) => ({ azId: s.azId, subnetId: subnets[i]?.id }));
    if (!first?.subnetId || !second?.subnetId) throw new Error("cloudhsm: unreachable: fewer than 2 subnets");
    const hsm1 = new aws.cloudhsmv2.Hsm(
      `${name}-hsm-${first.azId}`,
      { clusterId: cluster.clusterId, subnetId: first.subnetId },
      { parent: this, customTimeouts: timeouts },
    );

    let store: aws.kms.CustomKeyStore | undefined;
    if (args.keyStore) {
      const hsm2 = new aws.cloudhsmv2.Hsm(
        `${name}-hsm-${second.azId}`,
        { clusterId: cluster.clusterId, subnetId: second.subnetId },
        { parent: this, customTimeouts: timeouts, dependsOn: [hsm1] },
      );
      // The resource does not call ConnectCustomKeyStore (TF custom_key_store.go): a manual step.
      store = new aws.kms.CustomKeyStore(
        `${name}-store`,
        {
          customKeyStoreName: `saas-bridge-${args.slug}`,
          customKeyStoreType: "AWS_CLOUDHSM",
          cloudHsmClusterId: cluster.clusterId,
          trustAnchorCertificate: args.keyStore.trustAnchorCertificate,
          keyStorePassword: pulumi.secret(args.keyStore.kmsuserPassword),
        },
        // Not secret by default in v7 (research §0), and it is echoed back into the state. Retained on
        // delete: AWS deletes a store only once it is disconnected and every key in it is deleted, i.e.
        // after the key's deletion window (research §4.2: the HSM decommission is two-phase).
        // Once KMS has connected the store it rotates kmsuser's password, so the input is no longer the
        // password: changes to it are ignored (an update would also need the store disconnected).
        {
          parent: this,
          dependsOn: [hsm1, hsm2],
          additionalSecretOutputs: ["keyStorePassword"],
          retainOnDelete: true,
          ...(args.keyStore.connected ? { ignoreChanges: ["keyStorePassword"] } : {}),
        },
      );
    }

    this.vpcId = vpc.id;
    this.subnetIds = pulumi.all(subnets.map((s) => s.id));
    this.clusterId = cluster.clusterId;
    this.clusterCsr = cluster.clusterCertificates.apply((certs) => certs[0]?.clusterCsr || undefined);
    this.customKeyStoreId = store?.id;
    this.manualSteps = !store ? phase1Steps(name, args.slug, first.azId, second.azId) : args.keyStore?.connected ? [] : phase2Steps(name, args.slug);
    // Reported through the `manualSteps` output, which the provider stack turns into `actionsRequired`
    // and the service into diagnostic events for every engine. Not `pulumi.log.warn` as well: under the
    // mock runtime it has no engine and goes to stderr on every evaluation.

    this.registerOutputs({
      vpcId: this.vpcId,
      subnetIds: this.subnetIds,
      clusterId: this.clusterId,
      clusterCsr: this.clusterCsr,
      customKeyStoreId: this.customKeyStoreId,
      manualSteps: this.manualSteps,
    });
  }
}

function phase1Steps(name: string, slug: string, firstAz: string, secondAz: string): string[] {
  return [
    `${name}: 1/4 When HSM ${firstAz} is ACTIVE, read the cluster CSR (\`aws cloudhsmv2 describe-clusters --filters clusterIds=<clusterId>\`, ClusterCertificates.ClusterCsr) and sign it with your issuing CA. Keep the CA certificate (customerCA.crt): it becomes the key store's trust anchor.`,
    `${name}: 2/4 Initialise the cluster with the signed certificate and the CA certificate (\`aws cloudhsmv2 initialize-cluster --cluster-id <clusterId> --signed-cert file://<signed>.crt --trust-anchor file://customerCA.crt\`), then activate it with the CloudHSM CLI (\`cluster activate\`), setting the admin password.`,
    `${name}: 3/4 With the CloudHSM CLI, create the crypto user "kmsuser" (\`user create --username kmsuser --role crypto-user\`) with a password of 7-32 characters; AWS KMS logs in as this user.`,
    `${name}: 4/4 Hand over customerCA.crt and the kmsuser password (saas-bridge: PUT /v1/providers/${slug}/key-store; plain CLI: kms.cloudHsm.keyStore in the args and the secret config saas-bridge:kmsuserPassword): the next run adds the second HSM in ${secondAz}, creates the KMS custom key store, connects it and creates the HSM-backed key.`,
  ];
}

function phase2Steps(name: string, slug: string): string[] {
  return [
    `${name}: the KMS custom key store is not connected yet, so the HSM-backed key cannot be created (CreateKey fails on a disconnected store). saas-bridge connects it after the run that creates it (PUT /v1/providers/${slug}/key-store again to retry); by hand: \`aws kms connect-custom-key-store --custom-key-store-id <customKeyStoreId>\`, wait for CONNECTED, then re-run with keyStore.connected.`,
  ];
}
