import { approvalRuleFor } from "../approvals/policy.js";
import type { AuditAction } from "../audit/record.js";
import { canSeeTeam, visibleTeams, type Actor } from "../auth/actor.js";
import type { Principal } from "../auth/principal.js";
import { AppError } from "../errors.js";
import { DeniedError } from "../auth/denied.js";
import { DEFAULT_KEY_DISPOSITION, keyOf, type Operation } from "../operations/operation.js";
import * as ops from "../operations/operations-repo.js";
import type { Queryable } from "../store/db.js";
import type { AccessState, KeyDisposition } from "../../programs/types.js";
import { accept, type AcceptDeps, type Accepted, type Idempotency, type OperationInput } from "./accept.js";
import type { LandingZone } from "./landing-zone.js";
import { admit, type Lifecycle } from "./lifecycle.js";
import type { DriftStatus } from "./drift.js";
import type { CredentialSealer } from "../auth/credential-seal.js";
import { keyStoreView, type KeyStoreView } from "./key-store.js";
import { getKeyStore } from "./key-stores-repo.js";
import { providersHoldingRuleGroups, requestHubUpdate } from "./network-hub.js";
import type { GuardrailCheck } from "./guardrail-check.js";
import * as providers from "./providers-repo.js";
import { expiryView, type ExpiryView } from "./expiry-steps-repo.js";
import { canonicalJson, specHash, type ProviderSpec } from "./spec.js";
import { provisionalSubnets, toProviderStackArgs } from "./stack-args.js";

/** Use cases on providers. No Fastify here: input is validated data, output is domain data or AppError. */
export interface ProvidersDeps extends AcceptDeps {
  readonly landingZone: LandingZone;
  /** Seals the CloudHSM kmsuser password handed over with PUT /key-store (stored only sealed). */
  readonly sealer?: CredentialSealer;
  /** The guardrail gate: the provider program evaluated in the worker pool, verdicts cached. */
  readonly guardrails: GuardrailCheck;
}

export const providerLink = (name: string) => `/v1/providers/${encodeURIComponent(name)}`;

function notFound(name: string): AppError {
  return new AppError("NOT_FOUND", `No provider named "${name}".`);
}

/**
 * Another team's provider is answered exactly like a missing one (404, same message), so its name cannot
 * be probed; unlike a missing one, the refusal is audited.
 */
function hiddenProvider(name: string, action: AuditAction): DeniedError {
  return new DeniedError("NOT_FOUND", `No provider named "${name}".`, {
    action,
    resource: { kind: "provider", id: name },
    reason: "the provider belongs to another team",
  });
}

function visible(principal: Principal, provider: { team: string } | undefined): boolean {
  return provider !== undefined && canSeeTeam(principal, provider.team);
}

/** A caller creates providers for its own teams, and cannot hand one to a team it is not in. */
function assertOwnTeam(actor: Actor, team: string, action: AuditAction, name: string): void {
  if (canSeeTeam(actor.principal, team)) return;
  const teams = actor.principal.teams.length > 0 ? actor.principal.teams.join(", ") : "none";
  throw new DeniedError("FORBIDDEN", `owner.team "${team}" is not one of the caller's teams (${teams}).`, {
    action,
    resource: { kind: "provider", id: name },
    reason: `owner.team ${team} is not a team of the caller`,
  });
}

/** The schema is pure; the clock is checked here. A spec that has already expired is refused. */
function assertNotExpired(spec: ProviderSpec, now = Date.now()): void {
  if (spec.expiresAt !== undefined && Date.parse(spec.expiresAt) <= now) {
    throw new AppError("VALIDATION_FAILED", "The spec has already expired.", {
      errors: [{ path: "/expiresAt", message: "must lie in the future" }],
    });
  }
}

/**
 * A provider whose access expired (revoked at its `expiresAt`, issue 16) is reinstated only after an update
 * moved `expiresAt` to the future: reinstating would otherwise give access past its end, until the next sweep.
 */
function assertAccessNotExpired(spec: Record<string, unknown>, now = Date.now()): void {
  const at = spec["expiresAt"];
  if (typeof at !== "string" || Date.parse(at) > now) return;
  throw new AppError("INVALID_STATE", `The provider's access expired at ${at}; extend it first.`, {
    errors: [{ path: "/expiresAt", message: `expired at ${at}: update the provider with a later expiresAt (the approval rules apply), then reinstate it` }],
  });
}

