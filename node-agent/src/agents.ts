import { join } from "node:path";
import type { AgentSpecWire } from "@oc/contracts/wire";
import type { DockerClient } from "./docker";
import { nextCronRun } from "./cron";
import { runCron, type CronJobInput } from "./cron-jobs";
import { runChannelLogin } from "./channel-login";
import { Workspace, type FileOp } from "./workspace";
import { Dir, Refused, parseOwner, removeTree } from "./safe-fs";
import type { StateStore } from "./state-store";
import { GATEWAY_PORT, type TraefikRoutes } from "./traefik";
import type { Doze, ReclaimOutcome } from "./doze";
import { bridgeOf, type EgressPolicy } from "./egress";

/** Where OpenClaw keeps its state inside the container (the official image's layout). */
export const CONTAINER_STATE_DIR = "/home/node/.openclaw";

/** The spec the edge sends (contracts/src/wire.ts), plus what only tests set. */
export type AgentSpec = AgentSpecWire & {
  /** Overrides the image's command (tests run a stand-in gateway). */
  cmd?: string[];
};

/** Writable scratch for a read-only container: /tmp, and HOME (npm, caches) owned by the container's user. */
export function scratchMounts(user = "1000:1000"): Record<string, string> {
  const [uid, gid] = user.split(":");
  return {
    "/tmp": "rw,nosuid,nodev,size=512m",
    "/home/node": `rw,nosuid,nodev,size=256m,uid=${uid},gid=${gid ?? uid},mode=0755`,
  };
}

export type ProgressStep = "creating" | "starting" | "ready";

/** A user id becomes a path component and a container name: only a plain name is accepted. */
function plainUserId(userId: string): string {
  if (!/^[A-Za-z0-9_-]{1,64}$/.test(userId)) throw new Refused(`refused: invalid user id ${JSON.stringify(userId.slice(0, 80))}`);
  return userId;
}

/**
 * One user's OpenClaw container on this node: provision, sleep to S3, wake (plain start on the same node,
 * or restore from the latest archive after a loss). Every operation is idempotent, so a command repeated
 * after a reconnect converges instead of creating a second container.
 */
export class AgentRuntime {
  constructor(
    private readonly docker: DockerClient,
    private readonly store: StateStore,
    private readonly opts: {
      stateRoot: string;
      traefikContainer?: string;
      /** Where Traefik's file provider reads each agent's route (none: no Traefik on this node). */
      routes?: TraefikRoutes;
      /** The firewall policy every agent network is put under before its container starts. */
      egress?: EgressPolicy;
      readyTimeoutMs?: number;
      /** Attempts to store an archive before giving up and restarting the agent (default 3). */
      archiveAttempts?: number;
      archiveRetryDelayMs?: number;
      /** Waits between attempts to hand a channel update to the container (default 0.1–1.6 s, 5 retries). */
      forwardRetryDelaysMs?: number[];
      /** Gives a dozing agent's memory back to the node (doze.ts); without it a doze only freezes. */
      doze?: Doze;
    },
  ) {}

  /** The node's doze (memory reclaim) if configured; node metrics read what agents hold through it. */
  get doze(): Doze | undefined {
    return this.opts.doze;
  }

  static containerName = (userId: string) => `oc-${userId}`;
  static networkName = (userId: string) => `oc-${userId}`;
  /** The user's state dir; the id becomes a path component, so only a plain name is accepted. */
  stateDir = (userId: string) => join(this.opts.stateRoot, plainUserId(userId));

