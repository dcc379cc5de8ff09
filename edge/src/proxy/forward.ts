import type { Env } from "../env";
import type { Api, ModelInfo } from "./catalog";
import { holdFor } from "./hold";
import { TEXT_ONLY_FACTS } from "./request-policy";
import type { RouteDecision } from "./router";
import { translateRequest } from "./translate";
import { callUpstream, type Endpoint } from "./upstream";

/** What forwarding got: the answering model and its response, or the last failure. */
export interface Forwarded {
  used?: ModelInfo;
  upstream?: Response;
  failure?: { status: number; body: unknown; retryable: boolean; timeout?: boolean };
  /** The last attempt went to the other provider (its error body is not in the client's format). */
  failedAcross: boolean;
}

/** The allowed request for `model` in the client's own format (an output cap sent when none was asked). */
export function sameFormat(policedBody: Record<string, unknown>, maxOut: number | undefined, model: ModelInfo, target: Endpoint): Record<string, unknown> {
  const forwarded: Record<string, unknown> = { ...policedBody, model: model.id };
  // No output cap from the client: the catalog's is sent, so the reservation really bounds the price.
  if (maxOut === undefined && (target === "chat" || target === "responses"))
    forwarded[target === "responses" ? "max_output_tokens" : "max_completion_tokens"] = model.maxOutput;
  return forwarded;
}

/**
 * Forwards through the official SDKs to the route's candidates in order, falling back to the next on
 * 5xx/429/timeouts; the other provider's model (cross-provider fallback) gets the request translated to its
 * format, with an output cap the hold already reserved can pay for.
 */
export async function forward(
  env: Env,
  endpoint: Endpoint,
  api: Api,
  routed: RouteDecision,
  request: {
    body: Record<string, unknown>;
    policedBody: Record<string, unknown>;
    bytes: number;
    maxOut: number | undefined;
    stream: boolean;
    maxWholesale: number;
  },
  signal: AbortSignal,
): Promise<Forwarded> {
  const { body, policedBody, bytes, maxOut, stream, maxWholesale } = request;
  const out: Forwarded = { failedAcross: false };
  for (const model of routed.candidates) {
    const across = model.api !== api;
    const target: Endpoint = across ? (model.api === "anthropic" ? "messages" : "chat") : endpoint;
    const crossMax = across ? affordableOutput(model, bytes, maxWholesale, maxOut) : 0;
    // Skip it when the hold cannot pay for a useful answer (fewer tokens than asked for, and under 256).
    if (across && crossMax < Math.min(256, maxOut ?? 256)) continue;
    const forwarded = across ? translateRequest(model.api, body, model.id, crossMax) : sameFormat(policedBody, maxOut, model, target);
    if (stream && target === "chat") forwarded.stream_options = { ...(forwarded.stream_options as object), include_usage: true };
    const r = await callUpstream(env, target, forwarded, signal);
    out.failedAcross = across;
    if (r.ok) {
      out.used = model;
      out.upstream = r.response;
      break;
    }
    out.failure = r;
    if (!r.retryable) break;
  }
  return out;
}

/**
 * Output tokens the other provider's model may produce so that its worst-case price stays within the hold
 * already reserved for the client's own models: the fallback never needs a second reservation.
 */
function affordableOutput(m: ModelInfo, bodyBytes: number, heldWholesale: number, requested: number | undefined): number {
  // Only plain text conversations cross formats (translate.ts), so the body's bytes bound the input.
  const inputCost = holdFor({ ...TEXT_ONLY_FACTS, maxOutput: 0 }, m, bodyBytes);
  const perToken = m.outputPer1M / 1_000_000;
  const affordable = perToken > 0 ? Math.floor((heldWholesale - inputCost) / perToken) : m.maxOutput;
  return Math.max(0, Math.min(requested ?? m.maxOutput, m.maxOutput, affordable));
}
