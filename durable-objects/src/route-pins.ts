import { tierRank } from "@oc/contracts/tiers";
import { PIN_TTL_MS, type Pin } from "@oc/contracts/routing-plan";
import type { RouteConversation } from "@oc/contracts/ledger";

/** How long a "use the best model" choice for a conversation is kept after its last call. */
const OVERRIDE_TTL_MS = 30 * 24 * 3600_000;

/**
 * The smart router's per-conversation pins (tier, model, last use) in the user's object, so a task keeps
 * its tier and model across calls and isolates. Read and written in the step that authorises a call, served
 * from memory after the first read; rows idle past their TTL are swept at most once a minute.
 */
export class RoutePins {
  private readonly cache = new Map<string, Pin | null>();
  private swept = 0;

  constructor(private readonly sql: SqlStorage) {
    sql.exec(
      "CREATE TABLE IF NOT EXISTS route_pins (key TEXT PRIMARY KEY, tier TEXT NOT NULL, model TEXT NOT NULL, at INTEGER NOT NULL, best INTEGER NOT NULL DEFAULT 0, label TEXT NOT NULL DEFAULT '')",
    );
  }

  get(key: string): Pin | undefined {
    if (!this.cache.has(key)) {
      const row = this.sql
        .exec<{ tier: Pin["tier"]; model: string; at: number; best: number }>("SELECT tier, model, at, best FROM route_pins WHERE key = ?", key)
        .toArray()[0];
      this.cache.set(key, row ? { tier: row.tier, model: row.model, at: row.at, best: row.best === 1 } : null);
    }
    return this.cache.get(key) ?? undefined;
  }

  set(key: string, pin: Pin, label: string, now = Date.now()) {
    this.sql.exec(
      "INSERT INTO route_pins (key, tier, model, at, best, label) VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT(key) DO UPDATE SET tier = excluded.tier, model = excluded.model, at = excluded.at",
      key,
      pin.tier,
      pin.model,
      pin.at,
      pin.best ? 1 : 0,
      label.slice(0, 120),
    );
    this.cache.set(key, { ...pin, best: this.cache.get(key)?.best ?? pin.best });
    if (now - this.swept > 60_000) {
      this.swept = now;
      this.sql.exec("DELETE FROM route_pins WHERE (best = 0 AND at < ?) OR at < ?", now - PIN_TTL_MS * 4, now - OVERRIDE_TTL_MS);
      this.cache.clear();
    }
  }

  /** Raises a conversation's tier (escalation after a bad answer); never lowers it. */
  raise(key: string, tier: Pin["tier"], model: string, now = Date.now()) {
    const pin = this.get(key);
    if (pin && tierRank(pin.tier) >= tierRank(tier)) return;
    this.set(key, { tier, model, at: now, best: pin?.best }, "");
  }

  /** Recent conversations, for the dashboard's per-conversation "use the best model" switch. */
  list(limit = 20): RouteConversation[] {
    return this.sql
      .exec<{ key: string; tier: string; model: string; at: number; best: number; label: string }>(
        "SELECT key, tier, model, at, best, label FROM route_pins ORDER BY at DESC LIMIT ?",
        limit,
      )
      .toArray()
      .map((r) => ({ ...r, best: r.best === 1 }));
  }

  setBest(key: string, best: boolean): boolean {
    const n = this.sql.exec("UPDATE route_pins SET best = ? WHERE key = ?", best ? 1 : 0, key).rowsWritten;
    this.cache.delete(key);
    return n > 0;
  }
}