  async provision(spec: AgentSpec, onProgress: (s: ProgressStep) => void = () => {}): Promise<{ containerId: string; readyMs: number }> {
    const name = AgentRuntime.containerName(spec.userId);
    const network = AgentRuntime.networkName(spec.userId);
    onProgress("creating");
    const networkId = await this.docker.ensureNetwork(network);
    // Fail closed: a container never starts on a network the policy does not cover.
    await this.opts.egress?.attach(bridgeOf(networkId));
    if (this.opts.traefikContainer) await this.docker.connect(network, this.opts.traefikContainer);
    const existing = await this.owned(spec.userId);
    await this.writeConfig(spec);
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
        labels: { "openclaw.managed": "true", "openclaw.user": spec.userId, "openclaw.run-as": spec.user ?? "" },
        memoryMb: spec.memoryMb,
        cpus: spec.cpus,
        pidsLimit: spec.pidsLimit,
        network,
        mounts: [{ type: "bind", source: this.stateDir(spec.userId), target: CONTAINER_STATE_DIR }],
        exposedPort: GATEWAY_PORT,
        // Lets a node in development reach an edge on the same machine (AGENT_EDGE_URL=http://host.docker.internal:…).
        extraHosts: ["host.docker.internal:host-gateway"],
        // Code run in the container cannot change the image (its node, openclaw or tini): the state dir is the
        // only persistent place it writes; HOME and /tmp are scratch that a restart clears.
        readOnlyRootfs: true,
        tmpfs: scratchMounts(spec.user),
      }));
    onProgress("starting");
    const started = Date.now();
    if (existing?.state === "paused") await this.thaw(containerId);
    else await this.docker.start(containerId);
    await this.waitReady(containerId, network);
    await this.publishRoute(spec, containerId);
    onProgress("ready");
    return { containerId, readyMs: Date.now() - started };
  }

  /**
   * Stops the gateway cleanly (SIGTERM; OpenClaw flushes SQLite in ~2 s), then archives its state to S3. The
   * agent only counts as asleep once the archive is stored: if every upload attempt fails, the container is
   * started again and the command fails, so the agent stays usable and no state is lost.
   */
  async sleep(userId: string): Promise<{ key: string; bytes: number; nextCronAt?: number }> {
    const info = await this.owned(userId);
    if (info?.state === "paused") await this.thaw(info.id); // a frozen process cannot handle SIGTERM
    if (info) await this.docker.stop(info.id, 20);
    const attempts = this.opts.archiveAttempts ?? 3;
    let lastError: unknown;
    for (let i = 0; i < attempts; i++) {
      try {
        const archived = await this.store.archive(userId, this.stateDir(userId));
        // The edge wakes the agent shortly before its next scheduled job (a stopped gateway runs none).
        return { ...archived, nextCronAt: await nextCronRun(this.stateDir(userId)) };
      } catch (e) {
        lastError = e;
        if (i < attempts - 1) await new Promise((r) => setTimeout(r, (this.opts.archiveRetryDelayMs ?? 2_000) * 2 ** i));
      }
    }
    if (info) await this.docker.start(info.id);
    throw new Error(`could not store the agent's state (${lastError instanceof Error ? lastError.message : String(lastError)}); it stays awake`);
  }

  /**
   * Dozing: the container is frozen in place. It uses no CPU and keeps its memory, and wakes in milliseconds,
   * which a cold start of OpenClaw (~7-15 s) cannot do. Deep sleep (`sleep`) later frees the memory.
   */
  async pause(userId: string): Promise<{ paused: true; doze?: ReclaimOutcome }> {
    const info = await this.owned(userId);
    if (!info || (info.state !== "running" && info.state !== "paused")) throw new Error("the agent is not running");
    // Never freeze (let alone reclaim) an agent in the middle of work: the edge retries the doze later.
    if (info.state === "running" && (this.working.get(userId) ?? 0) > 0) throw new Error("the agent is handling a message; it dozes once idle");
    await this.docker.pause(info.id);
    const doze = await this.reclaimFrozen(info.id);
    return doze ? { paused: true, doze } : { paused: true };
  }

  /** Frozen containers only: a reclaim never runs while the agent's processes can run. */
  private async reclaimFrozen(containerId: string): Promise<ReclaimOutcome | undefined> {
    if (!this.opts.doze) return undefined;
    const mem = await this.docker.memoryInfo(containerId);
    if (!mem || (await this.docker.inspect(containerId))?.state !== "paused") return undefined;
    return this.opts.doze.reclaim(mem.pid);
  }

  /** Unfreezes with Docker's own limits in place (a reclaim interrupted half way must not starve the thaw). */
  private async thaw(containerId: string) {
    const mem = this.opts.doze ? await this.docker.memoryInfo(containerId) : undefined;
    if (mem) await this.opts.doze!.restoreLimits(mem.pid, mem.memoryBytes, mem.memorySwapBytes).catch(() => {});
    await this.docker.unpause(containerId);
  }

  /**
   * Writes a changed config (a rotated proxy key, new settings) into the agent's state dir and restarts a
   * running gateway on it. OpenClaw watches the file, but a provider key change was not picked up by its hot
   * reload in our end-to-end test, so a clean restart (~10 s) is the reliable way; a stopped agent reads the
   * file on its next start.
   */
  async configure(spec: AgentSpec): Promise<{ restarted: boolean }> {
    const info = await this.owned(spec.userId);
    await this.writeConfig(spec);
    if (!info || (info.state !== "running" && info.state !== "paused")) return { restarted: false };
    if (info.state === "paused") await this.thaw(info.id);
    await this.docker.stop(info.id, 20);
    await this.docker.start(info.id);
    await this.waitReady(info.id, AgentRuntime.networkName(spec.userId));
    await this.publishRoute(spec, info.id);
    return { restarted: true };
  }

  /** File Manager / Memory Manager access to the agent's workspace (works while it sleeps, too). */
  async files(userId: string, op: FileOp, path: string, content?: string): Promise<unknown> {
    return new Workspace(this.stateDir(userId)).run(op, path, content);
  }

  /** Cron Scheduler: the agent's jobs through OpenClaw's CLI in its running container. */
  async cron(userId: string, op: "list" | "add" | "rm", args: { id?: string; job?: CronJobInput }) {
    const { id, token, user } = await this.gateway(userId, "manage its schedule");
    return runCron(this.docker, id, token, user, op, args);
  }

  /** QR login of a socket channel (WhatsApp Web) through the agent's gateway; see channel-login.ts. */
  async channelLogin(userId: string, channel: "whatsapp", op: "start" | "wait", sessionKey?: string) {
    const { id, token, user } = await this.gateway(userId, "link WhatsApp");
    return runChannelLogin(this.docker, id, token, user, channel, op, sessionKey);
  }

  /** The running container and its gateway token, for OpenClaw CLI calls inside it. */
  private async gateway(userId: string, what: string) {
    const info = await this.owned(userId);
    if (!info || info.state !== "running") throw new Error(`the agent is asleep: send it a message to wake it, then ${what}`);
    const token = info.env?.OPENCLAW_GATEWAY_TOKEN;
    if (!token) throw new Error("the agent's gateway token is missing");
    return { id: info.id, token, user: info.labels["openclaw.run-as"] || undefined };
  }

  /** Traefik's route to the agent's current bridge address (it changes on every start). */
  private async publishRoute(spec: AgentSpec, containerId: string) {
    if (!this.opts.routes) return;
    const ip = await this.docker.ipOn(containerId, AgentRuntime.networkName(spec.userId));
    if (ip) await this.opts.routes.publish(spec.userId, spec.host, ip);
  }

  /** At start: the firewall chains rebuilt, and every agent network that exists put under them again. */
  async applyEgress(): Promise<number> {
    if (!this.opts.egress) return 0;
    await this.opts.egress.install();
    let n = 0;
    for (const { userId } of await this.inventory()) {
      const id = await this.docker.networkId(AgentRuntime.networkName(userId));
      if (id) await this.opts.egress.attach(bridgeOf(id)), n++;
    }
    return n;
  }

  /** What this node runs, as the edge needs it to reconcile after a reconnect. */
  async inventory(): Promise<{ userId: string; state: string }[]> {
    const all = await this.docker.list("openclaw.managed=true");
    return all.filter((c) => c.labels["openclaw.user"]).map((c) => ({ userId: c.labels["openclaw.user"]!, state: c.state }));
  }

  /**
   * The user's container, if any. Names derive from the user id, but the label is what proves ownership: a
   * command naming one user never acts on a container that carries another user's label.
   */
  private async owned(userId: string) {
    const info = await this.docker.inspect(AgentRuntime.containerName(plainUserId(userId)));
    if (info && info.labels["openclaw.user"] !== userId) throw new Error(`refused: container ${info.name} does not belong to ${userId}`);
    return info;
  }

  /**
   * Wakes an agent. With its container still on this node: a plain start. Otherwise (another node, or the
   * node was lost) the newest archive is restored first and the container created again from `spec`.
   */
  async wake(spec: AgentSpec): Promise<{ restoredFrom?: string; readyMs: number }> {
    const existing = await this.owned(spec.userId);
    if (existing) {
      await this.writeConfig(spec); // the spec may carry settings changed while it slept
      const started = Date.now();
      const networkId = await this.docker.networkId(AgentRuntime.networkName(spec.userId));
      if (networkId) await this.opts.egress?.attach(bridgeOf(networkId)); // rules are lost on a host reboot
      if (existing.state === "paused") await this.thaw(existing.id);
      else await this.docker.start(existing.id);
      await this.waitReady(existing.id, AgentRuntime.networkName(spec.userId)).catch(async (e: Error) => {
        // A thawed gateway that died (its swapped pages lost with the node's swap, or killed while frozen)
        // starts again from its state dir on disk: the agent is restored, never lost.
        const now = await this.docker.inspect(existing.id);
        if (existing.state !== "paused" || (now?.state !== "exited" && now?.state !== "dead")) throw e;
        await this.docker.start(existing.id);
        await this.waitReady(existing.id, AgentRuntime.networkName(spec.userId));
      });
      await this.publishRoute(spec, existing.id);
      return { readyMs: Date.now() - started };
    }
    const key = await this.store.latest(spec.userId);
    if (key) await this.store.restore(key, this.stateDir(spec.userId), parseOwner(spec.user));
    const { readyMs } = await this.provision(spec);
    return { restoredFrom: key, readyMs };
  }

  private readonly queues = new Map<string, Promise<unknown>>();
  /** Messages and updates queued or in flight per user: work that a doze must not freeze. */
  private readonly working = new Map<string, number>();

  /** Runs `job` after every earlier message or update for this user: one ordered line per user. */
  private inOrder<T>(userId: string, job: () => Promise<T>): Promise<T> {
    this.working.set(userId, (this.working.get(userId) ?? 0) + 1);
    const next = (this.queues.get(userId) ?? Promise.resolve()).then(job, job);
    const settled = next.catch(() => {}).finally(() => {
      const n = (this.working.get(userId) ?? 1) - 1;
      if (n > 0) this.working.set(userId, n);
      else this.working.delete(userId);
    });
    this.queues.set(userId, settled);
    return next;
  }

  /** The running container's address on its network and its gateway token. */
  private async target(userId: string) {
    const info = await this.owned(userId);
    if (!info || info.state !== "running") throw new Error("the agent is not running");
    const ip = await this.docker.ipOn(info.id, AgentRuntime.networkName(userId));
    const token = info.env?.OPENCLAW_GATEWAY_TOKEN;
    if (!ip || !token) throw new Error("the agent's gateway is not reachable");
    return { ip, token };
  }

  /**
   * Hands a message to the user's gateway (its OpenAI-compatible endpoint, reached on the private bridge
   * network with the gateway token from the container's own environment) and returns the reply. Messages
   * and channel updates for one user are handed over strictly one after another, in the order they arrived.
   */
  deliver(userId: string, session: string, text: string): Promise<{ reply: string }> {
    return this.inOrder(userId, async () => {
      const { ip, token } = await this.target(userId);
      const res = await fetch(`http://${ip}:${GATEWAY_PORT}/v1/chat/completions`, {
        method: "POST",
        headers: { authorization: `Bearer ${token}`, "content-type": "application/json" },
        body: JSON.stringify({ model: "openclaw", user: session, messages: [{ role: "user", content: text }] }),
        signal: AbortSignal.timeout(10 * 60_000),
      });
      const body = (await res.json().catch(() => ({}))) as { choices?: { message?: { content?: string } }[]; error?: { message?: string } };
      if (!res.ok) throw new Error(`the agent answered ${res.status}: ${body.error?.message ?? "no details"}`);
      return { reply: body.choices?.[0]?.message?.content ?? "" };
    });
  }

  /**
   * Passes a raw channel update (Telegram's webhook body with its secret header) to the container's own
   * channel listener, in order with everything else for this user. OpenClaw commits the update to its
   * ingress queue before it answers 2xx, so a 2xx means the update is safe.
   */
  forward(userId: string, port: number, path: string, headers: Record<string, string>, body: string): Promise<{ status: number; attempts: number }> {
    return this.inOrder(userId, async () => {
      // A listener that is between connections or still starting refuses for a moment: retry (OpenClaw drops
      // a repeated Telegram update by its update_id, so a retry never doubles one). Later updates wait, so
      // the order holds.
      const delays = this.opts.forwardRetryDelaysMs ?? [100, 200, 400, 800, 1600];
      const send = async () => {
        const { ip } = await this.target(userId);
        const res = await fetch(`http://${ip}:${port}${path}`, { method: "POST", headers: { "content-type": "application/json", ...headers }, body, signal: AbortSignal.timeout(30_000) });
        await res.arrayBuffer().catch(() => undefined);
        return res.status;
      };
      for (let attempt = 1; ; attempt++) {
        const outcome = await send().then((status) => ({ status }), (e: Error) => ({ error: e.message }));
        if ("status" in outcome && outcome.status < 300) return { status: outcome.status, attempts: attempt };
        // A 4xx is the listener refusing this update: another attempt would get the same answer.
        const final = ("status" in outcome && outcome.status < 500) || attempt > delays.length;
        if (final) throw new Error("status" in outcome ? `the agent's channel listener answered ${outcome.status}` : outcome.error);
        await new Promise((r) => setTimeout(r, delays[attempt - 1]));
      }
    });
  }

  /** Removes the container and its network (a node has a finite number of bridge networks). */
  async remove(userId: string, opts: { deleteState?: boolean; deleteArchives?: boolean } = {}) {
    const info = await this.owned(userId);
    if (info) await this.docker.remove(info.id);
    await this.opts.routes?.withdraw(userId);
    const networkId = await this.docker.networkId(AgentRuntime.networkName(userId));
    if (networkId) await this.opts.egress?.detach(bridgeOf(networkId));
    await this.docker.removeNetwork(AgentRuntime.networkName(userId));
    if (opts.deleteState) await removeTree(this.stateDir(userId));
    if (opts.deleteArchives) await this.store.deleteAll(userId);
  }

  /**
   * Writes openclaw.json and the persona files into the state dir, owned by the container's user. The tenant
   * controls that dir, so this goes through safe-fs: a link, FIFO or hard link planted at any of these
   * names (or at `workspace`) is refused, never written through, chmodded or chowned.
   */
  private async writeConfig(spec: AgentSpec) {
    const owner = parseOwner(spec.user);
    for (const rel of Object.keys(spec.files ?? {}))
      // The wire schema allows only workspace/<NAME>.md; checked again here because this writes to disk.
      if (!/^workspace\/[A-Za-z0-9_-]+\.md$/.test(rel)) throw new Refused(`refused to write ${rel}`);
    const root = await Dir.openRoot(this.stateDir(spec.userId), { create: true });
    try {
      if (owner) await root.chown(owner);
      await root.writeFile("openclaw.json", JSON.stringify(spec.config, null, 2), { mode: 0o600, owner });
      const files = Object.entries(spec.files ?? {});
      if (files.length === 0) return;
      const ws = await root.sub("workspace", { create: true, owner });
      try {
        if (owner) await ws.chown(owner);
        for (const [rel, content] of files) await ws.writeFile(rel.slice("workspace/".length), content, { owner });
      } finally {
        await ws.close();
      }
    } finally {
      await root.close();
    }
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
      const info = await this.docker.inspect(containerId);
      if (info?.oomKilled) throw new Error("the agent ran out of memory while starting (its plan's memory limit is too small)");
      if (info?.state === "exited" || info?.state === "dead") throw new Error(`the agent container stopped while starting (${info.state})`);
      await new Promise((r) => setTimeout(r, 50));
    }
    throw new Error("the agent did not become ready in time");
  }
}
