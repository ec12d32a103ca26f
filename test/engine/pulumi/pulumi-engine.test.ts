import { describe, expect, it } from "vitest";
import { EngineCancelledError, EngineFailure, type EngineEvent } from "../../../src/engine/engine.js";
import type { PendingOperation, StackOperation } from "../../../src/engine/pulumi/automation.js";
import { createPulumiEngine, type AutomationAdapter } from "../../../src/engine/pulumi/pulumi-engine.js";
import { createLogger } from "../../../src/logger.js";
import { recorded } from "./fixtures/recorded.js";
import { URN } from "./fixtures/wire.js";

/**
 * The Pulumi engine's orchestration (what it runs, in which order, what it reports and how it fails),
 * driven by a stand-in adapter that replays engine events recorded from the real CLI (./fixtures/recorded).
 * This checks OUR code around the Automation API in isolation; the real CLI runs the same code in
 * test/engine/contract-pulumi.test.ts and real-engine.test.ts.
 */
const settings = { engine: "pulumi" as const, heartbeatMs: 1_000, orphanGraceMs: 1_000, workRoot: "/nonexistent", pulumiHome: "/nonexistent", secretsProvider: "passphrase" };
const program = { program: "provider" as const, args: { region: "eu-west-1" } as never };
const log = createLogger("silent");

interface Script {
  readonly events?: Partial<Record<StackOperation, readonly unknown[]>>;
  readonly fail?: Partial<Record<StackOperation, Error>>;
  readonly pending?: PendingOperation[];
  readonly cancelFails?: boolean;
  readonly locked?: (err: unknown) => boolean;
  /** The stack's resources (default: one key). */
  readonly urns?: readonly string[];
}

function standIn(script: Script): { adapter: AutomationAdapter; calls: string[]; opened: unknown[] } {
  const calls: string[] = [];
  const opened: unknown[] = [];
  const stack = { name: "acme" } as never;
  const adapter: AutomationAdapter = {
    openStack: async (name, program) => (calls.push(`open ${name}`), opened.push(program), stack),
    runOperation: async (_stack, operation, handlers) => {
      calls.push(handlers.targets ? `${operation} targeting ${handlers.targets.join(",")}` : operation);
      for (const e of script.events?.[operation] ?? []) handlers.onEvent(e as never);
      const failure = script.fail?.[operation];
      if (failure) throw failure;
      return { outputs: operation === "up" ? { keyArn: "arn:aws:kms:eu-west-1:111111111111:key/k" } : {} };
    },
    stackOutputs: async () => ({ keyArn: "arn:aws:kms:eu-west-1:111111111111:key/k", token: "[secret]" }),
    clearStackLock: async () => {
      calls.push("cancel");
      if (script.cancelFails) throw new Error("no lock");
    },
    pendingOperations: async () => (calls.push("export"), script.pending ?? []),
    stackResourceUrns: async () => (calls.push("urns"), [...(script.urns ?? ["urn:pulumi:acme::saas-bridge::aws:kms/key:Key::acme"])]),
    stackResourceList: async () => (script.urns ?? ["urn:pulumi:acme::saas-bridge::aws:kms/key:Key::acme"]).map((urn) => ({ urn, type: "aws:kms/key:Key", id: "key-1" })),
    isConcurrentUpdate: script.locked ?? (() => false),
  };
  return { adapter, calls, opened };
}

const preparing = { program: "provider" as const, args: { region: "eu-west-1", decommissioning: { key: "retain" } } as never };

async function run(
  kind: "up" | "preview" | "refresh" | "destroy",
  script: Script,
  extra: { recover?: string; signal?: AbortSignal; prepare?: { existingOnly: boolean } } = {},
) {
  const { adapter, calls, opened } = standIn(script);
  const events: EngineEvent[] = [];
  let recovered = 0;
  const engine = createPulumiEngine(settings, adapter);
  const result = engine.run(
    {
      operationId: "op-1",
      stack: "acme",
      kind,
      program,
      ...(extra.prepare ? { prepare: { program: preparing, existingOnly: extra.prepare.existingOnly } } : {}),
      ...(extra.recover ? { recover: { interruptedOperationId: extra.recover } } : {}),
    },
    {
      signal: extra.signal ?? new AbortController().signal,
      log,
      onEvent: async (e) => void events.push(e),
      onRecovered: async () => void (recovered += 1, calls.push("recovered")),
    },
  );
  return { result, events, calls, opened, recovered: () => recovered };
}

