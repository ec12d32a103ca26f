import fc from "fast-check";
import { GRANT_OPERATIONS } from "../../programs/types.js";
import { formatCidr, formatIpv4, parseCidr } from "../../src/onboarding/cidr.js";
import { allowedRegions, type LandingZone } from "../../src/onboarding/landing-zone.js";
import type { ProviderSpecInput } from "../../src/onboarding/spec.js";

/**
 * fast-check arbitraries for ProviderSpec bodies. `validSpecArb` only yields specs the schema accepts;
 * `mutatedBodyArb` breaks them in the ways a careless or hostile client would, to prove the validation
 * path answers (never throws, never 5xx) whatever arrives.
 */

const lower = "abcdefghijklmnopqrstuvwxyz";
const alnum = `${lower}0123456789`;

const chars = (alphabet: string, minLength: number, maxLength: number) =>
  fc.string({ unit: fc.constantFrom(...alphabet), minLength, maxLength });

/** a-z then dash-separated a-z0-9 groups: matches the name/team rules including "no --". */
const slugArb = (maxGroups: number) =>
  fc
    .tuple(chars(lower, 1, 1), fc.array(chars(alnum, 2, 8), { minLength: 1, maxLength: maxGroups }))
    .map(([first, groups]) => first + groups.join("-"));

const accountIdArb = chars("0123456789", 12, 12);
const hexArb = (n: number) => chars("0123456789abcdef", n, n);
const emailArb = fc.tuple(slugArb(2), slugArb(1)).map(([local, domain]) => `${local}@${domain}.example`);

