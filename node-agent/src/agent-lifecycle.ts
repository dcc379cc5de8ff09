import type { DockerClient } from "./docker-client";
import { nextCronRun } from "./cron";
import { runCron, type CronJobInput } from "./cron-jobs";
import { runChannelLogin } from "./channel-login";
import { Workspace, type FileOp } from "./workspace";
import { parseOwner } from "./safe-fs";
import type { StateStore } from "./state-store";
import type { TraefikRoutes } from "./traefik";
import { DOZE_GC_SIGNAL, type Doze, type ReclaimOutcome } from "./doze";
import type { SwapInResult } from "./swap-in";
import { bridgeOf, type EgressPolicy } from "./egress";
import { agentContainerSpec, containerName, networkName, type AgentSpec } from "./container-spec";
import { StateDirs, plainUserId } from "./state-dir";
import { DeliveryQueue } from "./delivery-queue";
import { chat, forwardUpdate, waitReady, type GatewayTarget } from "./gateway";
import { cliTarget } from "./openclaw-cli";

export type { AgentSpec } from "./container-spec";
export type ProgressStep = "creating" | "starting" | "ready";
/** What the lifecycle needs of the archive store (state-store.ts). */
export type ArchiveStore = Pick<StateStore, "archive" | "latest" | "restore" | "deleteAll">;

/**
 * One user's OpenClaw container on this node: provision, sleep to S3, wake (plain start on the same node,
 * or restore from the latest archive after a loss). Every operation is idempotent, so a command repeated
 * after a reconnect converges instead of creating a second container.
 */
export class AgentRuntime {
  private readonly dirs: StateDirs;
  private readonly queue = new DeliveryQueue();

