import { z } from "zod";
import { TIERS, tierRank, type Tier } from "@oc/contracts/tiers";

export { TIERS, tierRank, type Tier };

/**
 * The models the platform sells, as operator data: models, tiers, wholesale prices (input / output / cached
 * read / cache write, integer micro-USD per 1M tokens: $0.10 per 1M = 100_000) and per-plan markup, each
 * price with the date and public source it was read from. The operator edits it in the admin console; each
 * save is a new version (catalog-store.ts), and a usage record keeps the version it was billed at.
 * `maxTier` is the hardest kind of request a model is trusted with; `auto` says whether the smart router
 * may pick it (a model can be sold by name only). `api` is the wire format the upstream speaks.
 */
export type Api = "openai" | "anthropic";

const micros = z.number().int().min(0).max(1_000_000_000);
export const modelSchema = z
  .object({
    id: z.string().regex(/^[a-z0-9][a-z0-9.\-_]{1,79}$/, "lower-case letters, digits, . - _"),
    api: z.enum(["openai", "anthropic"]),
    maxTier: z.enum(TIERS),
    auto: z.boolean(),
    inputPer1M: micros,
    outputPer1M: micros,
    cachedPer1M: micros,
    /** What the provider charges to write the prompt cache (Anthropic and newer OpenAI models: 1.25 × input). */
    cacheWritePer1M: micros,
    contextWindow: z.number().int().min(1_000).max(100_000_000),
    maxOutput: z.number().int().min(1).max(10_000_000),
    priceSource: z.url(),
    priceDate: z.iso.date(),
  })
  .refine((m) => m.cachedPer1M <= m.inputPer1M, { message: "the cached price cannot exceed the input price", path: ["cachedPer1M"] });
export type ModelInfo = z.infer<typeof modelSchema>;

export const catalogSchema = z
  .object({
    version: z.number().int().min(1),
    publishedAt: z.iso.datetime(),
    note: z.string().max(500).default(""),
    models: z.array(modelSchema).min(1).max(200),
    /** Markup on wholesale per plan, in basis points (2000 = +20%). */
    markupBps: z.record(z.string(), z.number().int().min(0).max(100_000)),
  })
  .superRefine((c, ctx) => {
    const ids = new Set<string>();
    for (const [i, m] of c.models.entries()) {
      if (ids.has(m.id)) ctx.addIssue({ code: "custom", message: `model "${m.id}" appears twice`, path: ["models", i, "id"] });
      ids.add(m.id);
    }
    // The router must always find a model: every tier needs an auto model in each format that has any.
    for (const api of ["openai", "anthropic"] as const) {
      const auto = c.models.filter((m) => m.api === api && m.auto);
      if (auto.length === 0) continue;
      if (!auto.some((m) => m.maxTier === "reasoning"))
        ctx.addIssue({ code: "custom", message: `no ${api} model the router may pick covers the reasoning tier`, path: ["models"] });
    }
  });
export type Catalog = z.infer<typeof catalogSchema>;

const OPENAI = "https://developers.openai.com/api/docs/pricing";
const ANTHROPIC = "https://platform.claude.com/docs/en/about-claude/pricing";
const m = (
  id: string,
  api: Api,
  maxTier: Tier,
  auto: boolean,
  usd: [input: number, cached: number, write: number, output: number],
  contextWindow: number,
  maxOutput: number,
  priceSource: string,
  priceDate: string,
): ModelInfo => ({
  id,
  api,
  maxTier,
  auto,
  inputPer1M: Math.round(usd[0] * 1e6),
  cachedPer1M: Math.round(usd[1] * 1e6),
  cacheWritePer1M: Math.round(usd[2] * 1e6),
  outputPer1M: Math.round(usd[3] * 1e6),
  contextWindow,
  maxOutput,
  priceSource,
  priceDate,
});

/**
 * Version 1, seeded with the providers' public list prices (read 2026-12-01 from the pages named in each
 * entry: standard tier, prompts up to 272k tokens for OpenAI and up to 100k for Claude Haiku 5.5). The older
 * models stay sellable by name, so agents configured with them keep working, but the router no longer picks them.
 * `maxOutput` is what the platform sells per call (16k for the new models, below the providers' 128k): the
 * proxy sends it as the output cap when a client names none, so a call's reservation bounds its price.
 */
