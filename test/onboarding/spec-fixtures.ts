import { readFileSync } from "node:fs";
import { LandingZoneSchema, type LandingZone } from "../../src/onboarding/landing-zone.js";
import { buildProviderSpecSchema, zodIssuesToFieldErrors } from "../../src/onboarding/spec.js";
import type { FieldError } from "../../src/errors.js";

/** Shared by the onboarding tests: the checked-in examples, parsed the way the service parses them. */

// Tests poke at arbitrary paths of a JSON body; `any` keeps each case to one line.
export type Body = Record<string, any>;

export function readExample(name: string): Body {
  return JSON.parse(readFileSync(new URL(`../../examples/${name}`, import.meta.url), "utf8")) as Body;
}

export const lz: LandingZone = LandingZoneSchema.parse(readExample("landing-zone.json"));
export const schema = buildProviderSpecSchema(lz);

export const acme = (): Body => readExample("acme.json");
export const globex = (): Body => readExample("globex.json");

export function errorsOf(body: unknown): FieldError[] {
  const result = schema.safeParse(body);
  return result.success ? [] : zodIssuesToFieldErrors(result.error.issues);
}

/** Sets an own property even for `__proto__`, as JSON.parse does. */
export function setOwn(target: object, key: string, value: unknown): void {
  Object.defineProperty(target, key, { value, enumerable: true, writable: true, configurable: true });
}