function asRecord(spec: ProviderSpec): Record<string, unknown> {
  return spec as unknown as Record<string, unknown>;
}

/**
 * Builds the provider's graph under the mock cloud and runs the guardrails over it (DESIGN §3): a spec
 * whose graph would violate one is refused with the list (422) before anything is queued. Subnets are
 * provisional here (the allocator assigns the real ones when the operation runs); no guardrail depends
 * on their addresses.
 */
async function assertGuardrails(deps: ProvidersDeps, spec: ProviderSpec, accessState: AccessState): Promise<void> {
  const region = deps.landingZone.network.regions[spec.region];
  if (!region) throw new AppError("INVALID_STATE", `Region ${spec.region} is not configured in the landing zone`);
  const subnets = provisionalSubnets(region.subnetPool, region.subnetPrefixLength, region.availabilityZoneIds);
  const args = toProviderStackArgs(spec, deps.landingZone, accessState, { subnets, connectionAccepted: false });
  const checked = await deps.guardrails.check(spec, args, accessState);
  if (checked.rejected !== undefined) {
    throw new AppError("UNSUPPORTED_FEATURE", `The provider program cannot build this spec: ${checked.rejected}`);
  }
  if (checked.violations.length > 0) {
    throw new AppError("GUARDRAIL_VIOLATION", `The planned resources violate ${checked.violations.length} guardrail(s).`, {
      violations: checked.violations.map((v) => ({ code: v.code, message: v.message, resource: v.urn })),
    });
  }
}

export async function createProvider(deps: ProvidersDeps, actor: Actor, spec: ProviderSpec, idempotency?: Idempotency): Promise<Accepted> {
  assertOwnTeam(actor, spec.owner.team, "provider.create", spec.name);
  assertNotExpired(spec);
  await assertGuardrails(deps, spec, "active");
  const limit = deps.landingZone.firewall.maxRuleGroupsPerPolicy;
  return accept(deps, { actor, action: "provider.create", idempotency }, async (tx, newOperation) => {
    // Serializes creates per region so two cannot both take the last place in the central policy.
    await tx.query("SELECT pg_advisory_xact_lock(hashtext($1))", [`saas-bridge:region:${spec.region}`]);
    if ((await providersHoldingRuleGroups(tx, spec.region)) >= limit) {
      throw new AppError(
        "INVALID_STATE",
        `The central firewall policy of ${spec.region} already lists ${limit} providers (firewall.maxRuleGroupsPerPolicy); decommission one or raise the limit.`,
      );
    }
    const hash = specHash(spec);
    const created = await providers.upsertForCreate(tx, {
      name: spec.name,
      team: spec.owner.team,
      spec,
      specHash: hash,
      engine: deps.engine,
    });
    if (!created) {
      throw new AppError("PROVIDER_EXISTS", `A provider named "${spec.name}" already exists.`, {
        links: { provider: providerLink(spec.name) },
      });
    }
    const approvalRule = approvalRuleFor(deps.approvals.rules, "create", [asRecord(spec)]);
    return newOperation({ provider: spec.name, intent: "create", kind: "up", accessState: "active", spec: asRecord(spec), specHash: hash, approvalRule });
  });
}

/**
 * The inbound NLB has deletion protection (ELB.6, issue 12): an update that drops `inbound` would plan its
 * delete, which AWS refuses, after the listeners and target groups are already gone. Only a decommission
 * (which turns protection off first) removes the exposure; revoking cuts its traffic and keeps it.
 */
function assertKeepsInbound(current: Record<string, unknown>, next: ProviderSpec): void {
  if (current["inbound"] === undefined || next.inbound !== undefined) return;
  throw new AppError("INVALID_STATE", "The provider's inbound exposure cannot be removed by an update.", {
    errors: [
      {
        path: "/inbound",
        message:
          "the inbound NLB has deletion protection (ELB.6), so AWS would refuse its delete halfway through the update; " +
          "inbound exposure is removed by decommissioning the provider (or keep it and revoke the provider to cut its traffic)",
      },
    ],
  });
}