describe("pulumi engine orchestration (recorded events, stand-in adapter)", () => {
  it("up previews first: planned steps, then progress from 0 to the planned total, then the applied steps", async () => {
    const r = await run("up", { events: { preview: recorded("preview-create"), up: recorded("up-create") } });
    const result = await r.result.catch((e: unknown) => e);
    expect(r.calls).toEqual(["open acme", "preview", "up"]);
    const types = r.events.map((e) => e.type);
    const firstProgress = types.indexOf("progress");
    expect(types.slice(0, firstProgress).every((t) => t === "resource.planned" || t === "diagnostic")).toBe(true);
    expect(r.events[firstProgress]).toEqual({ type: "progress", done: 0, total: 5 });
    expect(r.events.at(-1)).toEqual({ type: "progress", done: 5, total: 5 });
    expect(types.slice(firstProgress + 1)).toContain("resource.started");
    expect(result).toMatchObject({ outputs: { keyArn: expect.stringMatching(/^arn:aws:kms/) } });
  });

  it("a failed resource fails the operation with its sanitized message, not the CLI's output", async () => {
    const r = await run("up", { events: { preview: recorded("preview-create"), up: recorded("up-replace-fail") }, fail: { up: new Error("CommandError: code: 255\n stdout: ... stderr: secret-ish CLI text") } });
    const err = await r.result.catch((e: unknown) => e);
    expect(err).toBeInstanceOf(EngineFailure);
    expect((err as EngineFailure).code).toBe("RESOURCE_FAILED");
    expect((err as EngineFailure).message).toContain("aws:ec2/vpcEndpoint:VpcEndpoint");
    expect((err as EngineFailure).message).toContain("InvalidServiceName");
    expect((err as EngineFailure).message).not.toContain("secret-ish CLI text");
    expect(r.events.some((e) => e.type === "resource.failed")).toBe(true);
  });

  it("a locked stack, a cancel, and a failure without diagnostics each map to their own outcome", async () => {
    const locked = await run("preview", { fail: { preview: new Error("locked") }, locked: () => true });
    await expect(locked.result).rejects.toMatchObject({ code: "STACK_LOCKED" });

    const controller = new AbortController();
    controller.abort();
    const cancelled = await run("up", { fail: { preview: new Error("interrupted") } }, { signal: controller.signal });
    await expect(cancelled.result).rejects.toBeInstanceOf(EngineCancelledError);

    const bare = await run("destroy", { fail: { previewDestroy: new Error("stderr: internal details") } });
    const err = (await bare.result.catch((e: unknown) => e)) as EngineFailure;
    expect(err.code).toBe("ENGINE_COMMAND_FAILED");
    expect(err.message).toBe("previewDestroy failed without a diagnostic; the service log has the details");
  });

  const prepareThenDestroy = { preview: recorded("preview-create"), up: recorded("up-create"), previewDestroy: recorded("preview-destroy"), destroy: recorded("destroy") };
  const phases = (events: EngineEvent[]) => events.filter((e) => e.type === "diagnostic" && /^phase/.test(e.message)).map((e) => (e as { message: string }).message);

  it("a first decommission attempt runs the prepare program's up untargeted, then the destroy, both with the prepare program", async () => {
    const r = await run("destroy", { events: prepareThenDestroy }, { prepare: { existingOnly: false } });
    const result = await r.result;
    expect(r.calls).toEqual(["open acme", "urns", "preview", "up", "previewDestroy", "destroy"]);
    // One stack, opened once with the prepare program: the destroy runs it too (its resource options).
    expect(r.opened).toEqual([preparing]);
    expect(phases(r.events)).toEqual([expect.stringMatching(/^phase 1 of 2/), expect.stringMatching(/^phase 2 of 2/)]);
    expect(r.events.filter((e) => e.type === "progress" && e.done === 0)).toHaveLength(2);
    // Both phases' steps are counted.
    expect(result.summary.create).toBeGreaterThan(0);
    expect(result.summary.delete).toBe(4);
    expect(result.outputs).toEqual({});
  });

  it("a retry (existing-only) targets the up at the stack's resources, so it re-creates nothing an earlier attempt deleted", async () => {
    const r = await run("destroy", { events: prepareThenDestroy }, { prepare: { existingOnly: true } });
    await r.result;
    const urn = "urn:pulumi:acme::saas-bridge::aws:kms/key:Key::acme";
    expect(r.calls).toEqual(["open acme", "urns", `preview targeting ${urn}`, `up targeting ${urn}`, "previewDestroy", "destroy"]);
  });

  it("an empty stack: phase 1 runs nothing and reports 0 of 0, phase 2 the destroy", async () => {
    const r = await run("destroy", { events: { previewDestroy: [], destroy: [] }, urns: [] }, { prepare: { existingOnly: false } });
    await r.result;
    expect(r.calls).toEqual(["open acme", "urns", "previewDestroy", "destroy"]);
    expect(phases(r.events)).toEqual([expect.stringMatching(/^phase 1 of 2: nothing to prepare/), expect.stringMatching(/^phase 2 of 2/)]);
    expect(r.events.filter((e) => e.type === "progress")).toEqual([
      { type: "progress", done: 0, total: 0 },
      { type: "progress", done: 0, total: 0 },
    ]);
  });

  it("a prepare phase on anything but a destroy is refused before the stack is touched", async () => {
    const r = await run("up", {}, { prepare: { existingOnly: false } });
    await expect(r.result).rejects.toMatchObject({ code: "BAD_ENGINE_REQUEST" });
    expect(r.calls).toEqual([]);
  });

  it("destroy previews the destroy first; refresh only previews a refresh and reports drift as planned steps", async () => {
    const destroyed = await run("destroy", { events: { previewDestroy: recorded("preview-destroy"), destroy: recorded("destroy") } });
    const d = await destroyed.result;
    expect(destroyed.calls).toEqual(["open acme", "previewDestroy", "destroy"]);
    expect(d.outputs).toEqual({});
    // The program's registrations (same) are not steps of a destroy; the root stack is not counted.
    expect(d.summary).toEqual({ create: 0, update: 0, delete: 4, replace: 0, same: 0 });
    expect(destroyed.events.filter((e) => e.type === "progress").at(-1)).toEqual({ type: "progress", done: 4, total: 4 });

    const refreshed = await run("refresh", { events: { previewRefresh: recorded("refresh-preview-drift") } });
    const rr = await refreshed.result;
    expect(refreshed.calls).toEqual(["open acme", "previewRefresh"]);
    expect(rr.steps?.some((s) => s.op === "update")).toBe(true);
    expect(refreshed.events.some((e) => e.type === "diagnostic" && e.severity === "warning")).toBe(true);
  });

  it("after an interruption: clears the lock, reports every pending operation, refreshes, then runs the operation", async () => {
    const pending: PendingOperation[] = [
      { urn: URN["endpoint"]!, type: "aws:ec2/vpcEndpoint:VpcEndpoint", operation: "creating" },
      { urn: URN["rule"]!, type: "aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule", operation: "updating" },
    ];
    const r = await run("preview", { pending, cancelFails: true, events: { refresh: recorded("refresh"), preview: recorded("preview-create") } }, { recover: "op-0" });
    await r.result;
    expect(r.calls).toEqual(["open acme", "cancel", "export", "refresh", "recovered", "preview"]);
    expect(r.recovered()).toBe(1);
    const messages = r.events.filter((e) => e.type === "diagnostic").map((e) => (e as { message: string }).message);
    const reported = messages.filter((m) => m.startsWith("pending operation from interrupted operation op-0"));
    expect(reported).toHaveLength(2);
    expect(reported[0]).toContain("creating aws:ec2/vpcEndpoint:VpcEndpoint");
    expect(reported[0]).toContain("pulumi import");
    expect(messages).toContain("recovered the stack after interrupted operation op-0: no lock to clear, 2 pending operation(s) reported, 4 resource(s) refreshed");
    // The refresh's own steps are bookkeeping: only its diagnostics (drift) are reported.
    const beforePreview = r.events.slice(0, r.events.findIndex((e) => e.type === "resource.planned"));
    expect(beforePreview.every((e) => e.type === "diagnostic")).toBe(true);
  });

  it("an event the service cannot persist fails the run with that error", async () => {
    const { adapter } = standIn({ events: { preview: recorded("preview-create") } });
    const engine = createPulumiEngine(settings, adapter);
    const refused = new Error("lease lost");
    const outcome = engine.run(
      { operationId: "op-1", stack: "acme", kind: "preview", program },
      { signal: new AbortController().signal, log, onEvent: async () => Promise.reject(refused) },
    );
    await expect(outcome).rejects.toBe(refused);
  });

  it("outputs come from the stack, with secrets masked by the adapter", async () => {
    const { adapter } = standIn({});
    expect(await createPulumiEngine(settings, adapter).outputs("acme", program)).toEqual({ keyArn: "arn:aws:kms:eu-west-1:111111111111:key/k", token: "[secret]" });
  });
});
