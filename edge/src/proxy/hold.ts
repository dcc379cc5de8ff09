import type { ModelInfo } from "./catalog";
import type { Usage } from "./pricing";
import type { RequestFacts } from "./request-policy";

/**
 * The two prices of a call, both at the provider's list price (wholesale): the hold reserved before it is
 * forwarded (an upper bound of anything the provider can bill for a request the allow-list let through), and
 * the charge for the usage the provider reported. Rules beyond the catalog's three per-token prices live
 * here; a catalog entry may override each of them (`PriceRules` fields on the entry).
 */
export interface PriceRules {
  /** Priority tier: list price × this (basis points). OpenAI lists ~1.75–1.8×; 2× is held and charged. */
  priorityBps: number;
  /** One-hour prompt-cache writes: input price × this (Anthropic: 2×); five-minute writes are the catalog's `cacheWritePer1M`. */
  cacheWrite1hBps: number;
  /** The most tokens one image can cost on this provider's models, whatever its size or bytes. */
  imageTokens: number;
}

const DEFAULT_RULES: Record<ModelInfo["api"], PriceRules> = {
  openai: { priorityBps: 20_000, cacheWrite1hBps: 20_000, imageTokens: 6_000 },
  anthropic: { priorityBps: 20_000, cacheWrite1hBps: 20_000, imageTokens: 6_000 },
};

export function rulesFor(m: ModelInfo): PriceRules {
  const own = m as ModelInfo & Partial<PriceRules>;
  const d = DEFAULT_RULES[m.api];
  return {
    priorityBps: own.priorityBps ?? d.priorityBps,
    cacheWrite1hBps: own.cacheWrite1hBps ?? d.cacheWrite1hBps,
    imageTokens: own.imageTokens ?? d.imageTokens,
  };
}

/** Per-1M prices of prompt-cache writes: never below the input price. */
function writePrices(m: ModelInfo, r: PriceRules) {
  const w5 = Math.max(m.cacheWritePer1M ?? m.inputPer1M, m.inputPer1M);
  return { w5, w1: Math.max(w5, Math.ceil((m.inputPer1M * r.cacheWrite1hBps) / 10_000)) };
}

/** What the provider reported, beyond the three basic counts. */
export interface MeteredUsage extends Usage {
  /** Of inputTokens, written to the prompt cache (5-minute / 1-hour TTL). */
  cacheWrite5mTokens?: number;
  cacheWrite1hTokens?: number;
  /** Of outputTokens, hidden reasoning (for the record; already inside outputTokens). */
  reasoningTokens?: number;
  /** The tier the provider says it served the call in. */
  serviceTier?: string;
}

/** OpenAI reasoning models think whether asked to or not: their output is never all streamed. */
export const reasoningModel = (m: ModelInfo) => m.api === "openai" && /^(o\d|gpt-([5-9]|\d\d))/.test(m.id);

/**
 * Integer micro-USD, rounded up. `bps` scales the price (10_000 = list price). In BigInt: tokens × price ×
 * bps passes 2^53 for large calls, where a float could round a fraction of a micro away.
 */
function cost(tokens: number, per1M: number, bps = 10_000): number {
  const t = BigInt(Math.max(0, Math.ceil(tokens)));
  return Number((t * BigInt(Math.ceil(per1M)) * BigInt(Math.ceil(bps)) + 9_999_999_999n) / 10_000_000_000n);
}

/** The most the provider can bill for this request on model `m` (a body of `bodyBytes` bytes). */
export function holdFor(facts: RequestFacts, m: ModelInfo, bodyBytes: number): number {
  const r = rulesFor(m);
  const tier = facts.serviceTier === "priority" ? r.priorityBps : 10_000;
  // Every text token is at least one byte of the body; images cost a bounded number of tokens each; a
  // document's tokens are bounded only by the context window, and no call bills more input than that.
  const input = facts.documents > 0 ? m.contextWindow : Math.min(m.contextWindow, bodyBytes + facts.images * r.imageTokens);
  // Input is priced as if all of it were written to the prompt cache (some providers write it unasked).
  const { w5, w1 } = writePrices(m, r);
  const inputPrice = facts.cacheWrite === "1h" ? w1 : w5;
  const perChoice = Math.min(facts.maxOutput ?? m.maxOutput, m.maxOutput) + facts.predictionBytes;
  const output = facts.choices * perChoice;
  // +5: the charge rounds each of its five parts up separately.
  return cost(input, inputPrice, tier) + cost(output, m.outputPer1M, tier) + 5;
}

/** The provider's list price for `u` on model `m`. `facts` fills in what a provider left unreported. */
export function chargeFor(m: ModelInfo, u: MeteredUsage, facts?: Pick<RequestFacts, "serviceTier">): number {
  const r = rulesFor(m);
  const priority = u.serviceTier === "priority" || (u.serviceTier === undefined && facts?.serviceTier === "priority");
  const tier = priority ? r.priorityBps : 10_000;
  const { w5: w5Price, w1: w1Price } = writePrices(m, r);
  const input = Math.max(0, u.inputTokens);
  const cached = Math.min(Math.max(0, u.cachedTokens), input);
  // A provider that reports writes without their TTL (`cacheWriteTokens`) is priced at the five-minute rate.
  const w1 = Math.min(Math.max(0, u.cacheWrite1hTokens ?? 0), input - cached);
  const w5 = Math.min(
    Math.max(0, (u.cacheWrite5mTokens ?? 0) + (u.cacheWrite5mTokens === undefined && u.cacheWrite1hTokens === undefined ? (u.cacheWriteTokens ?? 0) : 0)),
    input - cached - w1,
  );
  const plain = input - cached - w5 - w1;
  return (
    cost(plain, m.inputPer1M, tier) +
    cost(cached, m.cachedPer1M, tier) +
    cost(w5, w5Price, tier) +
    cost(w1, w1Price, tier) +
    cost(u.outputTokens, m.outputPer1M, tier)
  );
}
