import type { FastifyPluginAsyncZod } from "fastify-type-provider-zod";
import { z } from "zod";
import { principalRef } from "../../auth/actor.js";
import { providerName } from "../../onboarding/spec-fields.js";
import { listRolloutEvents, listRollouts, rolloutEndedAtOrBefore } from "../../fleet/fleet-repo.js";
import * as fleet from "../../fleet/fleet-service.js";
import { isFinalRolloutEvent, type RolloutEvent } from "../../fleet/rollout-events.js";
import type { EventSource } from "../../operations/follow-events.js";
import { requestActor, type RouteAuth } from "../auth.js";
import { ProblemDto } from "../dto.js";
import { FleetDto, RolloutDto, RolloutEventListDto, RolloutListDto, toFleetDto, toRolloutDto } from "../fleet-dto.js";
import { EventSeq, representationOf, ResumeHeaders, streamingRepresentationOf } from "../respond.js";
import { createRolloutTextFormatter } from "../rollout-text.js";
import { streamEvents, type StreamDeps } from "../streaming.js";

export interface FleetRoutesOptions {
  readonly deps: fleet.FleetDeps;
  readonly stream: StreamDeps;
}

const ROLLOUT_EVENTS: EventSource<RolloutEvent> = { list: listRolloutEvents, endedAtOrBefore: rolloutEndedAtOrBefore, isFinal: isFinalRolloutEvent };
const Id = z.object({ id: z.string().min(1).max(64) });
const denied = { 401: ProblemDto, 403: ProblemDto, 404: ProblemDto, 429: ProblemDto };
/** Rollouts act on every team's stacks: reading and deciding them is for admins. */
const admin: { auth: RouteAuth } = { auth: { role: "admin" } };
const Comment = z.string().max(1000).regex(/^[^\p{Cc}]*$/u, "must not contain control characters");

const RolloutRequest = z
  .strictObject({
    canary: z.number().int().min(0).max(1_000).default(1).describe("stacks in the first wave (0: no canary)"),
    batchSize: z.number().int().min(1).max(1_000).default(10).describe("stacks per wave after the canary"),
    maxParallel: z.number().int().min(1).max(64).default(4).describe("at most this many of the rollout's operations queued or running at once"),
    maxFailures: z.number().int().min(0).max(100_000).default(0).describe("halt once more stacks than this have failed (previews included)"),
    providers: z
      .array(providerName)
      .min(1)
      .max(10_000)
      .refine((names) => new Set(names).size === names.length, "must not name a provider twice")
      .optional()
      .describe("only these providers (those of them that are behind); default: every behind stack"),
  })
  .describe("Rollout options");

