/**
 * What we sell, in one place: monthly plans and one-off token packs. Money is integer micro-USD (1 USD =
 * 1_000_000) or Stripe's integer cents where Stripe needs it; never floats. Stripe price ids of the plans come
 * from the env (STRIPE_PRICE_<PLAN>), so the same config serves test and live mode.
 */
export interface Plan {
  id: "starter" | "pro" | "max";
  name: string;
  priceCents: number;
  /** Container memory limit of the agent. */
  ramMb: number;
  /** Token credit added with each paid month. */
  includedMicros: number;
  /** Markup on wholesale token prices, in basis points (2000 = 20%). */
  markupBps: number;
  skillsLimit: number;
  features: string[];
}

export const PLANS: readonly Plan[] = [
  {
    id: "starter",
    name: "Starter",
    priceCents: 1_200,
    ramMb: 2048,
    includedMicros: 3_000_000,
    markupBps: 3000,
    skillsLimit: 10,
    features: ["Your own OpenClaw agent", "Telegram, Slack, Discord, WhatsApp", "Smart router", "$3 of tokens each month"],
  },
  {
    id: "pro",
    name: "Pro",
    priceCents: 2_500,
    ramMb: 3072,
    includedMicros: 10_000_000,
    markupBps: 2000,
    skillsLimit: 30,
    features: ["Everything in Starter", "More memory for bigger tasks", "Browser agent", "$10 of tokens each month"],
  },
  {
    id: "max",
    name: "Max",
    priceCents: 5_000,
    ramMb: 4096,
    includedMicros: 25_000_000,
    markupBps: 1500,
    skillsLimit: 100,
    features: ["Everything in Pro", "Lowest token markup", "Priority wake-up", "$25 of tokens each month"],
  },
];

export interface TokenPack {
  id: "pack_5" | "pack_20" | "pack_50";
  name: string;
  priceCents: number;
  creditMicros: number;
}

export const TOKEN_PACKS: readonly TokenPack[] = [
  { id: "pack_5", name: "$5 of tokens", priceCents: 500, creditMicros: 5_000_000 },
  { id: "pack_20", name: "$20 of tokens", priceCents: 2_000, creditMicros: 20_000_000 },
  { id: "pack_50", name: "$50 of tokens", priceCents: 5_000, creditMicros: 50_000_000 },
];

/** A referrer earns this share of the referred user's first payment, as token credit. */
export const REFERRAL_PERCENT = 20;
/** After a subscription ends, the agent's data is kept this long before deletion. */
export const GRACE_DAYS = 30;

export const planById = (id: string) => PLANS.find((p) => p.id === id);
export const packById = (id: string) => TOKEN_PACKS.find((p) => p.id === id);
export const centsToMicros = (cents: number) => cents * 10_000;
