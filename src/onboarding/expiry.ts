import { decide } from "../approvals/approvals-repo.js";
import { recordAllowed, SYSTEM_ACTOR } from "../auth/actor.js";
import type { Notice } from "../notifications/notice.js";
import type { OperationEvent } from "../operations/events.js";
import type { Operation, OperationStatus } from "../operations/operation.js";
import * as ops from "../operations/operations-repo.js";
import type { Queryable } from "../store/db.js";
import { accept, type AcceptDeps } from "./accept.js";
import { admit } from "./lifecycle.js";
import { providerLink } from "./providers-service.js";
import * as providers from "./providers-repo.js";
import { takeSteps } from "./expiry-steps-repo.js";

/**
 * Access that expires (issue 16). At a provider's `expiresAt` the service revokes it by itself — the
 * fail-safe direction, so no approval is asked — as an ordinary revoke audited as the system
 * (`provider.expire`). Nothing is destroyed: a revoke keeps every data-bearing resource. Before that,
 * `expiry.approaching` notices go out at the configured offsets. Every step is recorded once in
 * `expiry_steps`, in the transaction that acts, so replicas racing each other act exactly once.
 * Extending is an update of `expiresAt` (approval rules as for any update); a new date starts new steps.
 */
export interface ExpiryDeps extends AcceptDeps {
  /** Days before `expiresAt` when a warning goes out (EXPIRY_WARNING_DAYS). */
  readonly warningDays: readonly number[];
  /** A queued operation ended (the change withdrawn when access expires): its provider's lifecycle reaction. */
  readonly onFinish: (tx: Queryable, op: Operation, status: OperationStatus) => Promise<void>;
}

export interface ExpirySweep {
  /** Providers warned now (one notice each, the nearest offset due). */
  readonly warned: string[];
  /** Providers whose access expired now, with the revoke queued (undefined: nothing left to revoke). */
  readonly expired: { readonly provider: string; readonly operationId: string | undefined }[];
}

const DAY_MS = 24 * 3_600_000;
const BATCH = 200;

/** Thrown inside the revoke's transaction when another replica already took this step: rolled back, skipped. */
class StepTaken extends Error {}

interface Candidate {
  readonly name: string;
  readonly expiresAt: string;
}

/**
 * Every provider with something due: past its `expiresAt` and not yet expired by the service (any lifecycle
 * that may still give access), or giving access and within the largest warning offset. One page, in
 * (expiresAt, name) order after `after`; past ones come first.
 */
async function candidates(q: Queryable, now: Date, horizonDays: number, after: Candidate | undefined): Promise<Candidate[]> {
  const rows = await q.query<{ name: string; expires_at: string }>(
    `SELECT name, expires_at FROM (
       SELECT name, lifecycle, spec->>'expiresAt' AS expires_at, (spec->>'expiresAt')::timestamptz AS at FROM providers
        WHERE spec ? 'expiresAt' AND lifecycle IN ('provisioning', 'active', 'revoked')) p
      WHERE ((p.at <= $1::timestamptz
              AND NOT EXISTS (SELECT 1 FROM expiry_steps s WHERE s.provider = p.name AND s.expires_at = p.at AND s.step = 'expired'))
          OR (p.at > $1::timestamptz AND p.at <= $1::timestamptz + make_interval(days => $2) AND p.lifecycle IN ('provisioning', 'active')))
        AND ($3::timestamptz IS NULL OR (p.at, p.name) > ($3::timestamptz, $4::text))
      ORDER BY p.at, p.name
      LIMIT ${BATCH}`,
    [now.toISOString(), horizonDays, after?.expiresAt ?? null, after?.name ?? null],
  );
  return rows.map((r) => ({ name: r.name, expiresAt: r.expires_at }));
}

function links(name: string) {
  return { provider: providerLink(name) };
}

function approaching(team: string, name: string, expiresAt: string, daysBefore: number): Notice {
  return { type: "expiry.approaching", team, subject: `providers/${name}`, data: { provider: name, expiresAt, daysBefore, links: links(name) } };
}

function expiredNotice(team: string, name: string, expiresAt: string, operationId: string | undefined, lifecycle: string): Notice {
  return {
    type: "access.expired",
    team,
    subject: `providers/${name}`,
    data: {
      provider: name,
      expiresAt,
      lifecycle,
      ...(operationId === undefined ? {} : { operationId, links: { ...links(name), operation: `/v1/operations/${operationId}` } }),
    },
  };
}

/** The nearest warning due now, recorded with every other due one (a short expiry warns once, not twice). */
async function warn(deps: ExpiryDeps, c: Candidate, now: Date): Promise<boolean> {
  const until = Date.parse(c.expiresAt) - now.getTime();
  const due = deps.warningDays.filter((d) => until <= d * DAY_MS).sort((a, b) => a - b);
  if (due.length === 0) return false;
  return deps.db.transaction(async (tx) => {
    const p = await providers.getProvider(tx, c.name, true);
    // Only a provider that gives access now is warned; the date is the one read (not changed since).
    if (!p || p.spec["expiresAt"] !== c.expiresAt || (p.lifecycle !== "active" && p.lifecycle !== "provisioning")) return false;
    const taken = await takeSteps(tx, c.name, c.expiresAt, due.map((d) => `warn-${d}d`));
    if (!taken.includes(`warn-${due[0]}d`)) return false;
    await deps.notify?.(tx, approaching(p.team, c.name, c.expiresAt, due[0]!));
    return true;
  });
}

