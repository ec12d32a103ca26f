import { Ajv, type ErrorObject, type ValidateFunction } from "ajv";
import { Ajv2020 } from "ajv/dist/2020.js";
import addFormats from "ajv-formats";
import type { FastifyInstance, FastifyReply, FastifyRequest } from "fastify";

/**
 * TEST-ONLY instrument (issue 13): every response a test app sends — through `inject` or over a socket —
 * is checked against the app's own OpenAPI document (3.0 or 3.1), so the document cannot drift from the
 * server again. For each response it finds the operation (method + the Fastify route URL), then checks
 * that the status is documented (exact, `4XX` range or `default`), that the content type is one the
 * documented response lists, that a JSON body validates against its schema (streams: the media type
 * only) and that every header the document marks `required` is present.
 *
 * Installed by test/helpers/service.ts through the `instrument` seam of composeService/buildApp; never
 * part of a running service. Violations are collected, deduplicated by (method, route, status, kind).
 */
type Json = Record<string, unknown>;

export type ViolationKind =
  | "undocumented-status"
  | "content-type"
  | "body-not-json"
  | "body-schema"
  | "missing-header"
  | "checker-error";

export interface ContractViolation {
  readonly method: string;
  /** The document's path (`/v1/providers/{name}`). */
  readonly route: string;
  readonly status: number;
  readonly contentType: string | undefined;
  readonly kind: ViolationKind;
  readonly message: string;
  readonly errors: readonly SchemaError[];
  /** The first 300 characters of the body ("" when there was none or it was a stream). */
  readonly body: string;
  /** How many responses showed this violation. */
  readonly count: number;
}

/** An ajv error, as reported. */
export type SchemaError = Pick<ErrorObject, "instancePath" | "schemaPath" | "keyword" | "params"> & { readonly message?: string | undefined };

export interface ContractCheckStats {
  /** Responses checked against a documented operation. */
  readonly checked: number;
  /** HEAD requests checked against the GET operation (Fastify exposes HEAD for every GET route). */
  readonly headAsGet: number;
  /** Streams (SSE, NDJSON, text): status, media type and headers checked, not the body. */
  readonly streams: number;
  /** Responses of the not-found handler (no route matched): skipped. */
  readonly noRoute: number;
  /** Responses of routes the document does not list (hidden: /openapi.json, /docs/*), by `METHOD url`: skipped. */
  readonly notInDocument: Readonly<Record<string, number>>;
  /** Checked responses by `METHOD path status` (what the suite exercised of the document). */
  readonly responses: Readonly<Record<string, number>>;
}

export interface ContractCheck {
  /** Adds the hooks; call it before any route is registered (buildApp's `instrument`). */
  install(app: FastifyInstance): void;
  violations(): readonly ContractViolation[];
  stats(): ContractCheckStats;
  /** A readable list of the violations, for a failing test. */
  report(): string;
}

/** What was seen of one response. */
export interface ObservedResponse {
  readonly method: string;
  /** Fastify's route URL (`/v1/providers/:name`); undefined for the not-found handler. */
  readonly url: string | undefined;
  readonly status: number;
  header(name: string): string | undefined;
  readonly body: { readonly kind: "none" } | { readonly kind: "text"; readonly text: string } | { readonly kind: "stream" | "unseen" };
}

const DOC_ID = "https://saas-bridge.test/openapi.json";
/** Schema keywords OpenAPI adds (annotations here; 3.0's `nullable` ajv supports beside a `type`). */
const ANNOTATIONS = ["example", "examples", "discriminator", "xml", "externalDocs", "deprecated", "readOnly", "writeOnly"];
/** The OpenAPI object's own fields: the document is the schema resource, so ajv meets them at its root. */
const DOCUMENT_FIELDS = ["openapi", "info", "jsonSchemaDialect", "servers", "paths", "webhooks", "components", "security", "tags"];
const MAX_ERRORS = 10;
const MAX_MESSAGES = 4;
const BODY_CHARS = 300;

