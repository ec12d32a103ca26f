import { lookup as dnsLookup } from "node:dns/promises";
import type { LookupAddress } from "node:dns";
import { BlockList, isIP } from "node:net";

/**
 * Where a webhook may be sent (issue 16, outbound safety). A destination that resolves to an address the
 * service should never reach from the outside in (loopback, link-local with the cloud metadata endpoint,
 * private, CGNAT, unspecified, multicast, documentation and other special-purpose ranges, and IPv6 forms
 * that embed IPv4 ones) is refused unless an operator listed it in WEBHOOK_ALLOWED_CIDRS. It is checked
 * when a subscription is created and again when each connection is made (through the `lookup` of the
 * request), so a DNS answer that changes later (rebinding) cannot get past it. Plain `http` is refused in
 * production unless every address of the destination is allow-listed.
 */
export type Resolve = (hostname: string) => Promise<readonly LookupAddress[]>;

export interface DestinationPolicy {
  /** MODE=production: `https` only, except allow-listed destinations. */
  readonly httpsOnly: boolean;
  readonly allowedCidrs: readonly string[];
  /** How names are resolved (default: the system resolver, every address); tests inject one. */
  readonly resolve?: Resolve;
}

const SPECIAL_V4 = [
  "0.0.0.0/8", "10.0.0.0/8", "100.64.0.0/10", "127.0.0.0/8", "169.254.0.0/16", "172.16.0.0/12", "192.0.0.0/24",
  "192.0.2.0/24", "192.88.99.0/24", "192.168.0.0/16", "198.18.0.0/15", "198.51.100.0/24", "203.0.113.0/24",
  "224.0.0.0/4", "240.0.0.0/4",
];
// `::/96` holds the unspecified and loopback addresses and the old IPv4-compatible form (an IPv4-mapped
// `::ffff:a.b.c.d` is judged as its IPv4 address; the range stays listed for any other spelling), `64:ff9b::/96` and `64:ff9b:1::/48` NAT64, `2002::/16` 6to4 and `2001::/23` Teredo and
// other IETF assignments: each may lead to an IPv4 address of the list above.
const SPECIAL_V6 = [
  "::/96", "::ffff:0:0/96", "64:ff9b::/96", "64:ff9b:1::/48", "100::/64", "2001::/23", "2001:db8::/32", "2002::/16",
  "fc00::/7", "fe80::/10", "fec0::/10", "ff00::/8",
];

/**
 * One BlockList per family: node:net matches an IPv4 address against IPv6 rules as its IPv4-mapped form,
 * so `::ffff:0:0/96` in a mixed list would refuse every IPv4 address.
 */
interface Ranges {
  readonly v4: BlockList;
  readonly v6: BlockList;
}

function rangesOf(cidrs: readonly string[]): Ranges {
  const ranges = { v4: new BlockList(), v6: new BlockList() };
  for (const cidr of cidrs) {
    const [address = "", prefix] = cidr.split("/");
    const v6 = isIP(address) === 6;
    (v6 ? ranges.v6 : ranges.v4).addSubnet(address, prefix === undefined ? (v6 ? 128 : 32) : Number(prefix), v6 ? "ipv6" : "ipv4");
  }
  return ranges;
}

const SPECIAL = rangesOf([...SPECIAL_V4, ...SPECIAL_V6]);

/** The IPv4 address an IPv4-mapped IPv6 address stands for (`::ffff:7f00:1` → `127.0.0.1`). */
function mappedV4(address: string): string | undefined {
  const m = /^::ffff:(?:(\d+\.\d+\.\d+\.\d+)|([0-9a-f]{1,4}):([0-9a-f]{1,4}))$/i.exec(address);
  if (m === null) return undefined;
  if (m[1] !== undefined) return m[1];
  const hi = parseInt(m[2]!, 16);
  const lo = parseInt(m[3]!, 16);
  return `${hi >> 8}.${hi & 255}.${lo >> 8}.${lo & 255}`;
}

export interface AddressCheck {
  /** Why the address may not be reached, or undefined. */
  refusal(address: string): string | undefined;
  isAllowListed(address: string): boolean;
}

export function createAddressCheck(allowedCidrs: readonly string[]): AddressCheck {
  const allowed = rangesOf(allowedCidrs);
  const inList = (ranges: Ranges, raw: string): boolean => {
    const address = raw.replace(/%.*$/, "");
    const family = isIP(address);
    if (family === 4) return ranges.v4.check(address, "ipv4");
    if (family !== 6) return false;
    if (ranges.v6.check(address, "ipv6")) return true;
    const v4 = mappedV4(address);
    return v4 !== undefined && ranges.v4.check(v4, "ipv4");
  };
  const isAllowListed = (address: string) => inList(allowed, address);
  return {
    isAllowListed,
    refusal(address) {
      if (isIP(address.replace(/%.*$/, "")) === 0) return `${address} is not an IP address`;
      if (isAllowListed(address)) return undefined;
      // An IPv4-mapped address is judged as the IPv4 address it stands for.
      const v4 = mappedV4(address);
      if (v4 !== undefined ? inList(SPECIAL, v4) : inList(SPECIAL, address)) return `${address} is a loopback, link-local, private or other special-purpose address (not in WEBHOOK_ALLOWED_CIDRS)`;
      return undefined;
    },
  };
}

export const systemResolve: Resolve = (hostname) => dnsLookup(hostname, { all: true, verbatim: true });

/** The URL's host without IPv6 brackets. */
export function hostOf(url: URL): string {
  return url.hostname.replace(/^\[(.*)\]$/, "$1");
}

/** What is wrong with the URL itself (scheme, credentials), before any name is resolved. */
export function urlProblem(raw: string): { url?: URL; problem?: string } {
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    return { problem: "must be an absolute http:// or https:// URL" };
  }
  if (url.protocol !== "https:" && url.protocol !== "http:") return { problem: "must be an absolute http:// or https:// URL" };
  if (url.username !== "" || url.password !== "") return { problem: "must not contain credentials (user:password@); the signature authenticates the sender" };
  if (url.hash !== "") return { problem: "must not contain a fragment (#…)" };
  if (url.hostname === "") return { problem: "must name a host" };
  return { url };
}

/**
 * The addresses a destination may be connected to, or why none: every address the name resolves to must
 * pass (a name with one private address among public ones is refused, not filtered).
 */
export function checkAddresses(
  check: AddressCheck,
  policy: DestinationPolicy,
  protocol: string,
  addresses: readonly LookupAddress[],
): { ok: true } | { ok: false; reason: string } {
  if (addresses.length === 0) return { ok: false, reason: "resolves to no address" };
  for (const { address } of addresses) {
    const refusal = check.refusal(address);
    if (refusal !== undefined) return { ok: false, reason: refusal };
    if (protocol === "http:" && policy.httpsOnly && !check.isAllowListed(address)) {
      return { ok: false, reason: `http:// is refused in production (MODE=production) unless the destination is in WEBHOOK_ALLOWED_CIDRS (${address} is not); use https://` };
    }
  }
  return { ok: true };
}