/**
 * A change awaiting approval when access expires is withdrawn by the service: it was asked for with the
 * access the provider had, and approved later it could run with that access again.
 */
async function withdrawAwaiting(
  deps: ExpiryDeps,
  tx: Queryable,
  name: string,
  expiresAt: string,
): Promise<{ id: string; event: OperationEvent; audit: () => Promise<unknown> } | undefined> {
  const awaiting = (await ops.activeOperations(tx, name)).find((o) => o.status === "awaiting_approval");
  if (!awaiting) return undefined;
  const cancelled = await ops.cancelQueued(tx, awaiting.id);
  if (!cancelled) return undefined;
  await deps.onFinish(tx, cancelled, "cancelled");
  await decide(tx, awaiting.id, { status: "withdrawn", by: "system:saas-bridge", byName: "saas-bridge" });
  const data = { type: "operation.cancelled" as const, reason: `withdrawn by the service: the provider's access expired at ${expiresAt}` };
  const { seq, at } = await ops.appendEvent(tx, awaiting.id, null, data);
  // Audited by the caller after its notices: the audit append comes last in a transaction.
  const audit = () =>
    recordAllowed(deps.audit, tx, SYSTEM_ACTOR, "operation.cancel", { kind: "operation", id: awaiting.id }, {
      provider: name,
      intent: awaiting.intent,
      was: "awaiting_approval",
      ended: true,
      reason: "access expired",
    });
  return { id: awaiting.id, event: { ...data, seq, at } as OperationEvent, audit };
}

/**
 * Revokes the provider, once. A provider already revoked (or being revoked, decommissioned) has nothing
 * left to cut: the step is recorded without an operation, and subscribers still hear that access expired.
 */
async function expire(deps: ExpiryDeps, c: Candidate): Promise<{ operationId: string | undefined } | undefined> {
  const nothingToRevoke = await deps.db.transaction(async (tx) => {
    const p = await providers.getProvider(tx, c.name, true);
    if (!p || p.spec["expiresAt"] !== c.expiresAt) return false;
    const pending = (await ops.activeOperations(tx, c.name)).filter((o) => o.status !== "awaiting_approval").map((o) => o.intent);
    if (admit("revoke", p.lifecycle, pending).ok) return undefined;
    if ((await takeSteps(tx, c.name, c.expiresAt, ["expired"])).length === 0) return false;
    await deps.notify?.(tx, expiredNotice(p.team, c.name, c.expiresAt, undefined, p.lifecycle));
    return true;
  });
  if (nothingToRevoke === true) return { operationId: undefined };
  if (nothingToRevoke === false) return undefined;
  let withdrawn: Awaited<ReturnType<typeof withdrawAwaiting>>;
  try {
    const accepted = await accept(deps, { actor: SYSTEM_ACTOR, action: "provider.expire", details: { expiresAt: c.expiresAt } }, async (tx, newOperation) => {
      const p = await providers.getProvider(tx, c.name, true);
      if (!p || p.spec["expiresAt"] !== c.expiresAt) throw new StepTaken();
      withdrawn = await withdrawAwaiting(deps, tx, c.name, c.expiresAt);
      const pending = (await ops.activeOperations(tx, c.name)).map((o) => o.intent);
      const admission = admit("revoke", p.lifecycle, pending);
      if (!admission.ok) throw new StepTaken();
      // No approval rule: revoking is the fail-safe direction, and nobody asked for it.
      const enqueued = await newOperation({
        provider: c.name,
        intent: "revoke",
        kind: "up",
        accessState: admission.accessState,
        spec: p.spec,
        specHash: p.spec_hash,
      });
      if ((await takeSteps(tx, c.name, c.expiresAt, ["expired"], enqueued.operation.id)).length === 0) throw new StepTaken();
      await deps.notify?.(tx, expiredNotice(p.team, c.name, c.expiresAt, enqueued.operation.id, p.lifecycle));
      await withdrawn?.audit();
      return enqueued;
    });
    if (withdrawn) await deps.hub.publish(withdrawn.id, withdrawn.event);
    return { operationId: accepted.operation.id };
  } catch (err) {
    if (err instanceof StepTaken) return undefined;
    throw err;
  }
}

/** One pass: warnings due and expiries past, each exactly once. `now` is the clock (tests move it). */
export async function sweepExpiry(deps: ExpiryDeps, now: Date = new Date()): Promise<ExpirySweep> {
  const horizon = Math.max(0, ...deps.warningDays);
  const warned: string[] = [];
  const expired: ExpirySweep["expired"][number][] = [];
  let after: Candidate | undefined;
  for (let page = 0; page < 1_000; page++) {
    const batch = await candidates(deps.db, now, horizon, after);
    for (const c of batch) {
      if (Date.parse(c.expiresAt) <= now.getTime()) {
        const done = await expire(deps, c);
        if (done) expired.push({ provider: c.name, ...done });
      } else if (await warn(deps, c, now)) {
        warned.push(c.name);
      }
    }
    if (batch.length < BATCH) break;
    after = batch.at(-1);
  }
  return { warned, expired };
}
