import { createHash } from "node:crypto";
import type { AccessState, NetworkHubArgs, ProviderStackArgs, SubnetPlacement } from "../../programs/types.js";
import { AppError } from "../errors.js";
import { parseArn } from "./aws-ids.js";
import { formatCidr, parseCidr } from "./cidr.js";
import type { LandingZone } from "./landing-zone.js";
import type { ProviderSpec } from "./spec.js";
import { effectivePortMatch } from "./spec-rules.js";

/** Suricata SIDs below 1,000,000 are reserved for local rules by convention; each provider gets 1,000. */
const SID_FLOOR = 1_000_000;
const SID_SLOTS = 100_000;
const SIDS_PER_PROVIDER = 1_000;

/**
 * A stable SID range for a provider, derived from its name so it survives restarts and needs no storage.
 * Caveat: 100,000 slots collide by the birthday bound (≈5% at 100 providers, ≈40% at 320). A collision is
 * harmless for matching (each group's rules only see traffic to the provider's own subnets) but makes
 * alert logs ambiguous; an allocation table should replace this once that matters.
 */
export function firewallSidBase(name: string): number {
  const slot = createHash("sha256").update(name, "utf8").digest().readUInt32BE(0) % SID_SLOTS;
  return SID_FLOOR + slot * SIDS_PER_PROVIDER;
}

/** What the service decides for a run, beyond spec and landing zone. */
export interface Placement {
  /** The provider's subnets from the allocator, one per AZ id of the region. */
  readonly subnets: readonly SubnetPlacement[];
  /** The endpoint was `available` after the last run: the provider accepted the connection. */
  readonly connectionAccepted: boolean;
  /** The provider row's generation (retained resources' names carry it from 2 on); default 1. */
  readonly generation?: number;
  /** CloudHSM phase 2 (key_stores row): the trust anchor, and whether KMS has connected the store. */
  readonly keyStore?: { readonly trustAnchorCertificate: string; readonly connected: boolean };
}

/**
 * Resolves a validated spec against the landing zone into the provider-stack program's input.
 * The spec must have been parsed with this landing zone's schema; a region the landing zone no longer
 * configures (config changed since) is reported rather than guessed. `expiresAt` is not a program input.
 */
export function toProviderStackArgs(
  spec: ProviderSpec,
  lz: LandingZone,
  accessState: AccessState,
  placement: Placement,
): ProviderStackArgs {
  const regionNetwork = lz.network.regions[spec.region];
  if (regionNetwork === undefined) {
    throw new AppError("INVALID_STATE", `Region ${spec.region} is not configured in the landing zone`);
  }
  const accessRoleName = lz.bridge.accessRoleName;
  const bridge: ProviderStackArgs["bridge"] =
    "accountId" in spec.bridgeAccount
      ? { kind: "existing", accountId: spec.bridgeAccount.accountId, accessRoleName }
      : { kind: "create", email: spec.bridgeAccount.create.email, saasOuId: lz.organization.saasOuId, accessRoleName };

  return {
    name: spec.name,
    accessState,
    region: spec.region,
    allowedRegions: Object.keys(lz.network.regions),
    tags: {
      "saas:provider": spec.name,
      "saas:team": spec.owner.team,
      "saas:data-classification": spec.dataClassification,
      "managed-by": "saas-bridge",
    },
    managementAccountId: lz.organization.managementAccountId,
    network: {
      accountId: lz.network.accountId,
      deployRoleArn: lz.network.deployRoleArn,
      vpcId: regionNetwork.vpcId,
      routeTableId: regionNetwork.routeTableId,
      subnets: placement.subnets.map((s) => ({ azId: s.azId, cidr: s.cidr })),
      flowLogs: { kmsKeyArn: regionNetwork.flowLogKmsKeyArn, retentionInDays: lz.network.flowLogRetentionInDays },
    },
    bridge,
    provider: { awsAccountId: spec.provider.awsAccountId, principalArns: [...spec.provider.principalArns] },
    outbound: {
      endpointServiceName: spec.outbound.endpointServiceName,
      ports: spec.outbound.ports.map((p) => ({ port: p.port, protocol: p.protocol, match: effectivePortMatch(p) })),
      allowedSourceCidrs: [...spec.outbound.allowedSourceCidrs],
      privateDns: spec.outbound.privateDns,
      connectionAccepted: placement.connectionAccepted,
    },
    ...(spec.inbound
      ? {
          inbound: {
            targets: spec.inbound.targets.map((t) => ({ ip: t.ip, port: t.port })),
            allowedPrincipals: [...spec.inbound.allowedPrincipals],
            ...(spec.inbound.tls ? { certificateArn: spec.inbound.tls.certificateArn } : {}),
            acceptedEndpointIds: [...spec.inbound.acceptedEndpointIds],
            sourceCidrs: [...spec.inbound.sourceCidrs],
          },
        }
      : {}),
    firewall: {
      allowedDomains: [...spec.firewall.allowedDomains],
      sidBase: firewallSidBase(spec.name),
      capacity: lz.firewall.ruleGroupCapacity,
    },
    kms: {
      grantOperations: [...spec.kms.grantOperations],
      encryptionContext: { ...spec.kms.encryptionContext },
      keyStore: spec.kms.keyStore,
      adminRoleArns: keyAdminRoleArns(bridge, lz),
      retiringPrincipalArn: lz.bridge.retiringPrincipalArn,
      deletionWindowInDays: lz.kms.deletionWindowInDays,
      ...(spec.kms.keyStore === "cloudhsm"
        ? {
            cloudHsm: {
              vpcCidr: lz.kms.cloudHsmVpcCidr,
              subnets: hsmSubnets(lz.kms.cloudHsmVpcCidr, regionNetwork.availabilityZoneIds),
              ...(placement.keyStore ? { keyStore: { ...placement.keyStore } } : {}),
            },
          }
        : {}),
    },
    audit: { retentionInDays: lz.audit.retentionInDays, accessLogArchive: { ...lz.audit.accessLogArchive } },
    generation: placement.generation ?? 1,
  };
}

