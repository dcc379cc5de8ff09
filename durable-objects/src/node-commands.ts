import { SecretBox } from "@oc/contracts/crypto";
import type { NodeCommand } from "@oc/contracts/rpc";

export type { NodeCommand };

/** Answered commands are kept only this long (callers poll for their answer within seconds). */
export const DONE_RETENTION_MS = 10 * 60_000;
/** …and at most this many of them, whatever their age. */
export const MAX_DONE_KEPT = 500;
/** Unanswered commands one node may hold (a node offline for long, or one that never answers). */
export const MAX_OPEN_PER_NODE = 2000;
/** Unanswered commands one tenant may hold on a node (lifecycle steps are exempt: one at a time by design). */
export const MAX_OPEN_PER_USER = 100;
/** File Manager / Memory Manager requests per rolling minute, per tenant and per node. */
export const FILE_OPS_PER_MINUTE_USER = 120;
export const FILE_OPS_PER_MINUTE_NODE = 1200;
/** Failed starts shown to the operator (kind, user, error only; no spec). */
const FAILURES_KEPT_MS = 86_400_000;

/** Commands the user's state machine issues one at a time; refusing one would lose a transition. */
const LIFECYCLE = new Set<NodeCommand["kind"]>(["provision", "wake", "configure", "sleep", "pause", "remove"]);
/** Commands the node reports `progress` for. */
const WITH_PROGRESS = new Set<NodeCommand["kind"]>(["provision", "wake"]);

export interface OpenCommand {
  id: string;
  kind: NodeCommand["kind"];
  userId: string | null;
  sentAt: number;
}

export function userOf(command: NodeCommand): string | undefined {
  return "spec" in command ? command.spec.userId : "userId" in command ? command.userId : undefined;
}

/**
 * The commands a NodeLink sent to its node, in its SQLite. A command's body (specs carry proxy keys,
 * gateway and bot tokens; file writes carry file contents) and its result (file reads) are sealed with
 * ENCRYPTION_KEY, bound to the command id, and the body is dropped as soon as the node answers. Answered
 * commands are pruned after a bounded time and count. Only the columns needed to match frames and apply
 * limits (id, kind, user) are kept in clear.
 */
export class CommandLog {
  private readonly box: SecretBox;

  constructor(
    private readonly sql: SqlStorage,
    encryptionKey: string,
  ) {
    this.box = new SecretBox(encryptionKey);
    sql.exec(`
      CREATE TABLE IF NOT EXISTS node_commands (id TEXT PRIMARY KEY, kind TEXT NOT NULL, user_id TEXT, sealed TEXT,
        sent_at INTEGER NOT NULL, done_at INTEGER, ok INTEGER, result TEXT, error TEXT);
      CREATE INDEX IF NOT EXISTS node_commands_open ON node_commands (done_at, user_id);
      CREATE TABLE IF NOT EXISTS node_failures (user_id TEXT NOT NULL, kind TEXT NOT NULL, error TEXT NOT NULL, at INTEGER NOT NULL);
      CREATE TABLE IF NOT EXISTS file_ops (user_id TEXT NOT NULL, at INTEGER NOT NULL);
    `);
  }

  /**
   * Storage written before commands were sealed kept them in clear forever in `commands`: unanswered
   * ones move into the sealed log (so they are still re-sent), answered ones are dropped.
   */
  async migrateLegacy(): Promise<void> {
    const legacy = this.sql.exec<{ n: number }>("SELECT COUNT(*) AS n FROM sqlite_master WHERE type = 'table' AND name = 'commands'").one().n;
    if (!legacy) return;
    const pending = this.sql
      .exec<{ id: string; command: string; sent_at: number }>("SELECT id, command, sent_at FROM commands WHERE done_at IS NULL")
      .toArray();
    for (const row of pending) await this.insert(row.id, JSON.parse(row.command) as NodeCommand, row.sent_at);
    this.sql.exec("DROP TABLE commands");
  }

