import type { KeyObject } from "node:crypto";
import type { ProviderStackArgs, StackProgram } from "../../programs/types.js";
import { issueReceipt } from "../audit/receipts/issue.js";
import { recordAllowed, SYSTEM_ACTOR } from "../auth/actor.js";
import type { OperationStatus } from "../operations/operation.js";
import type { Queryable } from "../store/db.js";
import { FORMER_ID_KEYS, onVerificationFinished, verificationNotice, verifyStep, type VerificationDeps } from "./verification.js";
import type { CredentialSealer } from "../auth/credential-seal.js";
import { EngineFailure, type EngineEvent } from "../engine/engine.js";
import { isHubStack, keyOf, type Operation } from "../operations/operation.js";
import * as ops from "../operations/operations-repo.js";
import type { Prepared, RunnerHooks } from "../operations/runner.js";
import type { Db } from "../store/db.js";
import type { AuditWriter } from "../audit/append.js";
import type { Notify } from "../notifications/notice.js";
import { onOperationFinished as driftAfter } from "./drift.js";
import { onHubOperationFinished as hubDriftAfter } from "./hub-drift.js";
import type { LandingZone } from "./landing-zone.js";
import { onFinish, onStart } from "./lifecycle.js";
import { hubBlockerProblem, hubRuleGroups, requestHubUpdate } from "./network-hub.js";
import { connectKeyStore } from "./key-store.js";
import type { KeyStoreConnector } from "./key-store-connector.js";
import { deleteKeyStore, getKeyStore, setKeyStoreState, type KeyStoreRecord } from "./key-stores-repo.js";
import { KMSUSER_PASSWORD_CONFIG_KEY } from "./preflight.js";
import type { GuardrailCheck } from "./guardrail-check.js";
import { parseArn } from "./aws-ids.js";
import * as providers from "./providers-repo.js";
import { buildProviderSpecSchema, type ProviderSpec } from "./spec.js";
import { toNetworkHubArgs, toProviderStackArgs } from "./stack-args.js";
import { operationFinished } from "../notifications/notices.js";
import { allocateSubnets, releaseSubnets, SubnetAllocationConflictError, SubnetPoolExhaustedError } from "./subnet-allocator.js";

export interface RunnerHooksDeps {
  readonly db: Db;
  readonly landingZone: LandingZone;
  /** Engine name recorded on the hub updates this service queues. */
  readonly engine: string;
  /** The guardrails before every run: the provider program evaluated in the worker pool, verdicts cached. */
  readonly guardrails: GuardrailCheck;
  /** CloudHSM phase 2: opens the sealed kmsuser password, connects the store. Without it, phase 2 fails with a message. */
  readonly keyStores?: KeyStoreDeps;
  /** Drift found (issue 16), of a provider or a network hub: a `drift.found` notice in the finishing transaction. */
  readonly notify?: Notify;
  /** A revoked provider's re-opened access, a hub's drifted firewall policy: audited as the system. */
  readonly audit?: AuditWriter;
  /** Access verification after revoke and decommission, and `verify` operations (issue 17). */
  readonly verification?: VerificationDeps;
  /** Signs every finished operation's receipt (issue 17): the audit signing key. Needs `audit` (the final record). */
  readonly receiptKey?: KeyObject;
}

export interface KeyStoreDeps {
  readonly sealer: CredentialSealer;
  readonly connector: KeyStoreConnector;
  readonly pollMs: number;
  readonly timeoutMs: number;
}

/** What a sealed kmsuser password is bound to: a row copied to another provider or generation does not open. */
export function keyStoreSealContext(provider: string, generation: number): string {
  return `key-store|${provider}|${generation}`;
}

/**
 * What a decommissioned provider still shows: the BYOK key a destroy left behind (retained: disabled, its
 * alias deleted, findable by ARN and tags) or shredded (pending deletion for the landing zone's window).
 */
