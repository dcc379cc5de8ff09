import { isTimeZone } from "@oc/contracts/time";
import type { MetaTable } from "./meta-table";
import type { CallFacts, ProtectionSettings, Refusal } from "@oc/contracts/protection";

export type { CallFacts, ProtectionSettings, Refusal };

export type Tier = "simple" | "standard" | "complex" | "reasoning";

export const DEFAULT_PROTECTION: ProtectionSettings = {
  perMessageBudget: { simple: 200_000, standard: 1_000_000, complex: 3_000_000, reasoning: 5_000_000 },
  loop: { maxRepeats: 5, windowSec: 120, maxCallsPerMessage: 40 },
  quietHours: { enabled: true, start: "23:00", end: "07:00" },
  timezone: "UTC",
  dailyCap: null,
  monthlyCap: null,
  autoTopUp: { enabled: false, threshold: 2_000_000 },
  backgroundMaxCalls: 6,
};

function minutesOfDay(hhmm: string) {
  const [h, m] = hhmm.split(":").map(Number);
  return (h ?? 0) * 60 + (m ?? 0);
}

/** The times each request (by fingerprint) and each inbound message was seen, oldest first. */
type CallHistory = { byFingerprint: Map<string, number[]>; byInbound: Map<string, number[]> };

function remember(h: CallHistory, fingerprint: string, inbound: string, at: number) {
  for (const [map, key] of [
    [h.byFingerprint, fingerprint],
    [h.byInbound, inbound],
  ] as const) {
    const times = map.get(key);
    if (times) times.push(at);
    else map.set(key, [at]);
  }
}

/** Drops call times before `cutoff` (each list is oldest first). */
function sweep(map: Map<string, number[]>, cutoff: number) {
  for (const [key, times] of map) {
    let i = 0;
    while (i < times.length && times[i]! < cutoff) i++;
    if (i === times.length) map.delete(key);
    else if (i > 0) times.splice(0, i);
  }
}

/** Building an Intl.DateTimeFormat costs more than the rest of a model call's checks: one per time zone. */
const formatters = new Map<string, Intl.DateTimeFormat>();

/** The last answer per time zone: every call in the same minute has the same local parts. */
const lastParts = new Map<string, { minute: number; parts: { day: string; month: string; minutes: number } }>();

/** Local date parts in the user's time zone (formatToParts is the costliest step of a call's checks). */
export function localParts(now: number, timeZone: string) {
  const minute = Math.floor(now / 60_000);
  const hit = lastParts.get(timeZone);
  if (hit?.minute === minute) return hit.parts;
  const parts = formatLocal(now, timeZone);
  lastParts.set(timeZone, { minute, parts });
  return parts;
}

function formatLocal(now: number, timeZone: string) {
  let format = formatters.get(timeZone);
  if (!format)
    formatters.set(
      timeZone,
      (format = new Intl.DateTimeFormat("en-CA", {
        timeZone,
        year: "numeric",
        month: "2-digit",
        day: "2-digit",
        hour: "2-digit",
        minute: "2-digit",
        hourCycle: "h23",
      })),
    );
  const parts = format.formatToParts(new Date(now)).reduce<Record<string, string>>((acc, p) => ((acc[p.type] = p.value), acc), {});
  return { day: `${parts.year}-${parts.month}-${parts.day}`, month: `${parts.year}-${parts.month}`, minutes: Number(parts.hour) * 60 + Number(parts.minute) };
}

export function inQuietHours(q: ProtectionSettings["quietHours"], minutes: number) {
  if (!q.enabled) return false;
  const start = minutesOfDay(q.start);
  const end = minutesOfDay(q.end);
  return start <= end ? minutes >= start && minutes < end : minutes >= start || minutes < end;
}

/**
 * Decides whether a model call may go ahead, before any money is reserved. Keeps a short history of calls
 * (for loop detection) and spend per day, month and inbound message (for caps and budgets).
 */
