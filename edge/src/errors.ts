import type { Context } from "hono";
import { HTTPException } from "hono/http-exception";
import type { ContentfulStatusCode } from "hono/utils/http-status";
import { z } from "@hono/zod-openapi";
import { AppError, ERROR_CODES, type ErrorCode, type ErrorEnvelope } from "@oc/contracts/errors";
import type { HonoEnv } from "./hono-env";

/** The only place an error code becomes an HTTP status. */
export const STATUS: Record<ErrorCode, ContentfulStatusCode> = {
  BAD_REQUEST: 400,
  VALIDATION_FAILED: 400,
  INVALID_JSON: 400,
  UNSUPPORTED_MEDIA_TYPE: 415,
  PAYLOAD_TOO_LARGE: 413,
  UNAUTHORIZED: 401,
  FORBIDDEN: 403,
  NOT_FOUND: 404,
  METHOD_NOT_ALLOWED: 405,
  CONFLICT: 409,
  RATE_LIMITED: 429,
  INVALID_CREDENTIALS: 401,
  INVALID_TWO_FACTOR_CODE: 401,
  INVALID_TOKEN: 400,
  EMAIL_NOT_VERIFIED: 403,
  OAUTH_FAILED: 400,
  UPSTREAM_ERROR: 502,
  NO_CAPACITY: 503,
  PAYMENT_FAILED: 402,
  PAYMENT_REQUIRED: 402,
  BILLING_UNAVAILABLE: 503,
  FEATURE_UNAVAILABLE: 503,
  INVALID_SIGNATURE: 400,
  CROSS_SITE_REQUEST: 403,
  SESSION_REQUIRED: 403,
  BAD_ENVIRONMENT: 500,
  INTERNAL: 500,
};

export function envelope(code: ErrorCode, message: string, requestId: string, details?: unknown): ErrorEnvelope {
  return { error: { code, message, requestId, ...(details === undefined ? {} : { details }) } };
}

export function errorResponse(c: Context<HonoEnv>, err: AppError): Response {
  // Every limiter of the API counts in one-minute windows.
  if (err.code === "RATE_LIMITED") c.header("Retry-After", "60");
  return c.json(envelope(err.code, err.message, c.get("requestId") ?? "unknown", err.details), STATUS[err.code]);
}

/** Hono's onError: our own errors, Hono's HTTPExceptions, then anything else (logged, never shown). */
export function handleError(err: Error, c: Context<HonoEnv>): Response {
  if (err instanceof AppError) return errorResponse(c, err);
  if (err instanceof HTTPException) {
    const code: ErrorCode = err.status === 401 ? "UNAUTHORIZED" : err.status === 404 ? "NOT_FOUND" : err.status === 413 ? "PAYLOAD_TOO_LARGE" : "BAD_REQUEST";
    return errorResponse(c, new AppError(code, err.message || code));
  }
  console.error(`[${c.get("requestId")}] unhandled error`, err);
  return errorResponse(c, new AppError("INTERNAL", "Something went wrong on our side. Please try again."));
}

/** defaultHook for zod-openapi routes: validation failures become VALIDATION_FAILED with the issues. */
export function handleZodError(result: { success: true } | { success: false; error: z.ZodError }, c: Context<HonoEnv>): Response | undefined {
  if (result.success) return undefined;
  const issues = result.error.issues.map((i) => ({ path: i.path.join("."), message: i.message }));
  const first = issues[0];
  return errorResponse(c, new AppError("VALIDATION_FAILED", first ? `${first.path || "body"}: ${first.message}` : "Invalid request", { details: issues }));
}

/** The error envelope as an OpenAPI schema, reused by every route's documented error responses. */
export const errorEnvelopeSchema = z
  .object({
    error: z.object({
      code: z.enum(ERROR_CODES),
      message: z.string(),
      requestId: z.string(),
      details: z.unknown().optional(),
    }),
  })
  .openapi("ErrorEnvelope");

export const errorResponses = {
  400: { description: "Invalid request", content: { "application/json": { schema: errorEnvelopeSchema } } },
  401: { description: "Not signed in", content: { "application/json": { schema: errorEnvelopeSchema } } },
  429: { description: "Too many requests", content: { "application/json": { schema: errorEnvelopeSchema } } },
  500: { description: "Server error", content: { "application/json": { schema: errorEnvelopeSchema } } },
} as const;