const displayNameArb = fc.oneof(
  fc.stringMatching(/^[A-Z][A-Za-z0-9 .&()'-]{0,60}[a-z0-9]$/),
  fc.constantFrom("Acme Analytics", "Société Générale Reporting", "株式会社グロービクス", "Zoë's Café 👩‍💻"),
);

/** Roles and users: what a key policy may name (provider.principalArns). */
const scopedPrincipalArb = (account: string) =>
  fc.oneof(
    chars(`${alnum}-_`, 1, 40).map((r) => `arn:aws:iam::${account}:role/${r}`),
    chars(`${alnum}-_`, 1, 40).map((u) => `arn:aws:iam::${account}:user/${u}`),
  );
/** Any principal, account root included (inbound.allowedPrincipals). */
const principalArb = (account: string) => fc.oneof(scopedPrincipalArb(account), fc.constant(`arn:aws:iam::${account}:root`));

/** A random canonical block at least as specific as `range`. */
function subCidrArb(range: string): fc.Arbitrary<string> {
  const outer = parseCidr(range)!;
  return fc.integer({ min: Math.max(outer.prefix, 8), max: 32 }).chain((prefix) => {
    const blocks = 2 ** (prefix - outer.prefix);
    return fc
      .integer({ min: 0, max: blocks - 1 })
      .map((i) => formatCidr({ base: outer.base + i * 2 ** (32 - prefix), prefix }));
  });
}

/** The SaaS's client blocks (inbound.sourceCidrs): any address space, /16 to /32, canonical. */
const clientCidrArb: fc.Arbitrary<string> = fc
  .tuple(fc.integer({ min: 16, max: 32 }), fc.integer({ min: 0, max: 2 ** 32 - 1 }))
  .map(([prefix, address]) => formatCidr({ base: address - (address % 2 ** (32 - prefix)), prefix }));

function ipInRangesArb(ranges: readonly string[]): fc.Arbitrary<string> {
  return fc.constantFrom(...ranges).chain((range) => {
    const c = parseCidr(range)!;
    return fc.integer({ min: 0, max: 2 ** (32 - c.prefix) - 1 }).map((i) => formatIpv4(c.base + i));
  });
}

const labelArb = fc.oneof(chars(alnum, 1, 12), fc.tuple(chars(alnum, 1, 5), chars(alnum, 1, 5)).map(([a, b]) => `${a}-${b}`));
const domainArb = fc
  .tuple(fc.boolean(), fc.array(labelArb, { minLength: 1, maxLength: 3 }), chars(lower, 2, 6))
  .map(([wildcard, labels, tld]) => `${wildcard ? "*." : ""}${labels.join(".")}.${tld}`);

const printableArb = (max: number) =>
  fc.oneof(fc.stringMatching(new RegExp(`^[A-Za-z0-9][A-Za-z0-9 ._:/-]{0,${max - 1}}$`)), fc.constantFrom("tenant-ü", "東京"));

const encryptionContextArb = fc.dictionary(
  fc.stringMatching(/^[A-Za-z0-9:_-]{1,64}$/).filter((k) => k !== "__proto__"),
  printableArb(64),
  { minKeys: 1, maxKeys: 8, noNullPrototype: true },
);

const isoDateArb = fc
  .tuple(
    fc.date({ min: new Date("2000-01-01T00:00:00Z"), max: new Date("2099-12-31T00:00:00Z"), noInvalidDate: true }),
    fc.constantFrom("Z", "+02:00", "-05:30"),
  )
  .map(([d, offset]) => d.toISOString().replace("Z", offset));

/**
 * An outbound port as a client writes it: udp always says `match: "port"` (the spec requires it); tcp
 * leaves it out (the default, `domain`) or says either.
 */
const outboundPortArb = fc.oneof(
  fc.record({ port: fc.integer({ min: 1, max: 65_535 }), protocol: fc.constant("tcp" as const) }),
  fc.record({ port: fc.integer({ min: 1, max: 65_535 }), protocol: fc.constant("tcp" as const), match: fc.constantFrom("domain" as const, "port" as const) }),
  fc.record({ port: fc.integer({ min: 1, max: 65_535 }), protocol: fc.constant("udp" as const), match: fc.constant("port" as const) }),
);

/** Domains are matched on the tcp `domain` ports only: the spec wants them exactly when there is one. */
function domainsOnlyWithDomainPorts<T extends { outbound: { ports: { protocol: string; match?: string }[] }; firewall: { allowedDomains: string[] } }>(spec: T): T {
  const domainPort = spec.outbound.ports.some((p) => p.protocol === "tcp" && (p.match ?? "domain") === "domain");
  return domainPort ? spec : { ...spec, firewall: { ...spec.firewall, allowedDomains: [] } };
}

export function validSpecArb(lz: LandingZone): fc.Arbitrary<ProviderSpecInput> {
  const ranges = lz.organization.orgCidrRanges;
  const regionArb = fc.constantFrom(...allowedRegions(lz));
  return fc
    .tuple(regionArb, accountIdArb)
    .chain(([region, providerAccount]) =>
      fc.record(
        {
          apiVersion: fc.constant("saas-bridge/v1" as const),
          name: slugArb(4),
          displayName: displayNameArb,
          owner: fc.record({ team: slugArb(3), contact: emailArb }),
          dataClassification: fc.constantFrom("public", "internal", "confidential", "restricted" as const),
          region: fc.constant(region),
          bridgeAccount: fc.oneof(
            accountIdArb.map((accountId) => ({ accountId })),
            emailArb.map((email) => ({ create: { email } })),
          ),
          provider: fc.record({
            awsAccountId: fc.constant(providerAccount),
            principalArns: fc.uniqueArray(scopedPrincipalArb(providerAccount), { minLength: 1, maxLength: 10 }),
          }),
          outbound: fc.record(
            {
              endpointServiceName: hexArb(17).map((h) => `com.amazonaws.vpce.${region}.vpce-svc-${h}`),
              ports: fc.uniqueArray(outboundPortArb, { minLength: 1, maxLength: 20, selector: (p) => `${p.port}/${p.protocol}` }),
              allowedSourceCidrs: fc.uniqueArray(
                fc.constantFrom(...ranges).chain(subCidrArb),
                { minLength: 1, maxLength: 12 },
              ),
              privateDns: fc.boolean(),
            },
            { requiredKeys: ["endpointServiceName", "ports", "allowedSourceCidrs"] },
          ),
          inbound: fc.record(
            {
              targets: fc.uniqueArray(
                fc.record({ ip: ipInRangesArb(ranges), port: fc.integer({ min: 1, max: 65_535 }) }),
                { minLength: 1, maxLength: 5, selector: (t) => `${t.ip}:${t.port}` },
              ),
              allowedPrincipals: fc.uniqueArray(principalArb(providerAccount), { minLength: 1, maxLength: 3 }),
              sourceCidrs: fc.uniqueArray(clientCidrArb, { minLength: 1, maxLength: 4 }),
              tls: fc.record({
                certificateArn: fc
                  .uuid()
                  .map((u) => `arn:aws:acm:${region}:${lz.network.accountId}:certificate/${u.toLowerCase()}`),
              }),
            },
            { requiredKeys: ["targets", "allowedPrincipals", "sourceCidrs"] },
          ),
          firewall: fc.record({ allowedDomains: fc.uniqueArray(domainArb, { minLength: 1, maxLength: 10 }) }),
          kms: fc.record(
            {
              grantOperations: fc.shuffledSubarray([...GRANT_OPERATIONS], { minLength: 1 }),
              encryptionContext: encryptionContextArb,
              keyStore: fc.constantFrom("kms", "cloudhsm" as const),
            },
            { requiredKeys: ["grantOperations", "encryptionContext"] },
          ),
          expiresAt: isoDateArb,
        },
        {
          requiredKeys: [
            "apiVersion",
            "name",
            "displayName",
            "owner",
            "dataClassification",
            "region",
            "bridgeAccount",
            "provider",
            "outbound",
            "firewall",
            "kms",
          ],
        },
      ),
    )
    .map(domainsOnlyWithDomainPorts);
}

// ---------------------------------------------------------------------------------------------------------
// Mutations

type Json = null | boolean | number | string | Json[] | { [key: string]: Json };
type Path = readonly (string | number)[];

const hugeString = fc.constantFrom(1_000, 70_000, 300_000).map((n) => "x".repeat(n));

/** Values of the wrong type, size or content for whatever field they land in. JSON-representable only. */
const garbageArb: fc.Arbitrary<Json> = fc.oneof(
  fc.constantFrom<Json>(null, true, false, 0, -1, -65_536, 1.5, 1e308, -1e308, 2 ** 53 + 2, "", " ", [], {}),
  fc.constantFrom<Json>(
    "\u0000",
    "\u202Eevil\u202C",
    "\uD800",
    "'; DROP TABLE providers; --",
    "../../etc/passwd",
    "${jndi:ldap://x/a}",
    "<script>alert(1)</script>",
    "443",
    "true",
    "0.0.0.0/0",
    "*.*",
    "arn:aws:iam::*:root",
  ),
  hugeString,
  fc.string({ unit: "binary", maxLength: 50 }),
  fc.string({ unit: "grapheme", maxLength: 50 }),
  fc.integer(),
  fc.double({ noNaN: true, noDefaultInfinity: true }),
  fc.jsonValue({ maxDepth: 4 }) as fc.Arbitrary<Json>,
  fc.constantFrom(2_000, 20_000).map((n) => Array.from({ length: n }, (_, i) => i)),
);

const hostileKeyArb = fc.oneof(
  fc.constantFrom("__proto__", "constructor", "prototype", "toString", "hasOwnProperty", "", "a/b", "~1", "0", "x".repeat(10_000)),
  fc.string({ unit: "grapheme", minLength: 1, maxLength: 20 }),
);

export type Mutation =
  | { readonly kind: "drop"; readonly at: number }
  | { readonly kind: "set"; readonly at: number; readonly value: Json }
  | { readonly kind: "addKey"; readonly at: number; readonly key: string; readonly value: Json }
  | { readonly kind: "deepNest"; readonly at: number; readonly depth: number; readonly asArray: boolean }
  | { readonly kind: "replaceRoot"; readonly value: Json };

const mutationArb: fc.Arbitrary<Mutation> = fc.oneof(
  { weight: 3, arbitrary: fc.record({ kind: fc.constant("drop" as const), at: fc.nat() }) },
  { weight: 5, arbitrary: fc.record({ kind: fc.constant("set" as const), at: fc.nat(), value: garbageArb }) },
  {
    weight: 3,
    arbitrary: fc.record({ kind: fc.constant("addKey" as const), at: fc.nat(), key: hostileKeyArb, value: garbageArb }),
  },
  {
    weight: 1,
    arbitrary: fc.record({
      kind: fc.constant("deepNest" as const),
      at: fc.nat(),
      depth: fc.integer({ min: 10, max: 1_000 }),
      asArray: fc.boolean(),
    }),
  },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant("replaceRoot" as const), value: garbageArb }) },
);

