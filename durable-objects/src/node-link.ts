import { DurableObject } from "cloudflare:workers";
import { MetaTable } from "./meta-table";
import type { NodeFact } from "@oc/contracts/agent";
import type { NodeLinkRpc, SentCommand } from "@oc/contracts/rpc";
import type { NodeLinkEnv } from "./env";
import { evictionPlan, freeMb, type Dozer, type NodeStatus } from "@oc/contracts/capacity";
import { CommandLog, userOf, type NodeCommand } from "./node-commands";
import { agentFrame, edgeFrame, parseFrame, type AgentFrame, type ContainerReport, type EdgeFrame, type NodeMetrics } from "@oc/contracts/wire";

export const HEARTBEAT_MS = 15_000;
/** A command still unanswered this long after it was sent is given up (the node was offline too long). */
export const COMMAND_EXPIRY_MS = 60 * 60_000;

/** What the platform expects of a user's container on this node, after the node's last answer. */
type Expected = "running" | "paused" | "sleeping";
const EXPECTED_AFTER: Partial<Record<NodeCommand["kind"], Expected>> = { provision: "running", wake: "running", pause: "paused", sleep: "sleeping" };

export type { NodeCommand, NodeStatus };

interface Attachment {
  nodeId: string;
  connectedAt: number;
}

/**
 * One per worker node. Holds the node agent's WebSocket through the hibernation API, so an idle node costs
 * nothing between heartbeats; everything that must survive hibernation is in SQLite or the socket attachment.
 * The edge route authenticates the agent before the upgrade reaches this object.
 */
export class NodeLink extends DurableObject<NodeLinkEnv> implements NodeLinkRpc {
  private readonly meta: MetaTable;
  private readonly commands: CommandLog;

  constructor(ctx: DurableObjectState, env: NodeLinkEnv) {
    super(ctx, env);
    this.meta = new MetaTable(ctx.storage.sql);
    this.commands = new CommandLog(ctx.storage.sql, env.ENCRYPTION_KEY);
    void ctx.blockConcurrencyWhile(() => this.commands.migrateLegacy());
    ctx.storage.sql.exec(`
      CREATE TABLE IF NOT EXISTS placements (user_id TEXT PRIMARY KEY, expected TEXT NOT NULL, updated_at INTEGER NOT NULL, memory_mb INTEGER NOT NULL DEFAULT 0);
      CREATE TABLE IF NOT EXISTS drift (user_id TEXT PRIMARY KEY, state TEXT NOT NULL, seen_at INTEGER NOT NULL);
    `);
  }

  private send(ws: WebSocket, frame: EdgeFrame) {
    ws.send(JSON.stringify(edgeFrame.parse(frame)));
  }

  override async fetch(request: Request): Promise<Response> {
    const nodeId = request.headers.get("x-node-id");
    if (request.headers.get("upgrade")?.toLowerCase() !== "websocket" || !nodeId) return new Response("expected a websocket upgrade", { status: 426 });
    // One live agent connection per node: a reconnect replaces the old socket.
    for (const old of this.ctx.getWebSockets("agent")) old.close(4000, "replaced by a newer connection");
    const pair = new WebSocketPair();
    const [client, server] = [pair[0], pair[1]];
    this.ctx.acceptWebSocket(server, ["agent"]);
    server.serializeAttachment({ nodeId, connectedAt: Date.now() } satisfies Attachment);
    this.meta.set("nodeId", nodeId);
    this.send(server, { type: "welcome", nodeId, heartbeatMs: HEARTBEAT_MS });
    return new Response(null, { status: 101, webSocket: client });
  }

