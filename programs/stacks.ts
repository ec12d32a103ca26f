import { networkHubProgram } from "./network-hub.js";
import { providerStackProgram } from "./provider-stack.js";
import type { StackProgram } from "./types.js";

/** The Pulumi project each program's stacks belong to (stack names are unique within a project). */
export const PROJECTS = { provider: "saas-bridge", "network-hub": "saas-bridge-hub" } as const;

/** The inline program (a PulumiFn) for a stack program. */
export function inlineProgram(stack: StackProgram): () => Promise<Record<string, unknown>> {
  return stack.program === "provider" ? providerStackProgram(stack.args) : networkHubProgram(stack.args);
}

/** The stack name of a network hub: not a valid provider name (providers never contain a dot). */
export function hubStackName(region: string): string {
  return `network-hub.${region}`;
}
