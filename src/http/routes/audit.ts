import type { KeyObject } from "node:crypto";
import type { FastifyPluginAsyncZod } from "fastify-type-provider-zod";
import { z } from "zod";
import { auditPrincipalOf, recordAllowed } from "../../auth/actor.js";
import type { AuditWriter } from "../../audit/append.js";
import { AuditListQuery, listAudit, readAuditHead } from "../../audit/list.js";
import { verifyAudit } from "../../audit/verify.js";
import type { Db } from "../../store/db.js";
import { AppError } from "../../errors.js";
import { requestActor, type RouteAuth } from "../auth.js";
import { ProblemDto } from "../dto.js";

export interface AuditRoutesOptions {
  readonly db: Db;
  readonly audit: AuditWriter;
  /** Public keys that verify signed heads (the current signing key's first). */
  readonly verifyKeys: readonly KeyObject[];
  /** Told each verification's result (the audit verify metric, issue 18). */
  readonly onVerified?: (ok: boolean) => void;
}

const json = z.record(z.string(), z.unknown());
export const AuditRecordDto = z.object({
  seq: z.number().int(),
  at: z.string(),
  action: z.string(),
  outcome: z.string(),
  principal: z.object({ kind: z.string(), id: z.string(), name: z.string().optional() }),
  resource: z.object({ kind: z.string(), id: z.string() }),
  requestId: z.string().nullable(),
  sourceIp: z.string().nullable(),
  details: json,
  sensitive: json.describe("values stored only as hmac-sha256 keyed hashes"),
  prevHash: z.string(),
  hash: z.string(),
}).meta({ id: "AuditRecord", description: "One record of the hash-chained audit trail" });
const AuditPage = z
  .object({ items: z.array(AuditRecordDto), nextCursor: z.string().nullable(), links: z.record(z.string(), z.string()) })
  .meta({ id: "AuditPage", description: "A page of audit records; `links.next` keeps the filters" });
const AuditHash = z
  .object({ hash: z.string(), links: z.object({ records: z.string() }) })
  .meta({ id: "AuditHash", description: "The keyed hash a sensitive value is stored as" });
const AuditVerification = z
  .object({
    ok: z.boolean(),
    records: z.number().int(),
    lastSeq: z.number().int().optional(),
    lastHash: z.string().optional(),
    signedSeq: z.number().int().nullable().optional(),
    signatures: z.number().int().optional(),
    firstBroken: z.object({ seq: z.number().int(), reason: z.string(), detail: z.string() }).optional(),
    head: z.object({ seq: z.number().int(), hash: z.string(), lastSignedSeq: z.number().int().nullable(), lastSignedAt: z.string().nullable() }),
    durationMs: z.number(),
  })
  .meta({ id: "AuditVerification", description: "The result of verifying the whole chain and its signed heads" });

const TRAIL = { kind: "audit", id: "trail" } as const;
const auditor: { auth: RouteAuth } = { auth: { role: "auditor" } };
const denied = { 401: ProblemDto, 403: ProblemDto, 429: ProblemDto };

/** `/v1/audit`: the hash-chained trail (auditor or admin). Reading and verifying it are audited too. */
const auditRoutes: FastifyPluginAsyncZod<AuditRoutesOptions> = async (app, { db, audit, verifyKeys, onVerified }) => {
  // A verification reads the whole trail (seconds for 100,000 records): one at a time per replica.
  let verifying = false;

  app.get(
    "/v1/audit",
    {
      config: auditor,
      schema: {
        operationId: "listAuditRecords",
        summary: "Audit records (cursor pagination; filters combine with AND)",
        tags: ["audit"],
        querystring: AuditListQuery,
        response: { 200: AuditPage, 400: ProblemDto, ...denied },
      },
    },
    async (request) => {
      const actor = requestActor(request);
      const page = await listAudit(db, request.query);
      const query = JSON.parse(JSON.stringify(request.query)) as Record<string, unknown>;
      await db.transaction((tx) => recordAllowed(audit, tx, actor, "audit.read", TRAIL, { query, returned: page.records.length }));
      const next = new URLSearchParams(Object.entries(request.query).flatMap(([k, v]): [string, string][] => (v === undefined || k === "after" ? [] : [[k, String(v)]])));
      if (page.nextCursor !== null) next.set("after", page.nextCursor);
      return { items: page.records, nextCursor: page.nextCursor, links: page.nextCursor === null ? {} : { next: `/v1/audit?${next.toString()}` } };
    },
  );

  app.post(
    "/v1/audit/hash",
    {
      config: { auth: { role: "auditor", action: "audit.hash" } },
      schema: {
        operationId: "hashAuditValue",
        summary: "The keyed hash a sensitive value is stored as, to find the records that carry it (?hash=)",
        tags: ["audit"],
        body: z.strictObject({ value: z.string().min(1).max(1024) }),
        response: { 200: AuditHash, 400: ProblemDto, ...denied },
      },
    },
    async (request, reply) => {
      const actor = requestActor(request);
      const hash = audit.hash(request.body.value);
      // The looked-up value is itself recorded only as its hash.
      await db.transaction((tx) =>
        audit.append(tx, {
          action: "audit.hash",
          outcome: "allowed",
          principal: auditPrincipalOf(actor),
          resource: TRAIL,
          requestId: actor.requestId,
          sourceIp: actor.sourceIp,
          sensitive: { value: request.body.value },
        }),
      );
      return reply.header("cache-control", "no-store").send({ hash, links: { records: `/v1/audit?hash=${encodeURIComponent(hash)}` } });
    },
  );

  app.get(
    "/v1/audit/verify",
    {
      config: auditor,
      schema: {
        operationId: "verifyAuditTrail",
        summary: "Verify the whole chain and the signed heads; reports the first broken link",
        tags: ["audit"],
        response: {
          200: AuditVerification,
          ...denied,
        },
      },
    },
    async (request) => {
      const actor = requestActor(request);
      if (verifying) throw new AppError("RATE_LIMITED", "A verification of the audit trail is already running; try again when it has finished.");
      verifying = true;
      const started = performance.now();
      let result: Awaited<ReturnType<typeof verifyAudit>>;
      let head: Awaited<ReturnType<typeof readAuditHead>>;
      try {
        result = await verifyAudit(db, verifyKeys);
        head = await readAuditHead(db);
      } finally {
        verifying = false;
      }
      const durationMs = Math.round(performance.now() - started);
      onVerified?.(result.ok);
      // Recorded after the check, so the record itself is verified next time.
      const details = { ok: result.ok, records: result.records, ...(result.ok ? {} : { firstBroken: { ...result.firstBroken } }) };
      await db.transaction((tx) => recordAllowed(audit, tx, actor, "audit.verify", TRAIL, details));
      return { ...result, head, durationMs };
    },
  );
};

export default auditRoutes;
