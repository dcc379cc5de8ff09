import { GRACE_DAYS, PLANS, REFERRAL_PERCENT, TOKEN_PACKS, type Plan } from "@oc/contracts/plans";

/**
 * What the marketing pages say about plans, computed from contracts/src/plans.ts (the one list the billing
 * code charges from), so a price or limit changed there is changed on every page.
 */
export { GRACE_DAYS, PLANS, REFERRAL_PERCENT, TOKEN_PACKS };

const dollars = (cents: number) => `$${cents % 100 === 0 ? cents / 100 : (cents / 100).toFixed(2)}`;
export const price = (p: { priceCents: number }) => dollars(p.priceCents);
export const tokens = (micros: number) => dollars(Math.round(micros / 10_000));
export const ram = (p: Plan) => `${p.ramMb % 1024 === 0 ? p.ramMb / 1024 : (p.ramMb / 1024).toFixed(1)} GB`;
export const markup = (p: Plan) => `${p.markupBps / 100}%`;
export const cheapest = PLANS.reduce((a, b) => (b.priceCents < a.priceCents ? b : a));
/** The plan most people should pick: the middle one, shown as recommended. */
export const recommended: Plan["id"] = "pro";
/** The first plan whose agent has its own web browser. */
export const browserFrom = PLANS.find((p) => p.features.some((f) => /browser/i.test(f)));