  override async webSocketMessage(ws: WebSocket, message: string | ArrayBuffer): Promise<void> {
    const frame = parseFrame(agentFrame, message);
    if (!frame) {
      this.drop("a malformed frame");
      return this.send(ws, { type: "error", message: "malformed frame" });
    }
    if (frame.type === "hello" || frame.type === "heartbeat") {
      this.meta.set("metrics", JSON.stringify(frame.metrics));
      this.meta.set("lastHeartbeatAt", String(Date.now()));
      this.commands.prune();
      if (frame.type === "hello") {
        this.meta.set("agentVersion", frame.agentVersion);
        await this.resendPending(ws);
        await this.reconcile(frame.containers);
      }
      return;
    }
    if (frame.type === "progress") {
      // A node speaks only for the agents it was asked to start: a progress frame must name an open
      // provision/wake this link sent it, for the same user; anything else could set a stranger's status.
      const refused = this.commands.progressRefusal(frame.id, frame.userId);
      if (refused) return this.drop(refused);
      return void (await this.report(frame.userId, { kind: "progress", step: frame.step }));
    }
    await this.onResult(frame);
  }

  /** A result is applied once, and only to a command this link sent to this node and is still waiting on. */
  private async onResult(frame: Extract<AgentFrame, { type: "result" }>) {
    const known = this.commands.lookup(frame.id);
    if (!known) return this.drop(`a result for command ${frame.id}, which this link never sent to the node`);
    if (known.done) return this.drop(`a repeated result for command ${frame.id}, which was already answered`);
    const command = await this.commands.body(frame.id);
    if (!command || !(await this.commands.complete(frame.id, frame.ok, frame.result, frame.error ?? null)))
      return this.drop(`a result for command ${frame.id}, which was answered meanwhile`);
    await this.onCommandDone(frame.id, command, frame.ok, frame.result, frame.error);
    this.commands.prune();
  }

  /** A frame the node should not have sent: logged for the operator, and nothing else happens. */
  private drop(reason: string) {
    console.warn(`[node ${this.meta.get("nodeId")}] dropped ${reason}`);
  }

  /** The user's Durable Object learns what became of a command about its agent. */
  private async onCommandDone(id: string, command: NodeCommand, ok: boolean, result: unknown, error?: string) {
    const userId = userOf(command);
    if (!userId) return;
    if (command.kind === "deliver" || command.kind === "forward") {
      const reply = (result as { reply?: string } | undefined)?.reply ?? null;
      return void (await this.env.USER_AGENT.getByName(userId).onDelivered(id, ok, reply, error ?? null));
    }
    if (ok) this.expect(userId, command.kind === "remove" ? null : EXPECTED_AFTER[command.kind]);
    else if (command.kind === "provision") this.expect(userId, null); // nothing runs here: release the memory
    // The result as a fact; the user's object decides what it means for the agent's status (lifecycle.ts).
    const r = (result ?? {}) as { restarted?: boolean; nextCronAt?: number };
    await this.report(userId, { kind: "result", command: command.kind, ok, error, restarted: r.restarted, nextCronAt: r.nextCronAt ?? null });
  }

  private expect(userId: string, expected: Expected | null | undefined, memoryMb?: number) {
    if (expected === undefined) return;
    if (expected === null) this.ctx.storage.sql.exec("DELETE FROM placements WHERE user_id = ?", userId);
    else
      this.ctx.storage.sql.exec(
        `INSERT INTO placements (user_id, expected, updated_at, memory_mb) VALUES (?, ?, ?, ?) ON CONFLICT(user_id) DO UPDATE SET
           expected = excluded.expected, updated_at = excluded.updated_at, memory_mb = CASE WHEN ? THEN excluded.memory_mb ELSE memory_mb END`,
        userId,
        expected,
        Date.now(),
        memoryMb ?? 0,
        memoryMb === undefined ? 0 : 1,
      );
  }

  /**
   * The platform moved these users' agents elsewhere (this node was lost or drained): stop expecting them
   * here and drop their unanswered commands. If the node comes back, their old containers show up as
   * unknown for the operator instead of being woken twice.
   */
  async forget(userIds: string[]): Promise<void> {
    for (const userId of userIds) {
      this.ctx.storage.sql.exec("DELETE FROM placements WHERE user_id = ?", userId);
      for (const c of this.commands.open()) if (c.userId === userId) await this.commands.complete(c.id, false, undefined, "moved to another server");
    }
  }

  /** Users placed here, with what is expected of their container. */
  async placements(): Promise<{ userId: string; expected: string; memoryMb: number }[]> {
    return this.ctx.storage.sql
      .exec<{ user_id: string; expected: string; memory_mb: number }>("SELECT user_id, expected, memory_mb FROM placements ORDER BY user_id")
      .toArray()
      .map((r) => ({ userId: r.user_id, expected: r.expected, memoryMb: r.memory_mb }));
  }

