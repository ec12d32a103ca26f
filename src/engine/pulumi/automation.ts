import { execFile } from "node:child_process";
import { mkdir } from "node:fs/promises";
import { join } from "node:path";
import {
  ConcurrentUpdateError,
  LocalWorkspace,
  StackNotFoundError,
  type EngineEvent,
  type Stack,
} from "@pulumi/pulumi/automation/index.js";
import { inlineProgram, PROJECTS } from "../../../programs/stacks.js";
import type { StackProgram } from "../../../programs/types.js";
import { stackResources, type StackResource } from "../engine.js";

/**
 * The Automation API adapter: the only module that imports `@pulumi/pulumi/automation` (DESIGN §6).
 * It runs inside an engine child process (src/engine/process/child-main.ts), never in the service.
 * The backend (`PULUMI_BACKEND_URL`), the passphrase and `PULUMI_SKIP_UPDATE_CHECK` are in the child's
 * environment, which every CLI call inherits (research/pulumi-automation.md §1.3, §3.2); nothing here
 * reads or forwards them.
 */
export type { EngineEvent as PulumiEngineEvent, OpMap, OpType } from "@pulumi/pulumi/automation/index.js";
export type PulumiStack = Stack;

export interface WorkspaceSettings {
  /** Per-stack work directories: `<workRoot>/<project>/<stack>` (explicit and kept: the SDK would leak temp dirs). */
  readonly workRoot: string;
  readonly pulumiHome: string;
  /** Used when the stack is created (`--secrets-provider`); ignored on select, as in the CLI. */
  readonly secretsProvider: string;
  readonly parallel?: number | undefined;
}

/**
 * Selects the stack (creating it unless `create` is false: then undefined when it does not exist), and
 * sets `secretConfig` (EngineRequest.secretConfig) as secret stack config.
 */
export async function openStack(
  stackName: string,
  program: StackProgram,
  settings: WorkspaceSettings,
  create = true,
  secretConfig: Readonly<Record<string, string>> = {},
): Promise<Stack | undefined> {
  const projectName = PROJECTS[program.program];
  const workDir = join(settings.workRoot, projectName, stackName);
  await mkdir(workDir, { recursive: true });
  const args = { stackName, projectName, program: inlineProgram(program) };
  const options = {
    workDir,
    pulumiHome: settings.pulumiHome,
    secretsProvider: settings.secretsProvider,
    projectSettings: { name: projectName, runtime: "nodejs" as const },
  };
  try {
    const stack = create ? await LocalWorkspace.createOrSelectStack(args, options) : await LocalWorkspace.selectStack(args, options);
    // The programs use explicit providers; the region also configures any default provider.
    await stack.setConfig("aws:region", { value: program.args.region });
    for (const [key, value] of Object.entries(secretConfig)) await setSecretConfig(workDir, stackName, key, value, settings);
    return stack;
  } catch (err) {
    if (!create && err instanceof StackNotFoundError) return undefined;
    throw err;
  }
}

/**
 * `pulumi config set <key> --secret`, the value on stdin: the SDK's setConfig puts it on the command line,
 * where any process on the host can read it (/proc/<pid>/cmdline). The CLI encrypts it with the stack's
 * secrets provider into the stack's settings file; the program reads it as a secret Output.
 */
function setSecretConfig(workDir: string, stackName: string, key: string, value: string, settings: WorkspaceSettings): Promise<void> {
  return new Promise((resolve, reject) => {
    const cli = execFile(
      "pulumi",
      ["config", "set", key, "--secret", "--stack", stackName, "--non-interactive"],
      { cwd: workDir, env: { ...process.env, PULUMI_HOME: settings.pulumiHome }, timeout: 60_000 },
      // The CLI's output names the key at most; it is dropped either way.
      (err) => (err ? reject(new Error(`setting the secret stack config ${key} failed (exit ${String(err.code ?? err.signal)})`)) : resolve()),
    );
    cli.stdin?.end(value);
  });
}

export type StackOperation = "preview" | "up" | "previewDestroy" | "destroy" | "previewRefresh" | "refresh";

export interface OperationHandlers {
  /** Synchronous (the SDK swallows what it throws): push to a queue, never await here. */
  readonly onEvent: (event: EngineEvent) => void;
  readonly signal: AbortSignal;
  /** preview and up only: change these resources (URNs) and nothing else; untargeted creates are skipped. */
  readonly targets?: readonly string[];
}

