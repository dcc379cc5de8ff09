import type { MetaTable } from "./meta-table";

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

export class Ledger {
  constructor(
    private readonly sql: SqlStorage,
    private readonly meta: MetaTable,
  ) {
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

  /** Open reservations: id → amount and expiry (memory only, see above). */
  private readonly holds = new Map<string, { amount: number; expiresAt: number }>();
  private held = 0;
  private sweptAt = 0;

  balance(): number {
    return Number(this.meta.get("balance") ?? 0);
  }

  reserved(): number {
    return this.held;
  }

  available(): number {
    return this.balance() - this.reserved();
  }

  private post(kind: string, amount: number, ref: string): { applied: boolean; balance: number } {
    if (!Number.isSafeInteger(amount)) throw new Error(`ledger amounts are integers, got ${amount}`);
    const exists = this.sql.exec("SELECT 1 FROM ledger WHERE ref = ?", ref).toArray().length > 0;
    if (exists) return { applied: false, balance: this.balance() };
    const balance = this.balance() + amount;
    this.sql.exec("INSERT INTO ledger (at, kind, amount, ref, balance_after) VALUES (?, ?, ?, ?, ?)", Date.now(), kind, amount, ref, balance);
    this.meta.set("balance", String(balance));
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
  settle(id: string, amount: number): { applied: boolean; balance: number; charged: number; overHold: number } {
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
