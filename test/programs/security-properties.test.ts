import fc from "fast-check";
import { describe, expect, test } from "vitest";
import { GRANT_OPERATIONS, type ProviderStackArgs } from "../../programs/types.js";
import { evaluateProviderStack, ofType, providerStackArgs, T } from "./fixtures.js";
import { expectSecureProviderStack } from "./security-invariants.js";

const PROVIDER = "333333333333";

const label = fc.stringMatching(/^[a-z0-9](?:[a-z0-9-]{0,10}[a-z0-9])?$/);
const domain = fc
  .tuple(fc.boolean(), fc.array(label, { minLength: 1, maxLength: 3 }), fc.constantFrom("com", "example", "io"))
  .map(([wildcard, labels, tld]) => `${wildcard ? "*." : ""}${[...labels, tld].join(".")}`);

/** Canonical CIDRs inside 10.0.0.0/8 (never /0, never outside the org range). */
const cidr = fc.tuple(fc.integer({ min: 8, max: 28 }), fc.integer({ min: 0, max: 2 ** 24 - 1 })).map(([prefix, host]) => {
  const block = 2 ** (32 - prefix);
  const address = 10 * 2 ** 24 + Math.floor(host / block) * block;
  return `${[24, 16, 8, 0].map((shift) => Math.floor(address / 2 ** shift) % 256).join(".")}/${prefix}`;
});

/** udp is always port-matched (no SNI/Host); tcp either way. */
const port = fc
  .record({ port: fc.integer({ min: 1, max: 65535 }), protocol: fc.constantFrom("tcp" as const, "udp" as const), match: fc.constantFrom("domain" as const, "port" as const) })
  .map((p) => (p.protocol === "udp" ? { ...p, match: "port" as const } : p));
const principal = fc.stringMatching(/^[a-zA-Z0-9+=,.@_-]{1,20}$/).map((role) => `arn:aws:iam::${PROVIDER}:role/${role}`);
const contextKey = fc.stringMatching(/^[a-z][a-z0-9:_-]{0,15}$/);
const contextValue = fc.stringMatching(/^[a-zA-Z0-9-]{1,16}$/);

const args: fc.Arbitrary<ProviderStackArgs> = fc
  .record({
    accessState: fc.constantFrom("active" as const, "revoked" as const),
    ports: fc.uniqueArray(port, { minLength: 1, maxLength: 3, selector: (p) => `${p.protocol}/${p.port}` }),
    cidrs: fc.uniqueArray(cidr, { minLength: 1, maxLength: 3 }),
    domains: fc.uniqueArray(domain, { minLength: 1, maxLength: 4 }),
    principals: fc.uniqueArray(principal, { minLength: 1, maxLength: 3 }),
    context: fc.dictionary(contextKey, contextValue, { minKeys: 1, maxKeys: 4 }),
    operations: fc.subarray([...GRANT_OPERATIONS], { minLength: 1 }),
  })
  .map(({ accessState, ports, cidrs, domains, principals, context, operations }) => {
    const base = providerStackArgs();
    return {
      ...base,
      accessState,
      outbound: { ...base.outbound, ports, allowedSourceCidrs: cidrs },
      // Domains are matched on the domain ports only, so there are none without one.
      firewall: { ...base.firewall, allowedDomains: ports.some((p) => p.match === "domain") ? domains : [] },
      provider: { awsAccountId: PROVIDER, principalArns: principals },
      kms: { ...base.kms, encryptionContext: context, grantOperations: operations },
    };
  });

describe("security properties for generated valid args", () => {
  test("hold for every generated provider stack", async () => {
    await fc.assert(
      fc.asyncProperty(args, async (a) => {
        const e = await evaluateProviderStack(a);
        expectSecureProviderStack(e, a);
        // Sanity on the generator itself: revoked stacks really are generated and are cut off.
        if (a.accessState === "revoked") expect(ofType(e, T.grant).length + ofType(e, T.ingressRule).length).toBe(0);
      }),
      { numRuns: 40 },
    );
  });
});
