import { withMarkup } from "../../../contracts/src/money";
import type { ModelInfo } from "./catalog";

export { withMarkup };

export interface Usage {
  inputTokens: number;
  outputTokens: number;
  /** Input tokens served from the provider's prompt cache (billed at the cached price). */
  cachedTokens: number;
}

/** Integer micro-USD, rounded up: a fraction of a micro is never given away, nor charged twice. */
const per1M = (tokens: number, pricePer1M: number) => Math.ceil((tokens * pricePer1M) / 1_000_000);

/** What the upstream charges us. */
export function wholesaleMicros(m: ModelInfo, u: Usage): number {
  const cached = Math.min(u.cachedTokens, u.inputTokens);
  return per1M(u.inputTokens - cached, m.inputPer1M) + per1M(cached, m.cachedPer1M) + per1M(u.outputTokens, m.outputPer1M);
}

/**
 * The most a request can cost, reserved before it is forwarded. Every token is at least one byte, so the
 * body's byte length bounds the prompt's tokens (capped by the context window); output is bounded by the
 * request's max tokens or the model's maximum.
 */
export function maxWholesaleMicros(m: ModelInfo, bodyBytes: number, maxOutputTokens: number | undefined): number {
  const input = Math.min(bodyBytes, m.contextWindow);
  const output = Math.min(maxOutputTokens ?? m.maxOutput, m.maxOutput);
  return wholesaleMicros(m, { inputTokens: input, outputTokens: output, cachedTokens: 0 });
}
