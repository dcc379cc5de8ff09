import { randomBytes } from "node:crypto";
import { createServer, type RequestListener, type Server } from "node:http";
import type { ContainerInfo, ContainerSpec, DockerClient } from "../src/docker-client";

/** A container of the fake engine, with what a test may look at or change (state, oomKilled). */
export interface FakeContainer {
  id: string;
  name: string;
  spec: ContainerSpec;
  state: ContainerInfo["state"];
  oomKilled: boolean;
  /** network name → the container's address on it (a 127.x.y.z loopback address of its own). */
  networks: Map<string, string>;
  pid: number;
}

export interface FakeDockerOptions {
  /** Images the engine has (createContainer refuses any other, as a node never pulls). */
  images?: string[];
  /**
   * What the container serves while it runs: port → handler, listening on its own loopback address (so the
   * node agent's real HTTP code reaches it as it reaches a gateway on a bridge network). Requests that
   * arrive while it is paused wait for the thaw, as a frozen process's do.
   */
  serve?: (c: FakeContainer) => Record<number, RequestListener>;
  /** Runs on every start after the state became running: throw to fail the start, or set `c.state`/`c.oomKilled` to crash it. */
  onStart?: (c: FakeContainer) => void | Promise<void>;
  /** Answers `exec` in a running container (default: exit 127, the command is not in the fake image). */
  exec?: (c: FakeContainer, cmd: string[], opts: { user?: string }) => { exitCode: number; stdout: string; stderr: string };
}

/** The error dockerode raises for an HTTP error of the Engine API (docker-modem's shape). */
export function engineError(statusCode: number, reason: string, message: string): Error & { statusCode: number; reason: string; json: { message: string } } {
  return Object.assign(new Error(`(HTTP code ${statusCode}) ${reason} - ${message} `), { statusCode, reason, json: { message } });
}

/**
 * An in-memory Docker engine behind the node agent's `DockerClient` interface, for fast unit tests of the
 * logic above it. It follows the real client's contract (dockerode-client.ts; checked side by side against
 * the real engine in fake-docker.test.ts): idempotent start/stop/pause/unpause/remove, a missing container
 * inspects as undefined and makes the other calls reject with the engine's 404 error, a missing image or a
 * taken name fails createContainer with the real client's messages. `calls` records what was asked, in order.
 */
export class FakeDocker implements DockerClient {
  readonly containers = new Map<string, FakeContainer>();
  readonly networks = new Map<string, string>();
  readonly images: Set<string>;
  readonly calls: string[] = [];
  private readonly servers = new Map<string, Server[]>();
  private readonly thawed = new Map<string, { promise: Promise<void>; resolve: () => void }>();
  private readonly subnet: [number, number] = [1 + Math.floor(Math.random() * 250), 1 + Math.floor(Math.random() * 200)];
  private hosts = 1;
  private pids = 40_000;

  constructor(private readonly opts: FakeDockerOptions = {}) {
    this.images = new Set(opts.images ?? []);
  }

  /** The container by id or name; missing is the engine's 404. */
  private get(idOrName: string): FakeContainer {
    const c = this.containers.get(idOrName) ?? [...this.containers.values()].find((x) => x.name === idOrName);
    if (!c) throw engineError(404, "no such container", `No such container: ${idOrName}`);
    return c;
  }

  private find(idOrName: string) {
    try {
      return this.get(idOrName);
    } catch {
      return undefined;
    }
  }

  private info(c: FakeContainer, full: boolean): ContainerInfo {
    const base = { id: c.id, name: c.name, state: c.state, labels: { ...(c.spec.labels ?? {}) } };
    return full ? { ...base, env: { ...(c.spec.env ?? {}) }, oomKilled: c.oomKilled } : base;
  }

  async ping() {
    return true;
  }

  async buildImage(tag: string) {
    this.images.add(tag);
  }

  async hasImage(tag: string) {
    return this.images.has(tag);
  }

  async ensureNetwork(name: string) {
    this.calls.push(`ensureNetwork ${name}`);
    if (!this.networks.has(name)) this.networks.set(name, randomBytes(32).toString("hex"));
    return this.networks.get(name)!;
  }

  async networkId(name: string) {
    return this.networks.get(name);
  }

  async createContainer(spec: ContainerSpec) {
    this.calls.push(`create ${spec.name}`);
    // The real client reports every 404 of the create call (image or network) as a missing image.
    if (!this.images.has(spec.image) || (spec.network && !this.networks.has(spec.network)))
      throw new Error(`the image ${spec.image} is not on this node (build or load it first)`);
    if (this.find(spec.name)) throw new Error(`a container named ${spec.name} already exists`);
    const id = randomBytes(32).toString("hex");
    const c: FakeContainer = { id, name: spec.name, spec, state: "created", oomKilled: false, networks: new Map(), pid: 0 };
    if (spec.network) c.networks.set(spec.network, this.address());
    this.containers.set(id, c);
    return id;
  }

  private address() {
    const n = this.hosts++;
    return `127.${this.subnet[0]}.${this.subnet[1] + Math.floor(n / 250)}.${(n % 250) + 1}`;
  }

