import { SecretBox } from "@oc/contracts/crypto";
import type { MetaTable } from "./meta-table";
import type { AgentStatus, ForwardTarget, InboxMessage, ReplyTarget } from "@oc/contracts/agent";
import type { UserAgentEnv } from "./env";
import { Inbox } from "./inbox";

export type { AgentStatus, ForwardTarget, InboxMessage, ReplyTarget };

/** Default minutes without interactive use before a running agent dozes (is paused). */
export const DEFAULT_IDLE_MINUTES = 30;
/**
 * Default minutes a paused agent keeps its memory before deep sleep (stop + archive to S3). A paused agent
 * wakes in milliseconds but still holds ~1 GiB; a deep-sleeping one holds nothing but needs a cold start.
 * 0 means "skip dozing, sleep deeply at once".
 */
export const DEFAULT_DEEP_SLEEP_MINUTES = 120;
/** A sleeping agent with a scheduled job is woken this long before it is due (OpenClaw needs ~10 s to start). */
export const CRON_PREWAKE_MS = 120_000;

interface Host {
  sql: SqlStorage;
  meta: MetaTable;
  env: Pick<UserAgentEnv, "ENCRYPTION_KEY" | "NODE_LINK">;
  recordActivity(kind: string, message: string): Promise<unknown>;
  /** Makes sure the object's alarm fires no later than `at`. */
  wakeBy(at: number): Promise<void>;
}

/**
 * The running state of one user's agent: idle → paused → asleep, wake on a message (or to repair drift), and
 * when the inbox's rows (inbox.ts) go out: in order, once the agent is ready. Lives inside the user's Durable
 * Object, whose single-threaded execution keeps these transitions race-free.
 */
export class AgentLifecycle {
  readonly inbox: Inbox;

  constructor(private readonly h: Host) {
    this.inbox = new Inbox(h.sql);
  }

  private get meta() {
    return this.h.meta;
  }

  status(): AgentStatus {
    return (this.meta.get("status") as AgentStatus | null) ?? "none";
  }

  /** Records a status change; repeating the current status (progress and result both saying "ready") is a no-op. */
  async setStatus(status: AgentStatus, reason?: string): Promise<void> {
    if (this.status() === status && !reason) return;
    this.meta.set("status", status);
    if (status === "ready" || status === "paused" || status === "sleeping") this.meta.set("sleepRequestedAt", "");
    if (status === "ready" || status === "paused") this.meta.set("wakeRequestedAt", "");
    if (status === "ready") this.meta.set("lastUseAt", String(Date.now()));
    if (status === "paused") this.meta.set("pausedAt", String(Date.now()));
    await this.scheduleIdleCheck();
    await this.h.recordActivity("status", reason ? `Agent is ${status}: ${reason}` : `Agent is ${status}`);
    if (status === "ready" || status === "paused" || status === "sleeping") await this.pump(); // deliver what waited, or wake for it
  }

  // ── idle: ready → paused → sleeping ───────────────────────────────────────────────────────────────

  setPlacement(nodeId: string) {
    this.meta.set("nodeId", nodeId);
  }

  async setIdleTimeout(minutes: number, deepSleepMinutes?: number): Promise<void> {
    if (!Number.isInteger(minutes) || minutes < 1 || minutes > 7 * 24 * 60) throw new Error("idle timeout must be 1 minute to 7 days");
    if (deepSleepMinutes !== undefined && (!Number.isInteger(deepSleepMinutes) || deepSleepMinutes < 0 || deepSleepMinutes > 7 * 24 * 60))
      throw new Error("deep sleep delay must be 0 minutes to 7 days");
    this.meta.set("idleMinutes", String(minutes));
    if (deepSleepMinutes !== undefined) this.meta.set("deepSleepMinutes", String(deepSleepMinutes));
    await this.scheduleIdleCheck();
  }

  /** Interactive use (an inbound message, the dashboard) keeps the agent awake. */
  async touch(): Promise<void> {
    this.meta.set("lastUseAt", String(Date.now()));
    await this.scheduleIdleCheck();
  }

  private deepSleepMinutes() {
    return Number(this.meta.get("deepSleepMinutes") ?? DEFAULT_DEEP_SLEEP_MINUTES);
  }

  /**
   * Only a running or paused, placed agent with no sleep already requested can be put to sleep, and never
   * one set to stay on (socket channels such as a Discord bot or WhatsApp Web need a live connection).
   */
  private canSleep(byUser = false): boolean {
    const s = this.status();
    return (s === "ready" || s === "paused") && !!this.meta.get("nodeId") && !this.meta.get("sleepRequestedAt") && (byUser || !this.meta.get("alwaysOn"));
  }

  /** Always on: the agent never dozes or sleeps on its own (the user's Stop button still works). */
  async setAlwaysOn(on: boolean): Promise<void> {
    this.meta.set("alwaysOn", on ? "1" : "");
    await this.scheduleIdleCheck();
  }