function decommissionedOutputs(op: Operation, before: Record<string, unknown>): Record<string, unknown> {
  const keyArn = before["keyArn"];
  const key = keyOf(op);
  // The ids the stack had, so a later verification can prove they stay gone (issue 17).
  const formerIds = Object.fromEntries(FORMER_ID_KEYS.filter((k) => before[k] !== undefined).map((k) => [k, before[k]]));
  const byokKey = {
    ...(typeof keyArn !== "string"
      ? {}
      : { byokKey: key === "retain" ? { arn: keyArn, disposition: "retained", state: "disabled" } : { arn: keyArn, disposition: "shredded", state: "pending-deletion" } }),
    ...(Object.keys(formerIds).length > 0 ? { formerIds } : {}),
  };
  const hsm = before["cloudHsm"] as { clusterId?: unknown; customKeyStoreId?: unknown } | undefined;
  if (typeof hsm?.clusterId !== "string") return byokKey;
  // The cluster, its VPC and the store are retained (they hold the key material and its backups): their
  // deletion is a person's second phase, after the key is gone or no longer needed (research §4.2).
  const store = typeof hsm.customKeyStoreId === "string" ? ` and the KMS custom key store ${hsm.customKeyStoreId}` : "";
  return {
    ...byokKey,
    cloudHsm: { clusterId: hsm.clusterId, ...(store ? { customKeyStoreId: hsm.customKeyStoreId } : {}), retained: true },
    actionsRequired: [
      `The CloudHSM cluster ${hsm.clusterId}, its VPC${store} were retained (its HSMs were deleted, which backs the cluster up). ` +
        (store ? "Once the key is deleted (after its window) or no longer needed, disconnect and delete the store, " : "Once no longer needed, ") +
        "delete the cluster and its backups, then the VPC.",
    ],
  };
}

/** The same args, with the CloudHSM key store connected (the program then creates the key in it). */
function withConnectedStore(args: ProviderStackArgs): ProviderStackArgs {
  const hsm = args.kms.cloudHsm;
  if (!hsm?.keyStore) return args;
  return { ...args, kms: { ...args.kms, cloudHsm: { ...hsm, keyStore: { ...hsm.keyStore, connected: true } } } };
}