/**
 * Fields an update may not change, because the change would replace what holds the provider's data or
 * access: the BYOK key (a new key store), or every bridge resource (another account or region). The old
 * BYOK key would be retained outside the stack, still enabled and still granting the provider's use
 * (issue 12 review). Such a change is a decommission and a new onboarding.
 */
const FIXED_ON_UPDATE: readonly { readonly path: string; readonly of: (spec: Record<string, unknown>) => unknown; readonly what: string }[] = [
  { path: "/kms/keyStore", of: (s) => (s["kms"] as Record<string, unknown> | undefined)?.["keyStore"], what: "it would replace the BYOK key" },
  { path: "/bridgeAccount", of: (s) => s["bridgeAccount"], what: "it would move every bridge resource, the BYOK key included, to another account" },
  { path: "/region", of: (s) => s["region"], what: "it would rebuild every resource in another region" },
];

function assertFixedFieldsKept(current: Record<string, unknown>, next: ProviderSpec): void {
  const errors = FIXED_ON_UPDATE.filter((f) => canonicalJson(f.of(current) ?? null) !== canonicalJson(f.of(asRecord(next)) ?? null)).map((f) => ({
    path: f.path,
    message: `cannot change on update: ${f.what}; decommission the provider and onboard it again`,
  }));
  if (errors.length > 0) throw new AppError("INVALID_STATE", "The update changes a field that is fixed for the provider's lifetime.", { errors });
}

export async function updateProvider(deps: ProvidersDeps, actor: Actor, name: string, spec: ProviderSpec, idempotency?: Idempotency): Promise<Accepted> {
  if (spec.name !== name) {
    throw new AppError("VALIDATION_FAILED", "The spec's name must match the provider in the path.", {
      errors: [{ path: "/name", message: `must be "${name}" (the provider in the path); a provider cannot be renamed` }],
    });
  }
  assertNotExpired(spec);
  // The variant is a best guess from the current lifecycle; the runner checks again with the exact one.
  const current = await providers.getProvider(deps.db, name);
  if (current !== undefined && !visible(actor.principal, current)) throw hiddenProvider(name, "provider.update");
  if (current !== undefined) assertOwnTeam(actor, spec.owner.team, "provider.update", name);
  await assertGuardrails(deps, spec, current?.lifecycle === "revoked" ? "revoked" : "active");
  return accept(deps, { actor, action: "provider.update", idempotency }, async (tx, newOperation) => {
    const { admission, provider } = await admitWith(tx, actor, name, "update");
    assertKeepsInbound(provider.spec, spec);
    assertFixedFieldsKept(provider.spec, spec);
    const hash = specHash(spec);
    const approvalRule = approvalRuleFor(deps.approvals.rules, "update", [provider.spec, asRecord(spec)]);
    // An update awaiting approval becomes the provider's spec only once approved (approvals-service.ts):
    // until then revoke, reinstate and the rest act on the spec that was last accepted without one.
    if (approvalRule === undefined) await providers.updateSpec(tx, name, spec, hash, spec.owner.team);
    return newOperation({ provider: name, intent: "update", kind: "up", accessState: admission.accessState, spec: asRecord(spec), specHash: hash, approvalRule });
  });
}

const KIND_OF = { revoke: "up", reinstate: "up", decommission: "destroy", preview: "preview", "drift-check": "refresh", verify: "verify" } as const;

/** revoke / reinstate / preview / drift-check / verify of the provider's current spec (or a proposed one for preview). */
export async function requestAction(
  deps: ProvidersDeps,
  actor: Actor,
  name: string,
  intent: Exclude<keyof typeof KIND_OF, "decommission">,
  idempotency?: Idempotency,
  proposed?: ProviderSpec,
): Promise<Accepted> {
  return act(deps, actor, name, intent, { idempotency, proposed });
}

/**
 * What a decommission request chooses (issue 12): the BYOK key is retained unless shredding is asked for.
 * `key` absent: the default, or, on a retry, the choice of the attempt that already ran.
 */
export interface DecommissionRequest {
  readonly key?: KeyDisposition | undefined;
}

/**
 * Decommission: the destroy is preceded, in the same operation, by an up of the decommissioning variant
 * (deletion protection off, the key disabled; runner-hooks.ts). The key's fate is stored on the operation,
 * shown in its approval request and recorded in the audit trail.
 */
