/**
 * The one error taxonomy. Code throws `AppError` low; `http/problem.ts` maps it once to problem+json.
 * `HTTP_STATUS` is a Record over the closed code union, so a new code without a status fails to compile.
 */
export const ERROR_CODES = [
  "VALIDATION_FAILED",
  "MALFORMED_REQUEST",
  "UNAUTHENTICATED",
  "FORBIDDEN",
  "RATE_LIMITED",
  "TOO_MANY_STREAMS",
  "APPROVAL_INVALID",
  "SELF_APPROVAL",
  "UNSUPPORTED_MEDIA_TYPE",
  "NOT_ACCEPTABLE",
  "PAYLOAD_TOO_LARGE",
  "NOT_FOUND",
  "METHOD_NOT_ALLOWED",
  "PROVIDER_EXISTS",
  "INVALID_STATE",
  "OPERATION_FINISHED",
  "ROLLOUT_CONFLICT",
  "DELIVERY_PENDING",
  "RECEIPT_NOT_READY",
  "EVIDENCE_TOO_LARGE",
  "IDEMPOTENCY_KEY_REUSED",
  "GUARDRAIL_VIOLATION",
  "UNSUPPORTED_FEATURE",
  "UNAVAILABLE",
  "INSUFFICIENT_STORAGE",
  "INTERNAL",
] as const;
export type ErrorCode = (typeof ERROR_CODES)[number];

export const HTTP_STATUS: Record<ErrorCode, number> = {
  VALIDATION_FAILED: 400,
  MALFORMED_REQUEST: 400,
  UNAUTHENTICATED: 401,
  FORBIDDEN: 403,
  RATE_LIMITED: 429,
  TOO_MANY_STREAMS: 429,
  APPROVAL_INVALID: 409,
  SELF_APPROVAL: 403,
  UNSUPPORTED_MEDIA_TYPE: 415,
  NOT_ACCEPTABLE: 406,
  PAYLOAD_TOO_LARGE: 413,
  NOT_FOUND: 404,
  METHOD_NOT_ALLOWED: 405,
  PROVIDER_EXISTS: 409,
  INVALID_STATE: 409,
  OPERATION_FINISHED: 409,
  ROLLOUT_CONFLICT: 409,
  DELIVERY_PENDING: 409,
  RECEIPT_NOT_READY: 409,
  EVIDENCE_TOO_LARGE: 422,
  IDEMPOTENCY_KEY_REUSED: 422,
  GUARDRAIL_VIOLATION: 422,
  UNSUPPORTED_FEATURE: 422,
  UNAVAILABLE: 503,
  INSUFFICIENT_STORAGE: 507,
  INTERNAL: 500,
};

export const ERROR_TITLES: Record<ErrorCode, string> = {
  VALIDATION_FAILED: "The request is not valid",
  MALFORMED_REQUEST: "The request could not be read",
  UNAUTHENTICATED: "Authentication is required",
  FORBIDDEN: "Not allowed",
  RATE_LIMITED: "Too many requests",
  TOO_MANY_STREAMS: "Too many open streams",
  APPROVAL_INVALID: "The approval does not apply",
  SELF_APPROVAL: "A second person must decide",
  UNSUPPORTED_MEDIA_TYPE: "Unsupported content type",
  NOT_ACCEPTABLE: "No acceptable representation",
  PAYLOAD_TOO_LARGE: "The request body is too large",
  NOT_FOUND: "Not found",
  METHOD_NOT_ALLOWED: "The method is not allowed on this resource",
  PROVIDER_EXISTS: "A provider with this name already exists",
  INVALID_STATE: "The provider is not in a state that allows this",
  OPERATION_FINISHED: "The operation has already finished",
  ROLLOUT_CONFLICT: "The rollout is not in a state that allows this",
  DELIVERY_PENDING: "The webhook delivery is still pending",
  RECEIPT_NOT_READY: "The operation has not finished: it has no receipt yet",
  EVIDENCE_TOO_LARGE: "The evidence pack would be too large",
  IDEMPOTENCY_KEY_REUSED: "The Idempotency-Key was used with a different request",
  GUARDRAIL_VIOLATION: "The request violates a guardrail",
  UNSUPPORTED_FEATURE: "This version cannot build part of the request yet",
  UNAVAILABLE: "The service is not ready",
  INSUFFICIENT_STORAGE: "Not enough disk space to store the change",
  INTERNAL: "Internal error",
};

/** A field-level problem; `path` is a JSON Pointer (RFC 6901) into the request body. */
export interface FieldError {
  readonly path: string;
  readonly message: string;
  readonly code?: string;
}

/** A guardrail the planned resources would violate (stable code, resource URN). */
export interface ViolationDetail {
  readonly code: string;
  readonly message: string;
  readonly resource: string;
}

export interface AppErrorOptions {
  readonly cause?: unknown;
  readonly violations?: readonly ViolationDetail[];
  readonly errors?: readonly FieldError[];
  /** Related resources (e.g. the existing provider on a 409). */
  readonly links?: Readonly<Record<string, string>>;
}

export class AppError extends Error {
  readonly errors: readonly FieldError[] | undefined;
  readonly links: Readonly<Record<string, string>> | undefined;
  readonly violations: readonly ViolationDetail[] | undefined;

  constructor(
    readonly code: ErrorCode,
    message: string,
    options: AppErrorOptions = {},
  ) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = "AppError";
    this.errors = options.errors;
    this.links = options.links;
    this.violations = options.violations;
  }

  get status(): number {
    return HTTP_STATUS[this.code];
  }
}

/** `["outbound", "ports", 0]` → `/outbound/ports/0` (RFC 6901 escaping). */
export function toPointer(path: readonly PropertyKey[]): string {
  return path.map((p) => "/" + String(p).replace(/~/g, "~0").replace(/\//g, "~1")).join("");
}