  constructor(
    private readonly docker: DockerClient,
    private readonly store: ArchiveStore,
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
      /**
       * Reads a woken agent's swapped pages back in bulk through the kernel (doze.ts `swapIn`): "before" the
       * unpause, so the gateway wakes with its memory in RAM, or "beside" its first answer. Off by default:
       * measured on a busy 2-core node both made thaw → /readyz slower (~2 s per GiB read back) and the first
       * answer no faster (what it waits for is OpenClaw's own work after any idle period, not the pages).
       */
      swapInOnThaw?: "before" | "beside" | "off";
    },
  ) {
    this.dirs = new StateDirs(opts.stateRoot);
  }

  /** The node's doze (memory reclaim) if configured; node metrics read what agents hold through it. */
  get doze(): Doze | undefined {
    return this.opts.doze;
  }

  static containerName = containerName;
  static networkName = networkName;
  /** The user's state dir; the id becomes a path component, so only a plain name is accepted. */
  stateDir = (userId: string) => this.dirs.path(userId);

  async provision(spec: AgentSpec, onProgress: (s: ProgressStep) => void = () => {}): Promise<{ containerId: string; readyMs: number }> {
    const network = networkName(spec.userId);
    onProgress("creating");
    const networkId = await this.docker.ensureNetwork(network);
    // Fail closed: a container never starts on a network the policy does not cover.
    await this.opts.egress?.attach(bridgeOf(networkId));
    if (this.opts.traefikContainer) await this.docker.connect(network, this.opts.traefikContainer);
    const existing = await this.owned(spec.userId);
    await this.dirs.writeConfig(spec);
    const containerId = existing?.id ?? (await this.docker.createContainer(agentContainerSpec(spec, this.stateDir(spec.userId))));
    onProgress("starting");
    const started = Date.now();
    if (existing?.state === "paused") await this.thaw(containerId, true);
    else await this.docker.start(containerId);
    await this.ready(containerId, spec.userId);
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
    if (info.state === "running" && this.queue.busy(userId)) throw new Error("the agent is handling a message; it dozes once idle");
    if (info.state === "running" && this.opts.doze) {
      // The gateway collects its garbage first (doze.ts DOZE_GC_SIGNAL), so the reclaim keeps only live pages.
      const signal = () => this.docker.signal(info.id, DOZE_GC_SIGNAL);
      const mem = await this.docker.memoryInfo(info.id);
      if (mem) this.lastDozeGcMb = await this.opts.doze.settle(mem.pid, signal);
      else await signal();
      if (this.queue.busy(userId)) throw new Error("the agent is handling a message; it dozes once idle");
    }
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

  /**
   * Unfreezes with Docker's own limits in place (a reclaim interrupted half way must not starve the thaw).
   * A thaw for an answer may also have the kernel read the agent's swapped pages back in bulk
   * (`swapInOnThaw`, doze.ts `swapIn`), so the gateway does not fault them in one at a time.
   */
  private async thaw(containerId: string, forAnswer = false) {
    const mem = this.opts.doze ? await this.docker.memoryInfo(containerId) : undefined;
    if (mem) await this.opts.doze!.restoreLimits(mem.pid, mem.memoryBytes, mem.memorySwapBytes).catch(() => {});
    // Not before a stop (sleep, configure): pages read back in only to be thrown away.
    const swapIn = mem && forAnswer ? (this.opts.swapInOnThaw ?? "off") : "off";
    if (swapIn === "before") this.lastSwapIn = Promise.resolve(await this.opts.doze!.swapIn(mem!.pid).catch(() => undefined));
    await this.docker.unpause(containerId);
    if (swapIn === "beside") this.lastSwapIn = this.opts.doze!.swapIn(mem!.pid).catch(() => undefined);
  }

  /** The bulk swap-in of the last thaw (benchmarks and tests wait for it). */
  lastSwapIn?: Promise<SwapInResult | undefined>;
  /** MiB the last doze's garbage collection gave back before the freeze (benchmarks read it). */
  lastDozeGcMb?: number;

  /**
   * Writes a changed config (a rotated proxy key, new settings) into the agent's state dir and restarts a
   * running gateway on it. OpenClaw watches the file, but a provider key change was not picked up by its hot
   * reload in our end-to-end test, so a clean restart (~10 s) is the reliable way; a stopped agent reads the
   * file on its next start.
   */
  async configure(spec: AgentSpec): Promise<{ restarted: boolean }> {
    const info = await this.owned(spec.userId);
    await this.dirs.writeConfig(spec);
    if (!info || (info.state !== "running" && info.state !== "paused")) return { restarted: false };
    if (info.state === "paused") await this.thaw(info.id);
    await this.docker.stop(info.id, 20);
    await this.docker.start(info.id);
    await this.ready(info.id, spec.userId);
    await this.publishRoute(spec, info.id);
    return { restarted: true };
  }

  /** File Manager / Memory Manager access to the agent's workspace (works while it sleeps, too). */
  async files(userId: string, op: FileOp, path: string, content?: string): Promise<unknown> {
    return new Workspace(this.stateDir(userId)).run(op, path, content);
  }

  /** Cron Scheduler: the agent's jobs through OpenClaw's CLI in its running container. */
  async cron(userId: string, op: "list" | "add" | "rm", args: { id?: string; job?: CronJobInput }) {
    const { id, token, user } = cliTarget(await this.owned(userId), "manage its schedule");
    return runCron(this.docker, id, token, user, op, args);
  }

  /** QR login of a socket channel (WhatsApp Web) through the agent's gateway; see channel-login.ts. */
  async channelLogin(userId: string, channel: "whatsapp", op: "start" | "wait", sessionKey?: string) {
    const { id, token, user } = cliTarget(await this.owned(userId), "link WhatsApp");
    return runChannelLogin(this.docker, id, token, user, channel, op, sessionKey);
  }

  /** Traefik's route to the agent's current bridge address (it changes on every start). */
  private async publishRoute(spec: AgentSpec, containerId: string) {
    if (!this.opts.routes) return;
    const ip = await this.docker.ipOn(containerId, networkName(spec.userId));
    if (ip) await this.opts.routes.publish(spec.userId, spec.host, ip);
  }

  /** At start: the firewall chains rebuilt, and every agent network that exists put under them again. */
  async applyEgress(): Promise<number> {
    if (!this.opts.egress) return 0;
    await this.opts.egress.install();
    let n = 0;
    for (const { userId } of await this.inventory()) {
      const id = await this.docker.networkId(networkName(userId));
      if (id) (await this.opts.egress.attach(bridgeOf(id)), n++);
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
    const info = await this.docker.inspect(containerName(plainUserId(userId)));
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
      await this.dirs.writeConfig(spec); // the spec may carry settings changed while it slept
      const started = Date.now();
      const networkId = await this.docker.networkId(networkName(spec.userId));
      if (networkId) await this.opts.egress?.attach(bridgeOf(networkId)); // rules are lost on a host reboot
      if (existing.state === "paused") await this.thaw(existing.id, true);
      else await this.docker.start(existing.id);
      await this.ready(existing.id, spec.userId).catch(async (e: Error) => {
        // A thawed gateway that died (its swapped pages lost with the node's swap, or killed while frozen)
        // starts again from its state dir on disk: the agent is restored, never lost.
        const now = await this.docker.inspect(existing.id);
        if (existing.state !== "paused" || (now?.state !== "exited" && now?.state !== "dead")) throw e;
        await this.docker.start(existing.id);
        await this.ready(existing.id, spec.userId);
      });
      await this.publishRoute(spec, existing.id);
      return { readyMs: Date.now() - started };
    }
    const key = await this.store.latest(spec.userId);
    if (key) await this.store.restore(key, this.stateDir(spec.userId), parseOwner(spec.user));
    const { readyMs } = await this.provision(spec);
    return { restoredFrom: key, readyMs };
  }

  /** The running container's address on its network and its gateway token. */
  private async target(userId: string): Promise<GatewayTarget> {
    const info = await this.owned(userId);
    if (!info || info.state !== "running") throw new Error("the agent is not running");
    const ip = await this.docker.ipOn(info.id, networkName(userId));
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
    return this.queue.run(userId, async () => chat(await this.target(userId), session, text));
  }

  /**
   * Passes a raw channel update to the container's own channel listener, in order with everything else for
   * this user; a listener still starting is retried, and later updates wait, so the order holds.
   */
  forward(userId: string, port: number, path: string, headers: Record<string, string>, body: string): Promise<{ status: number; attempts: number }> {
    const delays = this.opts.forwardRetryDelaysMs ?? [100, 200, 400, 800, 1600];
    return this.queue.run(userId, () => forwardUpdate(() => this.target(userId), { port, path, headers, body }, delays));
  }

  /** Removes the container and its network (a node has a finite number of bridge networks). */
  async remove(userId: string, opts: { deleteState?: boolean; deleteArchives?: boolean } = {}) {
    const info = await this.owned(userId);
    if (info) await this.docker.remove(info.id);
    await this.opts.routes?.withdraw(userId);
    const networkId = await this.docker.networkId(networkName(userId));
    if (networkId) await this.opts.egress?.detach(bridgeOf(networkId));
    await this.docker.removeNetwork(networkName(userId));
    if (opts.deleteState) await this.dirs.remove(userId);
    if (opts.deleteArchives) await this.store.deleteAll(userId);
  }

  private ready(containerId: string, userId: string) {
    return waitReady(this.docker, containerId, networkName(userId), this.opts.readyTimeoutMs ?? 60_000);
  }
}
