import type { KeyObject } from "node:crypto";
import { zipSync, type Zippable } from "fflate";
import { AppError } from "../../errors.js";
import type { Queryable } from "../../store/db.js";
import { signHead } from "../signing.js";
import { chainRanges, readApprovals, readLatestVerification, readProviderRecords, readSegments, readSignedSeqs, readSpecHistory } from "./evidence-data.js";
import { listReceipts } from "./issue.js";
import { toJwks } from "./jwks.js";
import { buildManifest, MANIFEST_PATH, MANIFEST_SIGNATURE_PATH, signManifest, type EvidenceManifest } from "./manifest.js";

/**
 * Bounds of one pack, so one request cannot make the service read and hold an unbounded trail in memory:
 * past them the request is refused (EVIDENCE_TOO_LARGE) rather than answered with a pack that is silently cut.
 */
export interface EvidenceLimits {
  /** Operations of the provider (spec history, receipts). Default 2,000. */
  readonly maxOperations: number;
  /** Audit records in audit/chain.json (the provider's and those between them and a signed head). Default 20,000. */
  readonly maxChainRecords: number;
}

export const DEFAULT_EVIDENCE_LIMITS: EvidenceLimits = { maxOperations: 2_000, maxChainRecords: 20_000 };

export interface EvidencePackOptions {
  /** Ed25519 private key: signs the head first (so the newest records are covered) and the manifest. */
  readonly signingKey: KeyObject;
  /** Every accepted public key, the signing key's first (SecurityKeys.auditVerify): keys.json. */
  readonly verifyKeys: readonly KeyObject[];
  readonly limits?: EvidenceLimits;
  readonly now?: () => Date;
}

export interface EvidencePack {
  readonly zip: Uint8Array;
  readonly manifest: EvidenceManifest;
  readonly operations: number;
  readonly auditRecords: number;
  readonly chainRecords: number;
}

const encoder = new TextEncoder();
const jsonFile = (value: unknown): Uint8Array => encoder.encode(`${JSON.stringify(value, null, 2)}\n`);

/**
 * One ZIP for an auditor (issue 17): spec history, approvals, receipts, the provider's audit records with the
 * chain segments and signed heads that vouch for them, the latest verification, the public keys, and a signed
 * manifest of it all. Reads without a transaction: the signed head bounds what is read, so records appended
 * meanwhile are simply not in this pack.
 */
export async function buildEvidencePack(db: Queryable, provider: string, options: EvidencePackOptions): Promise<EvidencePack> {
  const limits = options.limits ?? DEFAULT_EVIDENCE_LIMITS;
  const head = await signHead(db, options.signingKey);

  const history = await readSpecHistory(db, provider, limits.maxOperations + 1);
  if (history.length > limits.maxOperations) {
    throw new AppError("EVIDENCE_TOO_LARGE", `Provider "${provider}" has more than ${limits.maxOperations} operations, the bound of one evidence pack.`);
  }
  const operationIds = history.map((h) => h.operationId);
  const records = await readProviderRecords(db, provider, operationIds, head.seq, limits.maxChainRecords + 1);
  if (records.length > limits.maxChainRecords) {
    throw new AppError("EVIDENCE_TOO_LARGE", `Provider "${provider}" has more than ${limits.maxChainRecords} audit records, the bound of one evidence pack.`);
  }
  const seqs = records.map((r) => r.seq);
  const ranges = seqs.length === 0 ? [] : chainRanges(seqs, await readSignedSeqs(db, seqs[0]!, head.seq));
  const chainRecords = ranges.reduce((n, r) => n + (r.to - r.from + 1), 0);
  if (chainRecords > limits.maxChainRecords) {
    throw new AppError(
      "EVIDENCE_TOO_LARGE",
      `Checking provider "${provider}"'s ${records.length} audit records against the signed heads takes ${chainRecords} records, past the bound of ${limits.maxChainRecords}.`,
    );
  }
  const segments = await readSegments(db, ranges);

  const approvals = await readApprovals(db, provider, limits.maxOperations);
  const receipts = await listReceipts(db, provider, limits.maxOperations);

  const files = new Map<string, Uint8Array>([
    ["spec-history.json", jsonFile(history)],
    ["approvals.json", jsonFile(approvals)],
    ["audit/records.json", jsonFile(records)],
    ["audit/chain.json", jsonFile({ segments })],
    ["verification.json", jsonFile(await readLatestVerification(db, provider))],
    ["keys.json", jsonFile(toJwks(options.verifyKeys))],
  ]);
  for (const receipt of receipts) files.set(`receipts/${receipt.receipt.operation.id}.json`, jsonFile(receipt));

  const generated = (options.now ?? (() => new Date()))();
  const manifest = buildManifest(provider, generated.toISOString(), files);
  files.set(MANIFEST_PATH, jsonFile(manifest));
  files.set(MANIFEST_SIGNATURE_PATH, jsonFile(signManifest(manifest, options.signingKey)));

  const zippable: Zippable = {};
  for (const [path, bytes] of files) zippable[path] = [bytes, { mtime: generated }];
  return { zip: zipSync(zippable, { level: 6 }), manifest, operations: history.length, auditRecords: records.length, chainRecords };
}
