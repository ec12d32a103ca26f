import acme from "../../examples/acme.json" with { type: "json" };
import globex from "../../examples/globex.json" with { type: "json" };
import type { ProviderSpecSchema } from "../onboarding/spec.js";
import type { SpecExample } from "./openapi.js";

/**
 * The provider specs of examples/ that the OpenAPI document shows as request examples: only those this
 * deployment's landing zone accepts (the spec schema is built from it), so that no example is one the
 * server would refuse.
 */
const EXAMPLES: readonly SpecExample[] = [
  { name: "acme", summary: "An existing bridge account, two TCP ports, two source CIDRs, a `*.` domain, confidential data", value: acme },
  {
    name: "globex",
    summary: "A bridge account created through Organizations, restricted data, a UDP port, an inbound NLB with TLS, a CloudHSM key store",
    value: globex,
  },
];

export function specExamplesFor(schema: ProviderSpecSchema): SpecExample[] {
  return EXAMPLES.filter((e) => schema.safeParse(e.value).success);
}
