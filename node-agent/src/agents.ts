import { chmod, chown, mkdir, rm, writeFile } from "node:fs/promises";
import { join } from "node:path";
import type { DockerClient } from "./docker";
import type { StateStore } from "./state-store";
import { GATEWAY_PORT, containerLabels } from "./traefik";

/** Where OpenClaw keeps its state inside the container (the official image's layout). */
export const CONTAINER_STATE_DIR = "/home/node/.openclaw";

export interface AgentSpec {
  userId: string;
  image: string;
  host: string;
  /** The generated openclaw.json (see openclaw-config.ts). */
  config: Record<string, unknown>;
  gatewayToken: string;
  memoryMb: number;
  cpus: number;
  pidsLimit: number;
  /** uid:gid inside the container; the state dir is chowned to it. */
  user?: string;
  /** Overrides the image's command (tests run a stand-in gateway). */
  cmd?: string[];
}

export type ProgressStep = "creating" | "starting" | "ready";

/**
 * One user's OpenClaw container on this node: provision, sleep to S3, wake (plain start on the same node,
 * or restore from the latest archive after a loss). Every operation is idempotent, so a command repeated
 * after a reconnect converges instead of creating a second container.
 */
export class AgentRuntime {
  constructor(
    private readonly docker: DockerClient,
    private readonly store: StateStore,
    private readonly opts: { stateRoot: string; traefikContainer?: string; readyTimeoutMs?: number },
  ) {}

  static containerName = (userId: string) => `oc-${userId}`;
  static networkName = (userId: string) => `oc-${userId}`;
  stateDir = (userId: string) => join(this.opts.stateRoot, userId);

  async provision(spec: AgentSpec, onProgress: (s: ProgressStep) => void = () => {}): Promise<{ containerId: string; readyMs: number }> {
    const name = AgentRuntime.containerName(spec.userId);
    const network = AgentRuntime.networkName(spec.userId);
    onProgress("creating");
    await this.docker.ensureNetwork(network);
    if (this.opts.traefikContainer) await this.docker.connect(network, this.opts.traefikContainer);
    await this.writeConfig(spec);
    const existing = await this.docker.inspect(name);
    const containerId =
      existing?.id ??
      (await this.docker.createContainer({
        name,
        image: spec.image,
        cmd: spec.cmd,
        user: spec.user,
        env: {
          OPENCLAW_GATEWAY_TOKEN: spec.gatewayToken,
          HOME: "/home/node",
          OPENCLAW_HOME: "/home/node",
          OPENCLAW_STATE_DIR: CONTAINER_STATE_DIR,
          OPENCLAW_CONFIG_PATH: `${CONTAINER_STATE_DIR}/openclaw.json`,
          OPENCLAW_WORKSPACE_DIR: `${CONTAINER_STATE_DIR}/workspace`,
        },
        labels: { ...containerLabels({ userId: spec.userId, host: spec.host, network }), "openclaw.managed": "true", "openclaw.user": spec.userId },
        memoryMb: spec.memoryMb,
        cpus: spec.cpus,
        pidsLimit: spec.pidsLimit,
        network,
        mounts: [{ type: "bind", source: this.stateDir(spec.userId), target: CONTAINER_STATE_DIR }],
        exposedPort: GATEWAY_PORT,
        // Lets a node in development reach an edge on the same machine (AGENT_EDGE_URL=http://host.docker.internal:…).
        extraHosts: ["host.docker.internal:host-gateway"],
      }));
    onProgress("starting");
    const started = Date.now();
    await this.docker.start(containerId);
    await this.waitReady(containerId, network);
    onProgress("ready");
    return { containerId, readyMs: Date.now() - started };
  }

  /** Stops the gateway cleanly (SIGTERM; OpenClaw flushes SQLite in ~2 s), then archives its state to S3. */
  async sleep(userId: string): Promise<{ key: string; bytes: number }> {
    const name = AgentRuntime.containerName(userId);
    if (await this.docker.inspect(name)) await this.docker.stop(name, 20);
    return this.store.archive(userId, this.stateDir(userId));
  }

