/**
 * Chat platforms' own delivery ids (Telegram update_id, Slack event_id, WhatsApp message id, Discord
 * interaction id) already taken into the user's inbox, each kept for a time-to-live chosen per platform to
 * outlast its retries and its signed-timestamp window: a replayed or retried delivery is acknowledged but
 * never reaches the agent twice. Lives in the user's Durable Object, whose one-at-a-time execution makes
 * "seen? then record" race-free.
 */
export class SeenDeliveries {
  constructor(private readonly sql: SqlStorage) {
    sql.exec(`CREATE TABLE IF NOT EXISTS seen_deliveries (key TEXT PRIMARY KEY, expires_at INTEGER NOT NULL);
      CREATE INDEX IF NOT EXISTS seen_deliveries_expiry ON seen_deliveries (expires_at)`);
  }

  /** Records `key` for `ttlMs`; false when it is already recorded and not yet expired. */
  firstTime(key: string, ttlMs: number, now = Date.now()): boolean {
    this.sql.exec("DELETE FROM seen_deliveries WHERE expires_at <= ?", now);
    return (
      this.sql.exec("INSERT INTO seen_deliveries (key, expires_at) VALUES (?, ?) ON CONFLICT(key) DO NOTHING RETURNING key", key, now + ttlMs).toArray()
        .length === 1
    );
  }
}
