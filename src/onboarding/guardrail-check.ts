import { createHash } from "node:crypto";
import { LRUCache } from "lru-cache";
import type { AccessState, ProviderStackArgs } from "../../programs/types.js";
import type { ProgramEvaluator } from "../engine/evaluation-pool.js";
import type { LandingZone } from "./landing-zone.js";
import { preflight, type Preflight } from "./preflight.js";
import { canonicalJson, specHash, type ProviderSpec } from "./spec.js";

/**
 * The guardrail gate with a memory (issue 15): a verdict is a pure function of what the program is given
 * (the spec, the access state, the stack args built from them and the landing zone), the program version and
 * the landing zone, so it is computed once per distinct input and kept in a bounded LRU. Idempotent replays,
 * retries, a preview followed by the same create, and the run after the accept do not evaluate again.
 * Concurrent checks of the same input share one evaluation. A failure to evaluate (the pool) is not kept.
 */
export interface GuardrailCheck {
  check(spec: ProviderSpec, args: ProviderStackArgs, accessState: AccessState): Promise<Preflight>;
  stats(): { readonly hits: number; readonly misses: number; readonly entries: number };
}

export interface GuardrailCheckOptions {
  readonly evaluator: ProgramEvaluator;
  readonly programVersion: string;
  readonly landingZone: LandingZone;
  /** Verdicts kept (VERDICT_CACHE_ENTRIES); 0 keeps none: every check evaluates. */
  readonly maxEntries: number;
}

interface Input {
  readonly spec: ProviderSpec;
  readonly args: ProviderStackArgs;
  readonly accessState: AccessState;
}

export function createGuardrailCheck(options: GuardrailCheckOptions): GuardrailCheck {
  const { evaluator, programVersion } = options;
  const landingZoneHash = landingZoneHashOf(options.landingZone);
  let hits = 0;
  let misses = 0;
  const evaluate = (input: Input): Promise<Preflight> => {
    misses++;
    return preflight(input.spec, input.args, input.accessState, evaluator);
  };
  if (options.maxEntries === 0) {
    return { check: (spec, args, accessState) => evaluate({ spec, args, accessState }), stats: () => ({ hits, misses, entries: 0 }) };
  }
  const verdicts = new LRUCache<string, Preflight, Input>({
    max: options.maxEntries,
    fetchMethod: (_key, _stale, { context }) => evaluate(context),
  });
  return {
    async check(spec, args, accessState) {
      const key = verdictKey({ spec, args, accessState }, programVersion, landingZoneHash);
      if (verdicts.has(key)) hits++;
      const verdict = await verdicts.fetch(key, { context: { spec, args, accessState } });
      if (verdict === undefined) throw new Error("guardrail check: no verdict");
      return verdict;
    },
    stats: () => ({ hits, misses, entries: verdicts.size }),
  };
}

/** What a verdict depends on, hashed: the spec, the access state, the stack args, the program version, the landing zone. */
export function verdictKey(input: Input, programVersion: string, landingZoneHash: string): string {
  return sha256(canonicalJson({ specHash: specHash(input.spec), accessState: input.accessState, args: input.args, programVersion, landingZoneHash }));
}

/** The landing zone's part of a verdict key. */
export function landingZoneHashOf(landingZone: LandingZone): string {
  return sha256(canonicalJson(landingZone));
}

function sha256(text: string): string {
  return createHash("sha256").update(text).digest("hex");
}
