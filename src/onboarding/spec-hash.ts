import { createHash } from "node:crypto";
import type { ProviderSpec } from "./spec.js";

/**
 * Canonical JSON: object keys sorted by UTF-16 code units at every depth, arrays in order, no whitespace,
 * strings and numbers as JSON.stringify writes them — the same output as RFC 8785 (JCS) for the values a
 * parsed spec can hold. Values JSON cannot represent faithfully (NaN, Infinity, bigint, cycles) throw rather
 * than collapse into `null`, so two different inputs never share a hash by accident.
 */
export function canonicalJson(value: unknown): string {
  return write(value, new Set());
}

function write(value: unknown, ancestors: Set<object>): string {
  if (value === null || typeof value === "boolean" || typeof value === "string") return JSON.stringify(value);
  if (typeof value === "number") {
    if (!Number.isFinite(value)) throw new TypeError(`canonicalJson: ${value} has no JSON representation`);
    return JSON.stringify(value);
  }
  if (typeof value !== "object") throw new TypeError(`canonicalJson: a ${typeof value} has no JSON representation`);
  const toJSON = (value as { toJSON?: unknown }).toJSON;
  if (typeof toJSON === "function") return write(toJSON.call(value), ancestors);
  if (ancestors.has(value)) throw new TypeError("canonicalJson: cyclic structure");
  ancestors.add(value);
  let out: string;
  if (Array.isArray(value)) {
    out = `[${value.map((item) => (isSkipped(item) ? "null" : write(item, ancestors))).join(",")}]`;
  } else {
    const entries = Object.keys(value)
      .sort()
      .filter((k) => !isSkipped((value as Record<string, unknown>)[k]))
      .map((k) => `${JSON.stringify(k)}:${write((value as Record<string, unknown>)[k], ancestors)}`);
    out = `{${entries.join(",")}}`;
  }
  ancestors.delete(value);
  return out;
}

/** As in JSON.stringify: dropped from objects, null in arrays. */
function isSkipped(v: unknown): boolean {
  return v === undefined || typeof v === "function" || typeof v === "symbol";
}

/**
 * Identifies a spec's content (operations record which spec they ran with; Idempotency-Key compares bodies).
 * Hash the parsed spec, not the raw body, so an omitted default and its explicit value hash the same.
 */
export function specHash(spec: ProviderSpec): string {
  return createHash("sha256").update(canonicalJson(spec), "utf8").digest("hex");
}
