import type { KeyObject } from "node:crypto";
import { recordAllowed, type Actor } from "../../auth/actor.js";
import type { Principal } from "../../auth/principal.js";
import { AppError } from "../../errors.js";
import { getProvider } from "../../onboarding/providers-repo.js";
import { TERMINAL_STATUSES } from "../../operations/operation.js";
import { getOperation } from "../../operations/operations-repo.js";
import { visibleOperation } from "../../operations/operations-service.js";
import type { Db } from "../../store/db.js";
import type { AuditWriter } from "../append.js";
import { buildEvidencePack, type EvidenceLimits, type EvidencePack } from "./evidence-pack.js";
import { getReceipt } from "./issue.js";
import type { SignedReceipt } from "./receipt.js";

export interface ReceiptsDeps {
  readonly db: Db;
  readonly audit: AuditWriter;
  /** Ed25519 private key of the audit trail (SecurityKeys.auditSigning). */
  readonly signingKey: KeyObject;
  /** Every accepted public key, the signing key's first (SecurityKeys.auditVerify). */
  readonly verifyKeys: readonly KeyObject[];
  readonly evidenceLimits?: EvidenceLimits;
}

/**
 * The receipt of an operation the principal may read. An auditor reads the whole audit trail, which names
 * every operation, so its receipts are not hidden by team; everyone else sees their teams' (as the operation).
 */
export async function receiptFor(deps: Pick<ReceiptsDeps, "db">, principal: Principal, id: string): Promise<SignedReceipt> {
  const operation = principal.role === "auditor" ? await getOperation(deps.db, id) : await visibleOperation(deps.db, { principal }, id, "auth.denied");
  if (operation === undefined) throw new AppError("NOT_FOUND", `No operation with id "${id}".`);
  if (!TERMINAL_STATUSES.has(operation.status)) {
    throw new AppError("RECEIPT_NOT_READY", `Operation ${id} is ${operation.status}: its receipt is signed when it ends.`, {
      links: { operation: `/v1/operations/${id}` },
    });
  }
  const receipt = await getReceipt(deps.db, id);
  // Finished before receipts existed (or by a version that did not issue them): there is none, and never will be.
  if (receipt === undefined) throw new AppError("NOT_FOUND", `Operation ${id} finished without a receipt (it ended before this version issued receipts).`);
  return receipt;
}

/** The evidence pack of a provider (auditor or admin: it holds audit records); the download itself is audited. */
export async function evidenceFor(deps: ReceiptsDeps, actor: Actor, provider: string): Promise<EvidencePack> {
  if ((await getProvider(deps.db, provider)) === undefined) throw new AppError("NOT_FOUND", `No provider named "${provider}".`);
  const pack = await buildEvidencePack(deps.db, provider, {
    signingKey: deps.signingKey,
    verifyKeys: deps.verifyKeys,
    ...(deps.evidenceLimits === undefined ? {} : { limits: deps.evidenceLimits }),
  });
  await deps.db.transaction((tx) =>
    recordAllowed(deps.audit, tx, actor, "audit.read", { kind: "provider", id: provider }, {
      evidencePack: { generatedAt: pack.manifest.generatedAt, operations: pack.operations, auditRecords: pack.auditRecords, chainRecords: pack.chainRecords },
    }),
  );
  return pack;
}
