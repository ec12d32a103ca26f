import * as aws from "@pulumi/aws";
import { createMockCloud } from "../programs/mock-cloud.js";
import { evaluateProgram } from "../programs/evaluate-program.js";
import { providerStackProgram } from "../programs/provider-stack.js";
import { PROJECTS } from "../programs/stacks.js";
import { buildProviderSpecSchema } from "../src/onboarding/spec.js";
import { provisionalSubnets, toProviderStackArgs } from "../src/onboarding/stack-args.js";
import type { Figure } from "./report.js";
import { benchSpec, landingZone, median, now } from "./support.js";

/**
 * Figure 3: wall time to evaluate the provider program under Pulumi mocks (every resource registered and
 * resolved), ÷ the same for a one-bucket program. Runs in this process: nothing else evaluates programs
 * meanwhile (Pulumi's mock runtime is process-global). Rounds alternate the two programs so that drift
 * (GC, a noisy neighbour) affects both alike.
 */
const WARMUPS = 2;
const ROUNDS = 20;

type Program = () => Promise<Record<string, unknown>>;

interface Timed {
  readonly ms: number;
  /** Every registration (root stack, components, explicit providers, AWS resources). */
  readonly resources: number;
  readonly awsResources: number;
}

async function evaluateOnce(program: Program, region: string, accountId: string): Promise<Timed> {
  const mocks = createMockCloud({ region, callerAccountId: accountId });
  const started = now();
  const evaluation = await evaluateProgram(program, { stack: "bench", project: PROJECTS.provider, mocks });
  const ms = now() - started;
  return { ms, resources: evaluation.resources.length, awsResources: evaluation.resources.filter((r) => r.type.startsWith("aws:")).length };
}

export async function measureProgramEvaluation(): Promise<Figure> {
  const spec = buildProviderSpecSchema(landingZone).parse(benchSpec("bench-program"));
  const region = landingZone.network.regions[spec.region]!;
  const subnets = provisionalSubnets(region.subnetPool, region.subnetPrefixLength, region.availabilityZoneIds);
  const args = toProviderStackArgs(spec, landingZone, "active", { subnets, connectionAccepted: false });
  const provider: Program = async () => ({ ...(await providerStackProgram(args)()) });
  const trivial: Program = async () => ({ bucket: new aws.s3.Bucket("bench").id });
  const run = (program: Program) => evaluateOnce(program, args.region, args.managementAccountId);

  for (let i = 0; i < WARMUPS; i++) {
    await run(provider);
    await run(trivial);
  }
  const rounds = { provider: [] as Timed[], trivial: [] as Timed[] };
  for (let i = 0; i < ROUNDS; i++) {
    rounds.provider.push(await run(provider));
    rounds.trivial.push(await run(trivial));
  }
  const subject = summary(rounds.provider);
  const baseline = summary(rounds.trivial);
  return {
    id: "program",
    title: "Program evaluation under mocks (median)",
    ratio: subject.medianMs / baseline.medianMs,
    ratioMeaning: "provider-stack program ms ÷ one-bucket program ms (lower is better)",
    subject,
    baseline,
    notes: [
      `median of ${ROUNDS} after ${WARMUPS} warm-ups each, rounds alternating the two programs, in the benchmark's main process`,
      "resources = every registration evaluateProgram recorded (root stack, components, explicit providers, AWS resources); awsResources = aws:* only",
    ],
  };
}

function summary(rounds: readonly Timed[]): { medianMs: number; minMs: number; maxMs: number; resources: number; awsResources: number } {
  const ms = rounds.map((r) => r.ms);
  const round = (n: number): number => Math.round(n * 100) / 100;
  const last = rounds.at(-1);
  return {
    medianMs: round(median(ms)),
    minMs: round(Math.min(...ms)),
    maxMs: round(Math.max(...ms)),
    resources: last?.resources ?? 0,
    awsResources: last?.awsResources ?? 0,
  };
}
