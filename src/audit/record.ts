import { z } from "zod";
import type { JsonObject } from "./canonical-json.js";

/**
 * What an audit record can say happened. Closed: a new action is a new enum member (and a test), never a
 * free string. A request refused for its action keeps that action with outcome `denied` (a viewer's
 * `provider.create`); `auth.*` is for requests refused before an action is known.
 */
export const AuditAction = z.enum([
  "provider.create",
  "provider.update",
  "provider.revoke",
  "provider.reinstate",
  "provider.decommission",
  "provider.preview",
  "provider.drift-check",
  /** An access verification asked for (issue 17); those after a revoke or decommission are part of it. */
  "provider.verify",
  "provider.access-reopened",
  "provider.key-store",
  /** The service revoked a provider at its `expiresAt` (issue 16). */
  "provider.expire",
  /** A drift check of a network hub, asked for by an admin or queued by the schedule (issue 16). */
  "network-hub.drift-check",
  /** A hub's drift check found the central firewall policy changed or gone (security-relevant; the system). */
  "network-hub.policy-drifted",
  "operation.cancel",
  /** An operation ended (the system): its receipt (issue 17) names this record's seq and hash. */
  "operation.finish",
  /** An access verification of a provider (issue 17) found access that should be gone, or missing (the system). */
  "provider.verification-failed",
  "rollout.create",
  "rollout.approve",
  "rollout.reject",
  "rollout.pause",
  "rollout.resume",
  "rollout.cancel",
  "rollout.halt",
  "rollout.finish",
  "approval.request",
  "approval.approve",
  "approval.reject",
  "approval.expire",
  "webhook.create",
  "webhook.delete",
  "webhook.rotate-secret",
  "webhook.redeliver",
  "apikey.create",
  "apikey.revoke",
  "stream-ticket.create",
  "auth.denied",
  "auth.rate-limited",
  "audit.read",
  "audit.verify",
  "audit.hash",
]);
export type AuditAction = z.output<typeof AuditAction>;

export const AuditOutcome = z.enum(["allowed", "denied", "failed"]);
export type AuditOutcome = z.output<typeof AuditOutcome>;

/** `system`: the service itself or an operator's command line (`npm run keys`), not a request. */
export const PrincipalKind = z.enum(["apikey", "oidc", "anonymous", "system"]);
export type PrincipalKind = z.output<typeof PrincipalKind>;

/** `route`: a request denied before its resource is known (`{kind: "route", id: "POST /v1/providers"}`). */
export const ResourceKind = z.enum(["provider", "operation", "rollout", "approval", "apikey", "stream-ticket", "audit", "webhook", "network-hub", "route"]);
export type ResourceKind = z.output<typeof ResourceKind>;

const Text = z.string().min(1).max(1024);

export const AuditPrincipal = z.strictObject({ kind: PrincipalKind, id: Text, name: Text.optional() });
export type AuditPrincipal = z.output<typeof AuditPrincipal>;

export const AuditResource = z.strictObject({ kind: ResourceKind, id: Text });
export type AuditResource = z.output<typeof AuditResource>;

/**
 * A JSON object, not copied: z.record would rebuild it and drop a "__proto__" key (a key JSON and jsonb keep),
 * so the hash would cover something else than what was given. canonical-json.ts validates the contents.
 */
const isObject = (v: unknown): v is Record<string, unknown> => typeof v === "object" && v !== null && !Array.isArray(v);
const JsonObjectInput = z.custom<Record<string, unknown>>(isObject, "must be a JSON object");

/** What the caller of appendAudit gives. Parsed strictly: an unknown field is a bug, not something to drop. */
export const AuditInput = z.strictObject({
  action: AuditAction,
  outcome: AuditOutcome,
  principal: AuditPrincipal,
  resource: AuditResource,
  /** Fastify's request id; null outside a request (the bootstrap command, the runner). */
  requestId: Text.nullable(),
  sourceIp: z.string().max(64).nullable(),
  /** A plain JSON object (see canonicalJson for what is refused). */
  details: JsonObjectInput.default({}),
  /**
   * RFC 6901 pointers into `details` (`*` matches any key or index, e.g. `/spec/tags/*`) whose values are
   * stored only as `hmac-sha256:<hex>`, every leaf below them too. A pointer that matches nothing is ignored.
   */
  sensitivePaths: z.array(z.string().regex(/^(\/[^/]*)*$/, "must be a JSON pointer")).default([]),
  /** Values stored only as keyed hashes (every leaf), in the record's `sensitive` object. */
  sensitive: JsonObjectInput.default({}),
});
export type AuditInput = z.input<typeof AuditInput>;

/** A stored record, as appendAudit returns it and listAudit reads it. */
export interface AuditRecord {
  readonly seq: number;
  /** ISO 8601 UTC with microseconds: the database's clock_timestamp() once the head lock was held. */
  readonly at: string;
  readonly action: AuditAction;
  readonly outcome: AuditOutcome;
  readonly principal: AuditPrincipal;
  readonly resource: AuditResource;
  readonly requestId: string | null;
  readonly sourceIp: string | null;
  readonly details: JsonObject;
  readonly sensitive: JsonObject;
  readonly prevHash: string;
  readonly hash: string;
}

const Hex64 = z.string().regex(/^[0-9a-f]{64}$/);
const JsonObjectRow = z.custom<JsonObject>(isObject, "must be a JSON object");

/**
 * One audit_log row as selected by RECORD_COLUMNS. Deliberately loose on action and resource_kind (text in
 * SQL): the verifier must hash what is there, even a value the enum does not know, and report it changed.
 */
export const AuditRow = z
  .object({
    seq: z.number().int().positive(),
    at: z.string(),
    action: z.string(),
    outcome: z.string(),
    principal_kind: z.string(),
    principal_id: z.string(),
    principal_name: z.string().nullable(),
    resource_kind: z.string(),
    resource_id: z.string(),
    request_id: z.string().nullable(),
    source_ip: z.string().nullable(),
    details: JsonObjectRow,
    sensitive: JsonObjectRow,
    prev_hash: z.string(),
    hash: z.string(),
  })
  .transform((r) => ({
    seq: r.seq,
    at: r.at,
    action: r.action as AuditAction,
    outcome: r.outcome as AuditOutcome,
    principal: {
      kind: r.principal_kind as PrincipalKind,
      id: r.principal_id,
      ...(r.principal_name === null ? {} : { name: r.principal_name }),
    },
    resource: { kind: r.resource_kind as ResourceKind, id: r.resource_id },
    requestId: r.request_id,
    sourceIp: r.source_ip,
    details: r.details,
    sensitive: r.sensitive,
    prevHash: r.prev_hash,
    hash: r.hash,
  }));

const ClosedFields = z.object({
  action: AuditAction,
  outcome: AuditOutcome,
  principal: AuditPrincipal,
  resource: AuditResource,
  prevHash: Hex64,
  hash: Hex64,
});

/** A row the API may hand out: AuditRow whose closed fields are members of their enums (else a ZodError). */
export function parseAuditRecord(row: unknown): AuditRecord {
  const record = AuditRow.parse(row);
  ClosedFields.parse(record);
  return record;
}

/** ISO 8601 with microseconds in UTC, as appendAudit hashes it; the same text on PGlite and PostgreSQL. */
export const AT_SQL = `to_char(at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"')`;

export const RECORD_COLUMNS = `seq, ${AT_SQL} AS at, action, outcome, principal_kind, principal_id, principal_name,
  resource_kind, resource_id, request_id, source_ip, details, sensitive, prev_hash, hash`;
