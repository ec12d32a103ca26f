/**
 * A provider name's onboarding generation (issue 12, defect 9). Decommission keeps audit evidence in AWS
 * (retainOnDelete), so a retained resource with a fixed name (trail, log group) would block the next
 * onboarding of the same name. Generation 1 keeps the historical names, so existing stacks never replace
 * anything; from generation 2 on, retained named resources carry the generation.
 */
export function assertGeneration(generation: number | undefined): void {
  if (generation !== undefined && (!Number.isInteger(generation) || generation < 1)) {
    throw new Error(`generation must be an integer ≥ 1, got ${String(generation)}`);
  }
}

/** `""` for generation 1 (or absent), `-g<n>` from 2 on: appended to a retained resource's name. */
export function generationSuffix(generation: number | undefined): string {
  assertGeneration(generation);
  return generation === undefined || generation === 1 ? "" : `-g${generation}`;
}