export class Protection {
  /** Old call and per-message rows are swept at most once a minute, not on every call. */
  private sweptCallsAt = 0;
  private sweptSpendAt = 0;
  private parsed: { raw: string; settings: ProtectionSettings } | undefined;
  /**
   * Calls recorded since the last `persist`: kept in memory so that authorising a call writes nothing (a
   * write would hold the answer behind the storage's output gate). A restart loses at most these.
   */
  private pending: { at: number; fingerprint: string; inbound: string; background: boolean }[] = [];
  /**
   * The call history the checks count, in memory (loaded from the stored rows once, then kept in step with
   * them: the object is their only writer): a model call's checks run no query. Per fingerprint its call
   * times, oldest first; per inbound message its call times.
   */
  private history: CallHistory | undefined;

  constructor(
    private readonly sql: SqlStorage,
    private readonly meta: MetaTable,
  ) {
    sql.exec(`
      CREATE TABLE IF NOT EXISTS calls (at INTEGER NOT NULL, fingerprint TEXT NOT NULL, inbound TEXT NOT NULL, background INTEGER NOT NULL);
      CREATE INDEX IF NOT EXISTS calls_fp ON calls (fingerprint, at);
      CREATE INDEX IF NOT EXISTS calls_inbound ON calls (inbound);
      CREATE TABLE IF NOT EXISTS spend (bucket TEXT PRIMARY KEY, amount INTEGER NOT NULL, updated_at INTEGER NOT NULL);
    `);
  }

  settings(): ProtectionSettings {
    const raw = this.meta.get("protection");
    if (!raw) return DEFAULT_PROTECTION;
    if (this.parsed?.raw !== raw) this.parsed = { raw, settings: { ...DEFAULT_PROTECTION, ...(JSON.parse(raw) as Partial<ProtectionSettings>) } };
    return this.parsed.settings;
  }

  update(patch: Partial<ProtectionSettings>): ProtectionSettings {
    const next = { ...this.settings(), ...patch };
    if (!isTimeZone(next.timezone)) throw new RangeError(`unknown time zone: ${next.timezone}`);
    this.meta.set("protection", JSON.stringify(next));
    return next;
  }

  /**
   * Spend per bucket, read through a memory copy: the object is the only writer of its table, so the copy
   * is never stale, and a model call's checks read up to three buckets.
   */
  private readonly spentCache = new Map<string, number>();

  private spent(bucket: string) {
    let amount = this.spentCache.get(bucket);
    if (amount === undefined) {
      amount = this.sql.exec<{ amount: number }>("SELECT amount FROM spend WHERE bucket = ?", bucket).toArray()[0]?.amount ?? 0;
      this.remember(bucket, amount);
    }
    return amount;
  }

  private remember(bucket: string, amount: number) {
    if (this.spentCache.size >= 1_000) this.spentCache.clear();
    this.spentCache.set(bucket, amount);
  }

  check(call: CallFacts, maxCost: number, now = Date.now()): Refusal | undefined {
    const s = this.settings();
    const local = localParts(now, s.timezone);
    if (call.background && inQuietHours(s.quietHours, local.minutes))
      return { code: "quiet_hours", message: `Background tasks are paused during quiet hours (${s.quietHours.start}–${s.quietHours.end}, ${s.timezone}).` };
    if (s.dailyCap !== null && this.spent(`day:${local.day}`) + maxCost > s.dailyCap)
      return { code: "daily_cap", message: "Daily limit reached: today's spending cap is used up. It resets at midnight, or raise it in Token Protection." };
    if (s.monthlyCap !== null && this.spent(`month:${local.month}`) + maxCost > s.monthlyCap)
      return { code: "monthly_cap", message: "Monthly limit reached: this month's spending cap is used up. Raise it in Token Protection." };
    if (this.spent(`msg:${call.inbound}`) >= s.perMessageBudget[call.tier])
      return { code: "message_budget", message: `Message budget limit reached: this message already used its ${call.tier} budget.` };

    const since = now - s.loop.windowSec * 1000;
    const h = this.calls();
    let repeats = 0;
    for (const at of h.byFingerprint.get(call.fingerprint) ?? []) if (at >= since) repeats++;
    const forMessage = h.byInbound.get(call.inbound)?.length ?? 0;
    if (repeats >= s.loop.maxRepeats)
      return {
        code: "loop_detected",
        message: `Loop detected: the same request was repeated ${repeats} times in ${s.loop.windowSec}s, so further calls are stopped.`,
      };
    if (call.background && forMessage >= s.backgroundMaxCalls)
      return { code: "background_single_pass", message: `Background task limit reached: a background task gets ${s.backgroundMaxCalls} model calls.` };
    if (forMessage >= s.loop.maxCallsPerMessage)
      return { code: "loop_detected", message: `Loop detected: one message triggered ${forMessage} model calls, so further calls are stopped.` };
    return undefined;
  }

