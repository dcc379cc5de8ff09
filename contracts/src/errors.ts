/**
 * The platform's one error vocabulary. Services throw `AppError` with one of these codes and know nothing
 * of HTTP; the edge maps each code to a status in exactly one place (edge/src/errors.ts).
 */
export const ERROR_CODES = [
  "BAD_REQUEST",
  "VALIDATION_FAILED",
  "INVALID_JSON",
  "UNSUPPORTED_MEDIA_TYPE",
  "PAYLOAD_TOO_LARGE",
  "UNAUTHORIZED",
  "FORBIDDEN",
  "NOT_FOUND",
  "METHOD_NOT_ALLOWED",
  "CONFLICT",
  "RATE_LIMITED",
  "INVALID_CREDENTIALS",
  "INVALID_TWO_FACTOR_CODE",
  "INVALID_TOKEN",
  "EMAIL_NOT_VERIFIED",
  "OAUTH_FAILED",
  "UPSTREAM_ERROR",
  "NO_CAPACITY",
  "PAYMENT_FAILED",
  "PAYMENT_REQUIRED",
  "BILLING_UNAVAILABLE",
  "FEATURE_UNAVAILABLE",
  "INVALID_SIGNATURE",
  "CROSS_SITE_REQUEST",
  "SESSION_REQUIRED",
  "BAD_ENVIRONMENT",
  "INTERNAL",
] as const;

export type ErrorCode = (typeof ERROR_CODES)[number];

export class AppError extends Error {
  readonly code: ErrorCode;
  /** Safe, user-facing details (validation issues, which field, ...). Never secrets or stack traces. */
  readonly details?: unknown;

  constructor(code: ErrorCode, message: string, options?: { details?: unknown; cause?: unknown }) {
    super(message, { cause: options?.cause });
    this.name = "AppError";
    this.code = code;
    this.details = options?.details;
  }
}

/** The JSON body every error response carries. */
export interface ErrorEnvelope {
  error: { code: ErrorCode; message: string; requestId: string; details?: unknown };
}
