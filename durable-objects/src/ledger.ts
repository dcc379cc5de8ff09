import { DEFAULT_MARKUP_BPS, withMarkup } from "@oc/contracts/money";
import { pickRoute, type RouteChoice } from "@oc/contracts/routing-plan";
import type { AuthorizeRequest, AuthorizeResult, RouteRaise, SettleResult, UsageCall } from "@oc/contracts/ledger";
import type { MetaTable } from "./meta-table";
import type { Protection } from "./protection";
import type { RoutePins } from "./route-pins";
import type { UsageOutbox } from "./usage-outbox";

/**
 * The user's token balance in integer micro-USD, held in the Durable Object's SQLite. Reserve-then-settle:
 * a request first reserves its maximum cost (refused when balance minus open reservations is too small),
 * then settles to its actual price. Because the object runs one call at a time, no two requests can spend
 * the same micro. Every credit and every settlement carries a unique reference, so a replay changes nothing.
 *
 * Reservations live in the object's memory only: writing them would make every model call wait for the
 * storage's output gate before it is forwarded. The cost of that choice is bounded: if the object restarts
 * mid-call its open holds are forgotten, new calls may reserve that money again, and the forgotten calls
 * are still charged in full when they settle (the ledger row is durable and keyed by the call). So one
 * restart can take the balance below zero by at most the sum of the holds open at that moment, once.
 */
export const RESERVATION_TTL_MS = 15 * 60_000;

/** What the ledger works with in the user's object: its storage and the tables a model call touches. */
export interface LedgerParts {
  sql: SqlStorage;
  meta: MetaTable;
  protection: Protection;
  pins: RoutePins;
  outbox: UsageOutbox;
  recordActivity: (kind: string, message: string) => Promise<unknown>;
  /** Makes sure the object's alarm fires no later than `at` (the outbox flush). */
  wakeBy: (at: number) => Promise<void>;
}

export class Ledger {
  private readonly sql: SqlStorage;
  private readonly meta: MetaTable;

  constructor(private readonly parts: LedgerParts) {
    const { sql } = parts;
    this.sql = sql;
    this.meta = parts.meta;
    sql.exec(`
      CREATE TABLE IF NOT EXISTS ledger (id INTEGER PRIMARY KEY AUTOINCREMENT, at INTEGER NOT NULL, kind TEXT NOT NULL,
        amount INTEGER NOT NULL, ref TEXT NOT NULL UNIQUE, balance_after INTEGER NOT NULL);
      CREATE TABLE IF NOT EXISTS reservations (id TEXT PRIMARY KEY, amount INTEGER NOT NULL, created_at INTEGER NOT NULL, expires_at INTEGER NOT NULL);
    `);
    // Holds written by an earlier version of this object are taken into memory once.
    const stored = sql.exec<{ id: string; amount: number; expires_at: number }>("SELECT id, amount, expires_at FROM reservations").toArray();
    if (stored.length > 0) sql.exec("DELETE FROM reservations");
    for (const r of stored) (this.holds.set(r.id, { amount: r.amount, expiresAt: r.expires_at }), (this.held += r.amount));
  }

  // ── a model call: authorize before it is forwarded, settle after ─────────────────────────────────

  /**
   * The gate in front of every model call: key, account, token protection, then a reservation of the
   * call's maximum price. Runs as one uninterrupted step of the object, so concurrent calls queue here.
   * Nothing is written: the hold stays in memory until the call settles, the call history, the router's pin
   * and the last-use stamp until the object's next alarm (a settlement writes only the money and its usage
   * record), so the answer is not held behind the storage's output gate.
   */
  async authorize(req: AuthorizeRequest): Promise<AuthorizeResult> {
    const keyHash = this.meta.get("proxyKeyHash");
    if (!keyHash || keyHash !== req.keyHash) return { ok: false, code: "invalid_key", message: "This API key is not valid (it may have been replaced)." };
    if (this.meta.get("suspended")) return { ok: false, code: "suspended", message: "This account is suspended. Contact support from the dashboard." };
    const markupBps = this.markup();
    const now = Date.now();
    const choice = req.route ? pickRoute(req.route.plan, this.pinOf(req.route.plan.key), now) : undefined;
    if (choice) req.call.tier = choice.tier;
    const maxPrice = withMarkup(choice ? choice.reserve : req.maxWholesale, markupBps);
    // The caps count the calls still in flight at their held maximum: concurrent calls cannot each pass alone.
    const refusal = this.parts.protection.check(req.call, maxPrice + this.reserved());
    if (refusal) {
      await this.parts.recordActivity("protection", refusal.message);
      return { ok: false, ...refusal };
    }
    if (!this.reserve(req.reservationId, maxPrice, now))
      return {
        ok: false,
        code: "balance_limit",
        message: "Token limit reached: your OpenClaw Cloud token balance is used up for now. Top up in the dashboard and requests resume at once.",
      };
    this.parts.protection.recordCall(req.call, now);
    if (choice?.pin) this.pendingPins.set(req.route!.plan.key, { pin: choice.pin, label: req.route!.label, at: now });
    if (!req.call.background) this.lastUseAt = now; // background work does not keep an agent awake
    return { ok: true, markupBps, reserved: maxPrice, agentId: this.meta.get("agentId"), route: choice };
  }

