// The API shapes the console reads: a hand-kept subset of openapi/openapi.json (components.schemas),
// only the fields shown here, so a new server field never breaks the console.

export type Lifecycle = "provisioning" | "active" | "revoked" | "decommissioning" | "decommissioned" | "failed";
export type DriftStatus = "in_sync" | "drifted" | "unknown";
export type OperationStatus =
  | "awaiting_approval" | "queued" | "running" | "succeeded" | "failed" | "cancelled" | "interrupted";
export type StepOp = "create" | "update" | "delete" | "replace" | "same";
export type ChangeSummary = Partial<Record<StepOp, number>>;

export interface Drift {
  status: DriftStatus;
  checkedAt: string | null;
  reason?: string;
}

export interface ProviderSummary {
  name: string;
  displayName: string;
  team: string;
  lifecycle: Lifecycle;
  generation: number;
  drift: Drift;
  updatedAt: string;
}

export interface ProviderList {
  items: ProviderSummary[];
  nextCursor?: string;
}

export interface VerificationCheck {
  code: string;
  status: "pass" | "fail" | "not-verifiable" | "not-applicable";
  message: string;
}

export interface Verification {
  status: "passed" | "failed" | "incomplete";
  expectation: string;
  checkedAt: string;
  checks: VerificationCheck[];
}

export interface ActiveOperation {
  id: string;
  intent: string;
  status: OperationStatus;
}

export interface Provider extends ProviderSummary {
  spec: Record<string, unknown>;
  outputs: Record<string, unknown>;
  activeOperations: ActiveOperation[];
  verification: Verification | null;
  expiry?: { expiresAt: string; expiredAt?: string };
}

export interface Approval {
  rule: string;
  status: string;
  specHash: string;
  programVersion: string;
  requestedBy: string;
  requestedAt: string;
  expiresAt: string;
}

export interface Operation {
  id: string;
  provider: string;
  intent: string;
  status: OperationStatus;
  attempt: number;
  progress?: { done: number; total: number | null };
  result?: { summary?: ChangeSummary } | null;
  error?: { code: string; message: string } | null;
  createdAt: string;
  finishedAt?: string | null;
}

export interface OperationPage {
  items: Operation[];
  links: { next?: string };
}

export interface Accepted {
  operation: Operation;
}

export interface ApprovalItem {
  operationId: string;
  provider: string;
  intent: string;
  decommission?: { key: "retain" | "shred" };
  approval: Approval;
  /** The spec the operation would run; the server is adding it, so it may be absent. */
  spec?: Record<string, unknown>;
}

export interface ApprovalList {
  items: ApprovalItem[];
}

/** OperationEvent: `type` discriminates; the fields read by the console are optional here. */
export interface OperationEvent {
  type: string;
  seq: number;
  at: string;
  done?: number;
  total?: number;
  name?: string;
  resourceType?: string;
  op?: StepOp;
  message?: string;
  reason?: string;
  summary?: ChangeSummary;
  error?: { code: string; message: string };
  position?: number;
  status?: string;
  code?: string;
  /** verification.started: how many checks follow */
  checks?: number;
}

export interface EventList {
  items: OperationEvent[];
  links: { next?: string };
}

export interface StreamTicket {
  ticket: string;
  links: { events: string };
}

export interface AuditRecord {
  seq: number;
  at: string;
  action: string;
  outcome: string;
  principal: { kind: string; id: string; name?: string };
  resource: { kind: string; id: string };
}

export interface AuditPage {
  items: AuditRecord[];
  nextCursor: string | null;
}

export interface AuditVerification {
  ok: boolean;
  records: number;
  signatures?: number;
  firstBroken?: { seq: number; reason: string; detail: string };
  head: { seq: number; hash: string; lastSignedSeq: number | null; lastSignedAt: string | null };
}

export interface ConsoleConfig {
  oidc: { issuer: string; clientId: string; scope: string } | null;
}