const fleetRoutes: FastifyPluginAsyncZod<FleetRoutesOptions> = async (app, { deps, stream }) => {
  const openView = async (id: string | undefined) => (id === undefined ? undefined : fleet.getRollout(deps, id));

  app.get(
    "/v1/fleet",
    { config: { auth: { role: "viewer" } }, schema: { operationId: "getFleet", summary: "Providers per program version and lifecycle", tags: ["fleet"], response: { 200: FleetDto, ...denied } } },
    async (request) => {
      const view = await fleet.fleetView(deps, requestActor(request).principal);
      // Who is not an admin sees the counts of its own teams, and not the fleet-wide rollout.
      const own = request.principal?.role === "admin" ? await openView(view.rollout?.id) : undefined;
      return toFleetDto(view, own);
    },
  );

  app.post(
    "/v1/rollouts",
    {
      config: { auth: { role: "admin", action: "rollout.create" }, streams: true },
      schema: {
        operationId: "createRollout",
        summary: "Roll this service's program version out to every behind stack: previews, then waves",
        tags: ["fleet"],
        // Fastify passes a missing body as null: every option then takes its default.
        body: RolloutRequest.nullish(),
        response: { 201: RolloutDto, 400: ProblemDto, 406: ProblemDto, 409: ProblemDto, 413: ProblemDto, 415: ProblemDto, ...denied },
      },
    },
    async (request, reply) => {
      const rep = streamingRepresentationOf(request, stream);
      const actor = requestActor(request);
      const rollout = await fleet.createRollout(deps, actor, request.body ?? RolloutRequest.parse({}));
      const self = `/v1/rollouts/${rollout.id}`;
      if (rep === "json") return reply.code(201).header("location", self).send(toRolloutDto(await fleet.getRollout(deps, rollout.id)));
      return streamEvents(reply, stream, {
        id: rollout.id,
        logContext: { rolloutId: rollout.id },
        source: ROLLOUT_EVENTS,
        text: createRolloutTextFormatter,
        after: 0,
        format: rep,
        status: 201,
        headers: { location: self },
        textHeader: `rollout ${rollout.id} of ${rollout.program_version}`,
        log: request.log,
        owner: principalRef(actor.principal),
        maxPerOwner: stream.maxPerOwner,
      });
    },
  );

  app.get(
    "/v1/rollouts",
    {
      config: admin,
      schema: {
        operationId: "listRollouts",
        summary: "Rollouts, newest first",
        tags: ["fleet"],
        querystring: z.strictObject({
          limit: z.coerce.number().int().min(1).max(100).default(20),
          before: z.uuid().max(36).optional().describe("the id of the last rollout of the previous page"),
        }),
        response: { 200: RolloutListDto, 400: ProblemDto, ...denied },
      },
    },
    async (request) => {
      const { limit, before } = request.query;
      const rows = await listRollouts(deps.db, limit, before);
      const items = await Promise.all(rows.map(async (r) => toRolloutDto({ rollout: r, counts: (await fleet.getRollout(deps, r.id)).counts })));
      const last = rows.at(-1);
      return { items, links: last && rows.length === limit ? { next: `/v1/rollouts?${new URLSearchParams({ limit: String(limit), before: last.id }).toString()}` } : {} };
    },
  );

  app.get(
    "/v1/rollouts/:id",
    { config: admin, schema: { operationId: "getRollout", summary: "A rollout with every stack's preview and outcome", tags: ["fleet"], params: Id, response: { 200: RolloutDto, ...denied } } },
    async (request) => toRolloutDto(await fleet.getRollout(deps, request.params.id)),
  );

  for (const control of ["pause", "resume", "cancel", "approve", "reject"] as const) {
    const decides = control === "approve" || control === "reject";
    app.post(
      `/v1/rollouts/:id/${control}`,
      {
        config: { auth: { role: "admin", action: `rollout.${control}` } },
        schema: {
          operationId: `${control}Rollout`,
          summary: {
            pause: "Pause a rollout: nothing new starts; what is queued or running goes on",
            resume: "Resume a paused rollout",
            cancel: "Cancel a rollout: its queued operations are cancelled, running ones finish",
            approve: "Approve a rollout after its previews (a second person)",
            reject: "Reject a rollout awaiting approval (it is cancelled)",
          }[control],
          tags: ["fleet"],
          params: Id,
          ...(decides ? { body: z.strictObject({ comment: Comment.optional() }).nullish() } : {}),
          response: { 200: RolloutDto, ...(decides ? { 400: ProblemDto } : {}), 409: ProblemDto, ...denied },
        },
      },
      async (request) => {
        const body = request.body as { comment?: string } | null | undefined;
        const r = await fleet.controlRollout(deps, requestActor(request), request.params.id, control, body?.comment);
        return toRolloutDto(await fleet.getRollout(deps, r.id));
      },
    );
  }

  app.get(
    "/v1/rollouts/:id/events",
    {
      config: { ...admin, streams: true },
      schema: {
        operationId: "listRolloutEvents",
        summary: "Rollout events: a JSON page, or a live stream (SSE resumable with Last-Event-ID or ?after=, NDJSON, text)",
        tags: ["fleet"],
        params: Id,
        querystring: z.strictObject({ after: EventSeq.optional(), limit: z.coerce.number().int().min(1).max(1000).default(500) }),
        headers: ResumeHeaders,
        response: {
          200: RolloutEventListDto,
          204: z.null().describe("a stream resumed at or past the rollout's final event: nothing more will come"),
          400: ProblemDto,
          406: ProblemDto,
          ...denied,
        },
      },
    },
    async (request, reply) => {
      const rep = representationOf(request);
      const after = request.query.after ?? request.headers["last-event-id"] ?? 0;
      const { rollout } = await fleet.getRollout(deps, request.params.id);
      if (rep === "json") {
        const items = await listRolloutEvents(deps.db, rollout.id, after, request.query.limit);
        const last = items.at(-1)?.seq;
        return { items, links: last !== undefined && items.length === request.query.limit ? { next: `/v1/rollouts/${rollout.id}/events?after=${last}` } : {} };
      }
      if (await rolloutEndedAtOrBefore(deps.db, rollout.id, after)) return reply.code(204).send(null);
      return streamEvents(reply, stream, {
        id: rollout.id,
        logContext: { rolloutId: rollout.id },
        source: ROLLOUT_EVENTS,
        text: createRolloutTextFormatter,
        after,
        format: rep,
        status: 200,
        textHeader: `rollout ${rollout.id} of ${rollout.program_version}`,
        log: request.log,
        owner: principalRef(requestActor(request).principal),
        maxPerOwner: stream.maxPerOwner,
      });
    },
  );
};

export default fleetRoutes;