  /**
   * Charges the actual price of a call (wholesale + markup) exactly once and releases its reservation. The
   * usage record, completed with the price, is queued for Postgres in the same step.
   */
  async settle(reservationId: string, wholesale: number, inbound: string, usage?: UsageCall, raise?: RouteRaise): Promise<SettleResult> {
    const markupBps = this.markup();
    // An answer a cheap model got wrong was retried a tier up: the conversation stays there (its pending pin
    // is written first, so the raise is not overwritten by it later).
    if (raise) (this.persistCalls(), this.parts.pins.raise(raise.key, raise.tier, raise.model));
    const { applied, balance, charged: price, overHold } = this.charge(reservationId, withMarkup(wholesale, markupBps));
    let lowBalance = false;
    if (applied) {
      this.parts.protection.recordSpend(inbound, price);
      lowBalance = this.checkLowBalance(balance);
      if (overHold > 0)
        await this.parts.recordActivity(
          "billing",
          `A model call cost ${(overHold / 1_000_000).toFixed(6)} USD more than was held for it; it was charged in full${balance < 0 ? ` and the balance is now ${(balance / 1_000_000).toFixed(6)} USD` : ""}.`,
        );
      if (usage) {
        this.parts.outbox.add({
          ...usage,
          id: reservationId,
          costMicros: wholesale,
          priceMicros: price,
          markupBps,
          overHoldMicros: overHold,
          createdAt: new Date(),
        });
      }
    }
    // The alarm sends the usage record and writes what authorize kept in memory (persistCalls).
    await this.parts.wakeBy(this.parts.outbox.nextFlushAt(Date.now()));
    return { applied, lowBalance, price, markupBps, balance, overHold };
  }

  /** The last interactive call's time, not yet written (see authorize). */
  private lastUseAt = 0;

  /** Router pins chosen by authorize, not yet written (see authorize). */
  private readonly pendingPins = new Map<string, { pin: NonNullable<RouteChoice["pin"]>; label: string; at: number }>();

  private pinOf(key: string) {
    return this.pendingPins.get(key)?.pin ?? this.parts.pins.get(key);
  }

  /**
   * Writes what authorize kept in memory (call history, last use, router pins). Runs on the alarm (which a
   * settlement always schedules, for its usage record) and before anything reads them from storage: the
   * alarm's idle decisions, the pin list. Settlement itself writes only money, so a crash of the object can
   * forget at most the call history and last-use stamp since the last alarm, never a charge.
   */
  persistCalls() {
    if (this.lastUseAt > Number(this.meta.get("lastUseAt") ?? 0)) this.meta.set("lastUseAt", String(this.lastUseAt));
    this.lastUseAt = 0;
    this.parts.protection.persist();
    for (const [key, p] of this.pendingPins) this.parts.pins.set(key, p.pin, p.label, p.at);
    this.pendingPins.clear();
  }

  private markup(): number {
    return Number(this.meta.get("markupBps") ?? DEFAULT_MARKUP_BPS);
  }

  /**
   * Raises one low_balance event per crossing below the threshold (billing consumes it: a warning mail, or
   * an auto top-up when enabled). Returns whether it raised one now.
   */
  private checkLowBalance(balance: number): boolean {
    const { autoTopUp } = this.parts.protection.settings();
    if (balance >= autoTopUp.threshold || this.meta.get("lowBalanceRaised")) return false;
    this.meta.set("lowBalanceRaised", "1");
    // The object's event table (user-agent.ts), which billing takes events from.
    this.sql.exec("INSERT INTO events (at, kind, data) VALUES (?, 'low_balance', ?)", Date.now(), JSON.stringify({ balance, threshold: autoTopUp.threshold }));
    return true;
  }

