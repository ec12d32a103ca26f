import createClient, { type Client, type Middleware } from "openapi-fetch";
import type { paths } from "./schema.js";

/**
 * A typed client for the service's API (issue 13), for the portal team: openapi-fetch over the types that
 * `npm run openapi:generate` derives from the served OpenAPI document (./schema.ts). Import it as
 * `saas-bridge/client`. The types describe the document for examples/landing-zone.json: a landing zone
 * with other regions or ranges accepts other provider specs than `ProviderSpec` says.
 *
 *   const api = createSaasBridgeClient({ baseUrl: "https://saas-bridge.internal", token: apiKey });
 *   const { data, error } = await api.GET("/v1/operations/{id}", { params: { path: { id } } });
 */
export type { components, paths } from "./schema.js";

/**
 * The client reads JSON: openapi-fetch parses every body as JSON, and the client asks for JSON (a mutation
 * or an events route also streams text, NDJSON or SSE, for curl and EventSource, when asked to). So the
 * types of `data` and `error` are the JSON bodies alone, not a union with the streaming views' text.
 */
type JsonMedia = "application/json" | "application/problem+json";
export type SaasBridgeClient = Client<paths, JsonMedia>;

export interface SaasBridgeClientOptions {
  /** Where the service is, e.g. `https://saas-bridge.internal` (no trailing `/v1`: paths carry it). */
  readonly baseUrl: string;
  /** An API key or an OIDC JWT; a function is asked before every request (tokens that expire). */
  readonly token: string | (() => string | Promise<string>);
  /** Another fetch (tests, proxies); the global one otherwise. */
  readonly fetch?: (request: Request) => Promise<Response>;
}

export function createSaasBridgeClient(options: SaasBridgeClientOptions): SaasBridgeClient {
  const client = createClient<paths, JsonMedia>({ baseUrl: options.baseUrl, ...(options.fetch === undefined ? {} : { fetch: options.fetch }) });
  const { token } = options;
  const headers: Middleware = {
    async onRequest({ request }) {
      request.headers.set("authorization", `Bearer ${typeof token === "string" ? token : await token()}`);
      request.headers.set("accept", "application/json");
      return request;
    },
  };
  client.use(headers);
  return client;
}

type Json<T> = T extends { content: { "application/json": infer Body } } ? Body : never;
type Get<P extends keyof paths> = paths[P] extends { get: { responses: { 200: infer R } } } ? Json<R> : never;

/** The body of `POST /v1/providers` and `PUT /v1/providers/{name}`. */
export type ProviderSpec = Json<paths["/v1/providers"]["post"]["requestBody"]>;
/** The `202` of every mutation: the operation, its place in the provider's queue, links. */
export type Accepted = Json<paths["/v1/providers"]["post"]["responses"][202]>;
export type Provider = Get<"/v1/providers/{name}">;
export type ProviderPage = Get<"/v1/providers">;
export type Operation = Get<"/v1/operations/{id}">;
export type OperationStatus = Operation["status"];
export type EventPage = Get<"/v1/operations/{id}/events">;
/** One event of an operation, a union discriminated by `type`. */
export type OperationEvent = EventPage["items"][number];
/** Every error answer (RFC 9457 `application/problem+json`), with the service's `code`. */
export type Problem = paths["/v1/operations/{id}"]["get"]["responses"][404]["content"]["application/problem+json"];