/** The network-hub program's input for a region, given the providers' rule groups. */
export function toNetworkHubArgs(region: string, lz: LandingZone, ruleGroups: NetworkHubArgs["ruleGroups"]): NetworkHubArgs {
  return {
    region,
    network: { accountId: lz.network.accountId, deployRoleArn: lz.network.deployRoleArn },
    tags: { "managed-by": "saas-bridge", "saas:stack": "network-hub" },
    policyName: lz.firewall.policyName,
    ruleGroups,
  };
}

/**
 * Stand-in subnets for checking a spec before the allocator has run (the first blocks of the pool, one
 * per AZ id): valid, distinct and inside the pool, which is all the program and the guardrails look at.
 */
export function provisionalSubnets(pool: string, prefixLength: number, azIds: readonly string[]): SubnetPlacement[] {
  const base = parseCidr(pool);
  if (!base) throw new AppError("INVALID_STATE", `subnet pool ${pool} is not a CIDR`);
  const size = 2 ** (32 - prefixLength);
  return azIds.map((azId, i) => ({ azId, cidr: formatCidr({ base: base.base + i * size, prefix: prefixLength }) }));
}

/**
 * The HSM VPC is private to each bridge account (no routing between them), so every account can use the
 * same block: it is split in four and the first two AZ ids of the region get one quarter each (KMS needs
 * HSMs in two AZs). A region with one AZ id cannot host a CloudHSM key store; the program says so.
 */
function hsmSubnets(vpcCidr: string, azIds: readonly string[]): SubnetPlacement[] {
  const vpc = parseCidr(vpcCidr);
  if (!vpc) throw new AppError("INVALID_STATE", `kms.cloudHsmVpcCidr ${vpcCidr} is not a CIDR`);
  const prefix = Math.min(vpc.prefix + 2, 28);
  const size = 2 ** (32 - prefix);
  return azIds.slice(0, 2).map((azId, i) => ({ azId, cidr: formatCidr({ base: vpc.base + i * size, prefix }) }));
}

/**
 * The bridge deploy role must be a key administrator or PutKeyPolicy fails its lockout check. Its ARN is
 * known here only for an existing account; for an account created by the stack the id exists only at
 * deploy time, so the program adds that role itself and this list carries the landing zone's admins alone.
 */
function keyAdminRoleArns(bridge: ProviderStackArgs["bridge"], lz: LandingZone): string[] {
  const admins = [...lz.bridge.keyAdminRoleArns];
  if (bridge.kind === "existing") {
    // Same partition as the landing zone's own roles (aws, aws-cn, aws-us-gov).
    const partition = parseArn(lz.network.deployRoleArn)?.partition ?? "aws";
    admins.unshift(`arn:${partition}:iam::${bridge.accountId}:role/${bridge.accessRoleName}`);
  }
  return [...new Set(admins)];
}
