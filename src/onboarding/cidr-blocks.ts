import type { Cidr } from "./cidr.js";

/** Block arithmetic for the subnet allocator: pure, IPv4, addresses as unsigned 32-bit numbers. */

export function blockSize(prefix: number): number {
  return 2 ** (32 - prefix);
}

/** One past the last address of the block. */
export function blockEnd(c: Cidr): number {
  return c.base + blockSize(c.prefix);
}

export function blocksOverlap(a: Cidr, b: Cidr): boolean {
  return a.base < blockEnd(b) && b.base < blockEnd(a);
}

export function blockWithin(inner: Cidr, outer: Cidr): boolean {
  return inner.base >= outer.base && blockEnd(inner) <= blockEnd(outer);
}

/**
 * The `count` lowest aligned blocks of `/prefix` inside `pool` that overlap none of `taken`, in ascending
 * order; undefined when the pool does not have that many. `taken` may hold blocks of any size, partly
 * or wholly outside the pool (a block containing the whole pool leaves nothing), even overlapping ones.
 *
 * One sweep over `taken` sorted by base: O(n log n + count).
 */
export function lowestFreeBlocks(pool: Cidr, prefix: number, taken: readonly Cidr[], count: number): Cidr[] | undefined {
  if (!Number.isInteger(prefix) || prefix < pool.prefix || prefix > 32) {
    throw new Error(`prefix /${prefix} must lie between the pool's /${pool.prefix} and /32`);
  }
  const size = blockSize(prefix);
  const poolEnd = blockEnd(pool);
  const found: Cidr[] = [];
  // The pool is aligned to its own (larger) size, so aligning to `size` from 0 stays inside it.
  let candidate = pool.base;
  const sorted = [...taken].sort((a, b) => a.base - b.base);
  for (const block of sorted) {
    if (found.length === count || candidate >= poolEnd) break;
    // Every free block before this one's start is below every later block's start too.
    while (found.length < count && candidate + size <= Math.min(block.base, poolEnd)) {
      found.push({ base: candidate, prefix });
      candidate += size;
    }
    candidate = Math.max(candidate, Math.ceil(blockEnd(block) / size) * size);
  }
  while (found.length < count && candidate + size <= poolEnd) {
    found.push({ base: candidate, prefix });
    candidate += size;
  }
  return found.length === count ? found : undefined;
}
