import { z } from "zod";
import { ROLLOUT_STATUSES, type Rollout, type RolloutStack } from "../fleet/fleet-repo.js";
import type { FleetView, RolloutView } from "../fleet/fleet-service.js";
import { RolloutEvent, RolloutStackStatus } from "../fleet/rollout-events.js";
import { ChangeSummary, OperationError } from "../operations/events.js";

/** Response bodies of the fleet and its rollouts (issue 15); like dto.ts, nothing outside them is sent. */
const links = z.record(z.string(), z.string());

export const RolloutOptionsDto = z.object({
  canary: z.number().int().describe("stacks in the first wave; the rest follow in batches once it has ended"),
  batchSize: z.number().int().describe("stacks per wave after the canary"),
  maxParallel: z.number().int().describe("at most this many of the rollout's operations queued or running at once"),
  maxFailures: z.number().int().describe("the rollout halts once more stacks than this have failed"),
});

export const RolloutDto = z
  .object({
    id: z.uuid(),
    programVersion: z.string().describe("the provider program version the rollout brings every stack to"),
    status: z.enum(ROLLOUT_STATUSES),
    pausedPhase: z.enum(["previewing", "applying"]).optional().describe("paused only: the phase a resume goes back to"),
    options: RolloutOptionsDto,
    wave: z.object({ current: z.number().int(), of: z.number().int() }).describe("applying: the wave (0 = the canary) and how many; 0 of 0 before"),
    counts: z.object({
      total: z.number().int(),
      done: z.number().int().describe("succeeded or skipped"),
      failed: z.number().int(),
      inFlight: z.number().int().describe("previews or updates queued or running"),
      pending: z.number().int().describe("not previewed yet, or previewed and not applied yet"),
    }),
    approval: z
      .object({ rule: z.string(), decidedBy: z.string().nullable(), decidedAt: z.string().nullable() })
      .optional()
      .describe("present when an approval rule applies to a stack of the rollout: a second person approves it after the previews"),
    requestedBy: z.string(),
    reason: z.string().optional().describe("why it halted or was cancelled"),
    createdAt: z.string(),
    applyingAt: z.string().nullable(),
    finishedAt: z.string().nullable().describe("set with the final event, once none of its operations is queued or running"),
    stacks: z
      .array(
        z.object({
          provider: z.string(),
          accessState: z.enum(["active", "revoked"]).describe("a revoked provider is rolled out in its revoked state"),
          fromVersion: z.string().nullable().describe("the program version its stack last ran"),
          wave: z.number().int().nullable(),
          status: RolloutStackStatus,
          changes: ChangeSummary.nullable().describe("the preview's change summary: what the update does"),
          error: OperationError.nullable(),
          links,
        }),
      )
      .optional()
      .describe("every stack, in order (GET of one rollout only)"),
    links,
  })
  .meta({ id: "Rollout", description: "A rollout of the service's program version to every stack that last ran an older one" });

export const RolloutListDto = z
  .object({ items: z.array(RolloutDto), links })
  .meta({ id: "RolloutList", description: "Rollouts, newest first; `links.next` continues" });

export const FleetDto = z
  .object({
    programVersion: z.string().describe("the provider program version this service runs"),
    providers: z.number().int(),
    behind: z.number().int().describe("active or revoked stacks that last ran an older version: what a rollout takes"),
    versions: z.array(
      z.object({
        programVersion: z.string().nullable().describe("the version their stack last ran (null: none ran)"),
        standing: z.enum(["current", "behind", "ahead"]),
        providers: z.number().int(),
        lifecycles: z.record(z.string(), z.number().int()),
      }),
    ),
    rollout: RolloutDto.nullable().describe("the open rollout, if any"),
    links,
  })
  .meta({ id: "Fleet", description: "Providers of the caller's teams per program version (what their stack last ran) and lifecycle" });

export const RolloutEventDto = RolloutEvent.meta({ id: "RolloutEvent", description: "One event of a rollout, in `seq` order" });
export const RolloutEventListDto = z
  .object({ items: z.array(RolloutEventDto), links })
  .meta({ id: "RolloutEventList", description: "A page of a rollout's events; `links.next` continues after the last one" });

export function rolloutLinks(r: Pick<Rollout, "id" | "status">): Record<string, string> {
  const self = `/v1/rollouts/${r.id}`;
  const controls: Record<string, readonly string[]> = {
    previewing: ["pause", "cancel"],
    applying: ["pause", "cancel"],
    paused: ["resume", "cancel"],
    awaiting_approval: ["approve", "reject", "cancel"],
  };
  return { self, events: `${self}/events`, ...Object.fromEntries((controls[r.status] ?? []).map((c) => [c, `${self}/${c}`])) };
}

function stackDto(s: RolloutStack) {
  const op = (id: string | null) => (id === null ? undefined : `/v1/operations/${id}`);
  const preview = op(s.preview_operation_id);
  const update = op(s.operation_id);
  return {
    provider: s.provider,
    accessState: s.access_state,
    fromVersion: s.from_version,
    wave: s.wave,
    status: s.status,
    changes: s.changes,
    error: s.error,
    links: { provider: `/v1/providers/${encodeURIComponent(s.provider)}`, ...(preview ? { preview } : {}), ...(update ? { operation: update } : {}) },
  };
}

export function toRolloutDto(view: Omit<RolloutView, "stacks"> & { readonly stacks?: RolloutView["stacks"] }): z.input<typeof RolloutDto> {
  const { rollout: r, counts } = view;
  return {
    id: r.id,
    programVersion: r.program_version,
    status: r.status,
    ...(r.paused_phase ? { pausedPhase: r.paused_phase } : {}),
    options: { canary: r.canary, batchSize: r.batch_size, maxParallel: r.max_parallel, maxFailures: r.max_failures },
    wave: { current: r.wave, of: r.waves },
    counts,
    ...(r.approval_rule ? { approval: { rule: r.approval_rule, decidedBy: r.decided_by_name, decidedAt: r.decided_at } } : {}),
    requestedBy: r.requested_by_name,
    ...(r.reason ? { reason: r.reason } : {}),
    createdAt: r.created_at,
    applyingAt: r.applying_at,
    finishedAt: r.finished_at,
    ...(view.stacks ? { stacks: view.stacks.map(stackDto) } : {}),
    links: rolloutLinks(r),
  };
}

export function toFleetDto(view: FleetView, rollout: RolloutView | undefined): z.input<typeof FleetDto> {
  return {
    programVersion: view.programVersion,
    providers: view.providers,
    behind: view.behind,
    versions: view.versions.map((v) => ({ ...v, lifecycles: { ...v.lifecycles } })),
    rollout: rollout ? toRolloutDto({ rollout: rollout.rollout, counts: rollout.counts }) : null,
    links: { self: "/v1/fleet", rollouts: "/v1/rollouts" },
  };
}
