import { eq } from "drizzle-orm";
import { centsToMicros, REFERRAL_PERCENT } from "@oc/contracts/plans";
import { referrals, users } from "@oc/db/schema";
import type { Services } from "../context";

/**
 * A referred user's payment earns the referrer REFERRAL_PERCENT of it, once per referred user (the
 * referral's source id is the referred user). Self-referral (the same person, by normalised email) earns
 * nothing. The Stripe webhook credits it with the payment's other credits (webhooks.ts).
 */
export async function referralFor(s: Services, user: { id: string; email: string; referredBy: string | null }, paidCents: number) {
  if (!user.referredBy || user.referredBy === user.id || paidCents <= 0) return undefined;
  const [referrer] = await s.db.select({ id: users.id, email: users.email }).from(users).where(eq(users.id, user.referredBy));
  if (!referrer || normaliseEmail(referrer.email) === normaliseEmail(user.email)) return undefined;
  const [done] = await s.db.select({ at: referrals.creditedAt }).from(referrals).where(eq(referrals.referredId, user.id));
  if (done?.at) return undefined;
  const amount = Math.floor((centsToMicros(paidCents) * REFERRAL_PERCENT) / 100);
  return { referrerId: referrer.id, referredId: user.id, amount };
}

/** `a.b+tag@gmail.com` and `ab@gmail.com` are one inbox: the self-referral check compares these forms. */
export function normaliseEmail(email: string): string {
  const [local = "", domain = ""] = email.toLowerCase().split("@");
  const base = local.split("+")[0]!;
  return `${domain === "gmail.com" || domain === "googlemail.com" ? base.replace(/\./g, "") : base}@${domain === "googlemail.com" ? "gmail.com" : domain}`;
}
