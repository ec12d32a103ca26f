import { unzipSync } from "fflate";
import { recordsProblems, verifyChainEvidence } from "./chain-evidence.js";
import type { TrustedKeys } from "./jwks.js";
import { manifestSigningPayload, MANIFEST_PATH, MANIFEST_SIGNATURE_PATH, MANIFEST_VERSION, sha256Hex, type ManifestFile } from "./manifest.js";
import { signatureProblem, verifyReceipt, type Problem } from "./verify.js";

export interface PackSummary {
  readonly provider: string;
  readonly generatedAt: string;
  readonly manifestKeyId: string;
  readonly files: number;
  readonly receipts: number;
  readonly auditRecords: number;
  readonly chainRecords: number;
}

export type PackVerification = { readonly ok: true; readonly summary: PackSummary } | { readonly ok: false; readonly problems: readonly Problem[] };

/** Past this, an archive is not one the service made (it refuses packs far smaller): no unbounded inflate. */
export const MAX_PACK_UNCOMPRESSED_BYTES = 512 * 1024 * 1024;

/** The part a manifest signature failure names. */
export const MANIFEST_PARTS = `${MANIFEST_PATH} / ${MANIFEST_SIGNATURE_PATH}`;

const decoder = new TextDecoder("utf-8", { fatal: true });

/**
 * Verifies an evidence pack (the ZIP's bytes) offline: the manifest's signature by a trusted key, every file
 * against the manifest (changed, added or missing files are named), every receipt's signature, the audit
 * records' hashes and links up to heads signed by a trusted key, and that audit/records.json is what the chain
 * verified. Every problem found is reported, the first being the first to look at.
 */
export function verifyEvidencePack(zip: Uint8Array, trusted: TrustedKeys): PackVerification {
  let files: Record<string, Uint8Array>;
  try {
    let total = 0;
    files = unzipSync(zip, {
      filter: (file) => {
        total += file.originalSize;
        if (total > MAX_PACK_UNCOMPRESSED_BYTES) throw new Error(`the archive inflates past ${MAX_PACK_UNCOMPRESSED_BYTES} bytes`);
        return true;
      },
    });
  } catch (err) {
    return { ok: false, problems: [{ part: "the archive", detail: `not a readable ZIP archive (${err instanceof Error ? err.message : String(err)})` }] };
  }
  const problems: Problem[] = [];
  const json = (path: string): unknown => {
    const bytes = files[path];
    if (bytes === undefined) return undefined;
    try {
      return JSON.parse(decoder.decode(bytes)) as unknown;
    } catch (err) {
      problems.push({ part: path, detail: `not valid JSON (${err instanceof Error ? err.message : String(err)})` });
      return undefined;
    }
  };

  const manifest = json(MANIFEST_PATH) as { version?: unknown; provider?: unknown; generatedAt?: unknown; files?: ManifestFile[] } | undefined;
  const signature = json(MANIFEST_SIGNATURE_PATH);
  if (manifest === undefined || signature === undefined) {
    for (const path of [MANIFEST_PATH, MANIFEST_SIGNATURE_PATH]) if (files[path] === undefined) problems.push({ part: path, detail: "missing from the archive" });
    return { ok: false, problems };
  }
  const signed = signatureProblem(signature, () => manifestSigningPayload(manifest), trusted);
  // Which of the two changed cannot be told apart: the part names both.
  if (signed !== undefined) problems.push({ part: MANIFEST_PARTS, detail: `manifest signature: ${signed}` });
  if (manifest.version !== MANIFEST_VERSION || !Array.isArray(manifest.files)) {
    problems.push({ part: MANIFEST_PATH, detail: `not a ${MANIFEST_VERSION} manifest` });
    return { ok: false, problems };
  }

  // Every file against the manifest, before anything is read from it.
  const listed = new Map(manifest.files.map((f) => [f.path, f]));
  for (const [path, entry] of listed) {
    const bytes = files[path];
    if (bytes === undefined) problems.push({ part: path, detail: "listed in the manifest but missing from the archive" });
    else if (sha256Hex(bytes) !== entry.sha256 || bytes.byteLength !== entry.size) problems.push({ part: path, detail: "SHA-256 differs from the manifest" });
  }
  for (const path of Object.keys(files)) {
    if (path !== MANIFEST_PATH && path !== MANIFEST_SIGNATURE_PATH && !listed.has(path) && !path.endsWith("/")) {
      problems.push({ part: path, detail: "in the archive but not in the manifest (an added file)" });
    }
  }

  let receipts = 0;
  const finals = new Map<number, { hash: string; part: string }>();
  for (const path of Object.keys(files).filter((p) => p.startsWith("receipts/") && p.endsWith(".json")).sort()) {
    const document = json(path);
    if (document === undefined) continue;
    const result = verifyReceipt(document, trusted, path);
    if (!result.ok) problems.push(result.problem);
    else {
      receipts++;
      finals.set(result.audit.seq, { hash: result.audit.hash, part: path });
    }
  }

  const { problems: chainProblems, verified } = verifyChainEvidence(json("audit/chain.json"), trusted);
  problems.push(...chainProblems);
  const records = json("audit/records.json");
  problems.push(...recordsProblems(records, verified));
  // A receipt names its final audit record: when the pack carries that record, the two must agree.
  for (const [seq, { hash, part }] of finals) {
    const record = verified.get(seq);
    if (record !== undefined && record.hash !== hash) problems.push({ part, detail: `names audit record ${seq} with hash ${hash}, the chain has ${record.hash}` });
  }

  if (problems.length > 0) return { ok: false, problems };
  return {
    ok: true,
    summary: {
      provider: String(manifest.provider),
      generatedAt: String(manifest.generatedAt),
      manifestKeyId: String((signature as { keyId: string }).keyId),
      files: listed.size,
      receipts,
      auditRecords: Array.isArray(records) ? records.length : 0,
      chainRecords: verified.size,
    },
  };
}
