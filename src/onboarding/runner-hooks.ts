import type { StackProgram } from "../../programs/types.js";
import { EngineFailure, type EngineEvent } from "../engine/engine.js";
import { keyOf, type Operation } from "../operations/operation.js";
import * as ops from "../operations/operations-repo.js";
import type { Prepared, RunnerHooks } from "../operations/runner.js";
import type { Db } from "../store/db.js";
import type { LandingZone } from "./landing-zone.js";
import { onFinish, onStart } from "./lifecycle.js";
import { hubBlockerProblem, hubRuleGroups, requestHubUpdate } from "./network-hub.js";
import { preflight, type ProviderProgram } from "./preflight.js";
import * as providers from "./providers-repo.js";
import { buildProviderSpecSchema, type ProviderSpec } from "./spec.js";
import { toNetworkHubArgs, toProviderStackArgs } from "./stack-args.js";
import { allocateSubnets, releaseSubnets, SubnetAllocationConflictError, SubnetPoolExhaustedError } from "./subnet-allocator.js";

export interface RunnerHooksDeps {
  readonly db: Db;
  readonly landingZone: LandingZone;
  /** Engine name recorded on the hub updates this service queues. */
  readonly engine: string;
  /** The program whose graph the guardrails check (default: the provider-stack program). */
  readonly program?: ProviderProgram;
}

/**
 * What a decommissioned provider still shows: the BYOK key a destroy left behind (retained: disabled, its
 * alias deleted, findable by ARN and tags) or shredded (pending deletion for the landing zone's window).
 */
function decommissionedOutputs(op: Operation, before: Record<string, unknown>): Record<string, unknown> {
  const keyArn = before["keyArn"];
  if (typeof keyArn !== "string") return {};
  const key = keyOf(op);
  return { byokKey: key === "retain" ? { arn: keyArn, disposition: "retained", state: "disabled" } : { arn: keyArn, disposition: "shredded", state: "pending-deletion" } };
}

/** How the runner learns what to run and how an operation moves its provider's lifecycle. */
export function createRunnerHooks({ db, landingZone, engine, program: checkedProgram }: RunnerHooksDeps): RunnerHooks {
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

  async function prepareHub(op: Operation): Promise<Prepared> {
    const region = String(op.spec["region"]);
    const groups = await hubRuleGroups(db, region);
    const program: StackProgram = { program: "network-hub", args: toNetworkHubArgs(region, landingZone, groups) };
    const listed = groups.map((g) => g.provider).join(", ") || "none";
    return { program, findings: [{ type: "diagnostic", severity: "info", message: `rule groups listed: ${listed}` }] };
  }

  async function prepareProvider(op: Operation): Promise<Prepared> {
    const spec = specOf(op);
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
    const args = toProviderStackArgs(spec, landingZone, op.access_state, { subnets, connectionAccepted, generation });
    const program: StackProgram = { program: "provider", args };
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
      return { program, prepare, findings: [{ type: "diagnostic", severity: "info", message: `decommission: the BYOK key is ${fate}` }] };
    }

    const checked = await preflight(spec, args, op.access_state, checkedProgram);
    if (checked.rejected !== undefined) {
      throw new EngineFailure("PROGRAM_REJECTED", `the provider program refused the arguments: ${checked.rejected}`);
    }
    const findings: EngineEvent[] = [
      ...checked.violations.map((v): EngineEvent => ({ type: "guardrail.violation", code: v.code, message: v.message, urn: v.urn })),
      ...checked.actionsRequired.map((message): EngineEvent => ({ type: "diagnostic", severity: "warning", message })),
    ];
    if (checked.violations.length === 0) return { program, findings };
    const failure = new EngineFailure("GUARDRAIL_VIOLATION", `${checked.violations.length} guardrail violation(s); nothing was changed`);
    return { program, findings, failure };
  }

  return {
    prepare: (op) => (op.intent === "hub-update" ? prepareHub(op) : prepareProvider(op)),
    async onStart(tx, op) {
      if (op.intent === "hub-update") return;
      const p = await providers.getProvider(tx, op.provider, true);
      if (!p) return;
      const next = onStart(op.intent, p.lifecycle);
      if (next !== p.lifecycle) await providers.setLifecycle(tx, op.provider, next);
    },
    async onFinish(tx, op, status, outputs) {
      if (op.intent === "hub-update") return;
      const p = await providers.getProvider(tx, op.provider, true);
      if (!p) return;
      const next = onFinish(op.intent, status, op.access_state, p.lifecycle);
      const nextOutputs = next === "decommissioned" ? decommissionedOutputs(op, p.outputs) : status === "succeeded" && outputs ? outputs : undefined;
      if (next !== p.lifecycle || nextOutputs !== undefined) await providers.setLifecycle(tx, op.provider, next, nextOutputs);
      if (next === "decommissioned") await releaseSubnets(tx, op.provider);
      // A new rule group (first successful up, or a replacement) must be listed by the central policy.
      const before = p.outputs["ruleGroupArn"];
      const after = nextOutputs?.["ruleGroupArn"];
      if (status === "succeeded" && typeof after === "string" && after !== before) {
        await requestHubUpdate(tx, engine, String(p.spec["region"]));
      }
    },
  };
}
