import { DurableObject } from "cloudflare:workers";
import { MetaTable } from "./meta-table";
import type { AgentStatus, UserAgent } from "./user-agent";
import { agentFrame, edgeFrame, parseFrame, type EdgeFrame, type NodeMetrics } from "../../contracts/src/wire";

export const HEARTBEAT_MS = 15_000;

export interface NodeStatus {
  nodeId: string | null;
  connected: boolean;
  agentVersion: string | null;
  lastHeartbeatAt: number | null;
  metrics: NodeMetrics | null;
}

export type NodeCommand = Extract<EdgeFrame, { type: "command" }>["command"];

interface Attachment {
  nodeId: string;
  connectedAt: number;
}

/**
 * One per worker node. Holds the node agent's WebSocket through the hibernation API, so an idle node costs
 * nothing between heartbeats; everything that must survive hibernation is in SQLite or the socket attachment.
 * The edge route authenticates the agent before the upgrade reaches this object.
 */
export class NodeLink extends DurableObject<{ USER_AGENT: DurableObjectNamespace<UserAgent> }> {
  private readonly meta: MetaTable;

  constructor(ctx: DurableObjectState, env: unknown) {
    super(ctx, env as never);
    this.meta = new MetaTable(ctx.storage.sql);
    ctx.storage.sql.exec(`
      CREATE TABLE IF NOT EXISTS commands (id TEXT PRIMARY KEY, command TEXT NOT NULL, sent_at INTEGER NOT NULL,
        done_at INTEGER, ok INTEGER, result TEXT, error TEXT);
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
    if (!frame) return this.send(ws, { type: "error", message: "malformed frame" });
    if (frame.type === "hello" || frame.type === "heartbeat") {
      this.meta.set("metrics", JSON.stringify(frame.metrics));
      this.meta.set("lastHeartbeatAt", String(Date.now()));
      if (frame.type === "hello") this.meta.set("agentVersion", frame.agentVersion);
      return;
    }
    if (frame.type === "progress") return void (await this.userStatus(frame.userId, frame.step));
    const updated = this.ctx.storage.sql.exec<{ command: string }>(
      "UPDATE commands SET done_at = ?, ok = ?, result = ?, error = ? WHERE id = ? AND done_at IS NULL RETURNING command",
      Date.now(),
      frame.ok ? 1 : 0,
      frame.result === undefined ? null : JSON.stringify(frame.result),
      frame.error ?? null,
      frame.id,
    ).toArray()[0];
    if (updated) await this.onCommandDone(frame.id, JSON.parse(updated.command) as NodeCommand, frame.ok, frame.result, frame.error);
  }

  /** The user's Durable Object learns what became of a command about its agent. */
  private async onCommandDone(id: string, command: NodeCommand, ok: boolean, result: unknown, error?: string) {
    const userId = "spec" in command ? command.spec.userId : "userId" in command ? command.userId : undefined;
    if (!userId) return;
    if (command.kind === "deliver") {
      const reply = (result as { reply?: string } | undefined)?.reply ?? null;
      return void (await this.env.USER_AGENT.getByName(userId).onDelivered(id, ok, reply, error ?? null));
    }
    const done: Partial<Record<NodeCommand["kind"], AgentStatus>> = { provision: "ready", wake: "ready", sleep: "sleeping", remove: "stopped" };
    const status = ok ? done[command.kind] : "failed";
    if (status) await this.userStatus(userId, status, ok ? undefined : error ?? "the node reported a failure");
  }

  private async userStatus(userId: string, status: AgentStatus, reason?: string) {
    await this.env.USER_AGENT.getByName(userId).setStatus(status, reason);
  }

  override async webSocketClose(ws: WebSocket, code: number): Promise<void> {
    try {
      ws.close(code === 1005 || code === 1006 ? 1000 : code, "bye");
    } catch {
      /* already closed */
    }
  }

  async getStatus(): Promise<NodeStatus> {
    const metrics = this.meta.get("metrics");
    const hb = this.meta.get("lastHeartbeatAt");
    return {
      nodeId: this.meta.get("nodeId"),
      connected: this.ctx.getWebSockets("agent").length > 0,
      agentVersion: this.meta.get("agentVersion"),
      lastHeartbeatAt: hb ? Number(hb) : null,
      metrics: metrics ? (JSON.parse(metrics) as NodeMetrics) : null,
    };
  }

  /** Sends a command to the connected agent; the id makes a re-send after reconnect idempotent on the agent. */
  async sendCommand(command: NodeCommand, id: string = crypto.randomUUID()): Promise<{ id: string; delivered: boolean }> {
    const [ws] = this.ctx.getWebSockets("agent");
    this.ctx.storage.sql.exec("INSERT OR IGNORE INTO commands (id, command, sent_at) VALUES (?, ?, ?)", id, JSON.stringify(command), Date.now());
    if (!ws) return { id, delivered: false };
    this.send(ws, { type: "command", id, command });
    return { id, delivered: true };
  }

  /** The result crosses RPC as JSON text: the agent's result is arbitrary JSON, parsed by the caller. */
  async getCommandResult(id: string): Promise<{ done: boolean; ok?: boolean; resultJson?: string | null; error?: string | null }> {
    const row = this.ctx.storage.sql
      .exec<{ done_at: number | null; ok: number | null; result: string | null; error: string | null }>("SELECT done_at, ok, result, error FROM commands WHERE id = ?", id)
      .toArray()[0];
    if (!row || row.done_at === null) return { done: false };
    return { done: true, ok: row.ok === 1, resultJson: row.result, error: row.error };
  }
}
