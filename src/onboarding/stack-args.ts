import { createHash } from "node:crypto";
import type { AccessState, ProviderStackArgs } from "../../programs/types.js";
import { AppError } from "../errors.js";
import { parseArn } from "./aws-ids.js";
import type { LandingZone } from "./landing-zone.js";
import type { ProviderSpec } from "./spec.js";

/** Suricata SIDs below 1,000,000 are reserved for local rules by convention; each provider gets 1,000. */
const SID_FLOOR = 1_000_000;
const SID_SLOTS = 100_000;
const SIDS_PER_PROVIDER = 1_000;

/**
 * A stable SID range for a provider, derived from its name so it survives restarts and needs no storage.
 * Caveat: 100,000 slots collide by the birthday bound (≈5% at 100 providers, ≈40% at 320); SIDs must be
 * unique across the central firewall policy, so the network-hub update has to detect a clash and, once
 * that matters, an allocation table should replace this derivation.
 */
export function firewallSidBase(name: string): number {
  const slot = createHash("sha256").update(name, "utf8").digest().readUInt32BE(0) % SID_SLOTS;
  return SID_FLOOR + slot * SIDS_PER_PROVIDER;
}

/**
 * Resolves a validated spec against the landing zone into the provider-stack program's input.
 * The spec must have been parsed with this landing zone's schema; a region the landing zone no longer
 * configures (config changed since) is reported rather than guessed.
 *
 * Not mapped: `inbound` and `expiresAt` — the program contract (programs/types.ts) has no fields for them yet.
 */
export function toProviderStackArgs(spec: ProviderSpec, lz: LandingZone, accessState: AccessState): ProviderStackArgs {
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
    tags: {
      "saas:provider": spec.name,
      "saas:team": spec.owner.team,
      "saas:data-classification": spec.dataClassification,
      "managed-by": "saas-bridge",
    },
    network: {
      accountId: lz.network.accountId,
      deployRoleArn: lz.network.deployRoleArn,
      vpcId: regionNetwork.vpcId,
      subnetIds: [...regionNetwork.endpointSubnetIds],
    },
    bridge,
    provider: { awsAccountId: spec.provider.awsAccountId, principalArns: [...spec.provider.principalArns] },
    outbound: {
      endpointServiceName: spec.outbound.endpointServiceName,
      ports: spec.outbound.ports.map((p) => ({ port: p.port, protocol: p.protocol })),
      allowedSourceCidrs: [...spec.outbound.allowedSourceCidrs],
      privateDns: spec.outbound.privateDns,
    },
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
    },
  };
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
