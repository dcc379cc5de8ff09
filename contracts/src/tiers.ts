/**
 * The smart router's difficulty tiers, cheapest first. The edge's catalog and router, the user's Durable
 * Object (pins, per-message budgets) and the dashboard's Token Protection page all speak in these.
 */
export const TIERS = ["simple", "standard", "complex", "reasoning"] as const;
export type Tier = (typeof TIERS)[number];

export const tierRank = (t: Tier) => TIERS.indexOf(t);

export const maxTier = (a: Tier, b: Tier): Tier => (tierRank(a) >= tierRank(b) ? a : b);
