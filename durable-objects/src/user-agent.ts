import { DurableObject } from "cloudflare:workers";
import { MetaTable } from "./meta-table";

export type AgentStatus = "none" | "provisioning" | "ready" | "sleeping" | "stopped" | "failed";

export interface ActivityEvent {
  id: number;
  at: number;
  kind: string;
  message: string;
}

export interface AgentSnapshot {
  userId: string | null;
  status: AgentStatus;
  lastActivityAt: number | null;
  activityCount: number;
}

/** How many activity events a user's object keeps; older ones are dropped (Postgres holds the history). */
const ACTIVITY_KEEP = 500;

/**
 * One per user, named by user id, on SQLite storage. It is the user's single point of serialisation: the
 * token ledger, wake state and token protection (later issues) live here because a Durable Object runs one
 * request at a time, which makes "check balance then spend" race-free without database locks.
 */
export class UserAgent extends DurableObject {
  private readonly meta: MetaTable;

  constructor(ctx: DurableObjectState, env: unknown) {
    super(ctx, env as never);
    this.meta = new MetaTable(ctx.storage.sql);
    ctx.storage.sql.exec(`
      CREATE TABLE IF NOT EXISTS activity (id INTEGER PRIMARY KEY AUTOINCREMENT, at INTEGER NOT NULL, kind TEXT NOT NULL, message TEXT NOT NULL);
    `);
  }

  /** Binds the object to its user on first use; a second call with another id is refused. */
  async init(userId: string): Promise<AgentSnapshot> {
    const bound = this.meta.get("userId");
    if (bound && bound !== userId) throw new Error(`UserAgent already belongs to ${bound}`);
    if (!bound) {
      this.meta.set("userId", userId);
      this.meta.set("status", "none");
      await this.recordActivity("account", "Account created");
    }
    return this.getSnapshot();
  }

  async getSnapshot(): Promise<AgentSnapshot> {
    const last = this.meta.get("lastActivityAt");
    const count = this.ctx.storage.sql.exec<{ n: number }>("SELECT COUNT(*) AS n FROM activity").one().n;
    return {
      userId: this.meta.get("userId"),
      status: (this.meta.get("status") as AgentStatus | null) ?? "none",
      lastActivityAt: last ? Number(last) : null,
      activityCount: count,
    };
  }

  async setStatus(status: AgentStatus, reason?: string): Promise<AgentSnapshot> {
    this.meta.set("status", status);
    await this.recordActivity("status", reason ? `Agent is ${status}: ${reason}` : `Agent is ${status}`);
    return this.getSnapshot();
  }

  async recordActivity(kind: string, message: string): Promise<ActivityEvent> {
    const at = Date.now();
    const row = this.ctx.storage.sql
      .exec<{ id: number }>("INSERT INTO activity (at, kind, message) VALUES (?, ?, ?) RETURNING id", at, kind.slice(0, 40), message.slice(0, 2000))
      .one();
    this.ctx.storage.sql.exec("DELETE FROM activity WHERE id <= ?", row.id - ACTIVITY_KEEP);
    this.meta.set("lastActivityAt", String(at));
    return { id: row.id, at, kind, message };
  }

  async listActivity(limit = 50, beforeId?: number): Promise<ActivityEvent[]> {
    const n = Math.max(1, Math.min(200, Math.floor(limit)));
    return this.ctx.storage.sql
      .exec<{ id: number; at: number; kind: string; message: string }>(
        "SELECT id, at, kind, message FROM activity WHERE id < ? ORDER BY id DESC LIMIT ?",
        beforeId ?? Number.MAX_SAFE_INTEGER,
        n,
      )
      .toArray()
      .map((r) => ({ ...r }));
  }
}
