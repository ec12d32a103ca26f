import type { AuditAction, AuditPrincipal, AuditResource } from "../audit/record.js";
import { AppError, type ErrorCode } from "../errors.js";

/**
 * A refusal that is audited: the HTTP layer's onError hook (src/http/auth.ts) writes its record, in a
 * transaction of its own, before the problem+json goes out. Messages never contain what the caller presented.
 */
export class DeniedError extends AppError {
  constructor(
    code: Extract<ErrorCode, "UNAUTHENTICATED" | "FORBIDDEN" | "SELF_APPROVAL" | "RATE_LIMITED" | "NOT_FOUND" | "APPROVAL_INVALID" | "TOO_MANY_STREAMS">,
    message: string,
    readonly audit: { readonly action: AuditAction; readonly resource: AuditResource; readonly reason: string; readonly principal?: AuditPrincipal },
  ) {
    super(code, message);
    this.name = "DeniedError";
  }
}
