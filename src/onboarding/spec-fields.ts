import { z } from "zod";
import { GRANT_OPERATIONS, PORT_MATCHES } from "../../programs/types.js";

/** List limits of the spec that size other things (the firewall rule group's capacity). */
export const MAX_OUTBOUND_PORTS = 20;
export const MAX_ALLOWED_DOMAINS = 100;

/**
 * Field validators of the ProviderSpec that do not depend on the landing zone. Each message says what is
 * expected, because it is shown verbatim to the portal user next to the field.
 */

/**
 * zod's default for a wrong or missing value is "Invalid input: expected string, received undefined";
 * API callers need "is required" or "must be a string" instead.
 */
export function typeError(expected: string) {
  return (issue: z.core.$ZodRawIssue): string | undefined => {
    if (issue.code !== "invalid_type") return undefined;
    return issue.input === undefined ? "is required" : `must be ${expected}`;
  };
}

export const str = () => z.string({ error: typeError("a string") });

export function strictObject<T extends z.core.$ZodLooseShape>(shape: T) {
  return z.object(shape, { error: typeError("an object") }).strict();
}

export function arrayOf<T extends z.core.$ZodType>(item: T, min: number, max: number, what: string) {
  return z
    .array(item, { error: typeError(`an array of ${what}`) })
    .min(min, `must list at least ${min} ${what}`)
    .max(max, `must list at most ${max} ${what}`);
}

/** Flags each later duplicate (by `key`) at its own index, naming the index it repeats. */
export function uniqueBy<T>(key: (item: T) => string, what: string) {
  return (items: readonly T[], ctx: z.core.$RefinementCtx<T[]>): void => {
    const firstIndex = new Map<string, number>();
    items.forEach((item, index) => {
      const k = key(item);
      const first = firstIndex.get(k);
      if (first === undefined) firstIndex.set(k, index);
      else ctx.addIssue({ code: "custom", path: [index], input: item, message: `duplicates the ${what} at index ${first}` });
    });
  };
}

// Control, lone-surrogate, zero-width, line-separator and bidi-override/isolate characters: invisible in
// a portal and usable to disguise text (Trojan Source). ZWJ (U+200D) stays allowed for emoji sequences.
/**
 * No control, invisible or bidirectional-override character: a pattern, so that the OpenAPI document
 * states it, written without `\p{…}` so that it means the same to a validator without the `u` flag. A
 * lone surrogate (`\p{Cs}`) cannot be written that way without refusing every pair, so it is a refine.
 */
const PRINTABLE = /^[^\u0000-\u001F\u007F-\u009F\u200B\u200C\u200E\u200F\u2028-\u202E\u2060-\u2064\u2066-\u2069\uFEFF]*$/;
const LONE_SURROGATE = /\p{Cs}/u;

export function printableText(min: number, max: number) {
  return str()
    .min(min, `must be ${min}–${max} characters`)
    .max(max, `must be ${min}–${max} characters`)
    .regex(PRINTABLE, "must not contain control, invisible or bidirectional-override characters")
    .refine((s) => !LONE_SURROGATE.test(s), "must not contain control, invisible or bidirectional-override characters")
    .refine((s) => s.length === 0 || s.trim().length > 0, "must not be blank");
}

const NO_DOUBLE_DASH = [(s: string) => !s.includes("--"), "must not contain '--'"] as const;

/** Provider name: a DNS label that is also the Pulumi stack name and the prefix of every resource name. */
const PROVIDER_NAME_RULE = "must be 3–40 characters of a-z, 0-9 and '-', starting with a letter and ending with a letter or digit";
export const providerName = str()
  .max(40, { message: PROVIDER_NAME_RULE, abort: true })
  .regex(/^[a-z][a-z0-9-]{1,38}[a-z0-9]$/, PROVIDER_NAME_RULE)
  .refine(...NO_DOUBLE_DASH);

const TEAM_RULE = "must be 1–63 characters of a-z, 0-9 and '-', starting with a letter and ending with a letter or digit";
export const teamSlug = str()
  .max(63, { message: TEAM_RULE, abort: true })
  .regex(/^[a-z](?:[a-z0-9-]{0,61}[a-z0-9])?$/, TEAM_RULE)
  .refine(...NO_DOUBLE_DASH);

export const contactEmail = z
  .email({ abort: true, error: (i) => typeError("a string")(i) ?? "must be an email address, e.g. team@example.com" })
  .max(254, "must be at most 254 characters (an email address)");

/** Organizations limits the root email of a new account to 6–64 characters. */
export const accountEmail = z
  .email({
    abort: true,
    error: (i) => typeError("a string")(i) ?? "must be an email address, e.g. aws-saas-acme@example.com",
  })
  .min(6, "must be 6–64 characters (AWS account email limit)")
  .max(64, "must be 6–64 characters (AWS account email limit)");