const isObject = (value: unknown): value is Json => typeof value === "object" && value !== null && !Array.isArray(value);
const mediaType = (value: string | undefined) => value?.split(";")[0]?.trim().toLowerCase() || undefined;
const isJsonMedia = (media: string) => media === "application/json" || media.endsWith("+json");
/** `/v1/providers/:name` → `/v1/providers/{name}` (how @fastify/swagger writes paths). */
const openapiPath = (url: string) => url.replace(/:([A-Za-z0-9_]+)/g, "{$1}");
const pointerOf = (segments: readonly string[]) =>
  segments.map((s) => encodeURIComponent(s.replace(/~/g, "~0").replace(/\//g, "~1"))).join("/");

/**
 * OpenAPI 3.0 schemas are not quite JSON Schema: `exclusiveMinimum: true` qualifies `minimum`, and
 * `nullable` without a `type` (ajv only supports it beside one) means "or null". Rewritten on a copy.
 */
function fromOpenApi30(node: unknown): unknown {
  if (Array.isArray(node)) return node.map(fromOpenApi30);
  if (!isObject(node)) return node;
  const out: Json = Object.fromEntries(Object.entries(node).map(([k, v]) => [k, fromOpenApi30(v)]));
  for (const [flag, bound] of [["exclusiveMinimum", "minimum"], ["exclusiveMaximum", "maximum"]] as const) {
    if (typeof out[flag] !== "boolean") continue;
    if (out[flag] === true && typeof out[bound] === "number") {
      out[flag] = out[bound];
      delete out[bound];
    } else delete out[flag];
  }
  if (out["nullable"] === true && out["type"] === undefined) {
    const { nullable: _nullable, ...rest } = out;
    return { anyOf: [rest, { type: "null" }] };
  }
  return out;
}

/** Keys and `format` values anywhere in the document: `x-*` extensions and formats become annotations. */
function collect(node: unknown, extensions: Set<string>, formats: Set<string>): void {
  if (Array.isArray(node)) return node.forEach((v) => collect(v, extensions, formats));
  if (!isObject(node)) return;
  for (const [k, v] of Object.entries(node)) {
    if (k.startsWith("x-")) extensions.add(k);
    if (k === "format" && typeof v === "string") formats.add(v);
    collect(v, extensions, formats);
  }
}

interface Resolved {
  readonly pointer: readonly string[];
  readonly value: Json;
}

/** The document compiled for checking responses: operations found by path, schemas compiled once. */
class DocumentIndex {
  readonly #doc: Json;
  readonly #ajv: Ajv;
  readonly #validators = new Map<string, ValidateFunction>();

  constructor(document: Json) {
    const is31 = String(document["openapi"] ?? "").startsWith("3.1");
    this.#doc = (is31 ? structuredClone(document) : fromOpenApi30(document)) as Json;
    const options = { allErrors: true, strictSchema: true, strictTypes: false, strictTuples: false, logger: false } as const;
    this.#ajv = is31 ? new Ajv2020(options) : new Ajv(options);
    addFormats.default(this.#ajv);
    const extensions = new Set<string>();
    const formats = new Set<string>();
    collect(this.#doc, extensions, formats);
    for (const keyword of [...ANNOTATIONS, ...DOCUMENT_FIELDS, ...extensions]) {
      if (!this.#ajv.RULES.keywords[keyword]) this.#ajv.addKeyword({ keyword, schemaType: ["string", "number", "boolean", "object", "array", "null"] });
    }
    for (const format of formats) if (!this.#ajv.formats[format]) this.#ajv.addFormat(format, true);
    // The whole document is one schema resource, so `#/components/schemas/X` resolves inside it.
    this.#ajv.addSchema(this.#doc, DOC_ID);
  }

  /** Follows `$ref`s within the document (path items, responses, headers may be references). */
  resolve(pointer: readonly string[]): Resolved | undefined {
    let current: readonly string[] = pointer;
    for (let hops = 0; hops < 20; hops++) {
      let value: unknown = this.#doc;
      for (const segment of current) value = isObject(value) ? value[segment] : undefined;
      if (!isObject(value)) return undefined;
      const ref = value["$ref"];
      if (typeof ref !== "string" || !ref.startsWith("#/")) return { pointer: current, value };
      current = ref.slice(2).split("/").map((s) => decodeURIComponent(s).replace(/~1/g, "/").replace(/~0/g, "~"));
    }
    return undefined;
  }

  validator(pointer: readonly string[]): ValidateFunction {
    const key = pointerOf(pointer);
    let validate = this.#validators.get(key);
    if (!validate) {
      validate = this.#ajv.compile({ $ref: `${DOC_ID}#/${key}` });
      this.#validators.set(key, validate);
    }
    return validate;
  }
}

type Finding = Pick<ContractViolation, "kind" | "message"> & { readonly errors?: ContractViolation["errors"] };

/** The status key the document answers `status` with: the exact code, its `4XX` range, or `default`. */
function statusKey(responses: Json, status: number): string | undefined {
  const range = `${Math.floor(status / 100)}XX`;
  return [String(status), range, range.toLowerCase(), "default"].find((key) => key in responses);
}

function matchMedia(listed: readonly string[], media: string): string | undefined {
  const bare = (key: string) => mediaType(key) ?? key;
  return (
    listed.find((key) => bare(key) === media) ??
    listed.find((key) => bare(key).endsWith("/*") && media.startsWith(bare(key).slice(0, -1))) ??
    listed.find((key) => bare(key) === "*/*")
  );
}

function checkBody(index: DocumentIndex, response: Resolved, key: string, text: string): Finding[] {
  // Media type objects are never references; their schema may be one (ajv resolves it).
  const media = (response.value["content"] as Json)[key];
  if (!isObject(media) || !isObject(media["schema"])) return [];
  const schemaPointer = [...response.pointer, "content", key, "schema"];
  let body: unknown;
  try {
    body = JSON.parse(text);
  } catch {
    return [{ kind: "body-not-json", message: `the body is not JSON although it is sent as ${key}` }];
  }
  const validate = index.validator(schemaPointer);
  if (validate(body)) return [];
  const errors = (validate.errors ?? []).slice(0, MAX_ERRORS).map(({ instancePath, schemaPath, keyword, message, params }) => ({
    instancePath,
    schemaPath,
    keyword,
    message,
    params,
  }));
  const count = validate.errors?.length ?? 0;
  return [{ kind: "body-schema", message: `the body does not match the ${key} schema (${count} error${count === 1 ? "" : "s"})`, errors }];
}

/** Checks one response of an operation the document lists. */
function checkResponse(index: DocumentIndex, seen: ObservedResponse, method: string, path: string): Finding[] {
  const operation = index.resolve(["paths", path, method]);
  const responses = operation && index.resolve([...operation.pointer, "responses"]);
  const key = responses && statusKey(responses.value, seen.status);
  if (!responses || key === undefined) {
    const documented = Object.keys(responses?.value ?? {}).join(", ") || "none";
    return [{ kind: "undocumented-status", message: `status ${seen.status} is not documented (documented: ${documented})` }];
  }
  const response = index.resolve([...responses.pointer, key]);
  if (!response) return [{ kind: "checker-error", message: `responses.${key} does not resolve to a response object` }];
  const findings: Finding[] = [];
  const listed = Object.keys(isObject(response.value["content"]) ? response.value["content"] : {});
  const media = mediaType(seen.header("content-type"));
  const hasBody = seen.body.kind === "stream" || (seen.body.kind === "text" && seen.body.text.length > 0);
  const matched = media === undefined ? undefined : matchMedia(listed, media);
  // A hijacked reply's body is not seen: whether it sent one is unknown, its content type is still checked.
  const bodyKnown = seen.body.kind !== "unseen";
  if (listed.length === 0) {
    if (hasBody) findings.push({ kind: "content-type", message: `${media ?? "a body without a content type"} is sent, the document lists no content for ${key}` });
  } else if (media === undefined) {
    if (bodyKnown) findings.push({ kind: "content-type", message: `${hasBody ? "a body without a content type" : "no body"} is sent, the document lists ${listed.join(", ")}` });
  } else if (matched === undefined) {
    findings.push({ kind: "content-type", message: `${media} is sent, the document lists ${listed.join(", ")}` });
  } else if (isJsonMedia(media) && seen.body.kind === "text") {
    findings.push(...checkBody(index, response, matched, seen.body.text));
  }
  const headers = isObject(response.value["headers"]) ? Object.keys(response.value["headers"]) : [];
  const missing = headers.filter((name) => {
    const header = index.resolve([...response.pointer, "headers", name]);
    // OpenAPI: a Content-Type header definition is ignored.
    return header?.value["required"] === true && name.toLowerCase() !== "content-type" && seen.header(name) === undefined;
  });
  if (missing.length > 0) findings.push({ kind: "missing-header", message: `required header(s) missing: ${missing.join(", ")}` });
  return findings;
}

/** Creates the check; `install` it into each app. */
export function createContractCheck(): ContractCheck {
  const found = new Map<string, ContractViolation>();
  const notInDocument: Record<string, number> = {};
  const responses: Record<string, number> = {};
  const bump = (counter: Record<string, number>, key: string) => void (counter[key] = (counter[key] ?? 0) + 1);
  const counts = { checked: 0, headAsGet: 0, streams: 0, noRoute: 0 };
  let index: DocumentIndex | undefined;
  let documentError: string | undefined;

  const record = (seen: ObservedResponse, route: string, finding: Finding) => {
    const key = `${seen.method} ${route} ${seen.status} ${finding.kind}`;
    const previous = found.get(key);
    const body = seen.body.kind === "text" ? seen.body.text.slice(0, BODY_CHARS) : "";
    if (!previous) {
      const first = { method: seen.method, route, status: seen.status, contentType: seen.header("content-type"), errors: [], body, count: 1 };
      return void found.set(key, { ...first, ...finding });
    }
    // Later occurrences add what they saw differently (another message, other schema errors), within bounds.
    const messages = previous.message.split("; ");
    const message = messages.includes(finding.message) || messages.length >= MAX_MESSAGES ? previous.message : `${previous.message}; ${finding.message}`;
    const line = (e: SchemaError) => `${e.instancePath} ${e.message ?? e.keyword}`;
    const known = new Set(previous.errors.map(line));
    const errors = [...previous.errors, ...(finding.errors ?? []).filter((e) => !known.has(line(e)))].slice(0, MAX_ERRORS);
    found.set(key, { ...previous, message, errors, count: previous.count + 1 });
  };

  /** Checks a response against the document `read` returns (read lazily, once: after `ready`). */
  const check = (seen: ObservedResponse, read: () => Json) => {
    if (seen.url === undefined) return void counts.noRoute++;
    const route = openapiPath(seen.url);
    try {
      if (!index && documentError === undefined) index = new DocumentIndex(read());
    } catch (err) {
      documentError = err instanceof Error ? err.message : String(err);
    }
    if (!index) return record(seen, route, { kind: "checker-error", message: `the document could not be compiled: ${documentError}` });
    let method = seen.method.toLowerCase();
    if (!index.resolve(["paths", route, method])) {
      const viaGet = method === "head" && index.resolve(["paths", route, "get"]) !== undefined;
      if (!viaGet) return bump(notInDocument, `${seen.method} ${seen.url}`);
      counts.headAsGet++;
      method = "get";
    }
    counts.checked++;
    bump(responses, `${seen.method} ${route} ${seen.status}`);
    if (seen.body.kind === "stream") counts.streams++;
    try {
      for (const finding of checkResponse(index, seen, method, route)) record(seen, route, finding);
    } catch (err) {
      record(seen, route, { kind: "checker-error", message: err instanceof Error ? err.message : String(err) });
    }
  };

  return {
    install(app) {
      // Payloads as onSend sees them; a stream is checked there (it may never finish: a client can leave),
      // everything else once sent, with the headers as they went out.
      const payloads = new WeakMap<FastifyRequest, ObservedResponse["body"] | "checked">();
      const observe = (request: FastifyRequest, reply: FastifyReply, body: ObservedResponse["body"]): ObservedResponse => ({
        method: request.method,
        url: request.routeOptions.url,
        status: reply.statusCode,
        header: (name) => headerValue(reply, name),
        // Fastify and Node send no body (and no content type) with these, whatever the handler returned.
        body: reply.statusCode < 200 || reply.statusCode === 204 || reply.statusCode === 304 ? { kind: "none" } : body,
      });
      app.addHook("onSend", (request, reply, payload, done) => {
        const body = bodyOf(payload);
        if (body.kind === "stream") {
          payloads.set(request, "checked");
          check(observe(request, reply, body), () => app.swagger() as unknown as Json);
        } else payloads.set(request, body);
        done(null, payload);
      });
      app.addHook("onResponse", (request, reply, done) => {
        const body = payloads.get(request);
        // No onSend: a hijacked reply wrote its own head (status and headers are still checked).
        if (body !== "checked") check(observe(request, reply, body ?? { kind: "unseen" }), () => app.swagger() as unknown as Json);
        done();
      });
    },
    violations: () => [...found.values()],
    stats: () => ({ ...counts, notInDocument: { ...notInDocument }, responses: { ...responses } }),
    report() {
      const lines = [...found.values()].map((v) => {
        const errors = v.errors.map((e) => `\n      ${e.instancePath || "/"} ${e.message ?? e.keyword} ${JSON.stringify(e.params)}`).join("");
        const body = v.body ? `\n    body: ${v.body}` : "";
        return `  - ${v.method} ${v.route} → ${v.status} ${v.contentType ?? "(no content type)"} [${v.kind}, ×${v.count}]: ${v.message}${errors}${body}`;
      });
      return `${lines.length} response(s) differ from the OpenAPI document (test/support/openapi-contract-check.ts):\n${lines.join("\n")}`;
    },
  };
}

function bodyOf(payload: unknown): ObservedResponse["body"] {
  if (payload === null || payload === undefined) return { kind: "none" };
  if (typeof payload === "string") return payload.length ? { kind: "text", text: payload } : { kind: "none" };
  if (Buffer.isBuffer(payload)) return payload.length ? { kind: "text", text: payload.toString("utf8") } : { kind: "none" };
  const stream = payload as { pipe?: unknown; getReader?: unknown };
  if (typeof stream.pipe === "function" || typeof stream.getReader === "function") return { kind: "stream" };
  return { kind: "unseen" };
}

/** A header as sent: Fastify's reply headers, else the raw response's (a hijacked reply's own head). */
function headerValue(reply: FastifyReply, name: string): string | undefined {
  const value = reply.getHeader(name) ?? reply.raw.getHeader(name) ?? fromWrittenHead(reply.raw as unknown as { _header?: unknown }, name);
  if (value === undefined || value === null) return undefined;
  return Array.isArray(value) ? value.join(", ") : String(value);
}

/** Node keeps the head it wrote (`writeHead(status, headers)` does not store the headers it is given). */
function fromWrittenHead(raw: { _header?: unknown }, name: string): string | undefined {
  if (typeof raw._header !== "string") return undefined;
  const line = raw._header.split("\r\n").find((l) => l.toLowerCase().startsWith(`${name.toLowerCase()}:`));
  return line?.slice(name.length + 1).trim();
}
