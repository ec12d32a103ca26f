import { randomUUID } from "node:crypto";
import type { KeyObject } from "node:crypto";
import { appendAudit } from "../../../src/audit/append.js";
import { issueReceipt } from "../../../src/audit/receipts/issue.js";
import type { Receipt, SignedReceipt } from "../../../src/audit/receipts/receipt.js";
import { RECEIPT_VERSION } from "../../../src/audit/receipts/receipt.js";
import { getOperation } from "../../../src/operations/operations-repo.js";
import type { Db } from "../../../src/store/db.js";

/** What the lead's finish transaction will store in op.result (issue 17): outputs, summary, resources, verification. */
export const RESULT = {
  outputs: { endpointServiceName: "com.amazonaws.vpce.eu-west-1.vpce-svc-0abc" },
  summary: { create: 3, update: 0, delete: 0, same: 0 },
  resources: [
    { urn: "urn:pulumi:acme::provider-stack::aws:kms/key:Key::acme-key", type: "aws:kms/key:Key", id: "1234abcd-12ab-34cd-56ef-1234567890ab", outputs: { secretish: "not in a receipt" } },
    { urn: "urn:pulumi:acme::provider-stack::aws:ec2/securityGroup:SecurityGroup::acme-sg", type: "aws:ec2/securityGroup:SecurityGroup", id: "sg-0123456789abcdef0" },
  ],
  verification: { status: "passed", expectation: "active", reader: "simulated", checkedAt: "2026-12-05T12:00:00.000Z", durationMs: 12, calls: 7, checks: [] },
};

/**
 * Ends an operation as the lead's finish transaction will (issue 17): status and result, the `operation.finish`
 * audit record, and the receipt, all in one transaction.
 */
export async function finishWithReceipt(
  db: Db,
  keys: { auditHmac: KeyObject; auditSigning: KeyObject },
  operationId: string,
  options: { status?: string; result?: Record<string, unknown>; signingKey?: KeyObject } = {},
): Promise<SignedReceipt> {
  const status = options.status ?? "succeeded";
  return db.transaction(async (tx) => {
    await tx.query(
      `UPDATE operations SET status = $2, started_at = coalesce(started_at, now()), finished_at = now(), result = $3::jsonb,
              lease_owner = NULL, lease_expires_at = NULL WHERE id = $1`,
      [operationId, status, JSON.stringify(options.result ?? RESULT)],
    );
    const op = await getOperation(tx, operationId);
    if (op === undefined) throw new Error(`no operation ${operationId}`);
    const record = await appendAudit(
      tx,
      {
        action: "operation.finish",
        outcome: "allowed",
        principal: { kind: "system", id: "saas-bridge" },
        resource: { kind: "operation", id: operationId },
        requestId: null,
        sourceIp: null,
        details: { operationId, status },
      },
      { hmacKey: keys.auditHmac },
    );
    return issueReceipt(tx, op, record, options.signingKey ?? keys.auditSigning);
  });
}

/** A receipt as issue.ts builds it, without a database. */
export function sampleReceipt(overrides: Partial<Receipt> = {}): Receipt {
  return {
    version: RECEIPT_VERSION,
    operation: { id: randomUUID(), intent: "revoke", kind: "up", status: "succeeded", attempt: 1, requestedAt: "2026-12-05T11:00:00.000Z", startedAt: "2026-12-05T11:00:01.000Z", finishedAt: "2026-12-05T11:00:09.000Z" },
    provider: "acme",
    specHash: "a".repeat(64),
    programVersion: "provider-stack@2",
    engine: "simulated",
    summary: RESULT.summary,
    resources: RESULT.resources.map(({ urn, type, id }) => ({ urn, type, id })),
    verification: RESULT.verification,
    approvals: [],
    audit: { seq: 42, hash: "b".repeat(64) },
    issuedAt: "2026-12-05T11:00:09.500Z",
    ...overrides,
  };
}
