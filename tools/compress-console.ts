import { readdirSync, readFileSync, statSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { brotliCompressSync, constants, gzipSync } from "node:zlib";

/**
 * After `vite build` (npm run console:build): writes `<file>.br` and `<file>.gz` beside each text file of the
 * console bundle, so the server sends them to browsers that accept them (@fastify/static's preCompressed)
 * without compressing on every request. Files under 1 KiB, or that would not shrink, are left alone.
 */
const TEXT = /\.(html|js|css|svg|json|txt|map)$/;
const MIN_BYTES = 1024;

function compress(dir: string): number {
  let written = 0;
  for (const name of readdirSync(dir)) {
    const path = join(dir, name);
    if (statSync(path).isDirectory()) {
      written += compress(path);
      continue;
    }
    if (!TEXT.test(name)) continue;
    const raw = readFileSync(path);
    if (raw.length < MIN_BYTES) continue;
    const br = brotliCompressSync(raw, { params: { [constants.BROTLI_PARAM_QUALITY]: 11, [constants.BROTLI_PARAM_SIZE_HINT]: raw.length } });
    const gz = gzipSync(raw, { level: 9 });
    for (const [suffix, data] of [[".br", br], [".gz", gz]] as const) {
      if (data.length >= raw.length) continue;
      writeFileSync(`${path}${suffix}`, data);
      written++;
    }
  }
  return written;
}

const dir = process.argv[2] ?? "dist/console";
console.log(`compress-console: ${compress(dir)} pre-compressed file(s) in ${dir}`);
