import type { RegisteredRoute } from "./auth.js";

/**
 * Post-processing of the generated OpenAPI document (issue 13), so that it describes the server:
 * - the credential every non-public route needs (a bearer API key or an OIDC JWT), and `security: []` on
 *   the public ones, from the same auth decisions the server enforces (src/http/auth.ts);
 * - every error answer as `application/problem+json`, the type the server sends (src/http/problem.ts);
 * - a body whose schema accepts null (no body at all) as not required.
 */
export const BEARER_SCHEME = "bearer";

type Json = Record<string, unknown>;
const METHODS = ["get", "put", "post", "delete", "patch", "head", "options"] as const;

/** `/v1/providers/:name` → `/v1/providers/{name}` (how @fastify/swagger writes paths). */
function openapiPath(url: string): string {
  return url.replace(/:([A-Za-z0-9_]+)/g, "{$1}");
}

export function describeServer(document: Json, routes: readonly RegisteredRoute[]): Json {
  const publicOps = new Set(routes.filter((r) => "public" in r.auth).map((r) => `${r.method.toLowerCase()} ${openapiPath(r.url)}`));
  const components = (document["components"] ?? {}) as Json;
  const paths = (document["paths"] ?? {}) as Record<string, Json>;
  for (const [path, item] of Object.entries(paths)) {
    for (const method of METHODS) {
      const operation = item[method] as Json | undefined;
      if (!operation) continue;
      if (publicOps.has(`${method} ${path}`)) operation["security"] = [];
      const body = operation["requestBody"] as Json | undefined;
      const bodySchema = ((body?.["content"] as Record<string, Json> | undefined)?.["application/json"]?.["schema"] ?? {}) as Json;
      if (body && bodySchema["nullable"] === true) body["required"] = false;
      const responses = (operation["responses"] ?? {}) as Record<string, Json>;
      for (const [status, response] of Object.entries(responses)) {
        const content = response["content"] as Record<string, unknown> | undefined;
        if (Number(status) < 400 || !content?.["application/json"]) continue;
        const { "application/json": problem, ...rest } = content;
        response["content"] = { "application/problem+json": problem, ...rest };
      }
    }
  }
  return {
    ...document,
    components: {
      ...components,
      securitySchemes: {
        ...((components["securitySchemes"] as Json | undefined) ?? {}),
        [BEARER_SCHEME]: {
          type: "http",
          scheme: "bearer",
          description:
            "An API key (`POST /v1/api-keys`; `npm run dev` writes an admin key to .data/admin.key) or, when OIDC is configured, a JWT from the identity provider. The events route also takes a short-lived `?ticket=` for EventSource.",
        },
      },
    },
    security: [{ [BEARER_SCHEME]: [] }],
  };
}
