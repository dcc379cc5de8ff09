import Docker from "dockerode";
import { PassThrough, type Readable } from "node:stream";

/**
 * Everything the node agent asks of Docker, behind one interface: the daemon logic never builds shell
 * strings, and tests of that logic can use the real engine or a fake with the same shape.
 */
export interface ContainerSpec {
  name: string;
  image: string;
  env?: Record<string, string>;
  cmd?: string[];
  labels?: Record<string, string>;
  memoryMb: number;
  cpus: number;
  pidsLimit: number;
  network?: string;
  /** uid:gid to run as (OpenClaw's image uses the non-root `node` user, 1000). */
  user?: string;
  /** host path or named volume → container path */
  mounts?: { source: string; target: string; type: "volume" | "bind" }[];
  exposedPort?: number;
  /** Extra /etc/hosts entries, e.g. "host.docker.internal:host-gateway". */
  extraHosts?: string[];
  /** The image's filesystem read-only; writable places are the mounts and `tmpfs`. */
  readOnlyRootfs?: boolean;
  /** container path → tmpfs mount options ("rw,nosuid,nodev,size=64m"). */
  tmpfs?: Record<string, string>;
}

export interface ContainerInfo {
  id: string;
  name: string;
  state: "created" | "running" | "paused" | "restarting" | "removing" | "exited" | "dead";
  labels: Record<string, string>;
  /** The container's environment (only from inspect). */
  env?: Record<string, string>;
  /** The kernel killed it for exceeding its memory limit (only from inspect). */
  oomKilled?: boolean;
}

export interface DockerClient {
  ping(): Promise<boolean>;
  buildImage(tag: string, context: Record<string, string | Buffer>, dockerfile: string): Promise<void>;
  hasImage(tag: string): Promise<boolean>;
  ensureNetwork(name: string): Promise<string>;
  /** The id of an existing network, if any (never creates one). */
  networkId(name: string): Promise<string | undefined>;
  createContainer(spec: ContainerSpec): Promise<string>;
  start(id: string): Promise<void>;
  stop(id: string, timeoutSeconds?: number): Promise<void>;
  /** Freezes every process of the container (cgroup freezer): no CPU, memory kept, resumes in milliseconds. */
  pause(id: string): Promise<void>;
  unpause(id: string): Promise<void>;
  remove(id: string): Promise<void>;
  inspect(id: string): Promise<ContainerInfo | undefined>;
  list(labelFilter?: string): Promise<ContainerInfo[]>;
  /** The container's address on `network` (Linux hosts route to bridge networks directly). */
  ipOn(id: string, network: string): Promise<string | undefined>;
  connect(network: string, container: string): Promise<void>;
  /** Runs a command (argv, never a shell string) in a running container; collects its output. */
  exec(id: string, cmd: string[], opts?: { user?: string; timeoutMs?: number }): Promise<{ exitCode: number; stdout: string; stderr: string }>;
  removeNetwork(network: string): Promise<void>;
  /** The container's init process on the host and its memory limits as Docker set them (doze.ts). */
  memoryInfo(id: string): Promise<{ pid: number; memoryBytes: number; memorySwapBytes: number } | undefined>;
}

/** A minimal ustar writer: build contexts are a few small files, so no tar dependency is needed. */
export function tarFiles(files: Record<string, string | Buffer>): Buffer {
  const blocks: Buffer[] = [];
  for (const [name, content] of Object.entries(files)) {
    const data = typeof content === "string" ? Buffer.from(content) : content;
    const header = Buffer.alloc(512);
    header.write(name, 0, 100);
    header.write("0000755\0", 100);
    header.write("0000000\0", 108);
    header.write("0000000\0", 116);
    header.write(data.length.toString(8).padStart(11, "0") + "\0", 124);
    header.write(Math.floor(Date.now() / 1000).toString(8).padStart(11, "0") + "\0", 136);
    header.write("        ", 148);
    header.write("0", 156);
    header.write("ustar\0", 257);
    header.write("00", 263);
    let sum = 0;
    for (const b of header) sum += b;
    header.write(sum.toString(8).padStart(6, "0") + "\0 ", 148);
    blocks.push(header, data, Buffer.alloc((512 - (data.length % 512)) % 512));
  }
  blocks.push(Buffer.alloc(1024));
  return Buffer.concat(blocks);
}

