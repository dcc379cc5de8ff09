import type { ActivityEvent } from "@oc/contracts/agent";

export type { ActivityEvent };

type Row = { id: number; at: number; kind: string; message: string };

/** How many activity events a user's object keeps; older ones are dropped (Postgres holds the history). */
const ACTIVITY_KEEP = 500;

/** The user's activity feed in the object's SQLite: append, page through, count, erase. */
export class ActivityFeed {
  constructor(
    private readonly sql: SqlStorage,
    /** Called with the time of each new event (the object keeps it as `lastActivityAt`). */
    private readonly onRecord: (at: number) => void,
  ) {
    sql.exec("CREATE TABLE IF NOT EXISTS activity (id INTEGER PRIMARY KEY AUTOINCREMENT, at INTEGER NOT NULL, kind TEXT NOT NULL, message TEXT NOT NULL)");
  }

  record(kind: string, message: string): ActivityEvent {
    const at = Date.now();
    const row = this.sql
      .exec<{ id: number }>("INSERT INTO activity (at, kind, message) VALUES (?, ?, ?) RETURNING id", at, kind.slice(0, 40), message.slice(0, 2000))
      .one();
    this.sql.exec("DELETE FROM activity WHERE id <= ?", row.id - ACTIVITY_KEEP);
    this.onRecord(at);
    return { id: row.id, at, kind, message };
  }

  /** Events newer than `afterId`, oldest first (the live feed's next page). */
  after(afterId: number, limit = 100): ActivityEvent[] {
    return this.sql
      .exec<Row>("SELECT id, at, kind, message FROM activity WHERE id > ? ORDER BY id LIMIT ?", afterId, Math.min(200, limit))
      .toArray()
      .map((r) => ({ ...r }));
  }

  /** Newest first, older than `beforeId`. */
  list(limit = 50, beforeId?: number): ActivityEvent[] {
    const n = Math.max(1, Math.min(200, Math.floor(limit)));
    return this.sql
      .exec<Row>("SELECT id, at, kind, message FROM activity WHERE id < ? ORDER BY id DESC LIMIT ?", beforeId ?? Number.MAX_SAFE_INTEGER, n)
      .toArray()
      .map((r) => ({ ...r }));
  }

  count(): number {
    return this.sql.exec<{ n: number }>("SELECT COUNT(*) AS n FROM activity").one().n;
  }

  clear() {
    this.sql.exec("DELETE FROM activity");
  }
}