/** Own, enumerable property even for `__proto__` (as JSON.parse creates it), never a prototype change. */
function setOwn(target: Json[] | { [key: string]: Json }, key: string | number, value: Json): void {
  Object.defineProperty(target, key, { value, enumerable: true, writable: true, configurable: true });
}

function pathsOf(value: Json, path: Path = [], out: Path[] = []): Path[] {
  out.push(path);
  if (Array.isArray(value)) value.forEach((v, i) => pathsOf(v, [...path, i], out));
  else if (value !== null && typeof value === "object") for (const [k, v] of Object.entries(value)) pathsOf(v, [...path, k], out);
  return out;
}

function get(root: Json, path: Path): Json | undefined {
  let node: Json | undefined = root;
  for (const key of path) {
    if (node === null || typeof node !== "object") return undefined;
    node = Object.getOwnPropertyDescriptor(node, key)?.value as Json | undefined;
  }
  return node;
}

function isContainer(v: Json | undefined): v is Json[] | { [key: string]: Json } {
  return v !== null && typeof v === "object";
}

/**
 * Removes one element in place without Array.prototype.splice, which looks up `constructor[Symbol.species]`:
 * an earlier `addKey` may have given the array an own `constructor` key (a whole-body array took the unknown
 * key), and splice then throws (seen once in CI).
 */
