import { audit } from "./audit.js";
import type { Computed, MockArea } from "./context.js";
import { core } from "./core.js";
import { hsm } from "./hsm.js";
import { inbound } from "./inbound.js";
import { network } from "./network.js";
import { organizations } from "./organizations.js";

const AREAS: readonly MockArea[] = [core, network, inbound, audit, hsm, organizations];

function merge<T>(pick: (area: MockArea) => Readonly<Record<string, T>>): Readonly<Record<string, T>> {
  const out: Record<string, T> = {};
  for (const area of AREAS) {
    for (const [type, value] of Object.entries(pick(area))) {
      if (type in out) throw new Error(`mock-cloud: ${type} is defined by two areas`);
      out[type] = value;
    }
  }
  return out;
}

export const COMPUTED: Readonly<Record<string, Computed>> = merge((a) => a.computed);

/**
 * Input properties whose change makes the AWS provider replace the resource (ForceNew in its schema),
 * for the types our programs use; everything else updates in place. Shared by the mock ids and the
 * simulated engine's plan, which states openly that this is an approximation of the real provider.
 */
export const REPLACE_ON: Readonly<Record<string, readonly string[]>> = merge((a) => a.replaceOn);
