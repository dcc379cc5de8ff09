/**
 * The models the platform sells, with wholesale prices in micro-USD per 1M tokens (1 USD = 1_000_000 micros,
 * so $0.10 per 1M tokens = 100_000). `maxTier` is the hardest kind of request the model is trusted with; the
 * router picks the cheapest model whose maxTier covers the request's tier. `api` is the wire format the
 * upstream speaks: requests are routed only among models of the format the client used.
 */
export const TIERS = ["simple", "standard", "complex", "reasoning"] as const;
export type Tier = (typeof TIERS)[number];
export type Api = "openai" | "anthropic";

export interface ModelInfo {
  id: string;
  api: Api;
  inputPer1M: number;
  outputPer1M: number;
  cachedPer1M: number;
  contextWindow: number;
  maxOutput: number;
  maxTier: Tier;
}

export const MODELS: readonly ModelInfo[] = [
  { id: "gpt-4.1-nano", api: "openai", inputPer1M: 100_000, outputPer1M: 400_000, cachedPer1M: 25_000, contextWindow: 1_047_576, maxOutput: 32_768, maxTier: "simple" },
  { id: "gpt-4.1-mini", api: "openai", inputPer1M: 400_000, outputPer1M: 1_600_000, cachedPer1M: 100_000, contextWindow: 1_047_576, maxOutput: 32_768, maxTier: "standard" },
  { id: "gpt-4.1", api: "openai", inputPer1M: 2_000_000, outputPer1M: 8_000_000, cachedPer1M: 500_000, contextWindow: 1_047_576, maxOutput: 32_768, maxTier: "complex" },
  { id: "o4-mini", api: "openai", inputPer1M: 1_100_000, outputPer1M: 4_400_000, cachedPer1M: 275_000, contextWindow: 200_000, maxOutput: 100_000, maxTier: "reasoning" },
  { id: "claude-haiku-4-5", api: "anthropic", inputPer1M: 1_000_000, outputPer1M: 5_000_000, cachedPer1M: 100_000, contextWindow: 200_000, maxOutput: 64_000, maxTier: "standard" },
  { id: "claude-sonnet-4-5", api: "anthropic", inputPer1M: 3_000_000, outputPer1M: 15_000_000, cachedPer1M: 300_000, contextWindow: 200_000, maxOutput: 64_000, maxTier: "reasoning" },
  { id: "claude-opus-4-1", api: "anthropic", inputPer1M: 15_000_000, outputPer1M: 75_000_000, cachedPer1M: 1_500_000, contextWindow: 200_000, maxOutput: 32_000, maxTier: "reasoning" },
];

export const EMBEDDING_MODELS = [{ id: "text-embedding-3-small", inputPer1M: 20_000, dimensions: 1536 }] as const;

const byId = new Map(MODELS.map((m) => [m.id, m]));
export const findModel = (id: string) => byId.get(id);
export const tierRank = (t: Tier) => TIERS.indexOf(t);

/** Models able to serve `tier` in the client's format, cheapest first (by a 3:1 input:output blend). */
export function candidatesFor(api: Api, tier: Tier): ModelInfo[] {
  const blend = (m: ModelInfo) => 3 * m.inputPer1M + m.outputPer1M;
  return MODELS.filter((m) => m.api === api && tierRank(m.maxTier) >= tierRank(tier)).sort((a, b) => blend(a) - blend(b));
}

/** The most expensive model of a format: the "always use the top model" baseline of the router evaluation. */
export const topModel = (api: Api) => [...MODELS].filter((m) => m.api === api).sort((a, b) => b.outputPer1M - a.outputPer1M)[0]!;
