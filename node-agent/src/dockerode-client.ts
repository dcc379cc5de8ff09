import Docker from "dockerode";
import { PassThrough, type Readable } from "node:stream";
import { dockerCreateOptions } from "./container-spec";
import type { ContainerInfo, ContainerSpec, DockerClient } from "./docker-client";
import { tarFiles } from "./tar-files";

/**
 * The `DockerClient` on a real engine through dockerode (the Engine API over its socket; never the docker CLI
 * or shell strings). Commands are idempotent the way the node agent needs: starting a running container,
 * stopping a stopped one, removing what is gone are no-ops; a missing container inspects as undefined.
 */
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
    const c = await this.docker.createContainer(dockerCreateOptions(spec)).catch((e: { statusCode?: number; message?: string }) => {
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

  async signal(id: string, signal: string) {
    // 404: gone; 409: not running (a signal to a stopped or paused container has nobody to reach).
    await this.docker.getContainer(id).kill({ signal }).catch(ignoreStatus(404, 409));
  }

  async remove(id: string) {
    await this.docker.getContainer(id).remove({ force: true, v: false }).catch(ignoreStatus(404));
  }

  async inspect(id: string): Promise<ContainerInfo | undefined> {
    try {
      const i = await this.docker.getContainer(id).inspect();
      const env = Object.fromEntries((i.Config.Env ?? []).map((e: string) => [e.slice(0, e.indexOf("=")), e.slice(e.indexOf("=") + 1)]));
      return {
        id: i.Id,
        name: i.Name.replace(/^\//, ""),
        state: i.State.Status as ContainerInfo["state"],
        labels: i.Config.Labels ?? {},
        env,
        oomKilled: i.State.OOMKilled,
      };
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

const ignoreStatus =
  (...statuses: number[]) =>
  (e: unknown) => {
    if (!statuses.includes((e as { statusCode?: number }).statusCode ?? 0)) throw e;
  };
