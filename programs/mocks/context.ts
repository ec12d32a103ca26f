import { createHash } from "node:crypto";

/** What a computed-attribute function sees of one resource registration under the mock cloud. */
export type Inputs = Record<string, unknown>;

export interface Context {
  readonly type: string;
  readonly name: string;
  readonly inputs: Inputs;
  readonly region: string;
  readonly accountId: string;
  readonly partition: string;
  /** Deterministic hex derived from the type, the name and the inputs that force replacement. */
  readonly hex: (length: number, salt?: string) => string;
}

/** The id and the computed output attributes AWS would return for a resource. */
export type Computed = (c: Context) => { id: string; state: Inputs };

/**
 * One area's contribution to the mock cloud: computed attributes per type token, and the input
 * properties whose change makes the AWS provider replace the resource (its ForceNew properties). The
 * same table drives the mock ids (a replacement gets a new id) and the simulated engine's plan.
 */
export interface MockArea {
  readonly computed: Readonly<Record<string, Computed>>;
  readonly replaceOn: Readonly<Record<string, readonly string[]>>;
}

export function digest(value: string): string {
  return createHash("sha256").update(value).digest("hex");
}

export const uuid = (h: string): string =>
  `${h.slice(0, 8)}-${h.slice(8, 12)}-4${h.slice(13, 16)}-8${h.slice(17, 20)}-${h.slice(20, 32)}`;

/** A regional ARN in the resource's own account and partition. */
export const arn = (c: Context, service: string, resource: string): string =>
  `arn:${c.partition}:${service}:${c.region}:${c.accountId}:${resource}`;

/** A global-service ARN (IAM, S3, Organizations): no region. */
export const globalArn = (c: Context, service: string, resource: string, account: string = c.accountId): string =>
  `arn:${c.partition}:${service}::${account}:${resource}`;

/** JSON replacer giving the same text for equal values (sorted keys; unknowns become a marker). */
export function stable(_key: string, value: unknown): unknown {
  if (value === null || typeof value !== "object" || Array.isArray(value)) return value;
  if (Object.getPrototypeOf(value) !== Object.prototype) return "<unknown>";
  return Object.fromEntries(Object.entries(value as Inputs).sort(([a], [b]) => a.localeCompare(b)));
}

export function dnsSuffix(partition: string): string {
  return partition === "aws-cn" ? "amazonaws.com.cn" : "amazonaws.com";
}