  /**
   * When the alarm must next look at the agent: ready → last use + idle timeout; paused → paused at +
   * deep-sleep delay; asleep with a scheduled job → shortly before it is due.
   */
  idleDeadline(): number | null {
    const cron = Number(this.meta.get("nextCronAt") ?? 0);
    if (this.status() === "sleeping" && cron > 0) return cron - CRON_PREWAKE_MS;
    if (!this.canSleep()) return null;
    if (this.status() === "paused") return Number(this.meta.get("pausedAt") ?? Date.now()) + this.deepSleepMinutes() * 60_000;
    const minutes = Number(this.meta.get("idleMinutes") ?? DEFAULT_IDLE_MINUTES);
    return Number(this.meta.get("lastUseAt") ?? Date.now()) + minutes * 60_000;
  }

  private async scheduleIdleCheck() {
    const at = this.idleDeadline();
    if (at !== null) await this.h.wakeBy(at);
  }

  /** Called by the alarm: takes the next idle step when it is due, or pre-wakes for a scheduled job. */
  async onAlarm(now: number): Promise<void> {
    const deadline = this.idleDeadline();
    if (deadline === null || now < deadline) return;
    if (this.status() === "sleeping") {
      this.meta.set("nextCronAt", "");
      if (!this.meta.get("wakeRequestedAt") && !this.meta.get("suspended")) await this.sendWake("a scheduled task is due");
      return;
    }
    await this.requestSleep(this.status() === "ready" && this.deepSleepMinutes() > 0 ? "pause" : "deep");
  }

  /**
   * Puts a running agent to sleep now: `pause` freezes it in place (the idle alarm's first step), `deep`
   * stops it and archives its state (the second step, and the user's Stop button). The node's answer sets
   * the new status.
   */
  async requestSleep(mode: "pause" | "deep" = "deep", byUser = false): Promise<boolean> {
    const now = Date.now();
    // The user's Stop button wins over "always on"; only the idle alarm respects it.
    if (!this.canSleep(byUser) || !this.h.env.NODE_LINK) return false;
    if (mode === "pause" && this.status() === "paused") return false;
    const userId = this.meta.get("userId")!;
    this.meta.set("sleepRequestedAt", String(now));
    const link = this.h.env.NODE_LINK.getByName(this.meta.get("nodeId")!);
    if (mode === "pause") await link.sendCommand({ kind: "pause", userId }, `pause:${userId}:${now}`);
    else await link.sendCommand({ kind: "sleep", userId }, `sleep:${userId}:${now}`);
    await this.h.recordActivity(
      "status",
      mode === "pause" ? "Agent dozing (it answers again within a second)" : "Agent going to sleep (it wakes on the next message)",
    );
    return true;
  }

  /** The node archived the agent; `nextCronAt` is when its next scheduled job is due, if any. */
  async onSlept(nextCronAt: number | null): Promise<void> {
    this.meta.set("nextCronAt", nextCronAt ? String(nextCronAt) : "");
    await this.setStatus("sleeping");
    if (nextCronAt) await this.h.recordActivity("status", `Agent will wake at ${new Date(nextCronAt - CRON_PREWAKE_MS).toISOString()} for a scheduled task`);
  }

  /**
   * The node could not put the agent to sleep (for instance S3 refused the archive): the node restarted it,
   * so it is running again, and the idle clock starts over to retry later. Nothing was lost.
   */
  async sleepFailed(reason: string): Promise<void> {
    await this.setStatus("ready", `it could not be put to sleep (${reason}); it stays awake and tries again later`);
  }

  /**
   * The node lost a container the platform expected to be running (reported after a reconnect): wake it
   * again, which restores from the newest archive when the container is gone.
   */
  async recover(reason: string): Promise<boolean> {
    const s = this.status();
    if ((s !== "ready" && s !== "paused") || this.meta.get("wakeRequestedAt")) return false;
    return this.sendWake(`recovering: ${reason}`);
  }

  /**
   * The platform moved this agent to another node (its node was lost or is being retired). A running or
   * paused agent is woken there at once, restored from its newest archive; a sleeping one wakes there on
   * its next message.
   */
  async relocate(nodeId: string, reason: string): Promise<void> {
    const was = this.status();
    this.meta.set("nodeId", nodeId);
    this.meta.set("sleepRequestedAt", "");
    this.meta.set("wakeRequestedAt", "");
    await this.h.recordActivity("status", `Agent moved to another server: ${reason}`);
    if (was === "ready" || was === "paused" || was === "starting" || was === "creating") await this.sendWake(`restoring on the new server`);
    else if (was === "sleeping") await this.pump();
  }

  // ── messages: queued while asleep, delivered in order once ready ──────────────────────────────────

  /** The agent's spec (config with its proxy key and gateway token), sealed by the edge with ENCRYPTION_KEY. */
  setAgentSpec(sealed: string) {
    this.meta.set("specSealed", sealed);
  }

