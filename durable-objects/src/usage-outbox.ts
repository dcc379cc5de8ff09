import { openDb } from "@oc/db/client";
import { usageRecords } from "@oc/db/schema";

export type UsageRow = typeof usageRecords.$inferInsert;

/** How soon after a settlement the batch goes to Postgres, and the batch size. */
export const FLUSH_DELAY_MS = 2_000;
const BATCH = 500;

/**
 * Usage records wait here, in the user's Durable Object, written in the same step as the debit they
 * describe, so a charge and its record can never disagree. An alarm sends them to Postgres in batches: one
 * connection per batch instead of one per model call, off every response's path. The row id is the
 * reservation id, so a batch re-sent after a failure inserts nothing twice.
 */
export class UsageOutbox {
  constructor(private readonly sql: SqlStorage) {
    sql.exec("CREATE TABLE IF NOT EXISTS usage_outbox (id TEXT PRIMARY KEY, row TEXT NOT NULL, attempts INTEGER NOT NULL DEFAULT 0)");
  }

  add(row: UsageRow) {
    this.sql.exec("INSERT OR IGNORE INTO usage_outbox (id, row) VALUES (?, ?)", row.id, JSON.stringify(row));
  }

  pending(): number {
    return this.sql.exec<{ n: number }>("SELECT COUNT(*) AS n FROM usage_outbox").one().n;
  }

  /** Sends one batch; returns how many went. A failure leaves the rows for the next alarm. */
  async flush(databaseUrl: string, wsProxy?: string): Promise<number> {
    const rows = this.sql.exec<{ id: string; row: string }>("SELECT id, row FROM usage_outbox ORDER BY rowid LIMIT ?", BATCH).toArray();
    if (rows.length === 0) return 0;
    const values = rows.map((r) => {
      const v = JSON.parse(r.row) as UsageRow & { createdAt?: string };
      return { ...v, createdAt: v.createdAt ? new Date(v.createdAt) : undefined };
    });
    const { db, close } = openDb(databaseUrl, wsProxy);
    try {
      await db.insert(usageRecords).values(values).onConflictDoNothing();
    } catch (e) {
      for (const r of rows) this.sql.exec("UPDATE usage_outbox SET attempts = attempts + 1 WHERE id = ?", r.id);
      throw e;
    } finally {
      await close();
    }
    for (const r of rows) this.sql.exec("DELETE FROM usage_outbox WHERE id = ?", r.id);
    return rows.length;
  }
}
