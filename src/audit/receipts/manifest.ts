import { createHash, sign, type KeyObject } from "node:crypto";
import { canonicalJson } from "../canonical-json.js";
import { auditKeyId } from "../keys.js";
import type { ReceiptSignature } from "./receipt.js";

/**
 * The evidence pack's table of contents: every other file's path, SHA-256 and size, signed (manifest.sig.json)
 * with the audit signing key. One signature then vouches for every byte of the pack, and a changed, added or
 * missing file is named by comparing the archive with the manifest.
 */
export const MANIFEST_VERSION = "saas-bridge.evidence/v1";

/** Its own domain tag: a manifest signature is not a receipt's or a chain head's. */
export const MANIFEST_DOMAIN = "saas-bridge evidence manifest v1\n";

export const MANIFEST_PATH = "manifest.json";
export const MANIFEST_SIGNATURE_PATH = "manifest.sig.json";

export interface ManifestFile {
  readonly path: string;
  /** Hex SHA-256 of the file's bytes. */
  readonly sha256: string;
  readonly size: number;
}

export interface EvidenceManifest {
  readonly version: typeof MANIFEST_VERSION;
  readonly provider: string;
  readonly generatedAt: string;
  /** Sorted by path; every file of the archive but the manifest and its signature. */
  readonly files: readonly ManifestFile[];
}

export function sha256Hex(bytes: Uint8Array): string {
  return createHash("sha256").update(bytes).digest("hex");
}

export function manifestSigningPayload(manifest: unknown): Buffer {
  return Buffer.from(MANIFEST_DOMAIN + canonicalJson(manifest), "utf8");
}

export function buildManifest(provider: string, generatedAt: string, files: ReadonlyMap<string, Uint8Array>): EvidenceManifest {
  const entries = [...files.entries()]
    .map(([path, bytes]) => ({ path, sha256: sha256Hex(bytes), size: bytes.byteLength }))
    .sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0));
  return { version: MANIFEST_VERSION, provider, generatedAt, files: entries };
}

export function signManifest(manifest: EvidenceManifest, privateKey: KeyObject): ReceiptSignature {
  const value = sign(null, manifestSigningPayload(manifest), privateKey).toString("base64url");
  return { alg: "EdDSA", crv: "Ed25519", keyId: auditKeyId(privateKey), value };
}
