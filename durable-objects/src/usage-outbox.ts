import { openDb } from "@oc/db/client";
import { usageRecords } from "@oc/db/schema";
import { getTableColumns, getTableName, SQL } from "drizzle-orm";
import { PgDialect } from "drizzle-orm/pg-core";

export type UsageRow = typeof usageRecords.$inferInsert;

/** How soon after a settlement the batch goes to Postgres, and the batch size. */
export const FLUSH_DELAY_MS = 2_000;
const BATCH = 500;
/**
 * A busy object sends at most one batch per FLUSH_SPACING_MS, unless a whole batch waits: a steady stream of
 * calls is sent in fewer, larger batches, each a round trip to Postgres, and the batches come close enough
 * together to share one database connection (see `connection`).
 */
export const FLUSH_SPACING_MS = 5_000;

/**
 * One statement inserts a whole batch from a single JSON parameter: the queued rows are already JSON (with
 * the schema's property names), so the batch is their text joined, not parsed, rebuilt as objects and bound
 * as one parameter per field. Column names, types and defaults come from the drizzle table, so the statement
 * follows the schema.
 */
const INSERT_BATCH = (() => {
  const dialect = new PgDialect();
  const columns = Object.entries(getTableColumns(usageRecords));
  const names = columns.map(([, c]) => `"${c.name}"`).join(", ");
  const values = columns
    .map(([key, c]) => {
      const field = `r."${key}"`;
      if (c.default === undefined) return field;
      if (!(c.default instanceof SQL) && typeof c.default !== "number")
        throw new Error(`usage_records.${c.name}: a default of this kind needs its SQL form here`);
      const fallback = c.default instanceof SQL ? dialect.sqlToQuery(c.default).sql : String(c.default);
      return `COALESCE(${field}, ${fallback})`;
    })
    .join(", ");
  const record = columns.map(([key, c]) => `"${key}" ${c.getSQLType()}`).join(", ");
  return `INSERT INTO "${getTableName(usageRecords)}" (${names}) SELECT ${values} FROM jsonb_to_recordset($1::jsonb) AS r(${record}) ON CONFLICT (id) DO NOTHING`;
})();

/**
 * Usage records wait here, in the user's Durable Object, written in the same step as the debit they
 * describe, so a charge and its record can never disagree. An alarm sends them to Postgres in batches: one
 * statement per batch instead of one per model call, off every response's path. The row id is the
 * reservation id, so a batch re-sent after a failure inserts nothing twice.
 */
export class UsageOutbox {
  constructor(private readonly sql: SqlStorage) {
    sql.exec("CREATE TABLE IF NOT EXISTS usage_outbox (id TEXT PRIMARY KEY, row TEXT NOT NULL, attempts INTEGER NOT NULL DEFAULT 0)");
  }

  /** When the last batch went (memory: after a restart the next batch goes as soon as FLUSH_DELAY_MS allows). */
  private flushedAt = 0;
  /** Rows added since this instance started or last flushed (a lower bound of what waits). */
  private added = 0;

  add(row: UsageRow) {
    this.sql.exec("INSERT OR IGNORE INTO usage_outbox (id, row) VALUES (?, ?)", row.id, JSON.stringify(row));
    this.added++;
  }

  /** When the waiting records should go: FLUSH_DELAY_MS after now, no sooner than the spacing allows. */
  nextFlushAt(now: number): number {
    if (this.added >= BATCH) return now;
    return Math.max(now + FLUSH_DELAY_MS, this.flushedAt + FLUSH_SPACING_MS);
  }

  pending(): number {
    return this.sql.exec<{ n: number }>("SELECT COUNT(*) AS n FROM usage_outbox").one().n;
  }

  /**
   * The database connection of earlier batches. A Durable Object may use its own I/O across its events, so a
   * busy user's batches share one connection (the pool drops it after 10 s idle) instead of opening one per
   * batch, which cost far more CPU than the rows. A failed batch discards it: the next one starts afresh.
   */
  private db: (ReturnType<typeof openDb> & { target: string }) | undefined;

  private connection(databaseUrl: string, wsProxy: string | undefined) {
    const target = `${databaseUrl} ${wsProxy ?? ""}`;
    if (this.db?.target !== target) {
      this.disconnect();
      this.db = { ...openDb(databaseUrl, wsProxy), target };
    }
    return this.db;
  }

  private disconnect() {
    this.db?.close().catch(() => {});
    this.db = undefined;
  }

  /** Sends one batch; returns how many went. A failure leaves the rows for the next alarm. */
  async flush(databaseUrl: string, wsProxy?: string): Promise<number> {
    const rows = this.sql.exec<{ id: string; row: string; n: number }>("SELECT id, row, rowid AS n FROM usage_outbox ORDER BY rowid LIMIT ?", BATCH).toArray();
    if (rows.length === 0) return 0;
    try {
      await this.connection(databaseUrl, wsProxy).pool.query(INSERT_BATCH, [`[${rows.map((r) => r.row).join(",")}]`]);
    } catch (e) {
      this.disconnect();
      for (const r of rows) this.sql.exec("UPDATE usage_outbox SET attempts = attempts + 1 WHERE id = ?", r.id);
      throw e;
    }
    // The batch is the lowest rowids; rows added while it was sent got higher ones (its last row still existed).
    this.sql.exec("DELETE FROM usage_outbox WHERE rowid <= ?", rows[rows.length - 1]!.n);
    this.flushedAt = Date.now();
    this.added = Math.max(0, this.added - rows.length);
    return rows.length;
  }
}