function removeAt(array: Json[], index: number): void {
  for (let i = index; i < array.length - 1; i++) array[i] = array[i + 1] as Json;
  array.length -= 1;
}

export function applyMutation(body: Json, m: Mutation): Json {
  if (m.kind === "replaceRoot") return m.value;
  const paths = pathsOf(body);
  const path = paths[m.at % paths.length]!;
  const parent = get(body, path.slice(0, -1));
  const key = path[path.length - 1];
  switch (m.kind) {
    case "drop":
      if (key === undefined || !isContainer(parent)) return null;
      if (Array.isArray(parent)) removeAt(parent, Number(key));
      else delete parent[key];
      return body;
    case "set":
      if (key === undefined || !isContainer(parent)) return m.value;
      setOwn(parent, key, m.value);
      return body;
    case "addKey": {
      const target = get(body, path);
      const object = isContainer(target) && !Array.isArray(target) ? target : isContainer(parent) && !Array.isArray(parent) ? parent : body;
      if (isContainer(object)) setOwn(object, m.key, m.value);
      return body;
    }
    case "deepNest": {
      let nested: Json = get(body, path) ?? null;
      for (let i = 0; i < m.depth; i++) nested = m.asArray ? [nested] : { a: nested };
      if (key === undefined || !isContainer(parent)) return nested;
      setOwn(parent, key, nested);
      return body;
    }
  }
}

/**
 * A valid spec with 1–3 mutations applied (drop a field; set one to garbage of the wrong type, size or
 * content; add an unknown or prototype-polluting key; nest deeply; replace the whole body). Every value is
 * JSON-serialisable, so the bodies can be sent over HTTP as they are. Some mutations leave the spec valid
 * (dropping an optional field), which is fine: the property is "never throws / never 5xx".
 */
export function mutatedBodyArb(lz: LandingZone): fc.Arbitrary<unknown> {
  return fc
    .tuple(validSpecArb(lz), fc.array(mutationArb, { minLength: 1, maxLength: 3 }))
    .map(([spec, mutations]) => mutations.reduce<Json>((body, m) => applyMutation(body, m), structuredClone(spec) as Json));
}