/**
 * Runs one CLI operation with structured events. `runProgram` on destroy and refresh: the providers
 * are built in code with per-stack assumed roles (research §8.4). `clearPendingCreates` on refresh:
 * the Automation API is non-interactive, and the caller reports every pending operation first.
 */
export async function runOperation(
  stack: Stack,
  operation: StackOperation,
  handlers: OperationHandlers,
  settings: WorkspaceSettings,
): Promise<{ outputs: Record<string, unknown> }> {
  const common = {
    onEvent: handlers.onEvent,
    signal: handlers.signal,
    color: "never" as const,
    // Progress text is buffered by the SDK (100 MB cap before 3.259, research §1.4); events carry it.
    suppressProgress: true,
    ...(settings.parallel === undefined ? {} : { parallel: settings.parallel }),
  };
  const targeted = handlers.targets === undefined ? {} : { target: [...handlers.targets] };
  switch (operation) {
    case "preview":
      await stack.preview({ ...common, ...targeted });
      return { outputs: {} };
    case "up":
      return { outputs: maskSecrets((await stack.up({ ...common, ...targeted, suppressOutputs: true })).outputs) };
    case "previewDestroy":
      await stack.previewDestroy({ ...common, runProgram: true });
      return { outputs: {} };
    case "destroy":
      await stack.destroy({ ...common, runProgram: true });
      return { outputs: {} };
    case "previewRefresh":
      await stack.previewRefresh({ ...common, runProgram: true });
      return { outputs: {} };
    case "refresh":
      await stack.refresh({ ...common, runProgram: true, clearPendingCreates: true });
      return { outputs: {} };
  }
}

/** Secret outputs are never returned in plain text (the service stores and serves outputs). */
function maskSecrets(outputs: Record<string, { value: unknown; secret: boolean }>): Record<string, unknown> {
  return Object.fromEntries(Object.entries(outputs).map(([k, v]) => [k, v.secret ? "[secret]" : v.value]));
}

export async function stackOutputs(stack: Stack): Promise<Record<string, unknown>> {
  return maskSecrets(await stack.outputs());
}

/** Removes the stack's lock objects (`pulumi cancel`): only when no process of ours runs on it. */
export async function clearStackLock(stack: Stack): Promise<void> {
  await stack.cancel();
}

export interface PendingOperation {
  readonly urn: string;
  readonly type: string;
  /** creating | updating | deleting | reading | importing */
  readonly operation: string;
}

/**
 * The checkpoint's `pending_operations`: resource operations that started and never finished. The
 * export holds plaintext secrets, so only the pending list is read from it and nothing else is kept.
 */
export async function pendingOperations(stack: Stack): Promise<PendingOperation[]> {
  const exported = (await stack.exportStack()) as { deployment?: { pending_operations?: unknown } };
  const pending = exported.deployment?.pending_operations;
  if (!Array.isArray(pending)) return [];
  return pending.flatMap((p: unknown) => {
    const entry = p as { resource?: { urn?: unknown; type?: unknown }; type?: unknown };
    const urn = entry.resource?.urn;
    return typeof urn === "string"
      ? [{ urn, type: String(entry.resource?.type ?? "unknown"), operation: String(entry.type ?? "unknown") }]
      : [];
  });
}

/** The URNs of the stack's resources but its root (like pendingOperations, nothing else is read from the export). */
export async function stackResourceUrns(stack: Stack): Promise<string[]> {
  return (await stackResourceList(stack)).map((r) => r.urn);
}

/** The stack's resources from its checkpoint (`pulumi stack export`): URN, type and cloud id. */
export async function stackResourceList(stack: Stack): Promise<StackResource[]> {
  const exported = (await stack.exportStack()) as { deployment?: { resources?: unknown } };
  const resources = exported.deployment?.resources;
  if (!Array.isArray(resources)) return [];
  return stackResources(
    resources.flatMap((r: unknown) => {
      const entry = r as { urn?: unknown; type?: unknown; id?: unknown };
      return typeof entry.urn === "string" && typeof entry.type === "string" ? [{ urn: entry.urn, type: entry.type, id: entry.id }] : [];
    }),
  );
}

/** Another update holds the stack's lock (the SDK matches the CLI's message; research §3.1). */
export function isConcurrentUpdate(err: unknown): boolean {
  return err instanceof ConcurrentUpdateError;
}