  /**
   * After a reconnect: commands the node never answered are sent again (the node answers a repeat from its
   * memory, or runs it idempotently after a restart), except those too old to still matter, which fail.
   */
  private async resendPending(ws: WebSocket) {
    for (const row of this.commands.open()) {
      const command = await this.commands.body(row.id);
      if (!command) continue;
      if (Date.now() - row.sentAt > COMMAND_EXPIRY_MS) {
        const error = "the server was offline too long; the request was given up";
        await this.commands.complete(row.id, false, undefined, error);
        await this.onCommandDone(row.id, command, false, undefined, error);
      } else this.send(ws, { type: "command", id: row.id, command });
    }
  }

  /**
   * Fixes drift between what the platform expects and what the node reports: an agent expected running (or
   * paused) whose container is missing or stopped is woken again by its user's object (restored from S3 when
   * the container is gone). Containers the platform did not place are recorded for the operator, not deleted.
   */
  private async reconcile(containers: ContainerReport[]) {
    const reported = new Map(containers.map((c) => [c.userId, c.state]));
    const busy = new Set(this.commands.open().map((c) => c.userId));
    const placed = this.ctx.storage.sql.exec<{ user_id: string; expected: Expected }>("SELECT user_id, expected FROM placements").toArray();
    for (const { user_id: userId, expected } of placed) {
      if (busy.has(userId) || expected === "sleeping") continue;
      const state = reported.get(userId);
      if (state === "running" || state === "paused") continue;
      await this.report(userId, { kind: "container_missing", state });
    }
    const known = new Set(placed.map((p) => p.user_id));
    this.ctx.storage.sql.exec("DELETE FROM drift");
    for (const c of containers)
      if (!known.has(c.userId) && !busy.has(c.userId)) {
        this.ctx.storage.sql.exec("INSERT OR REPLACE INTO drift (user_id, state, seen_at) VALUES (?, ?, ?)", c.userId, c.state, Date.now());
        console.warn(`[node ${this.meta.get("nodeId")}] unknown container for ${c.userId} (${c.state}); left in place for the operator`);
      }
  }

  private async report(userId: string, fact: NodeFact) {
    await this.env.USER_AGENT.getByName(userId).onNodeFact(fact);
  }

  override async webSocketClose(ws: WebSocket, code: number): Promise<void> {
    try {
      ws.close(code === 1005 || code === 1006 ? 1000 : code, "bye");
    } catch {
      /* already closed */
    }
  }

  /** Capacity by what is held: dozing agents counted by the node's measure of them, running ones by limit. */
  private holdings(metrics: NodeMetrics | null) {
    const measured = new Map((metrics?.agents ?? []).map((a) => [a.userId, a.residentMb + a.compressedMb]));
    const rows = this.ctx.storage.sql
      .exec<{ user_id: string; expected: string; memory_mb: number; updated_at: number }>(
        "SELECT user_id, expected, memory_mb, updated_at FROM placements WHERE expected IN ('running', 'paused')",
      )
      .toArray();
    const dozing: Dozer[] = rows
      .filter((r) => r.expected === "paused")
      .map((r) => ({ userId: r.user_id, heldMb: Math.min(r.memory_mb, measured.get(r.user_id) ?? r.memory_mb), since: r.updated_at }))
      .sort((a, b) => a.since - b.since);
    const runningMb = rows.filter((r) => r.expected === "running").reduce((sum, r) => sum + r.memory_mb, 0);
    return { runningMb, dozing, measuredMb: [...measured.values()].reduce((a, b) => a + b, 0) };
  }

