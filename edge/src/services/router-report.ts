import { and, eq, gte, lt, sql } from "drizzle-orm";
import { withMarkup } from "@oc/contracts/money";
import { AppError } from "@oc/contracts/errors";
import { usageRecords } from "@oc/db/schema";
import { liveCatalog } from "../proxy/catalog-store";
import { wholesaleMicros } from "../proxy/pricing";
import type { Services } from "./context";

/** The part of a route reason that says why, without the numbers ("classified complex", "tool loop of a … task"). */
const whyOf = (reason: string | null) =>
  (reason ?? "n/a")
    .replace(/^auto: /, "")
    .split(/ \(|;| →/)[0]!
    .replace(/^(requested) .*/, "$1 a model by name")
    .replace(/^(classified|follow-up of a|tool loop of a) (\w+)( task)?.*/, "$1 $2$3")
    .trim();

/**
 * The Smart Router page for one month: what the router chose (by model and tier), why (by reason), and
 * what the user paid against always using the strongest model (same tokens, the strongest model of the
 * call's provider at the live catalog's prices, the call's own markup), by day for the chart.
 */
export async function routerReport(s: Services, userId: string, month: string) {
  const m = /^(\d{4})-(\d{2})$/.exec(month);
  if (!m || Number(m[2]) < 1 || Number(m[2]) > 12) throw new AppError("VALIDATION_FAILED", "month must look like 2026-12.");
  const from = new Date(Date.UTC(Number(m[1]), Number(m[2]) - 1, 1));
  const to = new Date(Date.UTC(Number(m[1]), Number(m[2]), 1));
  const view = await liveCatalog(s.env, s.defer);
  const day = sql<string>`to_char(date_trunc('day', ${usageRecords.createdAt} AT TIME ZONE 'UTC'), 'YYYY-MM-DD')`;
  const rows = await s.db
    .select({
      day,
      model: usageRecords.model,
      provider: usageRecords.provider,
      tier: usageRecords.tier,
      reason: usageRecords.routeReason,
      markupBps: usageRecords.markupBps,
      calls: sql<string>`count(*)`,
      spent: sql<string>`sum(${usageRecords.priceMicros})`,
      input: sql<string>`sum(${usageRecords.inputTokens})`,
      output: sql<string>`sum(${usageRecords.outputTokens})`,
      cached: sql<string>`sum(${usageRecords.cachedTokens})`,
    })
    .from(usageRecords)
    .where(and(eq(usageRecords.userId, userId), gte(usageRecords.createdAt, from), lt(usageRecords.createdAt, to)))
    .groupBy(day, usageRecords.model, usageRecords.provider, usageRecords.tier, usageRecords.routeReason, usageRecords.markupBps);
  const byDay = new Map<string, { day: string; spentMicros: number; strongestMicros: number }>();
  const byModel = new Map<string, { model: string; calls: number; spentMicros: number }>();
  const byTier = new Map<string, { tier: string; calls: number }>();
  const byReason = new Map<string, { reason: string; calls: number; spentMicros: number }>();
  let spent = 0;
  let strongest = 0;
  for (const r of rows) {
    const calls = Number(r.calls);
    const paid = Number(r.spent);
    const top = view.strongest(r.provider === "anthropic" ? "anthropic" : "openai");
    // The same tokens on the strongest model (its own cache price for the cached part), never below what was paid.
    const alt = Math.max(
      paid,
      withMarkup(wholesaleMicros(top, { inputTokens: Number(r.input), outputTokens: Number(r.output), cachedTokens: Number(r.cached) }), r.markupBps),
    );
    spent += paid;
    strongest += alt;
    const d = byDay.get(r.day) ?? { day: r.day, spentMicros: 0, strongestMicros: 0 };
    d.spentMicros += paid;
    d.strongestMicros += alt;
    byDay.set(r.day, d);
    const mm = byModel.get(r.model) ?? { model: r.model, calls: 0, spentMicros: 0 };
    mm.calls += calls;
    mm.spentMicros += paid;
    byModel.set(r.model, mm);
    const t = byTier.get(r.tier ?? "n/a") ?? { tier: r.tier ?? "n/a", calls: 0 };
    t.calls += calls;
    byTier.set(t.tier, t);
    const why = whyOf(r.reason);
    const w = byReason.get(why) ?? { reason: why, calls: 0, spentMicros: 0 };
    w.calls += calls;
    w.spentMicros += paid;
    byReason.set(why, w);
  }
  const days: { day: string; spentMicros: number; strongestMicros: number }[] = [];
  for (let t = from.getTime(); t < to.getTime() && t <= Date.now(); t += 86_400_000) {
    const k = new Date(t).toISOString().slice(0, 10);
    days.push(byDay.get(k) ?? { day: k, spentMicros: 0, strongestMicros: 0 });
  }
  const desc = <T extends { calls: number }>(xs: Iterable<T>) => [...xs].sort((a, b) => b.calls - a.calls);
  return {
    month,
    catalogVersion: view.version,
    totals: { spentMicros: spent, strongestMicros: strongest, savedMicros: strongest - spent, calls: desc(byModel.values()).reduce((a, x) => a + x.calls, 0) },
    strongest: { openai: view.strongest("openai").id, anthropic: view.strongest("anthropic").id },
    byDay: days,
    byModel: desc(byModel.values()),
    byTier: desc(byTier.values()),
    byReason: desc(byReason.values()),
  };
}
