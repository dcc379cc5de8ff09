import { SecretBox } from "@oc/contracts/crypto";
import type { AgentStatus, NodeFact, ProvisionPlan as Plan } from "@oc/contracts/agent";
import type { AgentSpecWire } from "@oc/contracts/wire";
import type { MetaTable } from "./meta-table";
import type { UserAgentEnv } from "./env";

export type { AgentStatus, NodeFact };
export type ProvisionPlan = Plan<AgentSpecWire>;

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
  meta: MetaTable;
  env: Pick<UserAgentEnv, "ENCRYPTION_KEY" | "NODE_LINK">;
  recordActivity(kind: string, message: string): Promise<unknown>;
  /** Makes sure the object's alarm fires no later than `at`. */
  wakeBy(at: number): Promise<void>;
  /** Moves the inbox along (inbox.ts): run on every status the agent can receive in, and after a move. */
  pumpInbox(): Promise<void>;
}

/** The status a successful lifecycle command leaves the agent in (`configure` only when it restarted it). */
const AFTER_SUCCESS: Partial<Record<string, AgentStatus>> = { provision: "ready", wake: "ready", pause: "paused", sleep: "sleeping", remove: "stopped" };

/** Commands whose failure fails the agent; a failed file or schedule request is only the caller's answer. */
const FAILS_AGENT = new Set<string>(["provision", "wake", "configure", "remove"]);

/**
 * The agent's status and its life on its node, in the user's Durable Object (the status's one owner):
 * provisioning (queued → placing, then the node's facts: creating → starting → ready, or failed), what each
 * fact a node reported means (relayed by NodeLink as a `NodeFact`, never as a status), idle → paused →
 * asleep, and waking (for a message, a scheduled job, or to repair drift). The object's single-threaded
 * execution keeps these transitions race-free.
 */
export class AgentLifecycle {
  constructor(private readonly h: Host) {}

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
    if (status === "ready" || status === "paused" || status === "sleeping") await this.h.pumpInbox(); // deliver what waited, or wake for it
  }

  // ── provisioning, and what the node's facts mean ──────────────────────────────────────────────────

  /**
   * The provisioning steps, in the order the dashboard shows them: queued → placing, the placement, keys and
   * sealed spec kept, then the node's `provision` command (the node then reports creating → starting →
   * ready). A node that went offline since it was picked fails it.
   */
  async provision(plan: ProvisionPlan): Promise<{ delivered: boolean }> {
    await this.setStatus("queued");
    if ("failed" in plan) {
      await this.setStatus("failed", plan.failed);
      return { delivered: false };
    }
    this.setPlacement(plan.nodeId);
    await this.setStatus("placing", `on ${plan.nodeId}`);
    this.meta.set("proxyKeyHash", plan.proxyKeyHash);
    this.meta.set("browserKeyHash", plan.browserKeyHash);
    this.meta.set("keysSealed", plan.keysSealed);
    this.meta.set("agentId", plan.agentId);
    this.setAgentSpec(plan.specSealed);
    const link = this.h.env.NODE_LINK;
    const { delivered } = link ? await link.getByName(plan.nodeId).sendCommand(plan.command, plan.commandId, { onlyIfConnected: true }) : { delivered: false };
    if (!delivered) await this.setStatus("failed", "the chosen server went offline; please try again");
    return { delivered };
  }

  /** What a fact the agent's node reported means for the agent's status: the status's one rule book. */
  async onNodeFact(f: NodeFact): Promise<void> {
    if (f.kind === "progress") return this.setStatus(f.step);
    if (f.kind === "container_missing") {
      await this.recover(f.state ? `its container was ${f.state} after the server reconnected` : "its container was missing after the server reconnected");
      return;
    }
    const reason = f.error ?? "the node reported a failure";
    // A failed pause or sleep leaves the agent running (the node restarts it when the archive could not be stored).
    if (!f.ok && (f.command === "sleep" || f.command === "pause")) return this.sleepFailed(reason);
    if (f.ok && f.command === "sleep") return this.onSlept(f.nextCronAt ?? null);
    if (!f.ok) return FAILS_AGENT.has(f.command) ? this.setStatus("failed", reason) : undefined;
    // `configure` restarts a running agent (ready again afterwards) and only rewrites a sleeping one's config.
    const status = f.command === "configure" ? (f.restarted ? "ready" : undefined) : AFTER_SUCCESS[f.command];
    if (status) await this.setStatus(status);
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
      if (!this.meta.get("wakeRequestedAt") && !this.meta.get("suspended")) await this.wake("a scheduled task is due");
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
    return this.wake(`recovering: ${reason}`);
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
    if (was === "ready" || was === "paused" || was === "starting" || was === "creating") await this.wake(`restoring on the new server`);
    else if (was === "sleeping") await this.h.pumpInbox();
  }

  // ── the agent's spec, and waking it with it ───────────────────────────────────────────────────────

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

  /** Sends `wake` with the sealed spec: the node unpauses, starts, or restores from S3, whichever applies. */
  async wake(reason: string): Promise<boolean> {
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
