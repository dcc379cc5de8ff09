import { DurableObject } from "cloudflare:workers";
import { DEFAULT_MARKUP_BPS, withMarkup } from "../../contracts/src/money";
import { Ledger, RESERVATION_TTL_MS } from "./ledger";
import { SecretBox } from "../../edge/src/lib/crypto";
import { MetaTable } from "./meta-table";
import type { NodeLink } from "./node-link";
import { Protection, type CallFacts, type ProtectionSettings, type Refusal } from "./protection";
import { FLUSH_DELAY_MS, UsageOutbox, type UsageRow } from "./usage-outbox";

/** The agent's life as the dashboard shows it: provisioning steps first, then ready / sleeping. */
export type AgentStatus = "none" | "queued" | "placing" | "creating" | "starting" | "ready" | "sleeping" | "stopped" | "failed";

export interface ActivityEvent {
  id: number;
  at: number;
  kind: string;
  message: string;
}

export interface AuthorizeRequest {
  /** SHA-256 of the proxy key the client presented. */
  keyHash: string;
  reservationId: string;
  /** Upper bound of the request's wholesale cost; the user's markup is applied here. */
  maxWholesale: number;
  call: CallFacts;
}

export type AuthorizeResult =
  | { ok: true; markupBps: number; reserved: number; agentId: string | null }
  | { ok: false; code: "invalid_key" | "suspended" | "balance_limit" | Refusal["code"]; message: string };

export interface SettleResult {
  applied: boolean;
  price: number;
  markupBps: number;
  balance: number;
}

export interface AgentSnapshot {
  userId: string | null;
  status: AgentStatus;
  lastActivityAt: number | null;
  activityCount: number;
}

/** Default minutes without interactive use before a running agent is put to sleep. */
export const DEFAULT_IDLE_MINUTES = 30;

/** How many activity events a user's object keeps; older ones are dropped (Postgres holds the history). */
const ACTIVITY_KEEP = 500;

/**
 * One per user, named by user id, on SQLite storage. It is the user's single point of serialisation: the
 * token ledger, wake state and token protection (later issues) live here because a Durable Object runs one
 * request at a time, which makes "check balance then spend" race-free without database locks.
 */
export interface InboxMessage {
  id: number;
  at: number;
  session: string;
  text: string;
  reply: string | null;
  error: string | null;
  state: "queued" | "sent" | "answered" | "failed";
}

export class UserAgent extends DurableObject<{ DATABASE_URL?: string; NEON_LOCAL_WSPROXY?: string; ENCRYPTION_KEY?: string; NODE_LINK?: DurableObjectNamespace<NodeLink> }> {
  private readonly meta: MetaTable;
  private readonly outbox: UsageOutbox;
  private readonly ledger: Ledger;
  private readonly protection: Protection;

  constructor(ctx: DurableObjectState, env: unknown) {
    super(ctx, env as never);
    this.meta = new MetaTable(ctx.storage.sql);
    this.ledger = new Ledger(ctx.storage.sql, this.meta);
    this.protection = new Protection(ctx.storage.sql, this.meta);
    this.outbox = new UsageOutbox(ctx.storage.sql);
    ctx.storage.sql.exec(`
      CREATE TABLE IF NOT EXISTS activity (id INTEGER PRIMARY KEY AUTOINCREMENT, at INTEGER NOT NULL, kind TEXT NOT NULL, message TEXT NOT NULL);
      CREATE TABLE IF NOT EXISTS events (id INTEGER PRIMARY KEY AUTOINCREMENT, at INTEGER NOT NULL, kind TEXT NOT NULL, data TEXT NOT NULL, taken_at INTEGER);
      CREATE TABLE IF NOT EXISTS inbox (id INTEGER PRIMARY KEY AUTOINCREMENT, at INTEGER NOT NULL, session TEXT NOT NULL, text TEXT NOT NULL,
        command_id TEXT, reply TEXT, error TEXT, done_at INTEGER);
    `);
  }

  // ── proxy key and account state ──────────────────────────────────────────────────────────────────

  /** Stores the SHA-256 of the agent's proxy key; a new key replaces (revokes) the old one at once. */
  async setProxyKeyHash(hash: string | null, agentId?: string): Promise<void> {
    this.meta.set("proxyKeyHash", hash ?? "");
    if (agentId) this.meta.set("agentId", agentId);
  }

  async setSuspended(suspended: boolean, reason = ""): Promise<void> {
    this.meta.set("suspended", suspended ? reason || "suspended" : "");
    await this.recordActivity("account", suspended ? `Account suspended: ${reason}` : "Account reactivated");
  }