  recordCall(call: CallFacts, now = Date.now()) {
    remember(this.calls(), call.fingerprint, call.inbound, now);
    this.pending.push({ at: now, fingerprint: call.fingerprint, inbound: call.inbound, background: call.background });
  }

  /** The in-memory history, read from the stored rows the first time. */
  private calls() {
    if (!this.history) {
      this.history = { byFingerprint: new Map(), byInbound: new Map() };
      const rows = this.sql.exec<{ at: number; fingerprint: string; inbound: string }>("SELECT at, fingerprint, inbound FROM calls ORDER BY at").toArray();
      for (const r of rows) remember(this.history, r.fingerprint, r.inbound, r.at);
    }
    return this.history;
  }

  /** Writes the calls recorded in memory (on the alarm, off the call's path) and sweeps old ones. */
  persist(now = Date.now()) {
    // All of them in one statement, as one JSON parameter: a statement costs more than its rows.
    const pending = this.pending.splice(0);
    if (pending.length > 0)
      this.sql.exec(
        "INSERT INTO calls (at, fingerprint, inbound, background) SELECT value ->> 0, value ->> 1, value ->> 2, value ->> 3 FROM json_each(?)",
        JSON.stringify(pending.map((p) => [p.at, p.fingerprint, p.inbound, p.background ? 1 : 0])),
      );
    if (Math.abs(now - this.sweptCallsAt) >= 60_000) {
      const cutoff = now - Math.max(this.settings().loop.windowSec * 1000, 3_600_000);
      this.sql.exec("DELETE FROM calls WHERE at < ?", cutoff);
      // The same sweep in memory, so the counts stay those of the stored rows.
      if (this.history) for (const map of [this.history.byFingerprint, this.history.byInbound]) sweep(map, cutoff);
      this.sweptCallsAt = now;
    }
  }

  recordSpend(inbound: string, amount: number, now = Date.now()) {
    const local = localParts(now, this.settings().timezone);
    // The three buckets in one statement (each statement costs more than the arithmetic).
    const totals = this.sql
      .exec<{ bucket: string; amount: number }>(
        "INSERT INTO spend (bucket, amount, updated_at) VALUES (?, ?, ?), (?, ?, ?), (?, ?, ?) ON CONFLICT(bucket) DO UPDATE SET amount = amount + excluded.amount, updated_at = excluded.updated_at RETURNING bucket, amount",
        `day:${local.day}`,
        amount,
        now,
        `month:${local.month}`,
        amount,
        now,
        `msg:${inbound}`,
        amount,
        now,
      )
      .toArray();
    for (const t of totals) this.remember(t.bucket, t.amount);
    if (Math.abs(now - this.sweptSpendAt) >= 60_000) {
      this.sql.exec("DELETE FROM spend WHERE bucket LIKE 'msg:%' AND updated_at < ?", now - 86_400_000);
      this.spentCache.clear();
      this.sweptSpendAt = now;
    }
  }
}
