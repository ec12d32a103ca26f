import type { KeyObject } from "node:crypto";
import { readFile } from "node:fs/promises";
import { parseArgs } from "node:util";
import { unzipSync } from "fflate";
import { trustedKeysFromJwks, trustedKeysFromPems, type TrustedKeys } from "../src/audit/receipts/jwks.js";
import { verifyEvidencePack } from "../src/audit/receipts/verify-pack.js";
import { verifyReceipt } from "../src/audit/receipts/verify.js";

/**
 * Offline verification of a receipt or an evidence pack (issue 17): no database, no server, no network.
 *
 *   npm run --silent verify-receipt -- receipt.json --keys keys.json
 *   npm run --silent verify-receipt -- evidence.zip --keys keys.json
 *   npm run --silent verify-receipt -- receipt.json --key audit-signing.pub.pem [--key old.pub.pem]
 *
 * Trusted keys come from the command line only (`--keys`: a JWKS saved from GET /v1/keys; `--key`: an Ed25519
 * public key PEM). A pack's own keys.json is trusted only with --trust-pack-keys, which says so on stderr:
 * whoever could change the pack could also have replaced its keys.
 * Exit codes: 0 valid (stdout says what was verified), 1 not valid (stdout names each failing part), 2 bad usage.
 */
const USAGE = "usage: verify-receipt <receipt.json | evidence.zip> (--keys <jwks.json> | --key <public.pem>)... [--trust-pack-keys]";

class UsageError extends Error {}

/** The keys given on the command line; a file that is not a key set or a key is bad usage (exit 2). */
async function trustedKeys(keysFiles: readonly string[], pemFiles: readonly string[]): Promise<Map<string, KeyObject>> {
  try {
    return await readTrustedKeys(keysFiles, pemFiles);
  } catch (err) {
    throw err instanceof UsageError ? err : new UsageError(err instanceof Error ? err.message : String(err));
  }
}

async function readTrustedKeys(keysFiles: readonly string[], pemFiles: readonly string[]): Promise<Map<string, KeyObject>> {
  const trusted = new Map<string, KeyObject>();
  for (const file of keysFiles) {
    let document: unknown;
    try {
      document = JSON.parse(await readFile(file, "utf8"));
    } catch (err) {
      throw new UsageError(`${file}: not a readable JSON key set (${err instanceof Error ? err.message : String(err)})`);
    }
    for (const [kid, key] of trustedKeysFromJwks(document, file)) trusted.set(kid, key);
  }
  const pems = await Promise.all(pemFiles.map(async (source) => ({ source, pem: await readFile(source, "utf8") })));
  for (const [kid, key] of trustedKeysFromPems(pems)) trusted.set(kid, key);
  return trusted;
}

function packKeys(zip: Uint8Array): TrustedKeys {
  const bytes = unzipSync(zip, { filter: (f) => f.name === "keys.json" })["keys.json"];
  if (bytes === undefined) throw new UsageError("--trust-pack-keys: the pack has no keys.json");
  return trustedKeysFromJwks(JSON.parse(new TextDecoder().decode(bytes)), "the pack's keys.json");
}

async function main(argv: readonly string[]): Promise<number> {
  let parsed;
  try {
    parsed = parseArgs({
      args: [...argv],
      allowPositionals: true,
      options: { keys: { type: "string", multiple: true, default: [] }, key: { type: "string", multiple: true, default: [] }, "trust-pack-keys": { type: "boolean", default: false } },
    });
  } catch (err) {
    throw new UsageError(err instanceof Error ? err.message : String(err));
  }
  const { positionals, values } = parsed;
  if (positionals.length !== 1) throw new UsageError("name exactly one receipt or evidence pack");
  const file = positionals[0]!;
  let bytes: Uint8Array;
  try {
    bytes = await readFile(file);
  } catch (err) {
    throw new UsageError(`${file}: cannot read it (${(err as NodeJS.ErrnoException).code ?? String(err)})`);
  }
  const isZip = bytes[0] === 0x50 && bytes[1] === 0x4b;
  const trusted = await trustedKeys(values.keys, values.key);
  if (values["trust-pack-keys"]) {
    if (!isZip) throw new UsageError("--trust-pack-keys applies to an evidence pack only");
    process.stderr.write("verify-receipt: WARNING: trusting the keys inside the pack (--trust-pack-keys): this proves integrity, not origin — compare them with GET /v1/keys\n");
    for (const [kid, key] of packKeys(bytes)) trusted.set(kid, key);
  }
  if (trusted.size === 0) throw new UsageError("no trusted keys: pass --keys <jwks.json> (saved from GET /v1/keys) or --key <public.pem>");
  const out = (line: string) => process.stdout.write(`${line}\n`);

  if (isZip) {
    const result = verifyEvidencePack(bytes, trusted);
    if (!result.ok) {
      for (const p of result.problems) out(`INVALID ${p.part}: ${p.detail}`);
      return 1;
    }
    const s = result.summary;
    out(`VALID evidence pack of provider ${s.provider}, generated ${s.generatedAt}, manifest signed by key ${s.manifestKeyId}`);
    out(`  ${s.files} files match the manifest; ${s.receipts} receipts verify; ${s.auditRecords} audit records verified through ${s.chainRecords} chained records up to signed heads`);
    return 0;
  }
  let document: unknown;
  try {
    document = JSON.parse(new TextDecoder().decode(bytes));
  } catch (err) {
    out(`INVALID ${file}: not JSON (${err instanceof Error ? err.message : String(err)})`);
    return 1;
  }
  const result = verifyReceipt(document, trusted, file);
  if (!result.ok) {
    out(`INVALID ${result.problem.part}: ${result.problem.detail}`);
    return 1;
  }
  out(`VALID receipt of operation ${result.operationId} (provider ${result.provider}), signed by key ${result.keyId}, audit record ${result.audit.seq} (${result.audit.hash})`);
  return 0;
}

main(process.argv.slice(2)).then(
  (code) => process.exit(code),
  (err: unknown) => {
    process.stderr.write(`verify-receipt: ${err instanceof Error ? err.message : String(err)}\n${err instanceof UsageError ? `${USAGE}\n` : ""}`);
    process.exit(err instanceof UsageError ? 2 : 1);
  },
);
