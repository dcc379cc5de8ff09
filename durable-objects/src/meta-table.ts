/**
 * Small key/value settings of a Durable Object, in its SQLite. Reads are served from memory: the object is
 * the only writer of its storage, every write goes through `set`, and a fresh instance starts empty, so the
 * copy can never be stale. The hot path (every model call) reads several keys.
 */
export class MetaTable {
  private readonly cache = new Map<string, string | null>();

  constructor(private readonly sql: SqlStorage) {
    sql.exec("CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL)");
  }

  get(key: string): string | null {
    if (this.cache.has(key)) return this.cache.get(key)!;
    const value = this.sql.exec<{ value: string }>("SELECT value FROM meta WHERE key = ?", key).toArray()[0]?.value ?? null;
    this.cache.set(key, value);
    return value;
  }

  set(key: string, value: string) {
    this.sql.exec("INSERT INTO meta (key, value) VALUES (?, ?) ON CONFLICT(key) DO UPDATE SET value = excluded.value", key, value);
    this.cache.set(key, value);
  }
}
