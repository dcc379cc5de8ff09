import { withMarkup } from "@oc/contracts/money";
import type { ModelInfo } from "./catalog";

export { withMarkup };

export interface Usage {
  inputTokens: number;
  outputTokens: number;
  /** Input tokens served from the provider's prompt cache (billed at the cached price). */
  cachedTokens: number;
  /** Input tokens written to the provider's prompt cache (billed at the cache-write price), if reported. */
  cacheWriteTokens?: number;
}

type Prices = Pick<ModelInfo, "inputPer1M" | "outputPer1M" | "cachedPer1M"> & { cacheWritePer1M?: number };

/** Integer micro-USD, rounded up: a fraction of a micro is never given away, nor charged twice. */
const per1M = (tokens: number, pricePer1M: number) => Math.ceil((tokens * pricePer1M) / 1_000_000);

/** What the upstream charges us. `inputTokens` includes the cached and cache-written tokens. */
export function wholesaleMicros(m: Prices, u: Usage): number {
  const cached = Math.min(u.cachedTokens, u.inputTokens);
  const written = Math.min(u.cacheWriteTokens ?? 0, u.inputTokens - cached);
  const writePrice = Math.max(m.cacheWritePer1M ?? m.inputPer1M, m.inputPer1M);
  return (
    per1M(u.inputTokens - cached - written, m.inputPer1M) + per1M(cached, m.cachedPer1M) + per1M(written, writePrice) + per1M(u.outputTokens, m.outputPer1M)
  );
}

/**
 * The most a request can cost, reserved before it is forwarded. Every token is at least one byte, so the
 * body's byte length bounds the prompt's tokens (capped by the context window); output is bounded by the
 * request's max tokens or the model's maximum. Input is priced as if all of it were written to the cache.
 */
export function maxWholesaleMicros(m: Prices & Pick<ModelInfo, "contextWindow" | "maxOutput">, bodyBytes: number, maxOutputTokens: number | undefined): number {
  const input = Math.min(bodyBytes, m.contextWindow);
  const output = Math.min(maxOutputTokens ?? m.maxOutput, m.maxOutput);
  return wholesaleMicros(m, { inputTokens: input, outputTokens: output, cachedTokens: 0, cacheWriteTokens: input });
}