  async getStatus(): Promise<NodeStatus> {
    const metrics = this.meta.get("metrics");
    const hb = this.meta.get("lastHeartbeatAt");
    return {
      ...this.holdings(metrics ? (JSON.parse(metrics) as NodeMetrics) : null),
      nodeId: this.meta.get("nodeId"),
      connected: this.ctx.getWebSockets("agent").length > 0,
      agentVersion: this.meta.get("agentVersion"),
      lastHeartbeatAt: hb ? Number(hb) : null,
      metrics: metrics ? (JSON.parse(metrics) as NodeMetrics) : null,
      unknownContainers: this.ctx.storage.sql
        .exec<{ user_id: string; state: string }>("SELECT user_id, state FROM drift ORDER BY user_id")
        .toArray()
        .map((r) => ({ userId: r.user_id, state: r.state })),
      committedMb:
        this.ctx.storage.sql.exec<{ n: number | null }>("SELECT SUM(memory_mb) AS n FROM placements WHERE expected IN ('running', 'paused')").one().n ?? 0,
      agents: {
        running: this.countExpected("running"),
        paused: this.countExpected("paused"),
        sleeping: this.countExpected("sleeping"),
      },
      recentFailures: this.commands.recentFailures(),
    };
  }

  /**
   * Sends a command to the connected agent. With no agent connected it is kept and sent on the next
   * reconnect, unless `onlyIfConnected` (provisioning picks another node instead). The id makes a re-send
   * idempotent on the agent. Over a queue or file-rate limit nothing is kept or sent, and `refused` says why.
   */
  async sendCommand(
    command: NodeCommand,
    id: string = crypto.randomUUID(),
    opts: { onlyIfConnected?: boolean } = {},
  ): Promise<{ id: string; delivered: boolean; refused?: string }> {
    const [ws] = this.ctx.getWebSockets("agent");
    if (!ws && opts.onlyIfConnected) return { id, delivered: false };
    const refused = this.commands.lookup(id) ? null : this.commands.refusal(command);
    if (refused) {
      console.warn(`[node ${this.meta.get("nodeId")}] refused a ${command.kind} command for ${userOf(command) ?? "the node"}: ${refused}`);
      return { id, delivered: false, refused };
    }
    // Starting an agent commits its memory here at once, so concurrent placements see it.
    if (command.kind === "provision" || command.kind === "wake") {
      await this.makeRoom(command.spec.userId, command.spec.memoryMb);
      this.expect(command.spec.userId, "running", command.spec.memoryMb);
    }
    await this.commands.insert(id, command);
    if (!ws) return { id, delivered: false };
    this.send(ws, { type: "command", id, command });
    return { id, delivered: true };
  }

  /**
   * Room for an agent about to start here: when what the others hold leaves too little, the least recently
   * used dozing agents go to deep sleep (archived to S3, as the idle alarm would do later anyway), as few as
   * needed. A dozing agent waking here already holds part of what it needs.
   */
  private async makeRoom(userId: string, memoryMb: number) {
    const live = await this.getStatus();
    if (!live.metrics) return;
    const running =
      this.ctx.storage.sql.exec<{ n: number }>("SELECT COUNT(*) AS n FROM placements WHERE user_id = ? AND expected = 'running'", userId).one().n > 0;
    if (running) return; // a repeated command: its memory is already counted
    const need = memoryMb - (live.dozing.find((d) => d.userId === userId)?.heldMb ?? 0);
    const plan = evictionPlan(live.dozing, need, freeMb({ id: live.nodeId ?? "", status: "active", live }), userId) ?? [];
    for (const other of plan) {
      const sent = await this.env.USER_AGENT.getByName(other)
        .requestSleep("deep")
        .catch(() => false);
      console.log(`[node ${live.nodeId}] ${other} goes to deep sleep to make room for ${userId}${sent ? "" : " (already on its way)"}`);
    }
  }

  private countExpected(expected: Expected) {
    return this.ctx.storage.sql.exec<{ n: number }>("SELECT COUNT(*) AS n FROM placements WHERE expected = ?", expected).one().n;
  }

  /** The commands kept here (operator tools and tests): bodies of unanswered ones, kinds of answered ones. */
  async sentCommands(): Promise<SentCommand[]> {
    return this.commands.all();
  }

  /** The result crosses RPC as JSON text: the agent's result is arbitrary JSON, parsed by the caller. */
  async getCommandResult(id: string): Promise<{ done: boolean; ok?: boolean; resultJson?: string | null; error?: string | null }> {
    return this.commands.result(id);
  }
}
