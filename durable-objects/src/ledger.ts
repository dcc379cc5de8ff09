import type { MetaTable } from "./meta-table";

/**
 * The user's token balance in integer micro-USD, held in the Durable Object's SQLite. Reserve-then-settle:
 * a request first reserves its maximum cost (refused when balance minus open reservations is too small),
 * then settles to its actual price. Because the object runs one call at a time, no two requests can spend
 * the same micro. Every credit and every settlement carries a unique reference, so a replay changes nothing.
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
  }

  balance(): number {
    return Number(this.meta.get("balance") ?? 0);
  }

  reserved(): number {
    return this.sql.exec<{ n: number | null }>("SELECT SUM(amount) AS n FROM reservations").one().n ?? 0;
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
    if (amount > this.available()) return false;
    this.sql.exec("INSERT INTO reservations (id, amount, created_at, expires_at) VALUES (?, ?, ?, ?)", id, amount, now, now + RESERVATION_TTL_MS);
    return true;
  }

  /**
   * Replaces reservation `id` with the actual charge, never more than was held (so a balance cannot go
   * below zero through an over-estimate). Idempotent: the charge is posted once under `usage:<id>`, and a
   * repeat posts nothing twice. A settlement arriving after its hold expired is charged as reported.
   */
  settle(id: string, amount: number): { applied: boolean; balance: number; charged: number } {
    const held = this.sql.exec<{ amount: number }>("DELETE FROM reservations WHERE id = ? RETURNING amount", id).toArray()[0]?.amount;
    const charged = held === undefined ? amount : Math.min(amount, held);
    if (charged <= 0) return { applied: false, balance: this.balance(), charged: 0 };
    return { ...this.post("debit:usage", -charged, `usage:${id}`), charged };
  }

  /** Drops reservations whose request never settled (worker died); returns the next expiry to wake for. */
  releaseExpired(now = Date.now()): { released: number; nextExpiry: number | null } {
    const released = this.sql.exec("DELETE FROM reservations WHERE expires_at <= ? RETURNING id", now).toArray().length;
    const next = this.sql.exec<{ t: number | null }>("SELECT MIN(expires_at) AS t FROM reservations").one().t;
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
