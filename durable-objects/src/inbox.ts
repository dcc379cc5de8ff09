import type { AgentStatus, ChannelDelivery, ForwardTarget, InboxMessage, ReplyTarget } from "@oc/contracts/agent";
import type { MetaTable } from "./meta-table";
import type { UserAgentEnv } from "./env";

/**
 * The agent's inbox in the user's object: everything the agent receives, in one order, and when it goes out.
 * A `message` row is a message for the agent (the dashboard, a bridged channel); a `forward` row is a raw
 * webhook update for the container's own channel listener. A row is queued until it gets a command id (sent
 * to the node), and done when the node answers. Rows go out in order once the agent is ready; for a paused
 * or sleeping agent the inbox asks the lifecycle (lifecycle.ts) to wake it, and the lifecycle pumps the inbox
 * again on every status it reaches.
 *
 * Chat platforms' deliveries come in once: each platform's own delivery id (Telegram update_id, Slack
 * event_id, WhatsApp message id, Discord interaction id) is remembered for a time-to-live chosen per
 * platform to outlast its retries and its signed-timestamp window, so a replayed or retried delivery is
 * acknowledged but never reaches the agent twice. The object's one-at-a-time execution makes "seen? then
 * record" race-free.
 */

export type { ForwardTarget, InboxMessage, ReplyTarget };

/** What the inbox needs of the rest of the object; UserAgent wires the lifecycle in. */
export interface InboxHost {
  meta: MetaTable;
  env: Pick<UserAgentEnv, "NODE_LINK">;
  status(): AgentStatus;
  /** Interactive use: the agent's idle clock starts over. */
  touch(): Promise<void>;
  /** Wakes a paused or sleeping agent (the lifecycle sends `wake` with the sealed spec). */
  wake(reason: string): Promise<boolean>;
  recordActivity(kind: string, message: string): Promise<unknown>;
}

export interface QueuedRow {
  id: number;
  session: string;
  text: string;
  kind: string;
  payload: string | null;
}

export class Inbox {
  constructor(
    private readonly sql: SqlStorage,
    private readonly h: InboxHost,
  ) {
    sql.exec(`CREATE TABLE IF NOT EXISTS inbox (id INTEGER PRIMARY KEY AUTOINCREMENT, at INTEGER NOT NULL, session TEXT NOT NULL, text TEXT NOT NULL,
      command_id TEXT, reply TEXT, error TEXT, done_at INTEGER)`);
    // Channel traffic shares the inbox (one order for everything the agent receives): a `forward` row is a
    // raw webhook update for the container's own channel listener; `reply_to` says where a bridged reply goes.
    addColumn(sql, "inbox", "kind", "TEXT NOT NULL DEFAULT 'message'");
    addColumn(sql, "inbox", "payload", "TEXT");
    addColumn(sql, "inbox", "reply_to", "TEXT");
    sql.exec(`CREATE TABLE IF NOT EXISTS seen_deliveries (key TEXT PRIMARY KEY, expires_at INTEGER NOT NULL);
      CREATE INDEX IF NOT EXISTS seen_deliveries_expiry ON seen_deliveries (expires_at)`);
  }

  /**
   * A chat platform's delivery, taken in at most once per platform id (`key`, remembered for `ttlMs`): a
   * replay or a retry of one already queued is reported as a duplicate and changes nothing. The id is
   * recorded in the same synchronous step as the inbox row, so both are stored or neither.
   */
  async deliverOnce(key: string, ttlMs: number, d: ChannelDelivery): Promise<{ duplicate: boolean }> {
    if (!this.firstTime(key, ttlMs)) return { duplicate: true };
    if (d.kind === "forward") await this.forwardUpdate(d.channel, d.target);
    else await this.sendMessage(d.text, d.session, d.replyTo);
    return { duplicate: false };
  }

  /** Records `key` for `ttlMs`; false when it is already recorded and not yet expired. */
  private firstTime(key: string, ttlMs: number, now = Date.now()): boolean {
    this.sql.exec("DELETE FROM seen_deliveries WHERE expires_at <= ?", now);
    return (
      this.sql.exec("INSERT INTO seen_deliveries (key, expires_at) VALUES (?, ?) ON CONFLICT(key) DO NOTHING RETURNING key", key, now + ttlMs).toArray()
        .length === 1
    );
  }

