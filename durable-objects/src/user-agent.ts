import { DurableObject } from "cloudflare:workers";
import type {
  ActivityEvent,
  AgentSnapshot,
  AgentStatus,
  ArchiveRecord,
  ChannelDelivery,
  ForwardTarget,
  InboxMessage,
  JobInput,
  JobView,
  NodeFact,
  ReplyTarget,
} from "@oc/contracts/agent";
import type { AuthorizeRequest, AuthorizeResult, LedgerEntry, RouteConversation, RouteRaise, SettleResult, UsageCall } from "@oc/contracts/ledger";
import type { ProtectionSettings } from "@oc/contracts/protection";
import type { UserAgentRpc } from "@oc/contracts/rpc";
import type { UserAgentEnv } from "./env";
import { Ledger } from "./ledger";
import { sendBridgedReply } from "./channel-replies";
import { AgentLifecycle, type ProvisionPlan } from "./lifecycle";
import { Inbox } from "./inbox";
import { MetaTable } from "./meta-table";
import { Protection } from "./protection";
import { RoutePins } from "./route-pins";
import { UsageOutbox } from "./usage-outbox";
import { JobTable } from "./jobs";
import { ActivityFeed } from "./activity";

export type {
  ActivityEvent,
  AgentSnapshot,
  AgentStatus,
  ArchiveRecord,
  AuthorizeRequest,
  AuthorizeResult,
  ChannelDelivery,
  ForwardTarget,
  InboxMessage,
  ReplyTarget,
  SettleResult,
};

/**
 * One per user, named by user id, on SQLite storage. It is the user's single point of serialisation: the
 * token ledger, wake state and token protection live here because a Durable Object runs one
 * request at a time, which makes "check balance then spend" race-free without database locks.
 */
export class UserAgent extends DurableObject<UserAgentEnv> implements UserAgentRpc {
  private readonly meta: MetaTable;
  private readonly outbox: UsageOutbox;
  private readonly ledger: Ledger;
  private readonly protection: Protection;
  private readonly life: AgentLifecycle;
  private readonly pins: RoutePins;
  private readonly inbox: Inbox;
  private readonly jobs: JobTable;
  private readonly activity: ActivityFeed;

  constructor(ctx: DurableObjectState, env: unknown) {
    super(ctx, env as never);
    this.meta = new MetaTable(ctx.storage.sql);
    this.protection = new Protection(ctx.storage.sql, this.meta);
    this.outbox = new UsageOutbox(ctx.storage.sql);
    this.pins = new RoutePins(ctx.storage.sql);
    this.ledger = new Ledger({
      sql: ctx.storage.sql,
      meta: this.meta,
      protection: this.protection,
      pins: this.pins,
      outbox: this.outbox,
      recordActivity: (kind, message) => this.recordActivity(kind, message),
      wakeBy: (at) => this.wakeBy(at),
    });
    this.jobs = new JobTable(ctx.storage.sql);
    this.activity = new ActivityFeed(ctx.storage.sql, (at) => this.meta.set("lastActivityAt", String(at)));
    ctx.storage.sql.exec(`
      CREATE TABLE IF NOT EXISTS events (id INTEGER PRIMARY KEY AUTOINCREMENT, at INTEGER NOT NULL, kind TEXT NOT NULL, data TEXT NOT NULL, taken_at INTEGER);
    `);
    this.life = new AgentLifecycle({
      meta: this.meta,
      env: this.env,
      recordActivity: (kind, message) => this.recordActivity(kind, message),
      wakeBy: (at) => this.wakeBy(at),
      pumpInbox: () => this.inbox.pump(),
    });
    this.inbox = new Inbox(ctx.storage.sql, {
      meta: this.meta,
      env: this.env,
      status: () => this.life.status(),
      touch: () => this.life.touch(),
      wake: (reason) => this.life.wake(reason),
      recordActivity: (kind, message) => this.recordActivity(kind, message),
    });
  }

  // ── proxy key and account state ──────────────────────────────────────────────────────────────────