  async setMarkup(markupBps: number): Promise<void> {
    if (!Number.isInteger(markupBps) || markupBps < 0) throw new Error("markup must be a non-negative integer (bps)");
    this.meta.set("markupBps", String(markupBps));
  }

  private markup(): number {
    return Number(this.meta.get("markupBps") ?? DEFAULT_MARKUP_BPS);
  }

  // ── ledger ────────────────────────────────────────────────────────────────────────────────────────

  /**
   * The gate in front of every model call: key, account, token protection, then a reservation of the
   * call's maximum price. Runs as one uninterrupted step of this object, so concurrent calls queue here.
   */
  async authorize(req: AuthorizeRequest): Promise<AuthorizeResult> {
    const keyHash = this.meta.get("proxyKeyHash");
    if (!keyHash || keyHash !== req.keyHash) return { ok: false, code: "invalid_key", message: "This API key is not valid (it may have been replaced)." };
    if (this.meta.get("suspended")) return { ok: false, code: "suspended", message: "This account is suspended. Contact support from the dashboard." };
    const markupBps = this.markup();
    const maxPrice = withMarkup(req.maxWholesale, markupBps);
    const refusal = this.protection.check(req.call, maxPrice);
    if (refusal) {
      await this.recordActivity("protection", refusal.message);
      return { ok: false, ...refusal };
    }
    if (!this.ledger.reserve(req.reservationId, maxPrice))
      return { ok: false, code: "balance_limit", message: "Token limit reached: your OpenClaw Cloud token balance is used up for now. Top up in the dashboard and requests resume at once." };
    this.protection.recordCall(req.call);
    if (!req.call.background) this.meta.set("lastUseAt", String(Date.now())); // background work does not keep an agent awake
    await this.wakeBy(Date.now() + RESERVATION_TTL_MS + 1_000);
    return { ok: true, markupBps, reserved: maxPrice, agentId: this.meta.get("agentId") };
  }

  /**
   * Charges the actual price of a call (wholesale + markup) exactly once and releases its reservation. The
   * usage record, completed with the price, is queued for Postgres in the same step.
   */
  async settle(reservationId: string, wholesale: number, inbound: string, usage?: Omit<UsageRow, "id" | "priceMicros" | "markupBps" | "costMicros">): Promise<SettleResult> {
    const markupBps = this.markup();
    const { applied, balance, charged: price } = this.ledger.settle(reservationId, withMarkup(wholesale, markupBps));
    if (applied) {
      this.protection.recordSpend(inbound, price);
      this.checkLowBalance(balance);
      if (usage) {
        this.outbox.add({ ...usage, id: reservationId, costMicros: wholesale, priceMicros: price, markupBps, createdAt: new Date() });
        await this.wakeBy(Date.now() + FLUSH_DELAY_MS);
      }
    }
    return { applied, price, markupBps, balance };
  }

  /** Makes sure the alarm fires no later than `at`. */
  private async wakeBy(at: number) {
    const current = await this.ctx.storage.getAlarm();
    if (current === null || current > at) await this.ctx.storage.setAlarm(at);
  }

  /** Usage records not yet in Postgres (for tests and the operator console). */
  async pendingUsage(): Promise<number> {
    return this.outbox.pending();
  }

  /** Adds funds once per (source, sourceId): plan tokens, packs, referrals, adjustments. */
  async credit(amount: number, source: string, sourceId: string): Promise<{ applied: boolean; balance: number }> {
    const r = this.ledger.credit(amount, source, sourceId);
    if (r.applied) {
      if (r.balance >= this.protection.settings().autoTopUp.threshold) this.meta.set("lowBalanceRaised", "");
      await this.recordActivity("billing", `Added ${(amount / 1_000_000).toFixed(2)} USD of tokens (${source})`);
    }
    return r;
  }

  async getBalance(): Promise<{ balance: number; reserved: number; available: number }> {
    return { balance: this.ledger.balance(), reserved: this.ledger.reserved(), available: this.ledger.available() };
  }

  async listLedger(limit = 50) {
    return this.ledger.entries(Math.min(200, limit));
  }

  /** Raises one low_balance event per crossing below the auto top-up threshold (billing consumes it). */
  private checkLowBalance(balance: number) {
    const { autoTopUp } = this.protection.settings();
    if (!autoTopUp.enabled || balance >= autoTopUp.threshold || this.meta.get("lowBalanceRaised")) return;
    this.meta.set("lowBalanceRaised", "1");
    this.ctx.storage.sql.exec("INSERT INTO events (at, kind, data) VALUES (?, 'low_balance', ?)", Date.now(), JSON.stringify({ balance, threshold: autoTopUp.threshold }));
  }