export class DockerodeClient implements DockerClient {
  private docker: Docker;

  /** Reads DOCKER_HOST (unix:///path or tcp://) like the docker CLI; defaults to /var/run/docker.sock. */
  constructor(dockerHost = process.env.DOCKER_HOST) {
    this.docker = dockerHost?.startsWith("unix://") ? new Docker({ socketPath: dockerHost.slice("unix://".length) }) : new Docker();
  }

  async ping() {
    try {
      await this.docker.ping();
      return true;
    } catch {
      return false;
    }
  }

  async buildImage(tag: string, context: Record<string, string | Buffer>, dockerfile: string) {
    const stream = new PassThrough();
    stream.end(tarFiles({ Dockerfile: dockerfile, ...context }));
    const out = await this.docker.buildImage(stream as unknown as Readable, { t: tag, rm: true, forcerm: true });
    await new Promise<void>((resolve, reject) =>
      this.docker.modem.followProgress(out, (err: Error | null, res: { error?: string }[]) => {
        const failed = err ?? res.find((r) => r.error);
        if (failed) reject(err ?? new Error(`image build failed: ${(failed as { error: string }).error}`));
        else resolve();
      }),
    );
  }

  async hasImage(tag: string) {
    try {
      await this.docker.getImage(tag).inspect();
      return true;
    } catch {
      return false;
    }
  }

  async ensureNetwork(name: string) {
    const [existing] = await this.docker.listNetworks({ filters: { name: [name] } });
    if (existing && existing.Name === name) return existing.Id;
    const net = await this.docker.createNetwork({ Name: name, Driver: "bridge", Labels: { "openclaw.managed": "true" } });
    return net.id;
  }

  async networkId(name: string) {
    const [existing] = await this.docker.listNetworks({ filters: { name: [name] } });
    return existing && existing.Name === name ? existing.Id : undefined;
  }

  async createContainer(spec: ContainerSpec) {
    const c = await this.docker.createContainer({
      name: spec.name,
      Image: spec.image,
      Cmd: spec.cmd,
      Env: Object.entries(spec.env ?? {}).map(([k, v]) => `${k}=${v}`),
      Labels: spec.labels,
      User: spec.user,
      ExposedPorts: spec.exposedPort ? { [`${spec.exposedPort}/tcp`]: {} } : undefined,
      HostConfig: {
        Memory: spec.memoryMb * 1024 * 1024,
        MemorySwap: spec.memoryMb * 1024 * 1024,
        NanoCpus: Math.round(spec.cpus * 1e9),
        PidsLimit: spec.pidsLimit,
        Privileged: false,
        CapDrop: ["ALL"],
        SecurityOpt: ["no-new-privileges"],
        Init: true,
        NetworkMode: spec.network,
        Mounts: spec.mounts?.map((m) => ({ Source: m.source, Target: m.target, Type: m.type })),
        RestartPolicy: { Name: "no" },
        ExtraHosts: spec.extraHosts,
        ReadonlyRootfs: spec.readOnlyRootfs ?? false,
        Tmpfs: spec.tmpfs,
        // Docker's default seccomp profile applies (nothing here sets seccomp=unconfined).
      },
    }).catch((e: { statusCode?: number; message?: string }) => {
      // Nodes never pull from a registry at provisioning time, so a missing image is an operator error.
      if (e.statusCode === 404) throw new Error(`the image ${spec.image} is not on this node (build or load it first)`);
      if (e.statusCode === 409) throw new Error(`a container named ${spec.name} already exists`);
      throw e;
    });
    return c.id;
  }