  /** Why this command may not be queued now, or null. Counts only; the caller decides what to tell whom. */
  refusal(command: NodeCommand, now = Date.now()): string | null {
    const userId = userOf(command) ?? null;
    const openNode = this.sql.exec<{ n: number }>("SELECT COUNT(*) AS n FROM node_commands WHERE done_at IS NULL").one().n;
    if (openNode >= MAX_OPEN_PER_NODE && !LIFECYCLE.has(command.kind)) return `the server has too many unanswered requests (${openNode}); try again later`;
    if (userId && !LIFECYCLE.has(command.kind)) {
      const openUser = this.sql
        .exec<{ n: number }>(
          `SELECT COUNT(*) AS n FROM node_commands WHERE done_at IS NULL AND user_id = ? AND kind NOT IN (${[...LIFECYCLE].map(() => "?").join(", ")})`,
          userId,
          ...LIFECYCLE,
        )
        .one().n;
      if (openUser >= MAX_OPEN_PER_USER) return `too many unanswered requests for this agent (${openUser}); try again when they are done`;
    }
    if (command.kind === "files") {
      this.sql.exec("DELETE FROM file_ops WHERE at < ?", now - 60_000);
      const node = this.sql.exec<{ n: number }>("SELECT COUNT(*) AS n FROM file_ops").one().n;
      const user = this.sql.exec<{ n: number }>("SELECT COUNT(*) AS n FROM file_ops WHERE user_id = ?", userId).one().n;
      if (user >= FILE_OPS_PER_MINUTE_USER) return `too many file requests for this agent (limit ${FILE_OPS_PER_MINUTE_USER} a minute); try again in a minute`;
      if (node >= FILE_OPS_PER_MINUTE_NODE) return `too many file requests on this server (limit ${FILE_OPS_PER_MINUTE_NODE} a minute); try again in a minute`;
    }
    return null;
  }

  /** Records a command before it is sent; a repeat of a known id keeps the first. */
  async insert(id: string, command: NodeCommand, sentAt = Date.now()): Promise<void> {
    if (this.sql.exec<{ n: number }>("SELECT COUNT(*) AS n FROM node_commands WHERE id = ?", id).one().n) return;
    const sealed = await this.box.encrypt(JSON.stringify(command), `node-command:${id}`);
    this.sql.exec(
      "INSERT OR IGNORE INTO node_commands (id, kind, user_id, sealed, sent_at) VALUES (?, ?, ?, ?, ?)",
      id,
      command.kind,
      userOf(command) ?? null,
      sealed,
      sentAt,
    );
    if (command.kind === "files") this.sql.exec("INSERT INTO file_ops (user_id, at) VALUES (?, ?)", userOf(command) ?? "", sentAt);
  }

  /** The command as sent, while it is still unanswered. */
  async body(id: string): Promise<NodeCommand | null> {
    const row = this.sql.exec<{ sealed: string | null }>("SELECT sealed FROM node_commands WHERE id = ? AND done_at IS NULL", id).toArray()[0];
    return row?.sealed ? (JSON.parse(await this.box.decrypt(row.sealed, `node-command:${id}`)) as NodeCommand) : null;
  }

  /** What is known of a command id: open, answered, or never sent by this link. */
  lookup(id: string): (OpenCommand & { done: boolean }) | null {
    const row = this.sql
      .exec<{ id: string; kind: string; user_id: string | null; sent_at: number; done_at: number | null }>(
        "SELECT id, kind, user_id, sent_at, done_at FROM node_commands WHERE id = ?",
        id,
      )
      .toArray()[0];
    return row ? { id: row.id, kind: row.kind as NodeCommand["kind"], userId: row.user_id, sentAt: row.sent_at, done: row.done_at !== null } : null;
  }

  /** Why a progress frame for (id, userId) is not believed, or null when it matches an open start. */
  progressRefusal(id: string, userId: string): string | null {
    const c = this.lookup(id);
    if (!c) return `progress for command ${id}, which this link never sent to the node`;
    if (c.done) return `progress for command ${id}, which was already answered`;
    if (c.userId !== userId) return `progress for ${userId}, but command ${id} is for ${c.userId ?? "no user"}`;
    if (!WITH_PROGRESS.has(c.kind)) return `progress for a ${c.kind} command`;
    return null;
  }