  /**
   * Wakes an agent. With its container still on this node: a plain start. Otherwise (another node, or the
   * node was lost) the newest archive is restored first and the container created again from `spec`.
   */
  async wake(spec: AgentSpec): Promise<{ restoredFrom?: string; readyMs: number }> {
    const name = AgentRuntime.containerName(spec.userId);
    const existing = await this.docker.inspect(name);
    if (existing) {
      const started = Date.now();
      await this.docker.start(existing.id);
      await this.waitReady(existing.id, AgentRuntime.networkName(spec.userId));
      return { readyMs: Date.now() - started };
    }
    const key = await this.store.latest(spec.userId);
    if (key) await this.store.restore(key, this.stateDir(spec.userId));
    const { readyMs } = await this.provision(spec);
    return { restoredFrom: key, readyMs };
  }

  private readonly queues = new Map<string, Promise<unknown>>();

  /**
   * Hands a message to the user's gateway (its OpenAI-compatible endpoint, reached on the private bridge
   * network with the gateway token from the container's own environment) and returns the reply. Messages
   * for one user are delivered strictly one after another, in the order they arrived.
   */
  deliver(userId: string, session: string, text: string): Promise<{ reply: string }> {
    const run = async () => {
      const name = AgentRuntime.containerName(userId);
      const info = await this.docker.inspect(name);
      if (!info || info.state !== "running") throw new Error("the agent is not running");
      const ip = await this.docker.ipOn(info.id, AgentRuntime.networkName(userId));
      const token = info.env?.OPENCLAW_GATEWAY_TOKEN;
      if (!ip || !token) throw new Error("the agent's gateway is not reachable");
      const res = await fetch(`http://${ip}:${GATEWAY_PORT}/v1/chat/completions`, {
        method: "POST",
        headers: { authorization: `Bearer ${token}`, "content-type": "application/json" },
        body: JSON.stringify({ model: "openclaw", user: session, messages: [{ role: "user", content: text }] }),
        signal: AbortSignal.timeout(10 * 60_000),
      });
      const body = (await res.json().catch(() => ({}))) as { choices?: { message?: { content?: string } }[]; error?: { message?: string } };
      if (!res.ok) throw new Error(`the agent answered ${res.status}: ${body.error?.message ?? "no details"}`);
      return { reply: body.choices?.[0]?.message?.content ?? "" };
    };
    const next = (this.queues.get(userId) ?? Promise.resolve()).then(run, run);
    this.queues.set(userId, next.catch(() => {}));
    return next;
  }

  /** Removes the container and its network (a node has a finite number of bridge networks). */
  async remove(userId: string, opts: { deleteState?: boolean } = {}) {
    await this.docker.remove(AgentRuntime.containerName(userId));
    await this.docker.removeNetwork(AgentRuntime.networkName(userId));
    if (opts.deleteState) await rm(this.stateDir(userId), { recursive: true, force: true });
  }

  private async writeConfig(spec: AgentSpec) {
    const dir = this.stateDir(spec.userId);
    await mkdir(dir, { recursive: true });
    const file = join(dir, "openclaw.json");
    await writeFile(file, JSON.stringify(spec.config, null, 2), { mode: 0o600 });
    if (spec.user) {
      const [uid, gid] = spec.user.split(":").map(Number);
      await chown(dir, uid!, gid ?? uid!);
      await chown(file, uid!, gid ?? uid!);
    }
    await chmod(file, 0o600);
  }

  /**
   * Ready means OpenClaw's /readyz answers with JSON. Its SPA answers 200 to any unknown GET, so a bare 200
   * proves nothing; the JSON body does.
   */
  private async waitReady(containerId: string, network: string) {
    const deadline = Date.now() + (this.opts.readyTimeoutMs ?? 60_000);
    let ip: string | undefined;
    while (Date.now() < deadline) {
      ip ??= await this.docker.ipOn(containerId, network);
      if (ip) {
        const ok = await fetch(`http://${ip}:${GATEWAY_PORT}/readyz`, { signal: AbortSignal.timeout(1000) })
          .then(async (r) => r.ok && (r.headers.get("content-type") ?? "").includes("json") && typeof (await r.json()) === "object")
          .catch(() => false);
        if (ok) return;
      }
      const state = (await this.docker.inspect(containerId))?.state;
      if (state === "exited" || state === "dead") throw new Error(`the agent container stopped while starting (${state})`);
      await new Promise((r) => setTimeout(r, 50));
    }
    throw new Error("the agent did not become ready in time");
  }
}