  // ── the balance: holds, charges and credits ──────────────────────────────────────────────────────

  /** Open reservations: id → amount and expiry (memory only, see above). */
  private readonly holds = new Map<string, { amount: number; expiresAt: number }>();
  private held = 0;
  private sweptAt = 0;

  /** The balance after the newest ledger row, kept in memory (the object is the ledger's only writer). */
  private current: number | undefined;

  balance(): number {
    this.current ??= this.sql.exec<{ b: number }>("SELECT balance_after AS b FROM ledger ORDER BY id DESC LIMIT 1").toArray()[0]?.b ?? 0;
    return this.current;
  }

  reserved(): number {
    return this.held;
  }

  available(): number {
    return this.balance() - this.reserved();
  }

  private post(kind: string, amount: number, ref: string): { applied: boolean; balance: number } {
    if (!Number.isSafeInteger(amount)) throw new Error(`ledger amounts are integers, got ${amount}`);
    const balance = this.balance() + amount;
    // The unique reference decides in the same statement: a repeat inserts nothing and returns no row.
    const inserted = this.sql
      .exec(
        "INSERT INTO ledger (at, kind, amount, ref, balance_after) VALUES (?, ?, ?, ?, ?) ON CONFLICT(ref) DO NOTHING RETURNING id",
        Date.now(),
        kind,
        amount,
        ref,
        balance,
      )
      .toArray();
    if (inserted.length === 0) return { applied: false, balance: this.balance() };
    this.current = balance; // the row just written is the balance's only record
    return { applied: true, balance };
  }

  /** Adds funds exactly once per (source, sourceId). */
  credit(amount: number, source: string, sourceId: string) {
    if (amount <= 0) throw new Error("a credit must be positive");
    return this.post(`credit:${source}`, amount, `${source}:${sourceId}`);
  }

  /** Holds `amount` for request `id`, or refuses (false) when it would overspend. */
  reserve(id: string, amount: number, now = Date.now()): boolean {
    // Holds of Workers that died mid-call are dropped as they expire (cheap: at most once a minute).
    if (now - this.sweptAt >= 60_000) this.releaseExpired(now);
    if (amount > this.available() || this.holds.has(id)) return false;
    this.holds.set(id, { amount, expiresAt: now + RESERVATION_TTL_MS });
    this.held += amount;
    return true;
  }

  private release(id: string): number | undefined {
    const h = this.holds.get(id);
    if (!h) return undefined;
    this.holds.delete(id);
    this.held -= h.amount;
    return h.amount;
  }

  /**
   * Replaces reservation `id` with the actual charge, in full: a price above the hold is still the
   * provider's price, so the excess is charged too (the balance may go below zero by it) and reported as
   * `overHold` for the usage record and the activity feed. Holds are upper bounds of everything the proxy
   * forwards, so an excess means a pricing rule missed something. Idempotent: the charge is posted once under
   * `usage:<id>`, and a repeat posts nothing twice. A settlement whose hold is gone (expired, or lost with
   * the object's memory) is charged as reported and its whole charge counts as over the hold.
   */
  private charge(id: string, amount: number): { applied: boolean; balance: number; charged: number; overHold: number } {
    const held = this.release(id);
    if (amount <= 0) return { applied: false, balance: this.balance(), charged: 0, overHold: 0 };
    const overHold = Math.max(0, amount - (held ?? 0));
    const posted = this.post("debit:usage", -amount, `usage:${id}`);
    return { ...posted, charged: posted.applied ? amount : 0, overHold: posted.applied ? overHold : 0 };
  }

  /** Drops reservations whose request never settled (worker died); returns the next expiry to wake for. */
  releaseExpired(now = Date.now()): { released: number; nextExpiry: number | null } {
    this.sweptAt = now;
    let released = 0;
    let next: number | null = null;
    for (const [id, h] of this.holds) {
      if (h.expiresAt <= now) released += this.release(id) === undefined ? 0 : 1;
      else next = next === null ? h.expiresAt : Math.min(next, h.expiresAt);
    }
    return { released, nextExpiry: next };
  }

  entries(limit = 50) {
    return this.sql
      .exec<{ id: number; at: number; kind: string; amount: number; ref: string; balance_after: number }>(
        "SELECT id, at, kind, amount, ref, balance_after FROM ledger ORDER BY id DESC LIMIT ?",
        limit,
      )
      .toArray()
      .map((r) => ({ ...r }));
  }
}
