import { eq } from "drizzle-orm";
import { planById } from "@oc/contracts/plans";
import { users } from "@oc/db/schema";
import type { Services } from "../context";
import { currentSubscription } from "./checkout";
import { DEFAULT_TOP_UP_PACK } from "./top-up";
import { userAgent } from "../../clients/user-agent";

/** Everything the billing page shows in one call: plan, period, balance, auto top-up, referral link. */
export async function billingOverview(s: Services, userId: string) {
  const account = userAgent(s.env, userId);
  const [sub, balance, protection, [user]] = await Promise.all([
    currentSubscription(s, userId),
    account.getBalance(),
    account.getProtection(),
    s.db.select({ referralCode: users.referralCode }).from(users).where(eq(users.id, userId)),
  ]);
  const plan = sub ? planById(sub.planId) : undefined;
  return {
    subscription: sub
      ? {
          planId: sub.planId,
          planName: plan?.name ?? sub.planId,
          status: sub.status,
          currentPeriodEnd: sub.currentPeriodEnd?.toISOString() ?? null,
          cancelAt: sub.cancelAtPeriodEnd?.toISOString() ?? null,
          graceUntil: sub.graceUntil?.toISOString() ?? null,
        }
      : null,
    balance,
    autoTopUp: { ...protection.autoTopUp, packId: protection.autoTopUp.packId ?? DEFAULT_TOP_UP_PACK },
    referralLink: `${s.env.APP_URL}/signup?ref=${user?.referralCode ?? ""}`,
  };
}

export async function updateAutoTopUp(s: Services, userId: string, autoTopUp: { enabled: boolean; threshold: number; packId: string }) {
  const next = await userAgent(s.env, userId).updateProtection({ autoTopUp });
  return { enabled: next.autoTopUp.enabled, threshold: next.autoTopUp.threshold, packId: next.autoTopUp.packId ?? DEFAULT_TOP_UP_PACK };
}
