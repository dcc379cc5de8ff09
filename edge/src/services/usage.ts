import { and, desc, eq, gte, sql } from "drizzle-orm";
import { referrals, usageRecords, users } from "@oc/db/schema";
import type { Services } from "./context";
import { userAgent } from "../clients/user-agent";

/**
 * Token Analytics: the user's usage over the last `days`, by day, by model and by tier (micro-USD charged
 * and tokens), with the balance. Days without usage are filled with zeros so charts have a continuous axis.
 */
export async function usageSummary(s: Services, userId: string, days = 30) {
  const since = new Date(Date.now() - days * 86_400_000);
  const where = and(eq(usageRecords.userId, userId), gte(usageRecords.createdAt, since));
  const day = sql<string>`to_char(date_trunc('day', ${usageRecords.createdAt} AT TIME ZONE 'UTC'), 'YYYY-MM-DD')`;
  const sums = {
    spentMicros: sql<string>`coalesce(sum(${usageRecords.priceMicros}), 0)`,
    inputTokens: sql<string>`coalesce(sum(${usageRecords.inputTokens}), 0)`,
    outputTokens: sql<string>`coalesce(sum(${usageRecords.outputTokens}), 0)`,
    calls: sql<string>`count(*)`,
  };
  const [byDay, byModel, byTier, recent, balance] = await Promise.all([
    s.db
      .select({ day, ...sums })
      .from(usageRecords)
      .where(where)
      .groupBy(day)
      .orderBy(day),
    s.db
      .select({ model: usageRecords.model, ...sums })
      .from(usageRecords)
      .where(where)
      .groupBy(usageRecords.model)
      .orderBy(desc(sql`sum(${usageRecords.priceMicros})`)),
    s.db
      .select({ tier: sql<string>`coalesce(${usageRecords.tier}, 'n/a')`, ...sums })
      .from(usageRecords)
      .where(where)
      .groupBy(usageRecords.tier),
    s.db
      .select({
        at: usageRecords.createdAt,
        model: usageRecords.model,
        tier: usageRecords.tier,
        reason: usageRecords.routeReason,
        priceMicros: usageRecords.priceMicros,
        inputTokens: usageRecords.inputTokens,
        outputTokens: usageRecords.outputTokens,
        background: usageRecords.background,
      })
      .from(usageRecords)
      .where(where)
      .orderBy(desc(usageRecords.createdAt))
      .limit(20),
    userAgent(s.env, userId).getBalance(),
  ]);
  type Sums = { spentMicros: number; inputTokens: number; outputTokens: number; calls: number };
  const num = <T extends Record<string, unknown>>(r: T): Omit<T, keyof Sums> & Sums => ({
    ...r,
    spentMicros: Number(r.spentMicros),
    inputTokens: Number(r.inputTokens),
    outputTokens: Number(r.outputTokens),
    calls: Number(r.calls),
  });
  const filled: ({ day: string } & Sums)[] = [];
  const have = new Map(byDay.map((r) => [r.day, num(r)]));
  for (let i = days - 1; i >= 0; i--) {
    const d = new Date(Date.now() - i * 86_400_000).toISOString().slice(0, 10);
    filled.push(have.get(d) ?? { day: d, spentMicros: 0, inputTokens: 0, outputTokens: 0, calls: 0 });
  }
  return {
    days,
    balance,
    totals: filled.reduce(
      (t, r) => ({ spentMicros: t.spentMicros + r.spentMicros, calls: t.calls + r.calls, tokens: t.tokens + r.inputTokens + r.outputTokens }),
      { spentMicros: 0, calls: 0, tokens: 0 },
    ),
    byDay: filled,
    byModel: byModel.map(num),
    byTier: byTier.map(num),
    recent: recent.map((r) => ({ ...r, at: r.at.toISOString() })),
  };
}

/** The Referral System page: the user's link and the people who joined with it. */
export async function referralSummary(s: Services, userId: string) {
  const [me] = await s.db.select({ code: users.referralCode }).from(users).where(eq(users.id, userId));
  const joined = await s.db
    .select({ email: users.email, joinedAt: users.createdAt, creditedMicros: referrals.creditedMicros, creditedAt: referrals.creditedAt })
    .from(users)
    .leftJoin(referrals, eq(referrals.referredId, users.id))
    .where(eq(users.referredBy, userId))
    .orderBy(desc(users.createdAt))
    .limit(100);
  // Only the start of a referred address is shown: enough to recognise a friend, not to harvest addresses.
  const mask = (email: string) => `${email.slice(0, 2)}…@${email.split("@")[1]}`;
  return {
    link: `${s.env.APP_URL}/signup?ref=${me?.code ?? ""}`,
    earnedMicros: joined.reduce((t, r) => t + Number(r.creditedMicros ?? 0), 0),
    referred: joined.map((r) => ({
      who: mask(r.email),
      joinedAt: r.joinedAt.toISOString(),
      creditedMicros: r.creditedMicros === null ? null : Number(r.creditedMicros),
    })),
  };
}