export const SEED_CATALOG: Catalog = {
  version: 1,
  publishedAt: "2026-12-01T00:00:00.000Z",
  note: "Seed: current public list prices of OpenAI (GPT-6 family) and Anthropic (Claude 5.5 family).",
  models: [
    m(
      "gpt-6-luna",
      "openai",
      "simple",
      true,
      [0.1, 0.01, 0.125, 0.5],
      1_050_000,
      16_384,
      "https://developers.openai.com/api/docs/models/gpt-6-luna",
      "2026-09-22",
    ),
    m("gpt-6.1-terra", "openai", "standard", true, [1, 0.05, 1.25, 5], 1_050_000, 16_384, "https://docs.litellm.ai/blog/gpt-6-1-terra", "2026-10-26"),
    m(
      "gpt-6.1-sol",
      "openai",
      "complex",
      true,
      [2, 0.1, 2.5, 10],
      1_050_000,
      16_384,
      "https://github.com/premk134/codex-token-watch/releases/tag/v0.3.3",
      "2026-10-26",
    ),
    m(
      "gpt-6-astra",
      "openai",
      "reasoning",
      true,
      [10, 1, 12.5, 50],
      1_050_000,
      16_384,
      "https://github.com/TheKrush/PromptFuel/releases/tag/v1.0.19",
      "2026-09-03",
    ),
    m("claude-haiku-5-5", "anthropic", "standard", true, [0.1, 0.01, 0.125, 0.5], 1_000_000, 16_384, ANTHROPIC, "2026-10-07"),
    m("claude-sonnet-5-5", "anthropic", "complex", true, [2, 0.1, 2.5, 10], 1_000_000, 16_384, ANTHROPIC, "2026-10-07"),
    m("claude-opus-5-5", "anthropic", "reasoning", true, [4, 0.2, 5, 20], 1_000_000, 16_384, ANTHROPIC, "2026-10-07"),
    m("claude-fable-5-1", "anthropic", "reasoning", false, [10, 0.25, 12.5, 50], 1_000_000, 16_384, ANTHROPIC, "2026-10-07"),
    // Earlier generations, by name only.
    m("gpt-4.1-nano", "openai", "simple", false, [0.1, 0.025, 0.1, 0.4], 1_047_576, 32_768, OPENAI, "2025-04-14"),
    m("gpt-4.1-mini", "openai", "standard", false, [0.4, 0.1, 0.4, 1.6], 1_047_576, 32_768, OPENAI, "2025-04-14"),
    m("gpt-4.1", "openai", "complex", false, [2, 0.5, 2, 8], 1_047_576, 32_768, OPENAI, "2025-04-14"),
    m("o4-mini", "openai", "reasoning", false, [1.1, 0.275, 1.1, 4.4], 200_000, 100_000, OPENAI, "2025-04-16"),
    m("claude-haiku-4-5", "anthropic", "standard", false, [1, 0.1, 1.25, 5], 200_000, 64_000, ANTHROPIC, "2025-10-15"),
    m("claude-sonnet-4-5", "anthropic", "reasoning", false, [3, 0.3, 3.75, 15], 200_000, 64_000, ANTHROPIC, "2025-09-29"),
    m("claude-opus-4-1", "anthropic", "reasoning", false, [15, 1.5, 18.75, 75], 200_000, 32_000, ANTHROPIC, "2025-08-05"),
  ],
  markupBps: { starter: 3000, pro: 2000, max: 1500 },
};

export const EMBEDDING_MODELS = [{ id: "text-embedding-3-small", inputPer1M: 20_000, dimensions: 1536 }] as const;

/** A validated catalog with its lookups precomputed once per version (the hot path only reads maps). */
export class CatalogView {
  readonly byId: Map<string, ModelInfo>;
  private readonly candidates = new Map<string, ModelInfo[]>();

  constructor(readonly catalog: Catalog) {
    this.byId = new Map(catalog.models.map((x) => [x.id, x]));
    const blend = (x: ModelInfo) => 3 * x.inputPer1M + x.outputPer1M;
    for (const api of ["openai", "anthropic"] as const)
      for (const t of TIERS)
        this.candidates.set(
          `${api}:${t}`,
          catalog.models.filter((x) => x.api === api && x.auto && tierRank(x.maxTier) >= tierRank(t)).sort((a, b) => blend(a) - blend(b)),
        );
  }

  get version() {
    return this.catalog.version;
  }

  find(id: string) {
    return this.byId.get(id);
  }

  /** Models the router may pick for `tier` in the client's format, cheapest first (3:1 input:output blend). */
  candidatesFor(api: Api, tier: Tier): ModelInfo[] {
    return this.candidates.get(`${api}:${tier}`) ?? [];
  }

  /**
   * The "always use the strongest model" baseline, and the model a "use the best model" conversation gets:
   * the priciest model of the format that the router may pick and that covers every tier.
   */
  strongest(api: Api): ModelInfo {
    return [...this.catalog.models].filter((x) => x.api === api && x.auto && x.maxTier === "reasoning").sort((a, b) => b.outputPer1M - a.outputPer1M)[0]!;
  }
}

export const SEED_VIEW = new CatalogView(SEED_CATALOG);
/** The seed's models: what provisioning offers and `/v1/models` lists when no newer catalog is loaded. */
export const MODELS: readonly ModelInfo[] = SEED_CATALOG.models;
export const findModel = (id: string) => SEED_VIEW.find(id);
export const candidatesFor = (api: Api, tier: Tier) => SEED_VIEW.candidatesFor(api, tier);
export const topModel = (api: Api) => SEED_VIEW.strongest(api);