  /** Every command still kept, in the order sent: the body while open, only its kind once answered. */
  async all(): Promise<{ id: string; done: boolean; command: NodeCommand | { kind: NodeCommand["kind"] } }[]> {
    const rows = this.sql
      .exec<{ id: string; kind: string; sealed: string | null; done_at: number | null }>(
        "SELECT id, kind, sealed, done_at FROM node_commands ORDER BY sent_at, rowid",
      )
      .toArray();
    return Promise.all(
      rows.map(async (r) => ({
        id: r.id,
        done: r.done_at !== null,
        command: r.sealed ? (JSON.parse(await this.box.decrypt(r.sealed, `node-command:${r.id}`)) as NodeCommand) : { kind: r.kind as NodeCommand["kind"] },
      })),
    );
  }

  open(): OpenCommand[] {
    return this.sql
      .exec<{ id: string; kind: string; user_id: string | null; sent_at: number }>(
        "SELECT id, kind, user_id, sent_at FROM node_commands WHERE done_at IS NULL ORDER BY sent_at, rowid",
      )
      .toArray()
      .map((r) => ({ id: r.id, kind: r.kind as NodeCommand["kind"], userId: r.user_id, sentAt: r.sent_at }));
  }

  /**
   * Records the node's answer and drops the sealed body. Returns false when the id is not an open
   * command of this link (unknown, or answered already: a replay).
   */
  async complete(id: string, ok: boolean, result: unknown, error: string | null, now = Date.now()): Promise<boolean> {
    const c = this.lookup(id);
    if (!c || c.done) return false;
    const sealed = result === undefined ? null : await this.box.encrypt(JSON.stringify(result), `node-result:${id}`);
    const updated = this.sql
      .exec(
        "UPDATE node_commands SET done_at = ?, ok = ?, result = ?, error = ?, sealed = NULL WHERE id = ? AND done_at IS NULL RETURNING id",
        now,
        ok ? 1 : 0,
        sealed,
        error,
        id,
      )
      .toArray().length;
    if (updated && !ok && c.userId && (c.kind === "provision" || c.kind === "wake"))
      this.sql.exec("INSERT INTO node_failures (user_id, kind, error, at) VALUES (?, ?, ?, ?)", c.userId, c.kind, error ?? "", now);
    return updated > 0;
  }

  async result(id: string): Promise<{ done: boolean; ok?: boolean; resultJson?: string | null; error?: string | null }> {
    const row = this.sql
      .exec<{ done_at: number | null; ok: number | null; result: string | null; error: string | null }>(
        "SELECT done_at, ok, result, error FROM node_commands WHERE id = ?",
        id,
      )
      .toArray()[0];
    if (!row || row.done_at === null) return { done: false };
    return { done: true, ok: row.ok === 1, resultJson: row.result === null ? null : await this.box.decrypt(row.result, `node-result:${id}`), error: row.error };
  }

  recentFailures(now = Date.now()): { userId: string; kind: string; error: string; at: number }[] {
    return this.sql
      .exec<{ user_id: string; kind: string; error: string; at: number }>(
        "SELECT user_id, kind, error, at FROM node_failures WHERE at > ? ORDER BY at DESC LIMIT 20",
        now - FAILURES_KEPT_MS,
      )
      .toArray()
      .map((r) => ({ userId: r.user_id, kind: r.kind, error: r.error, at: r.at }));
  }

  /** Drops answered commands past their retention (time and count) and stale bookkeeping. */
  prune(now = Date.now()): void {
    this.sql.exec("DELETE FROM node_commands WHERE done_at IS NOT NULL AND done_at < ?", now - DONE_RETENTION_MS);
    this.sql.exec(
      "DELETE FROM node_commands WHERE done_at IS NOT NULL AND id NOT IN (SELECT id FROM node_commands WHERE done_at IS NOT NULL ORDER BY done_at DESC LIMIT ?)",
      MAX_DONE_KEPT,
    );
    this.sql.exec("DELETE FROM node_failures WHERE at < ?", now - FAILURES_KEPT_MS);
    this.sql.exec("DELETE FROM file_ops WHERE at < ?", now - 60_000);
  }
}