  /**
   * Stores the SHA-256 of the agent's proxy key and of its browser key (issued together); new keys replace
   * (revoke) the old ones at once.
   */
  async setProxyKeyHash(hash: string | null, agentId?: string, browserKeyHash?: string | null, keysSealed?: string): Promise<void> {
    this.meta.set("proxyKeyHash", hash ?? "");
    if (browserKeyHash !== undefined) this.meta.set("browserKeyHash", browserKeyHash ?? "");
    // Revoked keys must not be re-applied: without a hash, the sealed pair goes too.
    if (keysSealed !== undefined || !hash) this.meta.set("keysSealed", hash ? (keysSealed ?? "") : "");
    if (agentId) this.meta.set("agentId", agentId);
  }

  /** The agent's current proxy and browser keys, sealed by the edge; null if none were kept. */
  async agentKeys(): Promise<string | null> {
    return this.meta.get("keysSealed") || null;
  }

  /** Provisioning in one call (lifecycle.ts): placement, keys, sealed spec, then the node's command. */
  async provision(plan: ProvisionPlan): Promise<{ delivered: boolean }> {
    await this.init(plan.userId);
    return this.life.provision(plan);
  }

  /**
   * Whether `keyHash` is the agent's current proxy key on an account that is not suspended: for the free
   * endpoints (token counting), which must not cost a model-call reservation.
   */
  async checkKey(keyHash: string): Promise<{ ok: boolean; agentId?: string }> {
    const current = this.meta.get("proxyKeyHash");
    if (!current || current !== keyHash || this.meta.get("suspended")) return { ok: false };
    return { ok: true, agentId: this.meta.get("agentId") || undefined };
  }

  /**
   * Whether `keyHash` is the agent's current browser key on an account that is not suspended: the check of
   * the browser relay. The proxy key does not pass it, and the browser key does not pass `authorize`.
   */
  async checkBrowserKey(keyHash: string): Promise<{ ok: boolean; agentId?: string }> {
    const current = this.meta.get("browserKeyHash");
    if (!current || current !== keyHash || this.meta.get("suspended")) return { ok: false };
    return { ok: true, agentId: this.meta.get("agentId") || undefined };
  }

  async setSuspended(suspended: boolean, reason = ""): Promise<void> {
    this.meta.set("suspended", suspended ? reason || "suspended" : "");
    await this.recordActivity("account", suspended ? `Account suspended: ${reason}` : "Account reactivated");
  }

  async setMarkup(markupBps: number): Promise<void> {
    if (!Number.isInteger(markupBps) || markupBps < 0) throw new Error("markup must be a non-negative integer (bps)");
    this.meta.set("markupBps", String(markupBps));
  }

  // ── ledger ────────────────────────────────────────────────────────────────────────────────────────

  /** The gate in front of every model call, one uninterrupted step (ledger.ts). */
  async authorize(req: AuthorizeRequest): Promise<AuthorizeResult> {
    return this.ledger.authorize(req);
  }

  /** Charges a call exactly once and queues its usage record (ledger.ts). */
  async settle(reservationId: string, wholesale: number, inbound: string, usage?: UsageCall, raise?: RouteRaise): Promise<SettleResult> {
    return this.ledger.settle(reservationId, wholesale, inbound, usage, raise);
  }

  /**
   * When the alarm is set for, as this object last set it (undefined until read once): the object is the only
   * one that sets its alarm, so every settlement need not ask the storage.
   */
  private alarmAt: number | null | undefined;

  /** Makes sure the alarm fires no later than `at`. */
  private async wakeBy(at: number) {
    if (this.alarmAt === undefined) this.alarmAt = await this.ctx.storage.getAlarm();
    if (this.alarmAt === null || this.alarmAt > at) {
      await this.ctx.storage.setAlarm(at);
      this.alarmAt = at;
    }
  }

  /** Recent conversations the smart router pinned, for the dashboard's "use the best model" switch. */
  async routeConversations(): Promise<RouteConversation[]> {
    this.ledger.persistCalls();
    return this.pins.list();
  }

