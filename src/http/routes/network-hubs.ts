import type { FastifyPluginAsyncZod } from "fastify-type-provider-zod";
import type { AcceptDeps } from "../../onboarding/accept.js";
import * as hubs from "../../onboarding/network-hubs-service.js";
import { requestActor, type RouteAuth } from "../auth.js";
import { AcceptedDto, ProblemDto } from "../dto.js";
import { NetworkHubDto, NetworkHubListDto, Region, toNetworkHubDto } from "../network-hubs-dto.js";
import { idempotencyOf, MutationHeaders, respondAccepted, streamingRepresentationOf } from "../respond.js";
import type { StreamDeps } from "../streaming.js";

export interface NetworkHubRoutesOptions {
  readonly deps: AcceptDeps;
  readonly stream: StreamDeps;
}

/** A hub belongs to no team (it lists every team's rule groups): reading it and checking it is for admins. */
const read: { auth: RouteAuth } = { auth: { role: "admin" } };
const check: { auth: RouteAuth; streams: true } = { auth: { role: "admin", action: "network-hub.drift-check" }, streams: true };
const readProblems = { 401: ProblemDto, 403: ProblemDto, 404: ProblemDto, 429: ProblemDto };
const tags = ["network-hubs"];

const networkHubRoutes: FastifyPluginAsyncZod<NetworkHubRoutesOptions> = async (app, { deps, stream }) => {
  app.get(
    "/v1/network-hubs",
    { config: read, schema: { operationId: "listNetworkHubs", summary: "List the regions' network hubs and their drift", tags, response: { 200: NetworkHubListDto, ...readProblems } } },
    async () => ({ items: (await hubs.listNetworkHubs(deps)).map(toNetworkHubDto), links: {} }),
  );

  app.get(
    "/v1/network-hubs/:region",
    {
      config: read,
      schema: { operationId: "getNetworkHub", summary: "Get a region's network hub", tags, params: Region, response: { 200: NetworkHubDto, 400: ProblemDto, ...readProblems } },
    },
    async (request) => toNetworkHubDto(await hubs.getNetworkHub(deps, request.params.region)),
  );

  app.post(
    "/v1/network-hubs/:region/drift-checks",
    {
      config: check,
      schema: {
        operationId: "checkNetworkHubDrift",
        summary:
          "Detect drift of the hub stack now: compare the central firewall policy with the cloud (refresh preview); changed resources and keys, " +
          "never values, are reported on the hub's `drift`; nothing is changed",
        tags,
        params: Region,
        headers: MutationHeaders,
        response: { 202: AcceptedDto, 400: ProblemDto, 406: ProblemDto, 422: ProblemDto, ...readProblems },
      },
    },
    async (request, reply) => {
      const rep = streamingRepresentationOf(request, stream);
      const result = await hubs.requestHubDriftCheck(deps, requestActor(request), request.params.region, idempotencyOf(request, null));
      return respondAccepted(request, reply, stream, result, rep);
    },
  );
};

export default networkHubRoutes;