/** How the runner learns what to run and how an operation moves its provider's lifecycle. */
export function createRunnerHooks({ db, landingZone, engine, guardrails, keyStores, notify, audit, verification, receiptKey }: RunnerHooksDeps): RunnerHooks {
  const schema = buildProviderSpecSchema(landingZone);

  function specOf(op: Operation): ProviderSpec {
    // The spec was valid when accepted; the landing zone may have changed since (a region removed).
    const parsed = schema.safeParse(op.spec);
    if (parsed.success) return parsed.data;
    const first = parsed.error.issues[0];
    throw new EngineFailure(
      "SPEC_NO_LONGER_VALID",
      `the spec is no longer valid against the landing zone: ${first?.path.join(".") ?? ""} ${first?.message ?? ""}`.trim(),
    );
  }

  /** A hub update, or a hub's drift check (a refresh: it compares the stack with the cloud, and lists nothing). */
  async function prepareHub(op: Operation): Promise<Prepared> {
    const region = String(op.spec["region"]);
    const groups = await hubRuleGroups(db, region);
    const program: StackProgram = { program: "network-hub", args: toNetworkHubArgs(region, landingZone, groups) };
    if (op.intent !== "hub-update") return { program, findings: [] };
    const listed = groups.map((g) => g.provider).join(", ") || "none";
    return { program, findings: [{ type: "diagnostic", severity: "info", message: `rule groups listed: ${listed}` }] };
  }

  async function prepareProvider(op: Operation): Promise<Prepared> {
    const spec = specOf(op);
    if (op.intent === "verify") return prepareVerify(op, spec);
    if (op.intent === "decommission" && op.blocked_by !== null) {
      const problem = hubBlockerProblem(await ops.getOperation(db, op.blocked_by));
      if (problem) throw new EngineFailure("HUB_UPDATE_FAILED", problem);
    }
    const region = landingZone.network.regions[spec.region];
    if (!region) throw new EngineFailure("SPEC_NO_LONGER_VALID", `region ${spec.region} is no longer in the landing zone`);
    let subnets;
    try {
      // Idempotent: a re-run or a retry gets the same subnets; released when decommissioned.
      subnets = await allocateSubnets(db, {
        provider: spec.name,
        region: spec.region,
        pool: region.subnetPool,
        prefixLength: region.subnetPrefixLength,
        azIds: region.availabilityZoneIds,
      });
    } catch (err) {
      if (err instanceof SubnetPoolExhaustedError) throw new EngineFailure("SUBNET_POOL_EXHAUSTED", err.message);
      // Lost the race for a block more times than there were rivals: retrying the operation is safe.
      if (err instanceof SubnetAllocationConflictError) throw new EngineFailure("SUBNET_ALLOCATION_CONFLICT", `${err.message}; retry the request`);
      throw err;
    }
    const current = await providers.getProvider(db, op.provider);
    const connectionAccepted = current?.outputs["endpointState"] === "available";
    const generation = current?.generation ?? 1;
    const hsm = await keyStoreOf(op, spec, generation);
    const args = toProviderStackArgs(spec, landingZone, op.access_state, { subnets, connectionAccepted, generation, ...(hsm ? { keyStore: hsm.keyStore } : {}) });
    // A revoke's and a decommission's proof, read from the cloud after the run (what the stack had, before it).
    const verify = verifyStep(verification, op, args, current?.outputs ?? {}, current?.lifecycle ?? "active");
    const program: StackProgram = { program: "provider", args };
    const secretConfig = hsm && Object.keys(hsm.secretConfig).length > 0 ? { secretConfig: hsm.secretConfig } : {};
    if (op.kind === "destroy") {
      // Deletion protection off and the key disabled (retained unless shredding was asked for), in the
      // same operation as the destroy, which runs with that decommissioning program too (its resource
      // options, such as the key's retainOnDelete, are the ones a decommission needs). A decommission
      // queued before the option existed retains the key.
      const key = keyOf(op);
      // The whole up on a first attempt (nothing deleted yet); only what the stack still holds on a retry
      // after an attempt that ran, so nothing it deleted is re-created (EngineRequest.prepare).
      const existingOnly = op.attempt > 1 || (await ops.earlierDecommission(db, op.provider, op.id)) !== undefined;
      const prepare = { program: { program: "provider", args: { ...args, decommissioning: { key } } } satisfies StackProgram, existingOnly };
      const fate = key === "retain" ? "disabled and retained (data encrypted with it stays recoverable)" : "disabled and scheduled for deletion (crypto-shredding)";
      return { program, prepare, ...secretConfig, ...(verify ? { verify } : {}), findings: [{ type: "diagnostic", severity: "info", message: `decommission: the BYOK key is ${fate}` }] };
    }

    // A key-store operation's second up (the key, in the connected store) is checked now too, before anything runs.
    const connectedArgs = op.intent === "key-store" && hsm && !hsm.keyStore.connected ? withConnectedStore(args) : undefined;
    const checked = await guardrails.check(spec, connectedArgs ?? args, op.access_state);
    if (checked.rejected !== undefined) {
      throw new EngineFailure("PROGRAM_REJECTED", `the provider program refused the arguments: ${checked.rejected}`);
    }
    const findings: EngineEvent[] = [
      ...checked.violations.map((v): EngineEvent => ({ type: "guardrail.violation", code: v.code, message: v.message, urn: v.urn })),
      ...checked.actionsRequired.map((message): EngineEvent => ({ type: "diagnostic", severity: "warning", message })),
    ];
    if (checked.violations.length > 0) {
      const failure = new EngineFailure("GUARDRAIL_VIOLATION", `${checked.violations.length} guardrail violation(s); nothing was changed`);
      return { program, findings, failure, ...secretConfig };
    }
    if (!connectedArgs || !hsm) return { program, findings, ...secretConfig, ...(verify ? { verify } : {}) };
    findings.push({ type: "diagnostic", severity: "info", message: "phase 1 of 3: the second HSM and the KMS custom key store (an up)" });
    return { program, findings, ...secretConfig, afterRun: (outputs, context) => connectThenKey(op, spec.region, outputs, connectedArgs, context) };
  }

  /** A verification only reads the cloud: the spec's arguments for the ids and expectations, no allocation, no guardrails. */
  async function prepareVerify(op: Operation, spec: ProviderSpec): Promise<Prepared> {
    const current = await providers.getProvider(db, op.provider);
    const args = toProviderStackArgs(spec, landingZone, op.access_state, { subnets: [], connectionAccepted: false, generation: current?.generation ?? 1 });
    const verify = verifyStep(verification, op, args, current?.outputs ?? {}, current?.lifecycle ?? "active");
    if (!verify) throw new EngineFailure("VERIFICATION_NOT_CONFIGURED", "this service was composed without access verification");
    return { program: { program: "provider", args }, findings: [], verify };
  }

  /**
   * CloudHSM phase 2 (issue 12): the provider's key_stores row, when this run builds the store: every run
   * once the store was created, and the key-store operation itself. The password is opened here, for
   * this run only, and travels as secret stack config.
   */
  async function keyStoreOf(op: Operation, spec: ProviderSpec, generation: number) {
    if (spec.kms.keyStore !== "cloudhsm") return undefined;
    const row = await getKeyStore(db, op.provider, generation);
    if (op.intent === "key-store" && row === undefined) {
      throw new EngineFailure("KEY_STORE_MISSING", "nothing was handed over for the key store (PUT /v1/providers/<name>/key-store)");
    }
    if (row === undefined || (row.state === "submitted" && op.intent !== "key-store")) return undefined;
    // From the first key-store run on, every run builds phase 2: a run that stopped halfway may have left the
    // second HSM or the store, and a phase-1 run would delete the HSM and drop the (retained) store, which a
    // later CreateCustomKeyStore on the same cluster could not replace.
    if (row.state === "submitted") await setKeyStoreState(db, op.provider, "created", null);
    const keyStore = { trustAnchorCertificate: row.trust_anchor_certificate, connected: row.state === "connected" };
    // Connected: the password was forgotten (KMS rotated it; the program ignores changes to it).
    if (row.password_sealed === null) return { keyStore, secretConfig: {} };
    if (!keyStores) throw new EngineFailure("KEY_STORE_NOT_CONFIGURED", "this service was composed without the key-store dependencies");
    return { keyStore, secretConfig: { [KMSUSER_PASSWORD_CONFIG_KEY]: openPassword(row, row.password_sealed, keyStores) } };
  }

  function openPassword(row: KeyStoreRecord, sealed: string, deps: KeyStoreDeps): string {
    try {
      return deps.sealer.open(keyStoreSealContext(row.provider, row.generation), sealed);
    } catch {
      throw new EngineFailure("KEY_STORE_CREDENTIALS_UNREADABLE", "the stored kmsuser password cannot be opened with this service's key; PUT /v1/providers/<name>/key-store again");
    }
  }

  /** Phase 2 and 3 of a key-store operation, after its first up: connect the store, then the up that creates the key in it. */
  async function connectThenKey(
    op: Operation,
    region: string,
    outputs: Readonly<Record<string, unknown>>,
    connectedArgs: ProviderStackArgs,
    { emit, signal }: { emit: (event: EngineEvent) => Promise<void>; signal: AbortSignal },
  ): Promise<{ program: StackProgram }> {
    const customKeyStoreId = (outputs["cloudHsm"] as { customKeyStoreId?: unknown } | undefined)?.customKeyStoreId;
    const bridgeAccountId = outputs["bridgeAccountId"];
    if (typeof customKeyStoreId !== "string" || typeof bridgeAccountId !== "string" || !keyStores) {
      throw new EngineFailure("KEY_STORE_MISSING", "the up did not report the custom key store's id or the bridge account");
    }
    await setKeyStoreState(db, op.provider, "created", customKeyStoreId);
    await emit({ type: "diagnostic", severity: "info", message: `phase 2 of 3: connecting the KMS custom key store ${customKeyStoreId}` });
    const partition = parseArn(landingZone.network.deployRoleArn)?.partition ?? "aws";
    const roleArn = `arn:${partition}:iam::${bridgeAccountId}:role/${landingZone.bridge.accessRoleName}`;
    await connectKeyStore(keyStores.connector, { region, roleArn, customKeyStoreId }, { emit, signal, pollMs: keyStores.pollMs, timeoutMs: keyStores.timeoutMs });
    await setKeyStoreState(db, op.provider, "connected", customKeyStoreId);
    await emit({ type: "diagnostic", severity: "info", message: "phase 3 of 3: the HSM-backed BYOK key in the connected store (an up)" });
    return { program: { program: "provider", args: connectedArgs } };
  }

  return {
    prepare: (op) => (isHubStack(op.provider) ? prepareHub(op) : prepareProvider(op)),
    async onStart(tx, op) {
      if (isHubStack(op.provider)) return;
      const p = await providers.getProvider(tx, op.provider, true);
      if (!p) return;
      const next = onStart(op.intent, p.lifecycle);
      if (next !== p.lifecycle) await providers.setLifecycle(tx, op.provider, next);
    },
    async onFinish(tx, op, status, outputs) {
      if (isHubStack(op.provider)) {
        await notify?.(tx, operationFinished(op, status));
        await hubDriftAfter(tx, { notify, audit }, op, status);
      } else {
        await finishProvider(tx, op, status, outputs);
      }
      // Last: the operation's final audit record, and its receipt naming that record (issue 17).
      if (audit && receiptKey) await recordFinishAndReceipt(tx, audit, receiptKey, op, status);
    },
  };

  async function finishProvider(tx: Queryable, op: Operation, status: OperationStatus, outputs: Record<string, unknown> | undefined): Promise<void> {
    // Its notice first: every notice of a transaction comes before its audit append (the chain head's lock
    // is held to commit, so the other order could deadlock with a request that notifies, then audits).
    const p = await providers.getProvider(tx, op.provider, true);
    await notify?.(tx, operationFinished(op, status));
    const failedVerification = verificationNotice(op, status);
    if (failedVerification) await notify?.(tx, failedVerification);
    if (!p) return;
    const next = onFinish(op.intent, status, op.access_state, p.lifecycle);
    const nextOutputs = next === "decommissioned" ? decommissionedOutputs(op, p.outputs) : status === "succeeded" && outputs ? outputs : undefined;
    if (next !== p.lifecycle || nextOutputs !== undefined) await providers.setLifecycle(tx, op.provider, next, nextOutputs);
    await driftAfter(tx, { notify, audit }, op, status, p);
    await onVerificationFinished(tx, audit, op, status);
    if (next === "decommissioned") {
      await releaseSubnets(tx, op.provider);
      await deleteKeyStore(tx, op.provider);
    }
    // A new rule group (first successful up, or a replacement) must be listed by the central policy.
    const before = p.outputs["ruleGroupArn"];
    const after = nextOutputs?.["ruleGroupArn"];
    if (status === "succeeded" && typeof after === "string" && after !== before) {
      await requestHubUpdate(tx, engine, String(p.spec["region"]));
    }
  }
}

/** The system's `operation.finish` record, then the signed receipt that names its seq and hash. */
async function recordFinishAndReceipt(tx: Queryable, audit: AuditWriter, key: KeyObject, op: Operation, status: OperationStatus): Promise<void> {
  const verification = op.result?.["verification"] as { status?: unknown } | undefined;
  const record = await recordAllowed(audit, tx, SYSTEM_ACTOR, "operation.finish", { kind: "operation", id: op.id }, {
    provider: op.provider,
    intent: op.intent,
    status,
    ...(op.error ? { error: { code: op.error.code } } : {}),
    ...(typeof verification?.status === "string" ? { verification: verification.status } : {}),
  });
  await issueReceipt(tx, op, { seq: record.seq, hash: record.hash }, key);
}
