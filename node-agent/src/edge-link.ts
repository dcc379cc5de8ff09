import { WebSocket } from "ws";
import { PROTOCOL_VERSION, edgeFrame, parseFrame, type AgentFrame, type EdgeFrame, type NodeMetrics } from "@oc/contracts/wire";
import type { AgentRuntime } from "./agent-lifecycle";
import type { DockerClient } from "./docker-client";
import { readMetrics } from "./metrics";

export interface AgentOptions {
  edgeUrl: string;
  nodeId: string;
  secret: string;
  docker?: DockerClient;
  /** Runs agent containers; without it, agent commands fail with a clear error. */
  runtime?: AgentRuntime;
  version?: string;
  /** Where metrics come from (default: this machine); the fleet simulation reports chosen sizes. */
  metrics?: () => Promise<NodeMetrics>;
  /** Reconnect backoff bounds. */
  minBackoffMs?: number;
  maxBackoffMs?: number;
  log?: (msg: string) => void;
}

type Command = Extract<EdgeFrame, { type: "command" }>;

/**
 * The node agent's connection to the edge: dials /api/nodes/:id/connect, says hello, heartbeats at the
 * interval the edge asks for, and reconnects with jittered exponential backoff. Commands are executed at
 * most once per id: a repeat (the edge re-sending after a reconnect) is answered from the remembered result.
 */
export class NodeAgent {
  private ws?: InstanceType<typeof WebSocket>;
  private heartbeat?: NodeJS.Timeout;
  private retry?: NodeJS.Timeout;
  private attempts = 0;
  private stopped = false;
  private readonly results = new Map<string, Promise<AgentFrame>>();
  readonly connections: number[] = [];

  constructor(private readonly opts: AgentOptions) {}

  start() {
    this.stopped = false;
    this.connect();
  }

  stop() {
    this.stopped = true;
    clearInterval(this.heartbeat);
    clearTimeout(this.retry);
    this.ws?.close(1000, "agent stopping");
  }

  get connected() {
    return this.ws?.readyState === WebSocket.OPEN;
  }

  private readMetrics() {
    return this.opts.metrics ? this.opts.metrics() : readMetrics(this.opts.docker, "/", this.opts.runtime?.doze);
  }

  private log(msg: string) {
    (this.opts.log ?? ((m) => console.log(`[node-agent] ${m}`)))(msg);
  }

  private connect() {
    const url = new URL(`/api/nodes/${encodeURIComponent(this.opts.nodeId)}/connect`, this.opts.edgeUrl);
    url.protocol = url.protocol === "https:" ? "wss:" : "ws:";
    const ws = new WebSocket(url, { headers: { authorization: `Bearer ${this.opts.secret}` } });
    this.ws = ws;
    ws.on("open", async () => {
      this.attempts = 0;
      this.connections.push(Date.now());
      const containers = (await this.opts.runtime?.inventory().catch((e: Error) => (this.log(`inventory failed: ${e.message}`), []))) ?? [];
      this.send({ type: "hello", protocol: PROTOCOL_VERSION, agentVersion: this.opts.version ?? "0.1.0", metrics: await this.readMetrics(), containers });
      this.log("connected to the edge"); // scripts/dev.sh waits for this line before it says "ready"
    });
    ws.on("message", (data) => this.onFrame(parseFrame(edgeFrame, data.toString())));
    ws.on("unexpected-response", (_req, res) => {
      this.log(`edge refused the connection: HTTP ${res.statusCode}`);
      res.resume();
      ws.terminate(); // with this listener set, ws leaves aborting the handshake to us; "close" follows
    });
    ws.on("error", (err) => this.log(`connection error: ${err.message}`));
    ws.on("close", () => {
      clearInterval(this.heartbeat);
      if (!this.stopped) this.scheduleReconnect();
    });
  }

  private scheduleReconnect() {
    const min = this.opts.minBackoffMs ?? 500;
    const max = this.opts.maxBackoffMs ?? 30_000;
    const delay = Math.min(max, min * 2 ** this.attempts++) * (0.5 + Math.random() / 2);
    this.retry = setTimeout(() => this.connect(), delay);
  }

  private send(frame: AgentFrame) {
    if (this.ws?.readyState === WebSocket.OPEN) this.ws.send(JSON.stringify(frame));
  }

  private onFrame(frame: EdgeFrame | undefined) {
    if (!frame) return this.log("ignored a malformed frame from the edge");
    if (frame.type === "welcome") {
      clearInterval(this.heartbeat);
      this.heartbeat = setInterval(async () => this.send({ type: "heartbeat", metrics: await this.readMetrics() }), frame.heartbeatMs);
      return;
    }
    if (frame.type === "error") return this.log(`edge says: ${frame.message}`);
    let result = this.results.get(frame.id);
    if (!result) {
      result = this.execute(frame);
      this.results.set(frame.id, result);
      if (this.results.size > 1000) this.results.delete(this.results.keys().next().value!);
    }
    void result.then((r) => this.send(r));
  }

  private async execute({ id, command }: Command): Promise<AgentFrame> {
    try {
      const result = await this.run(id, command);
      return { type: "result", id, ok: true, result };
    } catch (e) {
      return { type: "result", id, ok: false, error: e instanceof Error ? e.message : String(e) };
    }
  }

  private async run(id: string, command: Command["command"]): Promise<unknown> {
    if (command.kind === "ping") return { pong: true, at: Date.now() };
    if (command.kind === "listContainers") return this.opts.docker ? this.opts.docker.list("openclaw.managed=true") : [];
    const runtime = this.opts.runtime;
    if (!runtime) throw new Error("this node agent runs no agent containers (no Docker runtime configured)");
    switch (command.kind) {
      case "provision":
        return runtime.provision(command.spec, (step) => this.send({ type: "progress", id, userId: command.spec.userId, step }));
      case "wake":
        return runtime.wake(command.spec);
      case "configure":
        return runtime.configure(command.spec);
      case "sleep":
        return runtime.sleep(command.userId);
      case "pause":
        return runtime.pause(command.userId);
      case "remove":
        return runtime.remove(command.userId, command.erase ? { deleteState: true, deleteArchives: true } : {});
      case "deliver":
        return runtime.deliver(command.userId, command.session, command.text);
      case "cron":
        return runtime.cron(command.userId, command.op, { id: command.id, job: command.job });
      case "channelLogin":
        return runtime.channelLogin(command.userId, command.channel, command.op, command.sessionKey);
      case "files":
        return runtime.files(command.userId, command.op, command.path, command.content);
      case "forward":
        return runtime.forward(command.userId, command.port, command.path, command.headers, command.body);
    }
  }
}
