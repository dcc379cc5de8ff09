/** A container as the node agent asks for it (container-spec.ts builds it; the client maps it to the engine). */
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

/**
 * Everything the node agent asks of Docker, behind one interface: the daemon logic never builds shell
 * strings, and tests of that logic can use the real engine (dockerode-client.ts) or a fake with the same
 * shape (test/fake-docker.ts). A missing container inspects as undefined (and has no memoryInfo); removing a
 * missing container or network is a no-op; every other call on one rejects with `statusCode` 404.
 */
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
  /** Sends a signal to the container's init (which forwards it to its child); nothing if it is not running. */
  signal(id: string, signal: string): Promise<void>;
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