  /**
   * A new spec (a rotated proxy key, changed settings): kept for the next wake, and written into the
   * container's config now. A running agent restarts on it, so messages wait ("starting") until it is ready.
   */
  async reconfigure(sealed: string): Promise<boolean> {
    this.setAgentSpec(sealed);
    const nodeId = this.meta.get("nodeId");
    const userId = this.meta.get("userId");
    if (!nodeId || !userId || !this.h.env.NODE_LINK || !this.h.env.ENCRYPTION_KEY) return false;
    if (["none", "queued", "placing", "failed", "stopped"].includes(this.status())) return false;
    const spec = JSON.parse(await new SecretBox(this.h.env.ENCRYPTION_KEY).decrypt(sealed, `spec:${userId}`));
    if (this.status() === "ready" || this.status() === "paused") await this.setStatus("starting", "restarting with new settings");
    await this.h.env.NODE_LINK.getByName(nodeId).sendCommand({ kind: "configure", spec }, `configure:${userId}:${Date.now()}`);
    return true;
  }

  /** A message for the agent. It is delivered at once if the agent runs; a sleeping agent is woken first. */
  async sendMessage(text: string, session = "main", replyTo?: ReplyTarget): Promise<{ id: number; state: InboxMessage["state"] }> {
    const id = this.inbox.addMessage(text, session, replyTo);
    await this.touch();
    await this.pump();
    return { id, state: this.inbox.state(id) };
  }

  listMessages(limit = 50, search?: string): InboxMessage[] {
    return this.inbox.list(limit, search);
  }

  /**
   * A raw channel update (Telegram's webhook body) for the container's own listener, queued in the same
   * order as messages: a sleeping agent is woken first, and updates are forwarded one by one.
   */
  async forwardUpdate(channel: string, target: ForwardTarget): Promise<{ id: number }> {
    const id = this.inbox.addForward(channel, target);
    await this.touch();
    await this.pump();
    return { id };
  }

  /** The node's answer to a `deliver` or `forward` command. Returns where a bridged reply should go. */
  async onDelivered(commandId: string, ok: boolean, reply: string | null, error: string | null): Promise<{ replyTo: ReplyTarget | null }> {
    const row = this.inbox.complete(commandId, ok, reply, error);
    if (!row) return { replyTo: null };
    await this.pump(); // messages held back by the node's queue limit go out as answers come in
    if (row.kind === "forward") {
      if (!ok) await this.h.recordActivity("channel", `A channel update could not be handed to the agent: ${error}`);
      return { replyTo: null };
    }
    await this.h.recordActivity("message", ok ? `Agent replied: ${(reply ?? "").slice(0, 200)}` : `A message could not be delivered: ${error}`);
    return { replyTo: ok ? row.replyTo : null };
  }

  /** Moves queued messages along: delivers them in order when ready, wakes the agent when paused or asleep. */
  private async pump(): Promise<void> {
    const nodeId = this.meta.get("nodeId");
    const userId = this.meta.get("userId");
    if (!nodeId || !userId || !this.h.env.NODE_LINK) return;
    const queued = this.inbox.queued();
    if (queued.length === 0) return;
    const status = this.status();
    if (status === "ready" && !this.meta.get("sleepRequestedAt")) {
      const link = this.h.env.NODE_LINK.getByName(nodeId);
      for (const m of queued) {
        const commandId = `${m.kind === "forward" ? "forward" : "deliver"}:${userId}:${m.id}`;
        this.inbox.markSent(m.id, commandId);
        const sent =
          m.kind === "forward"
            ? await link.sendCommand({ kind: "forward", userId, ...(JSON.parse(m.payload!) as ForwardTarget) }, commandId)
            : await link.sendCommand({ kind: "deliver", userId, session: m.session, text: m.text }, commandId);
        // Over the node's queue limit: this and later messages stay queued, in order, until answers free room.
        if (sent.refused) {
          this.inbox.markSent(m.id, null);
          break;
        }
      }
    } else if (
      (status === "sleeping" || status === "paused") &&
      !this.meta.get("wakeRequestedAt") &&
      !this.meta.get("sleepRequestedAt") &&
      !this.meta.get("suspended")
    ) {
      // A suspended account (subscription ended) keeps its messages queued but is not woken.
      await this.sendWake("waking up for a new message");
    }
  }

  /** Sends `wake` with the sealed spec: the node unpauses, starts, or restores from S3, whichever applies. */
  private async sendWake(reason: string): Promise<boolean> {
    const nodeId = this.meta.get("nodeId");
    const userId = this.meta.get("userId");
    const sealed = this.meta.get("specSealed");
    if (!nodeId || !userId || !sealed || !this.h.env.ENCRYPTION_KEY || !this.h.env.NODE_LINK) return false;
    const spec = JSON.parse(await new SecretBox(this.h.env.ENCRYPTION_KEY).decrypt(sealed, `spec:${userId}`));
    this.meta.set("wakeRequestedAt", String(Date.now()));
    await this.setStatus("starting", reason);
    await this.h.env.NODE_LINK.getByName(nodeId).sendCommand({ kind: "wake", spec }, `wake:${userId}:${Date.now()}`);
    return true;
  }
}
