import { isDeepStrictEqual } from "node:util";

/**
 * Schema-level passes over the generated OpenAPI document (issue 13). fastify-type-provider-zod names a
 * registered schema `X` for responses and `XInput` for requests and emits both; these passes keep the
 * components a client needs, under one name each, and state what the generator leaves implicit.
 */
type Json = Record<string, unknown>;

const isObject = (v: unknown): v is Json => typeof v === "object" && v !== null && !Array.isArray(v);

/** Calls `visit` on every object in the tree (depth first), replacing it by what `visit` returns. */
export function rewrite(node: unknown, visit: (value: Json) => Json): unknown {
  if (Array.isArray(node)) return node.map((v) => rewrite(v, visit));
  if (!isObject(node)) return node;
  const out: Json = {};
  for (const [k, v] of Object.entries(node)) out[k] = rewrite(v, visit);
  return visit(out);
}

/** Every `$ref` target under `node`. */
function refsIn(node: unknown, into = new Set<string>()): Set<string> {
  rewrite(node, (v) => {
    if (typeof v["$ref"] === "string") into.add(v["$ref"]);
    return v;
  });
  return into;
}

const SCHEMA_REF = "#/components/schemas/";

/**
 * Moves every copy of `schema` into `components.schemas[name]`, each place it was inline becoming a `$ref`
 * (the provider spec: its schema is built per landing zone, so it cannot be a registered zod schema).
 */
export function hoistSchema(document: Json, name: string, schema: Json): Json {
  const ref = { $ref: `${SCHEMA_REF}${name}` };
  const paths = rewrite(document["paths"], (v) => (isDeepStrictEqual(v, schema) ? ref : v));
  const components = (document["components"] ?? {}) as Json;
  return { ...document, paths, components: { ...components, schemas: { ...((components["schemas"] as Json | undefined) ?? {}), [name]: schema } } };
}

/**
 * Drops the schemas nothing refers to (the generator emits each registered schema for input and for
 * output) and names a request-only `XInput` plain `X` when no `X` is left.
 */
export function pruneSchemas(document: Json): Json {
  const components = (document["components"] ?? {}) as Json;
  let schemas = { ...((components["schemas"] as Json | undefined) ?? {}) };
  const { components: _c, ...rest } = document;
  for (;;) {
    const used = refsIn([rest, components["responses"], schemas]);
    const unused = Object.keys(schemas).filter((n) => !used.has(`${SCHEMA_REF}${n}`));
    if (unused.length === 0) break;
    for (const n of unused) delete schemas[n];
  }
  const renames = new Map(
    Object.keys(schemas)
      .filter((n) => n.endsWith("Input") && !(n.slice(0, -"Input".length) in schemas))
      .map((n) => [`${SCHEMA_REF}${n}`, `${SCHEMA_REF}${n.slice(0, -"Input".length)}`]),
  );
  const renamed = (v: Json): Json => (typeof v["$ref"] === "string" && renames.has(v["$ref"]) ? { ...v, $ref: renames.get(v["$ref"]) } : v);
  schemas = Object.fromEntries(Object.entries(schemas).map(([n, s]) => [renames.get(`${SCHEMA_REF}${n}`)?.slice(SCHEMA_REF.length) ?? n, rewrite(s, renamed)]));
  return { ...(rewrite(rest, renamed) as Json), components: { ...components, schemas } };
}

const INT32 = 2_147_483_647;

/**
 * Integers get the `format` their bounds allow (int32 or int64) and, when the generator left one open,
 * the bound the value can never pass in JSON: a safe integer (Number.MAX_SAFE_INTEGER).
 */
export function integerFormats(node: unknown): unknown {
  return rewrite(node, (v) => {
    const isInteger = v["type"] === "integer" || (Array.isArray(v["type"]) && v["type"].includes("integer"));
    if (!isInteger) return v;
    const minimum = typeof v["minimum"] === "number" ? v["minimum"] : typeof v["exclusiveMinimum"] === "number" ? v["exclusiveMinimum"] : -Number.MAX_SAFE_INTEGER;
    const maximum = typeof v["maximum"] === "number" ? v["maximum"] : typeof v["exclusiveMaximum"] === "number" ? v["exclusiveMaximum"] : Number.MAX_SAFE_INTEGER;
    const bounds = { ...("minimum" in v || "exclusiveMinimum" in v ? {} : { minimum }), ...("maximum" in v || "exclusiveMaximum" in v ? {} : { maximum }) };
    const format = v["format"] ?? (minimum >= -INT32 - 1 && maximum <= INT32 ? "int32" : "int64");
    return { ...v, ...bounds, format };
  });
}

/** Whether a body schema also accepts `null`, Fastify's value for a request without a body. */
export function acceptsNull(schema: Json): boolean {
  if (schema["nullable"] === true || schema["type"] === "null") return true;
  if (Array.isArray(schema["type"]) && schema["type"].includes("null")) return true;
  const anyOf = (schema["anyOf"] ?? schema["oneOf"]) as Json[] | undefined;
  return Array.isArray(anyOf) && anyOf.some((s) => isObject(s) && acceptsNull(s));
}

/** The body schema without its `null` branch (a missing body is described by `required: false`). */
export function withoutNull(schema: Json): Json {
  const anyOf = schema["anyOf"] as Json[] | undefined;
  if (!Array.isArray(anyOf)) return schema;
  const rest = anyOf.filter((s) => !(isObject(s) && s["type"] === "null"));
  const { anyOf: _a, ...others } = schema;
  return rest.length === 1 ? { ...others, ...rest[0] } : { ...others, anyOf: rest };
}