  /** A message for the agent. It is delivered at once if the agent runs; a sleeping agent is woken first. */
  async sendMessage(text: string, session = "main", replyTo?: ReplyTarget): Promise<{ id: number; state: InboxMessage["state"] }> {
    const id = this.addMessage(text, session, replyTo);
    await this.h.touch();
    await this.pump();
    return { id, state: this.state(id) };
  }

  /**
   * A raw channel update (Telegram's webhook body) for the container's own listener, queued in the same
   * order as messages: a sleeping agent is woken first, and updates are forwarded one by one.
   */
  async forwardUpdate(channel: string, target: ForwardTarget): Promise<{ id: number }> {
    const id = this.addForward(channel, target);
    await this.h.touch();
    await this.pump();
    return { id };
  }

  /** The node's answer to a `deliver` or `forward` command. Returns where a bridged reply should go. */
  async onDelivered(commandId: string, ok: boolean, reply: string | null, error: string | null): Promise<{ replyTo: ReplyTarget | null }> {
    const row = this.complete(commandId, ok, reply, error);
    if (!row) return { replyTo: null };
    await this.pump(); // messages held back by the node's queue limit go out as answers come in
    if (row.kind === "forward") {
      if (!ok) await this.h.recordActivity("channel", `A channel update could not be handed to the agent: ${error}`);
      return { replyTo: null };
    }
    await this.h.recordActivity("message", ok ? `Agent replied: ${(reply ?? "").slice(0, 200)}` : `A message could not be delivered: ${error}`);
    return { replyTo: ok ? row.replyTo : null };
  }

  /** Moves queued rows along: delivers them in order when ready, wakes the agent when paused or asleep. */
  async pump(): Promise<void> {
    const { meta, env } = this.h;
    const nodeId = meta.get("nodeId");
    const userId = meta.get("userId");
    if (!nodeId || !userId || !env.NODE_LINK) return;
    const queued = this.queued();
    if (queued.length === 0) return;
    const status = this.h.status();
    if (status === "ready" && !meta.get("sleepRequestedAt")) {
      const link = env.NODE_LINK.getByName(nodeId);
      for (const m of queued) {
        const commandId = `${m.kind === "forward" ? "forward" : "deliver"}:${userId}:${m.id}`;
        this.markSent(m.id, commandId);
        const sent =
          m.kind === "forward"
            ? await link.sendCommand({ kind: "forward", userId, ...(JSON.parse(m.payload!) as ForwardTarget) }, commandId)
            : await link.sendCommand({ kind: "deliver", userId, session: m.session, text: m.text }, commandId);
        // Over the node's queue limit: this and later rows stay queued, in order, until answers free room.
        if (sent.refused) {
          this.markSent(m.id, null);
          break;
        }
      }
    } else if ((status === "sleeping" || status === "paused") && !meta.get("wakeRequestedAt") && !meta.get("sleepRequestedAt") && !meta.get("suspended")) {
      // A suspended account (subscription ended) keeps its messages queued but is not woken.
      await this.h.wake("waking up for a new message");
    }
  }

  private addMessage(text: string, session: string, replyTo?: ReplyTarget): number {
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

  private addForward(channel: string, target: ForwardTarget): number {
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

  private state(id: number): InboxMessage["state"] {
    return stateOf(this.sql.exec<InboxRow>("SELECT id, command_id, done_at, error, reply FROM inbox WHERE id = ?", id).one());
  }

  /** Rows not yet sent to the node, oldest first. */
  private queued(): QueuedRow[] {
    return this.sql
      .exec<{ id: number; session: string; text: string; kind: string; payload: string | null }>(
        "SELECT id, session, text, kind, payload FROM inbox WHERE command_id IS NULL ORDER BY id",
      )
      .toArray();
  }

  /** The row goes out as `commandId`; `null` puts it back in the queue (the node refused it for now). */
  private markSent(id: number, commandId: string | null) {
    this.sql.exec("UPDATE inbox SET command_id = ? WHERE id = ?", commandId, id);
  }

  /** The node's answer to the row sent as `commandId`; undefined when there is no such open row. */
  private complete(
    commandId: string,
    ok: boolean,
    reply: string | null,
    error: string | null,
  ): { id: number; kind: string; replyTo: ReplyTarget | null } | undefined {
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
