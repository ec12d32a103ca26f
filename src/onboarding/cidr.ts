/** IPv4 CIDR arithmetic, small enough not to warrant a dependency. */

export interface Cidr {
  /** Network address as an unsigned 32-bit number. */
  readonly base: number;
  readonly prefix: number;
}

/** `{ base, prefix }` → `a.b.c.d/prefix`; the inverse of parseCidr for canonical blocks. */
export function formatCidr(c: Cidr): string {
  return `${formatIpv4(c.base)}/${c.prefix}`;
}

export function formatIpv4(address: number): string {
  return [24, 16, 8, 0].map((shift) => Math.floor(address / 2 ** shift) % 256).join(".");
}

/** Parses a dotted-quad CIDR; host bits may be set (isValidCidr is the canonical-form check). */
export function parseCidr(cidr: string): Cidr | undefined {
  const m = /^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})\/(\d{1,2})$/.exec(cidr);
  if (!m) return undefined;
  const octets = m.slice(1, 5).map(Number);
  if (octets.some((o, i) => o > 255 || (m[i + 1]!.length > 1 && m[i + 1]!.startsWith("0")))) return undefined;
  const prefix = Number(m[5]);
  if (prefix > 32) return undefined;
  const base = octets.reduce((acc, o) => acc * 256 + o, 0);
  return { base, prefix };
}

function size(prefix: number): number {
  return 2 ** (32 - prefix);
}

/** Valid and canonical: no host bits set (10.0.0.1/8 is rejected, as AWS rejects it in SG rules). */
export function isValidCidr(cidr: string): boolean {
  const c = parseCidr(cidr);
  return c !== undefined && c.base % size(c.prefix) === 0;
}

export function isWorldOpen(cidr: string): boolean {
  return parseCidr(cidr)?.prefix === 0;
}

/** True when `inner` lies entirely inside `outer`. */
export function cidrWithin(inner: string, outer: string): boolean {
  const i = parseCidr(inner);
  const o = parseCidr(outer);
  if (!i || !o || i.prefix < o.prefix) return false;
  return Math.floor(i.base / size(o.prefix)) === Math.floor(o.base / size(o.prefix));
}