export const DATA_CLASSIFICATIONS = ["public", "internal", "confidential", "restricted"] as const;
export const dataClassification = z.enum(DATA_CLASSIFICATIONS, {
  error: (i) => (i.input === undefined ? "is required" : `must be one of: ${DATA_CLASSIFICATIONS.join(", ")}`),
});

const PORT_MESSAGE = "must be an integer port number from 1 to 65535";
export const port = z
  .int({ error: (i) => (i.input === undefined ? "is required" : PORT_MESSAGE) })
  .min(1, PORT_MESSAGE)
  .max(65_535, PORT_MESSAGE);

export const protocol = z.enum(["tcp", "udp"], {
  error: (i) => (i.input === undefined ? "is required" : "must be tcp or udp"),
});

/** How the firewall passes an outbound port (programs/types.ts PortMatch); optional, see spec-rules. */
export const portMatch = z.enum(PORT_MATCHES, {
  error: (i) => (i.input === undefined ? "is required" : `must be one of: ${PORT_MATCHES.join(", ")}`),
});

export const ipv4Address = z
  .ipv4({ abort: true, error: (i) => typeError("a string")(i) ?? "must be an IPv4 address in dotted-quad form, e.g. 10.20.0.15" })
  .max(15, "must be an IPv4 address in dotted-quad form, e.g. 10.20.0.15");

/** Why a domain is not an acceptable firewall FQDN, or undefined when it is. */
export function fqdnProblem(domain: string): string | undefined {
  if (domain.length > 253) return "must be at most 253 characters";
  if (domain !== domain.toLowerCase()) return "must be lowercase";
  const bare = domain.startsWith("*.") ? domain.slice(2) : domain;
  if (bare.includes("*")) return "may contain a wildcard only as a single leading '*.' (e.g. *.example.com)";
  const labels = bare.split(".");
  if (labels.length < 2) return "must have at least two labels after any leading '*.' (e.g. api.example.com)";
  const bad = labels.find((l) => !/^[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?$/.test(l));
  if (bad !== undefined) {
    return "each label must be 1–63 characters of a-z, 0-9 and '-', not starting or ending with '-'";
  }
  // A numeric top-level label means an IP address, which an SNI/Host allow-list cannot match.
  if (/^\d+$/.test(labels[labels.length - 1]!)) return "must be a domain name, not an IP address";
  return undefined;
}

export const firewallDomain = str()
  .max(253, { message: "must be at most 253 characters", abort: true })
  .superRefine((domain, ctx) => {
    const problem = fqdnProblem(domain);
    if (problem !== undefined) ctx.addIssue({ code: "custom", input: domain, message: problem });
  });

export const grantOperation = z.enum(GRANT_OPERATIONS, {
  error: (i) => (i.input === undefined ? "is required" : `must be one of: ${GRANT_OPERATIONS.join(", ")}`),
});

const encryptionContextRecord = z
  .record(
    str()
      .max(64, { message: "key must be 1–64 characters of A-Z, a-z, 0-9, ':', '_' and '-'", abort: true })
      .regex(/^[A-Za-z0-9:_-]{1,64}$/, "key must be 1–64 characters of A-Z, a-z, 0-9, ':', '_' and '-'"),
    printableText(1, 256),
    { error: typeError("an object of string keys to string values") },
  )
  .refine((record) => {
    const n = Object.keys(record).length;
    return n >= 1 && n <= 8;
  }, "must have 1–8 entries");

/**
 * zod drops an own `__proto__` key from a record without a word (to protect the output object), which would
 * silently change the key's encryption context; reject it instead. The explicit input type keeps the
 * OpenAPI document and z.input<> describing a record rather than `unknown`.
 */
export const encryptionContext = z.preprocess((value: Record<string, string>, ctx) => {
  if (typeof value === "object" && value !== null && Object.hasOwn(value, "__proto__")) {
    ctx.addIssue({ code: "custom", path: ["__proto__"], input: value, message: "'__proto__' is not allowed as a key" });
  }
  return value;
}, encryptionContextRecord);

export const keyStore = z
  .enum(["kms", "cloudhsm"], { error: (i) => (i.input === undefined ? "is required" : "must be kms or cloudhsm") })
  .default("kms");

export const expiresAt = z
  .iso.datetime({
    offset: true,
    abort: true,
    error: (i) => typeError("a string")(i) ?? "must be an ISO-8601 date-time with a UTC offset, e.g. 2027-01-31T00:00:00Z",
  })
  .max(64, "must be an ISO-8601 date-time with a UTC offset, e.g. 2027-01-31T00:00:00Z");
