import type Docker from "dockerode";
import type { AgentSpecWire } from "@oc/contracts/wire";
import type { ContainerSpec } from "./docker-client";
import { GATEWAY_PORT } from "./traefik";

/**
 * What an agent container looks like: from the edge's agent spec to the `ContainerSpec` the node asks Docker
 * for (names, environment, limits, state mount, read-only root, scratch tmpfs), and from that to the engine's
 * create options with the hardening every container gets. Pure functions: nothing here talks to Docker.
 */

/** Where OpenClaw keeps its state inside the container (the official image's layout). */
export const CONTAINER_STATE_DIR = "/home/node/.openclaw";

/** The spec the edge sends (contracts/src/wire.ts), plus what only tests set. */
export type AgentSpec = AgentSpecWire & {
  /** Overrides the image's command (tests run a stand-in gateway). */
  cmd?: string[];
  /** More /etc/hosts entries (tests point the chat platforms' public names at servers they started). */
  extraHosts?: string[];
};

export const containerName = (userId: string) => `oc-${userId}`;
export const networkName = (userId: string) => `oc-${userId}`;

/** Writable scratch for a read-only container: /tmp, and HOME (npm, caches) owned by the container's user. */
export function scratchMounts(user = "1000:1000"): Record<string, string> {
  const [uid, gid] = user.split(":");
  return {
    "/tmp": "rw,nosuid,nodev,size=512m",
    "/home/node": `rw,nosuid,nodev,size=256m,uid=${uid},gid=${gid ?? uid},mode=0755`,
  };
}

/** The user's container: its own network, its state dir bind-mounted, labelled with the user that owns it. */
export function agentContainerSpec(spec: AgentSpec, stateDir: string): ContainerSpec {
  return {
    name: containerName(spec.userId),
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
    network: networkName(spec.userId),
    mounts: [{ type: "bind", source: stateDir, target: CONTAINER_STATE_DIR }],
    exposedPort: GATEWAY_PORT,
    // Lets a node in development reach an edge on the same machine (AGENT_EDGE_URL=http://host.docker.internal:…).
    extraHosts: ["host.docker.internal:host-gateway", ...(spec.extraHosts ?? [])],
    // Code run in the container cannot change the image (its node, openclaw or tini): the state dir is the
    // only persistent place it writes; HOME and /tmp are scratch that a restart clears.
    readOnlyRootfs: true,
    tmpfs: scratchMounts(spec.user),
  };
}

/**
 * The engine's create options for any container the node runs: unprivileged, every capability dropped,
 * no-new-privileges, memory (swap included), CPU and PID limits, an init reaping zombies, no restart policy
 * (the edge decides when an agent runs).
 */
export function dockerCreateOptions(spec: ContainerSpec): Docker.ContainerCreateOptions {
  return {
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
  };
}