  async setConversationBest(key: string, best: boolean): Promise<boolean> {
    this.ledger.persistCalls();
    return this.pins.setBest(key, best);
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

  async listLedger(limit = 50): Promise<LedgerEntry[]> {
    return this.ledger.entries(Math.min(200, limit));
  }

  /** Hands pending events to a consumer (auto top-up) and marks them taken. */
  async takeEvents(): Promise<{ id: number; at: number; kind: string; data: string }[]> {
    return this.ctx.storage.sql
      .exec<{ id: number; at: number; kind: string; data: string }>(
        "UPDATE events SET taken_at = ? WHERE taken_at IS NULL RETURNING id, at, kind, data",
        Date.now(),
      )
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
    this.alarmAt = null; // this one has fired; what it sets at the end is the next
    this.ledger.persistCalls();
    await this.jobs.runTurn(this.env, this.meta.get("userId"), (kind, message) => this.recordActivity(kind, message));
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
    await this.life.onAlarm(Date.now());
    const next = [
      nextExpiry === null ? null : nextExpiry + 1_000,
      retry ? Date.now() + 30_000 : this.outbox.pending() > 0 ? this.outbox.nextFlushAt(Date.now()) : null,
      this.life.idleDeadline(),
      this.jobs.nextAt(),
    ].filter((t): t is number => t !== null);
    if (next.length > 0) {
      // wakeBy may have set an earlier one while this alarm ran (a settlement during the flush).
      const at = Math.min(...next, this.alarmAt ?? Infinity);
      await this.ctx.storage.setAlarm(at);
      this.alarmAt = at;
    }
  }

  // ── follow-up jobs (jobs.ts): recorded with their event, run by the alarm, retried ───────────────

  /** Adds the follow-ups of `group` (an event id), held until `releaseJobs`; a job id already known is kept. */
  async enqueueJobs(group: string, jobs: JobInput[]): Promise<void> {
    this.jobs.enqueue(group, jobs, Date.now());
  }

  /** The event is recorded: its follow-ups run now (on the alarm, after the caller has answered). */
  async releaseJobs(group: string): Promise<number> {
    const released = this.jobs.release(group, Date.now());
    if (released > 0) await this.wakeBy(Date.now());
    return released;
  }

  /** The jobs, for tests and the operator (the payload as its JSON). */
  async listJobs(group?: string): Promise<JobView[]> {
    return this.jobs.list(group).map((j) => ({ ...j, payload: JSON.stringify(j.payload) }));
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
    const count = this.activity.count();
    return {
      userId: this.meta.get("userId"),
      status: (this.meta.get("status") as AgentStatus | null) ?? "none",
      lastActivityAt: last ? Number(last) : null,
      activityCount: count,
    };
  }

  // ── the agent's running state (lifecycle.ts) ──────────────────────────────────────────────────────

  /** The node the agent runs on (set at placement); idle steps and wakes are sent there. */
  /** The node the agent is placed on, if any. */
  async placement(): Promise<string | null> {
    return this.meta.get("nodeId") || null;
  }

  async setPlacement(nodeId: string): Promise<void> {
    this.life.setPlacement(nodeId);
  }

  // ── state archives: which one is the agent's, with its sha256 and size (checked on every restore) ─

  /** The node started uploading an archive; it counts once `commitArchive` confirms the upload. */
  async beginArchive(record: ArchiveRecord): Promise<void> {
    this.meta.set("archivePending", JSON.stringify(record));
  }

  /** The upload of `key` is done: it becomes the archive to restore. Null if `key` was not the one begun. */
  async commitArchive(key: string): Promise<ArchiveRecord | null> {
    const pending = this.meta.get("archivePending");
    const record = pending ? (JSON.parse(pending) as ArchiveRecord) : null;
    if (!record || record.key !== key) return null;
    this.meta.set("archive", JSON.stringify({ ...record, at: Date.now() }));
    this.meta.set("archivePending", "");
    return record;
  }

  async archiveState(): Promise<{ pending: ArchiveRecord | null; latest: ArchiveRecord | null }> {
    const pending = this.meta.get("archivePending");
    return { pending: pending ? (JSON.parse(pending) as ArchiveRecord) : null, latest: await this.latestArchive() };
  }

  async latestArchive(): Promise<ArchiveRecord | null> {
    const v = this.meta.get("archive");
    return v ? (JSON.parse(v) as ArchiveRecord) : null;
  }

  async setIdleTimeout(minutes: number, deepSleepMinutes?: number): Promise<void> {
    await this.life.setIdleTimeout(minutes, deepSleepMinutes);
  }

  async touch(): Promise<void> {
    await this.life.touch();
  }

  async requestSleep(mode: "pause" | "deep" = "deep", byUser = false): Promise<boolean> {
    return this.life.requestSleep(mode, byUser);
  }

  async setAlwaysOn(on: boolean): Promise<void> {
    await this.life.setAlwaysOn(on);
  }

  async onSlept(nextCronAt: number | null): Promise<void> {
    await this.life.onSlept(nextCronAt);
  }

  async sleepFailed(reason: string): Promise<void> {
    await this.life.sleepFailed(reason);
  }

  async relocate(nodeId: string, reason: string): Promise<void> {
    await this.life.relocate(nodeId, reason);
  }

  async recover(reason: string): Promise<boolean> {
    return this.life.recover(reason);
  }

  async setAgentSpec(sealed: string): Promise<void> {
    this.life.setAgentSpec(sealed);
  }

  async reconfigure(sealed: string): Promise<boolean> {
    return this.life.reconfigure(sealed);
  }

  // ── the inbox (inbox.ts): one order for everything the agent receives ──────────────────────────────

  async sendMessage(text: string, session = "main", replyTo?: ReplyTarget): Promise<{ id: number; state: InboxMessage["state"] }> {
    return this.inbox.sendMessage(text, session, replyTo);
  }

  async forwardUpdate(channel: string, target: ForwardTarget): Promise<{ id: number }> {
    return this.inbox.forwardUpdate(channel, target);
  }

  /** A chat platform's delivery, taken in at most once per platform id (`key`, remembered for `ttlMs`). */
  async deliverOnce(key: string, ttlMs: number, d: ChannelDelivery): Promise<{ duplicate: boolean }> {
    return this.inbox.deliverOnce(key, ttlMs, d);
  }

  /** Bridged channels' credentials (sealed by the edge with ENCRYPTION_KEY); null removes them. */
  async setBridge(sealed: string | null): Promise<void> {
    this.meta.set("bridgeSealed", sealed ?? "");
  }

  async listMessages(limit = 50, search?: string): Promise<InboxMessage[]> {
    return this.inbox.list(limit, search);
  }

  /** A message was answered; a bridged one (Slack, WhatsApp, Discord) gets the answer sent back there. */
  async onDelivered(commandId: string, ok: boolean, reply: string | null, error: string | null): Promise<void> {
    const { replyTo } = await this.inbox.onDelivered(commandId, ok, reply, error);
    const sealed = this.meta.get("bridgeSealed");
    if (!replyTo || !sealed || !this.env.ENCRYPTION_KEY) return;
    try {
      await sendBridgedReply({ ...this.env, ENCRYPTION_KEY: this.env.ENCRYPTION_KEY }, sealed, this.meta.get("userId")!, replyTo, reply ?? "");
    } catch (e) {
      await this.recordActivity("channel", `The reply could not be sent to ${replyTo.channel}: ${e instanceof Error ? e.message : String(e)}`);
    }
  }

  /**
   * The account was deleted: its conversations, activity feed and everything that could reach or wake an
   * agent go (spec, bridge credentials, proxy key, placement), and it stays suspended. The token ledger stays
   * (accounting; it holds amounts, not personal data).
   */
  async erasePersonalData(): Promise<void> {
    this.inbox.clear();
    this.activity.clear();
    this.ctx.storage.sql.exec("DELETE FROM events");
    this.jobs.clear();
    for (const key of [
      "specSealed",
      "bridgeSealed",
      "proxyKeyHash",
      "keysSealed",
      "nodeId",
      "alwaysOn",
      "agentId",
      "wakeRequestedAt",
      "sleepRequestedAt",
      "nextCronAt",
    ])
      this.meta.set(key, "");
    this.meta.set("status", "none");
    this.meta.set("suspended", "the account was deleted");
  }

  /** What the agent's node reported (through NodeLink); the status it means is decided here (lifecycle.ts). */
  async onNodeFact(fact: NodeFact): Promise<void> {
    await this.life.onNodeFact(fact);
  }

  async setStatus(status: AgentStatus, reason?: string): Promise<AgentSnapshot> {
    await this.life.setStatus(status, reason);
    return this.getSnapshot();
  }

  async recordActivity(kind: string, message: string): Promise<ActivityEvent> {
    return this.activity.record(kind, message);
  }

  /** Events newer than `afterId`, oldest first (the live feed's next page). */
  async activityAfter(afterId: number, limit = 100): Promise<ActivityEvent[]> {
    return this.activity.after(afterId, limit);
  }

  async listActivity(limit = 50, beforeId?: number): Promise<ActivityEvent[]> {
    return this.activity.list(limit, beforeId);
  }
}
