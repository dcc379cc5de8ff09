import type { AuthorizeResult } from "@oc/contracts/ledger";
import type { Api } from "./catalog";

/**
 * Errors in the shape each SDK expects, so clients (OpenClaw included) show the message and classify it.
 * Status choices (see README "Proxy errors"): running out of balance or hitting a cap is 429 worded as a
 * "limit reached", which OpenClaw treats as a short rate-limit cooldown; 402/"insufficient credits" wording
 * would make OpenClaw disable the key for 10 minutes even after a top-up. Loops and budgets are 400, so
 * the agent's run stops instead of retrying.
 */
export type ProxyErrorKind =
  | "invalid_key"
  | "suspended"
  | "balance_limit"
  | "rate_limit"
  | "stopped"
  | "unknown_model"
  | "invalid_request"
  | "too_large"
  | "upstream"
  | "timeout"
  | "internal";

const SHAPES: Record<ProxyErrorKind, { status: number; openai: string; anthropic: string }> = {
  invalid_key: { status: 401, openai: "invalid_request_error", anthropic: "authentication_error" },
  suspended: { status: 403, openai: "permission_error", anthropic: "permission_error" },
  balance_limit: { status: 429, openai: "rate_limit_exceeded", anthropic: "rate_limit_error" },
  rate_limit: { status: 429, openai: "rate_limit_exceeded", anthropic: "rate_limit_error" },
  stopped: { status: 400, openai: "invalid_request_error", anthropic: "invalid_request_error" },
  unknown_model: { status: 404, openai: "invalid_request_error", anthropic: "not_found_error" },
  invalid_request: { status: 400, openai: "invalid_request_error", anthropic: "invalid_request_error" },
  too_large: { status: 413, openai: "invalid_request_error", anthropic: "request_too_large" },
  upstream: { status: 502, openai: "server_error", anthropic: "api_error" },
  timeout: { status: 504, openai: "timeout", anthropic: "api_error" },
  internal: { status: 500, openai: "server_error", anthropic: "api_error" },
};

export function proxyError(api: Api, kind: ProxyErrorKind, message: string, code: string = kind, requestId = "", param: string | null = null): Response {
  const shape = SHAPES[kind];
  const body =
    api === "openai"
      ? { error: { message, type: shape.openai, param, code } }
      : { type: "error", error: { type: shape.anthropic, message }, request_id: requestId };
  const headers: Record<string, string> = { "content-type": "application/json", "x-request-id": requestId };
  if (shape.status === 429) headers["retry-after"] = kind === "balance_limit" ? "30" : "60";
  return new Response(JSON.stringify(body), { status: shape.status, headers });
}

/** The proxy's error answer in the caller's SDK shape, carrying the call's request id. */
export type Fail = (kind: ProxyErrorKind, message: string, code?: string, param?: string) => Response;

/** How each refusal of the user's Durable Object is answered. */
export const REFUSAL_KIND: Record<Exclude<AuthorizeResult, { ok: true }>["code"], ProxyErrorKind> = {
  invalid_key: "invalid_key",
  suspended: "suspended",
  balance_limit: "balance_limit",
  daily_cap: "balance_limit",
  monthly_cap: "balance_limit",
  quiet_hours: "rate_limit",
  loop_detected: "stopped",
  message_budget: "stopped",
  background_single_pass: "stopped",
};

/**
 * Whether a provider's 4xx is about the client's own request, and so theirs to read as the provider wrote it.
 * Any other 4xx (401, 403, 404, 402…) is about the platform's account or its routing: passing it on would tell
 * the agent its own key is bad (it may stop using it) and could show provider details, so it becomes a 502.
 */
export const isClientFault = (status: number) => status === 400 || status === 413 || status === 422;