export async function decommissionProvider(
  deps: ProvidersDeps,
  actor: Actor,
  name: string,
  request: DecommissionRequest,
  idempotency?: Idempotency,
): Promise<Accepted> {
  return act(deps, actor, name, "decommission", { idempotency, key: request.key });
}

/**
 * The key choice of a decommission. While the provider is `decommissioning`, an earlier attempt has run
 * (part of it may be done: the key already disabled and scheduled for deletion, or dropped from the stack
 * and kept): a retry inherits its choice, and asking for the other one is refused, since the outputs would
 * record a fate the key did not get.
 */
async function keyFor(tx: Queryable, provider: providers.ProviderRecord, asked: KeyDisposition | undefined): Promise<KeyDisposition> {
  const earlier = provider.lifecycle === "decommissioning" ? await ops.earlierDecommission(tx, provider.name) : undefined;
  if (earlier === undefined) return asked ?? DEFAULT_KEY_DISPOSITION;
  const inherited = keyOf(earlier);
  if (asked !== undefined && asked !== inherited) {
    throw new AppError(
      "INVALID_STATE",
      `Cannot decommission "${provider.name}" with key "${asked}": operation ${earlier.id} already ran the decommission with key "${inherited}"; a retry keeps that choice (send no key, or "${inherited}").`,
      { links: { provider: providerLink(provider.name), earlier: `/v1/operations/${earlier.id}` } },
    );
  }
  return inherited;
}

type ActOptions = { idempotency?: Idempotency | undefined; proposed?: ProviderSpec | undefined; key?: KeyDisposition | undefined };

async function act(deps: ProvidersDeps, actor: Actor, name: string, intent: keyof typeof KIND_OF, { idempotency, proposed, key }: ActOptions): Promise<Accepted> {
  const action: AuditAction = `provider.${intent}`;
  if (proposed) {
    // The variant is a best guess from the current lifecycle; the runner checks again with the exact one.
    const current = await providers.getProvider(deps.db, name);
    if (current !== undefined && !visible(actor.principal, current)) throw hiddenProvider(name, action);
    await assertGuardrails(deps, proposed, current?.lifecycle === "revoked" ? "revoked" : "active");
  }
  return accept(deps, { actor, action, idempotency }, async (tx, newOperation) => {
    const { admission, provider } = await admitWith(tx, actor, name, intent);
    if (intent === "reinstate") assertAccessNotExpired(provider.spec);
    const keyDisposition = intent === "decommission" ? await keyFor(tx, provider, key) : undefined;
    const spec = proposed ? asRecord(proposed) : provider.spec;
    const approvalRule = approvalRuleFor(deps.approvals.rules, intent, [provider.spec]);
    // The central policy must stop referencing the provider's rule group before it can be deleted:
    // the destroy waits for a hub update (queued now, or joined) that leaves the group out. A
    // decommission awaiting approval asks for it only once approved (approvals-service.ts): until then
    // the provider's traffic must keep flowing.
    const hubUpdate =
      intent === "decommission" && approvalRule === undefined ? await requestHubUpdate(tx, deps.engine, String(provider.spec["region"])) : undefined;
    const input: OperationInput = {
      provider: name,
      intent,
      kind: KIND_OF[intent],
      accessState: admission.accessState,
      spec,
      specHash: proposed ? specHash(proposed) : provider.spec_hash,
      ...(hubUpdate ? { blockedBy: hubUpdate.id } : {}),
      ...(keyDisposition === undefined ? {} : { keyDisposition }),
      approvalRule,
    };
    return newOperation(input);
  });
}