  async start(id: string) {
    const c = this.get(id);
    this.calls.push(`start ${c.name}`);
    if (c.state === "running") return; // 304 on the real engine: already running
    if (c.state === "paused") throw engineError(409, "unexpected", `cannot start a paused container, try unpause instead`);
    c.state = "running";
    c.oomKilled = false;
    c.pid = this.pids++;
    await this.opts.onStart?.(c);
    if (c.state === "running") await this.listen(c);
    else c.pid = 0;
  }

  async stop(id: string) {
    const c = this.get(id);
    this.calls.push(`stop ${c.name}`);
    if (c.state !== "running" && c.state !== "paused") return; // 304: already stopped
    this.wake(c);
    await this.halt(c, "exited");
  }

  /** Test helper: the container's process dies (the kernel's OOM killer with `oom`), as a crash does. */
  async crash(id: string, opts: { oom?: boolean } = {}) {
    const c = this.get(id);
    c.oomKilled = !!opts.oom;
    this.wake(c);
    await this.halt(c, "exited");
  }

  async pause(id: string) {
    const c = this.get(id);
    this.calls.push(`pause ${c.name}`);
    if (c.state === "paused") return;
    if (c.state !== "running") throw engineError(409, "unexpected", `Container ${c.id} is not running`);
    c.state = "paused";
    let resolve!: () => void;
    const promise = new Promise<void>((r) => (resolve = r));
    this.thawed.set(c.id, { promise, resolve });
  }

  async signal(id: string, signal: string) {
    const c = this.containers.get(id);
    if (c) this.calls.push(`signal ${signal} ${c.name}`);
  }

  async unpause(id: string) {
    const c = this.get(id);
    this.calls.push(`unpause ${c.name}`);
    if (c.state !== "paused") return;
    c.state = "running";
    this.wake(c);
  }

  async remove(id: string) {
    const c = this.find(id);
    if (!c) return; // 404 ignored: removing twice is fine
    this.calls.push(`remove ${c.name}`);
    this.wake(c);
    await this.halt(c, "removing");
    this.containers.delete(c.id);
  }

  async inspect(id: string) {
    const c = this.find(id);
    return c && this.info(c, true);
  }

  async list(labelFilter?: string) {
    const [key, value] = (labelFilter ?? "").split("=");
    return [...this.containers.values()]
      .filter((c) => !key || (value === undefined ? key in (c.spec.labels ?? {}) : c.spec.labels?.[key] === value))
      .map((c) => this.info(c, false));
  }

  async ipOn(id: string, network: string) {
    const c = this.get(id);
    return c.state === "running" || c.state === "paused" ? c.networks.get(network) : undefined;
  }

  async connect(network: string, container: string) {
    const c = this.find(container);
    if (!c) throw engineError(404, "network or container is not found", `No such container: ${container}`);
    if (!this.networks.has(network)) throw engineError(404, "network or container is not found", `network ${network} not found`);
    if (!c.networks.has(network)) c.networks.set(network, this.address());
  }

  async exec(id: string, cmd: string[], opts: { user?: string; timeoutMs?: number } = {}) {
    const c = this.get(id);
    this.calls.push(`exec ${c.name} ${cmd.join(" ")}`);
    if (c.state !== "running") throw engineError(409, "container stopped/paused", `container ${c.id} is not running`);
    return this.opts.exec ? this.opts.exec(c, cmd, opts) : { exitCode: 127, stdout: "", stderr: `${cmd[0]}: not found` };
  }

  async removeNetwork(network: string) {
    if (!this.networks.has(network)) return; // 404 ignored
    const busy = [...this.containers.values()].some((c) => c.networks.has(network) && (c.state === "running" || c.state === "paused"));
    if (busy) throw engineError(403, "operation not permitted", `error while removing network: network ${network} has active endpoints`);
    this.networks.delete(network);
    for (const c of this.containers.values()) c.networks.delete(network);
  }

  async memoryInfo(id: string) {
    const c = this.find(id);
    if (!c || !c.pid) return undefined;
    const bytes = c.spec.memoryMb * 1024 * 1024;
    return { pid: c.pid, memoryBytes: bytes, memorySwapBytes: bytes };
  }

  /** Closes every server the fake containers opened (call it in afterEach/afterAll). */
  async close() {
    for (const c of this.containers.values()) await this.halt(c, c.state === "running" || c.state === "paused" ? "exited" : c.state);
  }

  private wake(c: FakeContainer) {
    this.thawed.get(c.id)?.resolve();
    this.thawed.delete(c.id);
  }

  private async listen(c: FakeContainer) {
    const handlers = this.opts.serve?.(c) ?? {};
    const servers: Server[] = [];
    for (const [port, handler] of Object.entries(handlers)) {
      const server = createServer(async (req, res) => {
        await this.thawed.get(c.id)?.promise; // a frozen process answers once thawed
        handler(req, res);
      });
      await new Promise<void>((resolve, reject) => server.once("error", reject).listen(Number(port), [...c.networks.values()][0] ?? "127.0.0.1", resolve));
      servers.push(server);
    }
    this.servers.set(c.id, servers);
  }

  private async halt(c: FakeContainer, state: ContainerInfo["state"]) {
    c.state = state;
    c.pid = 0;
    for (const s of this.servers.get(c.id) ?? []) {
      s.closeAllConnections();
      await new Promise((r) => s.close(r));
    }
    this.servers.delete(c.id);
  }
}
