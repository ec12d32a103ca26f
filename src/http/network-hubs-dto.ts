import { z } from "zod";
import { DriftState } from "../onboarding/drift.js";
import type { NetworkHubView } from "../onboarding/network-hubs-service.js";
import { OperationDto, toOperationDto } from "./dto.js";

/** Bodies of `/v1/network-hubs` (issue 16): one network hub per region with a hub stack (DESIGN §7). */
const links = z.record(z.string(), z.string());

/** An AWS region, as the hub program checks it (programs/components/aws-ids.ts). */
export const Region = z.object({
  region: z
    .string()
    .max(32)
    .regex(/^[a-z]{2}(-[a-z]+)+-\d{1,2}$/, "must be an AWS region such as eu-west-1")
    .describe("the AWS region of the network hub"),
});

export const NetworkHubDto = z
  .object({
    region: z.string(),
    stack: z.string().describe("the hub's stack: `network-hub.<region>`"),
    createdAt: z.string().describe("when the hub stack was first updated successfully"),
    drift: DriftState.describe(
      "what the last drift check of the hub stack found: in_sync, drifted (resources changed or deleted outside the engine, key names only, " +
        "never values), or unknown (never checked, the last check failed, or a hub update ran since; `reason` says which)",
    ),
    policy: z
      .record(z.string(), z.unknown())
      .nullable()
      .describe("the outputs of the latest successful hub update: the central policy's ARN and the providers whose rule groups it lists"),
    lastOperation: OperationDto.nullable().describe("the hub stack's latest operation (a hub update or a drift check)"),
    links,
  })
  .meta({ id: "NetworkHub", description: "A region's network hub: the stack that owns the central firewall policy, and its drift" });

export const NetworkHubListDto = z
  .object({ items: z.array(NetworkHubDto), links })
  .meta({ id: "NetworkHubList", description: "Every region with a network hub stack" });

export function toNetworkHubDto(hub: NetworkHubView): z.input<typeof NetworkHubDto> {
  const self = `/v1/network-hubs/${encodeURIComponent(hub.region)}`;
  return {
    region: hub.region,
    stack: hub.stack,
    createdAt: hub.createdAt,
    drift: hub.drift,
    policy: (hub.lastUpdate?.result?.["outputs"] as Record<string, unknown> | undefined) ?? null,
    lastOperation: hub.lastOperation === undefined ? null : toOperationDto(hub.lastOperation),
    links: { self, driftChecks: `${self}/drift-checks`, ...(hub.lastOperation ? { lastOperation: `/v1/operations/${hub.lastOperation.id}` } : {}) },
  };
}
