import type { ForwardTarget, InboxMessage, ReplyTarget } from "@oc/contracts/agent";

/**
 * The agent's inbox in the user's object: everything the agent receives, in one order. A `message` row is
 * a message for the agent (the dashboard, a bridged channel); a `forward` row is a raw webhook update for the
 * container's own channel listener. A row is queued until it gets a command id (sent to the node), and done
 * when the node answers. Storage only: when rows go out is the lifecycle's decision (lifecycle.ts).
 */

export type { ForwardTarget, InboxMessage, ReplyTarget };

export interface QueuedRow {
  id: number;
  session: string;
  text: string;
  kind: string;
  payload: string | null;
}

export class Inbox {
  constructor(private readonly sql: SqlStorage) {
    sql.exec(`CREATE TABLE IF NOT EXISTS inbox (id INTEGER PRIMARY KEY AUTOINCREMENT, at INTEGER NOT NULL, session TEXT NOT NULL, text TEXT NOT NULL,
      command_id TEXT, reply TEXT, error TEXT, done_at INTEGER)`);
    // Channel traffic shares the inbox (one order for everything the agent receives): a `forward` row is a
    // raw webhook update for the container's own channel listener; `reply_to` says where a bridged reply goes.
    addColumn(sql, "inbox", "kind", "TEXT NOT NULL DEFAULT 'message'");
    addColumn(sql, "inbox", "payload", "TEXT");
    addColumn(sql, "inbox", "reply_to", "TEXT");
  }

  addMessage(text: string, session: string, replyTo?: ReplyTarget): number {
    return this.sql
      .exec<{ id: number }>(
        "INSERT INTO inbox (at, session, text, reply_to) VALUES (?, ?, ?, ?) RETURNING id",
        Date.now(),
        session,
        text,
        replyTo ? JSON.stringify(replyTo) : null,
      )
      .one().id;
  }

  addForward(channel: string, target: ForwardTarget): number {
    return this.sql
      .exec<{ id: number }>(
        "INSERT INTO inbox (at, session, text, kind, payload) VALUES (?, ?, ?, 'forward', ?) RETURNING id",
        Date.now(),
        channel,
        `${channel} update`,
        JSON.stringify(target),
      )
      .one().id;
  }

  /** Newest first; `search` matches the message or the reply (case-insensitive). */
  list(limit = 50, search?: string): InboxMessage[] {
    const like = search ? `%${search.replace(/[\\%_]/g, (c) => `\\${c}`)}%` : "%";
    return this.sql
      .exec<InboxRow & { at: number; session: string; text: string }>(
        "SELECT * FROM inbox WHERE kind = 'message' AND (text LIKE ?1 ESCAPE '\\' OR coalesce(reply, '') LIKE ?1 ESCAPE '\\') ORDER BY id DESC LIMIT ?2",
        like,
        Math.min(200, limit),
      )
      .toArray()
      .map((r) => ({ id: r.id, at: r.at, session: r.session, text: r.text, reply: r.reply, error: r.error, state: stateOf(r) }));
  }

  state(id: number): InboxMessage["state"] {
    return stateOf(this.sql.exec<InboxRow>("SELECT id, command_id, done_at, error, reply FROM inbox WHERE id = ?", id).one());
  }

  /** Rows not yet sent to the node, oldest first. */
  queued(): QueuedRow[] {
    return this.sql
      .exec<{ id: number; session: string; text: string; kind: string; payload: string | null }>(
        "SELECT id, session, text, kind, payload FROM inbox WHERE command_id IS NULL ORDER BY id",
      )
      .toArray();
  }

  /** The row goes out as `commandId`; `null` puts it back in the queue (the node refused it for now). */
  markSent(id: number, commandId: string | null) {
    this.sql.exec("UPDATE inbox SET command_id = ? WHERE id = ?", commandId, id);
  }

  /** The node's answer to the row sent as `commandId`; undefined when there is no such open row. */
  complete(commandId: string, ok: boolean, reply: string | null, error: string | null): { id: number; kind: string; replyTo: ReplyTarget | null } | undefined {
    const row = this.sql
      .exec<{ id: number; kind: string; reply_to: string | null }>(
        "UPDATE inbox SET reply = ?, error = ?, done_at = ? WHERE command_id = ? AND done_at IS NULL RETURNING id, kind, reply_to",
        ok ? reply : null,
        ok ? null : error,
        Date.now(),
        commandId,
      )
      .toArray()[0];
    return row && { id: row.id, kind: row.kind, replyTo: row.reply_to ? (JSON.parse(row.reply_to) as ReplyTarget) : null };
  }

  clear() {
    this.sql.exec("DELETE FROM inbox");
  }
}

type InboxRow = {
  id: number;
  command_id: string | null;
  done_at: number | null;
  error: string | null;
  reply: string | null;
};

function stateOf(r: InboxRow): InboxMessage["state"] {
  if (!r.command_id) return "queued";
  if (!r.done_at) return "sent";
  return r.error ? "failed" : "answered";
}

/** Adds a column to a table created by an earlier version of this object (SQLite has no IF NOT EXISTS here). */
function addColumn(sql: SqlStorage, table: string, column: string, definition: string) {
  const has = sql
    .exec<{ name: string }>(`SELECT name FROM pragma_table_info('${table}')`)
    .toArray()
    .some((c) => c.name === column);
  if (!has) sql.exec(`ALTER TABLE ${table} ADD COLUMN ${column} ${definition}`);
}