  async start(id: string) {
    await this.docker.getContainer(id).start().catch(ignoreStatus(304)); // 304: already running
  }

  async stop(id: string, timeoutSeconds = 10) {
    await this.docker.getContainer(id).stop({ t: timeoutSeconds }).catch(ignoreStatus(304)); // 304: already stopped
  }

  async pause(id: string) {
    const c = this.docker.getContainer(id);
    if ((await c.inspect()).State.Paused) return;
    await c.pause();
  }

  async unpause(id: string) {
    const c = this.docker.getContainer(id);
    if (!(await c.inspect()).State.Paused) return;
    await c.unpause();
  }

  async remove(id: string) {
    await this.docker.getContainer(id).remove({ force: true, v: false }).catch(ignoreStatus(404));
  }

  async inspect(id: string): Promise<ContainerInfo | undefined> {
    try {
      const i = await this.docker.getContainer(id).inspect();
      const env = Object.fromEntries((i.Config.Env ?? []).map((e: string) => [e.slice(0, e.indexOf("=")), e.slice(e.indexOf("=") + 1)]));
      return { id: i.Id, name: i.Name.replace(/^\//, ""), state: i.State.Status as ContainerInfo["state"], labels: i.Config.Labels ?? {}, env, oomKilled: i.State.OOMKilled };
    } catch (e) {
      if ((e as { statusCode?: number }).statusCode === 404) return undefined;
      throw e;
    }
  }

  async ipOn(id: string, network: string) {
    const i = await this.docker.getContainer(id).inspect();
    return i.NetworkSettings.Networks[network]?.IPAddress || undefined;
  }

  async removeNetwork(network: string) {
    await this.docker.getNetwork(network).remove().catch(ignoreStatus(404));
  }

  async connect(network: string, container: string) {
    // 403 "already exists in network" is fine: connecting is idempotent for us.
    await this.docker.getNetwork(network).connect({ Container: container }).catch(ignoreStatus(403));
  }

  async exec(id: string, cmd: string[], opts: { user?: string; timeoutMs?: number } = {}) {
    const exec = await this.docker.getContainer(id).exec({ Cmd: cmd, AttachStdout: true, AttachStderr: true, User: opts.user });
    const stream = await exec.start({});
    const out = new PassThrough();
    const err = new PassThrough();
    let stdout = "";
    let stderr = "";
    out.on("data", (d) => (stdout += d));
    err.on("data", (d) => (stderr += d));
    this.docker.modem.demuxStream(stream, out, err);
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => (stream.destroy(), reject(new Error(`${cmd[0]} did not finish in time`))), opts.timeoutMs ?? 60_000);
      stream.on("end", () => (clearTimeout(timer), resolve()));
      stream.on("error", (e) => (clearTimeout(timer), reject(e)));
    });
    const { ExitCode } = await exec.inspect();
    return { exitCode: ExitCode ?? -1, stdout, stderr };
  }

  async memoryInfo(id: string) {
    const i = await this.docker.getContainer(id).inspect().catch(ignoreStatus(404));
    if (!i || !i.State.Pid) return undefined;
    return { pid: i.State.Pid, memoryBytes: i.HostConfig.Memory ?? 0, memorySwapBytes: i.HostConfig.MemorySwap ?? 0 };
  }

  async list(labelFilter?: string) {
    const all = await this.docker.listContainers({ all: true, filters: labelFilter ? { label: [labelFilter] } : undefined });
    return all.map((c) => ({ id: c.Id, name: (c.Names[0] ?? "").replace(/^\//, ""), state: c.State as ContainerInfo["state"], labels: c.Labels ?? {} }));
  }
}

const ignoreStatus = (status: number) => (e: unknown) => {
  if ((e as { statusCode?: number }).statusCode !== status) throw e;
};