  /** Hands pending events to a consumer (the billing issue's auto top-up) and marks them taken. */
  async takeEvents(): Promise<{ id: number; at: number; kind: string; data: string }[]> {
    return this.ctx.storage.sql
      .exec<{ id: number; at: number; kind: string; data: string }>("UPDATE events SET taken_at = ? WHERE taken_at IS NULL RETURNING id, at, kind, data", Date.now())
      .toArray()
      .map((r) => ({ ...r }));
  }

  async getProtection(): Promise<ProtectionSettings> {
    return this.protection.settings();
  }

  async updateProtection(patch: Partial<ProtectionSettings>): Promise<ProtectionSettings> {
    return this.protection.update(patch);
  }

  /**
   * Sends queued usage records to Postgres and releases reservations of calls that never settled (a Worker
   * that died mid-request), then sleeps until the next of those is due.
   */
  override async alarm(): Promise<void> {
    let retry = false;
    if (this.outbox.pending() > 0 && this.env.DATABASE_URL) {
      try {
        while ((await this.outbox.flush(this.env.DATABASE_URL, this.env.NEON_LOCAL_WSPROXY)) > 0 && this.outbox.pending() > 0);
      } catch (e) {
        console.error("[usage] flush to Postgres failed; retrying", e);
        retry = true;
      }
    }
    const { released, nextExpiry } = this.ledger.releaseExpired();
    if (released > 0) await this.recordActivity("billing", `Released ${released} unfinished request hold(s)`);
    await this.sleepIfIdle(Date.now());
    const next = [
      nextExpiry === null ? null : nextExpiry + 1_000,
      retry || this.outbox.pending() > 0 ? Date.now() + (retry ? 30_000 : FLUSH_DELAY_MS) : null,
      this.idleDeadline(),
    ].filter((t): t is number => t !== null);
    if (next.length > 0) await this.ctx.storage.setAlarm(Math.min(...next));
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

  // ── sleep on idle ─────────────────────────────────────────────────────────────────────────────────

  /** The node the agent runs on (set at placement); the idle alarm sends `sleep` there. */
  async setPlacement(nodeId: string): Promise<void> {
    this.meta.set("nodeId", nodeId);
  }

  async setIdleTimeout(minutes: number): Promise<void> {
    if (!Number.isInteger(minutes) || minutes < 1 || minutes > 7 * 24 * 60) throw new Error("idle timeout must be 1 minute to 7 days");
    this.meta.set("idleMinutes", String(minutes));
    await this.scheduleIdleCheck();
  }

  /** Interactive use (an inbound message, the dashboard) keeps the agent awake. */
  async touch(): Promise<void> {
    this.meta.set("lastUseAt", String(Date.now()));
    await this.scheduleIdleCheck();
  }

  /** Only a running, placed agent with no sleep already requested can be put to sleep. */
  private canSleep(): boolean {
    return this.meta.get("status") === "ready" && !!this.meta.get("nodeId") && !this.meta.get("sleepRequestedAt");
  }

  /** When a running agent falls idle: last interactive use + idle timeout; null when not running. */
  private idleDeadline(): number | null {
    if (!this.canSleep()) return null;
    const minutes = Number(this.meta.get("idleMinutes") ?? DEFAULT_IDLE_MINUTES);
    return Number(this.meta.get("lastUseAt") ?? Date.now()) + minutes * 60_000;
  }

  private async scheduleIdleCheck() {
    const at = this.idleDeadline();
    if (at !== null) await this.wakeBy(at);
  }

  /** Asks the agent's node to stop it and archive its state; the node's answer sets "sleeping". */
  private async sleepIfIdle(now: number): Promise<void> {
    const deadline = this.idleDeadline();
    if (deadline === null || now < deadline) return;
    await this.requestSleep();
  }

  /** Puts a running agent to sleep now (idle alarm, or the user's Stop button). */
  async requestSleep(): Promise<boolean> {
    const now = Date.now();
    if (!this.canSleep() || !this.env.NODE_LINK) return false;
    const userId = this.meta.get("userId")!;
    this.meta.set("sleepRequestedAt", String(now));
    await this.env.NODE_LINK.getByName(this.meta.get("nodeId")!).sendCommand({ kind: "sleep", userId }, `sleep:${userId}:${now}`);
    await this.recordActivity("status", "Agent going to sleep (it wakes on the next message)");
    return true;
  }

  // ── messages: queued while asleep, delivered in order once ready ──────────────────────────────────

  /** The agent's spec (config with its proxy key and gateway token), sealed by the edge with ENCRYPTION_KEY. */
  async setAgentSpec(sealed: string): Promise<void> {
    this.meta.set("specSealed", sealed);
  }

  /** A message for the agent. It is delivered at once if the agent runs; a sleeping agent is woken first. */
  async sendMessage(text: string, session = "main"): Promise<{ id: number; state: InboxMessage["state"] }> {
    const id = this.ctx.storage.sql.exec<{ id: number }>("INSERT INTO inbox (at, session, text) VALUES (?, ?, ?) RETURNING id", Date.now(), session, text).one().id;
    await this.touch();
    await this.pump();
    return { id, state: this.inboxState(id) };
  }

  async listMessages(limit = 50): Promise<InboxMessage[]> {
    return this.ctx.storage.sql
      .exec<{ id: number; at: number; session: string; text: string; reply: string | null; error: string | null; command_id: string | null; done_at: number | null }>(
        "SELECT * FROM inbox ORDER BY id DESC LIMIT ?",
        Math.min(200, limit),
      )
      .toArray()
      .map((r) => ({ id: r.id, at: r.at, session: r.session, text: r.text, reply: r.reply, error: r.error, state: stateOf(r) }));
  }

  /** The node's answer to a `deliver` command. */
  async onDelivered(commandId: string, ok: boolean, reply: string | null, error: string | null): Promise<void> {
    const row = this.ctx.storage.sql
      .exec<{ id: number }>("UPDATE inbox SET reply = ?, error = ?, done_at = ? WHERE command_id = ? AND done_at IS NULL RETURNING id", ok ? reply : null, ok ? null : error, Date.now(), commandId)
      .toArray()[0];
    if (row) await this.recordActivity("message", ok ? `Agent replied: ${(reply ?? "").slice(0, 200)}` : `A message could not be delivered: ${error}`);
  }

  private inboxState(id: number): InboxMessage["state"] {
    const r = this.ctx.storage.sql.exec<{ command_id: string | null; done_at: number | null; error: string | null; reply: string | null }>("SELECT command_id, done_at, error, reply FROM inbox WHERE id = ?", id).one();
    return stateOf(r);
  }

  /** Moves queued messages along: delivers them in order when ready, wakes the agent when asleep. */
  private async pump(): Promise<void> {
    const nodeId = this.meta.get("nodeId");
    const userId = this.meta.get("userId");
    if (!nodeId || !userId || !this.env.NODE_LINK) return;
    const queued = this.ctx.storage.sql.exec<{ id: number; session: string; text: string }>("SELECT id, session, text FROM inbox WHERE command_id IS NULL ORDER BY id").toArray();
    if (queued.length === 0) return;
    const status = this.meta.get("status");
    const link = this.env.NODE_LINK.getByName(nodeId);
    if (status === "ready" && !this.meta.get("sleepRequestedAt")) {
      for (const m of queued) {
        const commandId = `deliver:${userId}:${m.id}`;
        this.ctx.storage.sql.exec("UPDATE inbox SET command_id = ? WHERE id = ?", commandId, m.id);
        await link.sendCommand({ kind: "deliver", userId, session: m.session, text: m.text }, commandId);
      }
    } else if (status === "sleeping" && !this.meta.get("wakeRequestedAt")) {
      const sealed = this.meta.get("specSealed");
      if (!sealed || !this.env.ENCRYPTION_KEY) return;
      const spec = JSON.parse(await new SecretBox(this.env.ENCRYPTION_KEY).decrypt(sealed, `spec:${userId}`));
      this.meta.set("wakeRequestedAt", String(Date.now()));
      await this.setStatus("starting", "waking up for a new message");
      await link.sendCommand({ kind: "wake", spec }, `wake:${userId}:${Date.now()}`);
    }
  }

  /** Records a status change; repeating the current status (progress and result both saying "ready") is a no-op. */
  async setStatus(status: AgentStatus, reason?: string): Promise<AgentSnapshot> {
    if (this.meta.get("status") === status && !reason) return this.getSnapshot();
    this.meta.set("status", status);
    if (status === "ready") {
      this.meta.set("sleepRequestedAt", "");
      this.meta.set("wakeRequestedAt", "");
      this.meta.set("lastUseAt", String(Date.now()));
      await this.scheduleIdleCheck();
    }
    await this.recordActivity("status", reason ? `Agent is ${status}: ${reason}` : `Agent is ${status}`);
    if (status === "ready" || status === "sleeping") await this.pump(); // deliver what waited, or wake for it
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

function stateOf(r: { command_id: string | null; done_at: number | null; error: string | null; reply: string | null }): InboxMessage["state"] {
  if (!r.command_id) return "queued";
  if (!r.done_at) return "sent";
  return r.error ? "failed" : "answered";
}