/** The provider, locked, if the caller may see it and the request is admitted in its lifecycle; otherwise a 404/409. */
export async function admitWith(tx: Queryable, actor: Actor, name: string, intent: Parameters<typeof admit>[0]) {
  // FOR UPDATE serializes concurrent requests on one provider so both see each other's queued intent.
  const provider = await providers.getProvider(tx, name, true);
  if (!provider) throw notFound(name);
  // An auditor reads across teams (the whole trail names every provider), and may ask any for a verification.
  const auditing = intent === "verify" && actor.principal.role === "auditor";
  if (!auditing && !visible(actor.principal, provider)) throw hiddenProvider(name, `provider.${intent}`);
  const active = await ops.activeOperations(tx, name);
  // Nothing joins the queue behind a change that waits for a second person: it is decided (or cancelled)
  // first, so no later request can act on a spec or state that has not been approved. A preview changes
  // nothing and runs meanwhile (the claim lets it pass the waiting change): the approver's planned changes.
  const awaiting = active.find((o) => o.status === "awaiting_approval");
  if (awaiting && intent !== "preview") {
    throw new AppError("INVALID_STATE", `Cannot ${intent} "${name}": operation ${awaiting.id} (${awaiting.intent}) awaits approval; approve, reject or cancel it first.`, {
      links: { provider: providerLink(name), awaiting: `/v1/operations/${awaiting.id}` },
    });
  }
  const pending = active.map((o) => o.intent);
  const admission = admit(intent, provider.lifecycle, pending);
  if (!admission.ok) {
    throw new AppError("INVALID_STATE", `Cannot ${intent} "${name}": ${admission.reason}.`, { links: { provider: providerLink(name) } });
  }
  return { admission, provider };
}

export interface ProviderView {
  readonly provider: providers.ProviderRecord;
  readonly activeOperations: Operation[];
  /** With keyStore "cloudhsm": each step to the HSM-backed key, and which are done. */
  readonly keyStore?: KeyStoreView;
  /** With `expiresAt`: the warnings sent and, once it passed, the service's revoke (issue 16). */
  readonly expiry?: ExpiryView;
}

export async function getProvider(deps: Pick<ProvidersDeps, "db">, principal: Principal, name: string): Promise<ProviderView> {
  const provider = await providers.getProvider(deps.db, name);
  if (!provider) throw notFound(name);
  if (!visible(principal, provider)) throw hiddenProvider(name, "auth.denied");
  const keyStore = keyStoreView(provider, await getKeyStore(deps.db, name, provider.generation));
  const expiry = await expiryView(deps.db, name, provider.spec["expiresAt"]);
  return { provider, activeOperations: await ops.activeOperations(deps.db, name), ...(keyStore ? { keyStore } : {}), ...(expiry ? { expiry } : {}) };
}

/** A provider's operations, newest first, if the caller may see the provider (issue 18: the console's history). */
export async function listProviderOperations(
  deps: Pick<ProvidersDeps, "db">,
  principal: Principal,
  name: string,
  query: { limit: number; before?: string | undefined },
): Promise<{ items: Operation[]; next: string | undefined }> {
  const provider = await providers.getProvider(deps.db, name);
  if (!provider) throw notFound(name);
  if (!visible(principal, provider)) throw hiddenProvider(name, "auth.denied");
  const rows = await ops.providerOperations(deps.db, name, query.limit + 1, query.before);
  const items = rows.slice(0, query.limit);
  return { items, next: rows.length > query.limit ? items.at(-1)?.queue_seq : undefined };
}

export async function listProviders(
  deps: Pick<ProvidersDeps, "db">,
  principal: Principal,
  query: { limit: number; cursor?: string | undefined; lifecycle?: Lifecycle | undefined; team?: string | undefined; drift?: DriftStatus | undefined },
): Promise<{ items: providers.ProviderRecord[]; nextCursor: string | undefined }> {
  const after = query.cursor === undefined ? undefined : decodeCursor(query.cursor);
  // One extra row tells whether there is a next page without a count query.
  // Only the caller's teams: a filter on another team lists nothing rather than refusing (nothing to probe).
  const teams = visibleTeams(principal);
  const rows = await providers.listProviders(deps.db, { limit: query.limit + 1, after, lifecycle: query.lifecycle, team: query.team, teams, drift: query.drift });
  const items = rows.slice(0, query.limit);
  const last = items.at(-1);
  return { items, nextCursor: rows.length > query.limit && last ? encodeCursor(last.name) : undefined };
}

function encodeCursor(name: string): string {
  return Buffer.from(JSON.stringify({ after: name })).toString("base64url");
}

function decodeCursor(cursor: string): string {
  try {
    const parsed: unknown = JSON.parse(Buffer.from(cursor, "base64url").toString("utf8"));
    if (parsed && typeof parsed === "object" && "after" in parsed && typeof parsed.after === "string") return parsed.after;
  } catch {
    // fall through to the 400 below
  }
  throw new AppError("VALIDATION_FAILED", "The cursor is not valid.", {
    errors: [{ path: "query:/cursor", message: "must be a nextCursor value returned by this API" }],
  });
}
