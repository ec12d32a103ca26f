/** A JSON value as the audit trail stores and hashes it. */
export type JsonValue = null | boolean | number | string | readonly JsonValue[] | JsonObject;
export type JsonObject = { readonly [key: string]: JsonValue };

export class CanonicalJsonError extends TypeError {
  constructor(
    readonly path: string,
    readonly problem: string,
  ) {
    super(`canonical JSON: ${path || "(root)"} ${problem}`);
    this.name = "CanonicalJsonError";
  }

  /** The same problem one level further out (paths are built only on the way out of an error). */
  under(segment: string): CanonicalJsonError {
    return new CanonicalJsonError(`/${escapePointer(segment)}${this.path}`, this.problem);
  }
}

/**
 * Canonical JSON of a plain JSON value: object keys sorted by UTF-16 code units at every depth, arrays in
 * order, no whitespace, strings and numbers as JSON.stringify writes them — RFC 8785 (JCS) for these values.
 * Unlike JSON.stringify (and src/onboarding/spec-hash.ts) it never drops or rewrites anything: undefined,
 * functions, symbols, bigint, NaN, ±Infinity, array holes, cycles and non-plain objects (Date, Map, Buffer,
 * class instances) throw, so that what is hashed is exactly what the database gives back.
 */
export function canonicalJson(value: unknown): string {
  return write(value, new Set());
}

function write(value: unknown, ancestors: Set<object>): string {
  if (typeof value === "string" || typeof value === "boolean" || value === null) return JSON.stringify(value);
  if (typeof value === "number") {
    if (!Number.isFinite(value)) throw new CanonicalJsonError("", `is ${value}, which JSON cannot represent`);
    return JSON.stringify(value);
  }
  const object = plainContainer(value);
  if (ancestors.has(object)) throw new CanonicalJsonError("", "is a cycle");
  ancestors.add(object);
  let out = "";
  let segment = "";
  try {
    if (Array.isArray(object)) {
      out = "[";
      for (let i = 0; i < object.length; i++) {
        segment = String(i);
        if (!(i in object)) throw new CanonicalJsonError("", "is an array hole");
        out += (i === 0 ? "" : ",") + write(object[i], ancestors);
      }
      out += "]";
    } else {
      const record = object as Record<string, unknown>;
      const keys = Object.keys(record).sort();
      out = "{";
      for (let i = 0; i < keys.length; i++) {
        segment = keys[i]!;
        out += `${i === 0 ? "" : ","}${JSON.stringify(segment)}:${write(record[segment], ancestors)}`;
      }
      out += "}";
    }
  } catch (err) {
    throw err instanceof CanonicalJsonError ? err.under(segment) : err;
  }
  ancestors.delete(object);
  return out;
}

/** The value as an array or a plain object (prototype Object.prototype or null), or a CanonicalJsonError. */
function plainContainer(value: unknown): object {
  if (typeof value !== "object" || value === null) throw new CanonicalJsonError("", `is a ${typeof value}, which is not JSON`);
  if (Array.isArray(value)) return value;
  const proto: unknown = Object.getPrototypeOf(value);
  if (proto !== Object.prototype && proto !== null) {
    const name = (value as { constructor?: { name?: unknown } }).constructor?.name;
    throw new CanonicalJsonError("", `is a ${typeof name === "string" ? name : "non-plain object"}, not a plain object`);
  }
  return value;
}

/** RFC 6901: `~` → `~0`, `/` → `~1`. */
export function escapePointer(segment: string): string {
  return segment.replaceAll("~", "~0").replaceAll("/", "~1");
}

/** A deep copy of a plain JSON value, validated by the same rules as canonicalJson; `path` prefixes error paths. */
export function toJsonValue(value: unknown, path = ""): JsonValue {
  return located(path, () => copy(value, new Set(), (s) => s));
}

/**
 * toJsonValue, and what PostgreSQL can store unchanged: `text` and `jsonb` reject U+0000 and lone UTF-16
 * surrogates, so they become U+FFFD, in keys too. An audit record that cannot be stored would turn a denied
 * request into a 5xx without a trace, which is worse than a replaced character.
 */
export function toStorableJson(value: unknown, path = ""): JsonValue {
  return located(path, () => copy(value, new Set(), storableString));
}

function located<T>(path: string, fn: () => T): T {
  try {
    return fn();
  } catch (err) {
    throw err instanceof CanonicalJsonError && path !== "" ? new CanonicalJsonError(`${path}${err.path}`, err.problem) : err;
  }
}

function copy(value: unknown, ancestors: Set<object>, text: (s: string) => string): JsonValue {
  if (typeof value === "string") return text(value);
  if (value === null || typeof value === "boolean") return value;
  if (typeof value === "number") {
    if (!Number.isFinite(value)) throw new CanonicalJsonError("", `is ${value}, which JSON cannot represent`);
    return value === 0 ? 0 : value; // -0 is 0 in JSON (and in jsonb): the copy equals what is read back
  }
  const object = plainContainer(value);
  if (ancestors.has(object)) throw new CanonicalJsonError("", "is a cycle");
  ancestors.add(object);
  let out: JsonValue;
  let segment = "";
  try {
    if (Array.isArray(object)) {
      const items: JsonValue[] = [];
      for (let i = 0; i < object.length; i++) {
        segment = String(i);
        if (!(i in object)) throw new CanonicalJsonError("", "is an array hole");
        items.push(copy(object[i], ancestors, text));
      }
      out = items;
    } else {
      const record = object as Record<string, unknown>;
      // fromEntries defines own properties: a "__proto__" key stays a key (as JSON.parse and jsonb keep it).
      out = Object.fromEntries(
        Object.keys(record).map((k) => {
          segment = k;
          return [text(k), copy(record[k], ancestors, text)];
        }),
      );
    }
  } catch (err) {
    throw err instanceof CanonicalJsonError ? err.under(segment) : err;
  }
  ancestors.delete(object);
  return out;
}

const UNSTORABLE = /\u0000|[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/g;

/** The string with U+0000 and lone surrogates replaced by U+FFFD (what PostgreSQL text can hold). */
export function storableString(value: string): string {
  return value.replace(UNSTORABLE, "\uFFFD");
}

export function isJsonObject(value: JsonValue): value is JsonObject {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}
