import { mkdir } from "node:fs/promises";
import { join } from "node:path";
import { LocalWorkspace } from "@pulumi/pulumi/automation/index.js";
import { inlineProgram, PROJECTS } from "../programs/stacks.js";
import type { StackProgram } from "../programs/types.js";
import { buildProviderSpecSchema } from "../src/onboarding/spec.js";
import { provisionalSubnets, toProviderStackArgs } from "../src/onboarding/stack-args.js";
import { fromParent, toParent } from "./child.js";
import { benchSpec, landingZone, now } from "./support.js";

/**
 * Child process of figure `engine-overhead` (README §9): the provider stack run "by hand" with the Pulumi
 * Automation API, no service around it. `pulumi up` on Pulumi.yaml needs the nodejs language host, which is
 * not built here, so the program is the same inline program the engine child runs; this process plays the
 * person at the terminal. Its environment (from the parent) is the engine's: the built CLI first on PATH,
 * PULUMI_HOME with the stand-in plugin installed, the same file backend and passphrase, the fake cloud's
 * folder. Usage: `engine-baseline.ts <root> <engine dir>`: the stacks' work directories go under <root>; the CLI
 * gets the engine children's HOME and TMPDIR (<engine dir>/home, <engine dir>/tmp), as the
 * service's children do. Types only for the parent: importing this module runs it.
 * It runs in its own process group (the parent starts it detached), so a stop also ends a CLI in flight.
 * Messages: `ready` once at start; `run` → `done` with the run or its error.
 */
export type BaselineRequest = { readonly type: "run"; readonly name: string; readonly stack: string; readonly preview: boolean };
export interface BaselineRun {
  readonly ms: number;
  readonly openMs: number;
  readonly previewMs: number;
  readonly upMs: number;
  /** summary.resourceChanges.create: the root stack resource counts too (the service's summary leaves it out). */
  readonly created: number;
}
export type BaselineMessage = { readonly type: "ready" } | { readonly type: "done"; readonly run?: BaselineRun; readonly error?: string };

/** The arguments the service would give a first provisioning of `name` (subnets: the pool's first blocks). */
function programFor(name: string): StackProgram {
  const spec = buildProviderSpecSchema(landingZone).parse(benchSpec(name));
  const region = landingZone.network.regions[spec.region]!;
  const subnets = provisionalSubnets(region.subnetPool, region.subnetPrefixLength, region.availabilityZoneIds);
  return { program: "provider", args: toProviderStackArgs(spec, landingZone, "active", { subnets, connectionAccepted: false }) };
}

const [root, engineDir] = process.argv.slice(2);
if (!root || !engineDir) throw new Error("usage: engine-baseline.ts <root> <engine dir>");
const cliEnv = { HOME: join(engineDir, "home"), TMPDIR: join(engineDir, "tmp") };
let inFlight = false;

/** createOrSelectStack + config (what `pulumi stack init` and `pulumi config set` do by hand), then preview (optional) and up. */
async function run({ name, stack: stackName, preview }: BaselineRequest): Promise<BaselineRun> {
  const program = programFor(name);
  const projectName = PROJECTS[program.program];
  const workDir = join(root!, "stacks", projectName, stackName);
  await mkdir(workDir, { recursive: true });
  const flags = { color: "never" as const, suppressProgress: true };
  const started = now();
  const stack = await LocalWorkspace.createOrSelectStack(
    { stackName, projectName, program: inlineProgram(program) },
    {
      workDir,
      pulumiHome: process.env["PULUMI_HOME"]!,
      secretsProvider: "passphrase",
      projectSettings: { name: projectName, runtime: "nodejs" },
      envVars: cliEnv,
    },
  );
  await stack.setConfig("aws:region", { value: program.args.region });
  const opened = now();
  if (preview) await stack.preview(flags);
  const previewed = now();
  const result = await stack.up({ ...flags, suppressOutputs: true });
  const ended = now();
  return {
    ms: ended - started,
    openMs: opened - started,
    previewMs: previewed - opened,
    upMs: ended - previewed,
    created: result.summary.resourceChanges?.create ?? 0,
  };
}

/** Ends this process's whole group: a CLI and its plugins still running go with it. */
const killGroup = () => process.kill(-process.pid, "SIGKILL");
process.once("disconnect", killGroup);
fromParent<BaselineRequest>(
  (request) => {
    inFlight = true;
    run(request).then(
      (result) => toParent<BaselineMessage>({ type: "done", run: result }),
      (err: unknown) => toParent<BaselineMessage>({ type: "done", error: err instanceof Error ? err.message.slice(0, 2_000) : String(err) }),
    ).finally(() => (inFlight = false));
  },
  async () => {
    if (inFlight) killGroup();
  },
);
toParent<BaselineMessage>({ type: "ready" });
