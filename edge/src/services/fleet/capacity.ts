import type { NodeStatus } from "../../../../durable-objects/src/node-link";

/**
 * The capacity model, as pure functions over what each node's NodeLink knows. A node's room is its RAM minus
 * a reserve for the system, Docker and Traefik, minus the memory limits of the agents placed on it (limits,
 * not current use: an idle OpenClaw uses ~1 GiB but may grow to its limit), and never more than the RAM the
 * node actually reports free.
 */
export const SYSTEM_RESERVE_MB = 1024;
/** Container size of an agent before any plan: OpenClaw idles at ~1 GiB and peaks above; its docs say 2 GB. */
export const AGENT_MEMORY_MB = 2048;
/** A node counts as healthy when connected and heard from this recently (heartbeats come every 15 s). */
export const HEALTHY_MS = 60_000;

export interface NodeView {
  id: string;
  status: "registering" | "active" | "draining" | "retired" | "down";
  live: NodeStatus;
}

export const healthy = (n: NodeView, now = Date.now()) =>
  n.live.connected && !!n.live.metrics && !!n.live.lastHeartbeatAt && now - n.live.lastHeartbeatAt < HEALTHY_MS;

/** Memory an agent may still be given on this node. */
export function freeMb(n: NodeView): number {
  const m = n.live.metrics;
  if (!m) return 0;
  const byLimits = m.ramTotalMb - SYSTEM_RESERVE_MB - n.live.committedMb;
  const byUse = m.ramTotalMb - m.ramUsedMb;
  return Math.max(0, Math.min(byLimits, byUse));
}

/** Nodes that can take a new agent of `memoryMb`, roomiest first. */
export function placeable(nodes: NodeView[], memoryMb: number, now = Date.now()): NodeView[] {
  return nodes
    .filter((n) => n.status === "active" && healthy(n, now) && freeMb(n) >= memoryMb)
    .sort((a, b) => freeMb(b) - freeMb(a));
}

/** Committed memory over usable memory of the fleet's healthy active nodes (0..1+). */
export function utilisation(nodes: NodeView[], now = Date.now()): { committedMb: number; usableMb: number; ratio: number } {
  let committedMb = 0;
  let usableMb = 0;
  for (const n of nodes) {
    if (n.status !== "active" || !healthy(n, now)) continue;
    committedMb += n.live.committedMb;
    usableMb += Math.max(0, n.live.metrics!.ramTotalMb - SYSTEM_RESERVE_MB);
  }
  return { committedMb, usableMb, ratio: usableMb > 0 ? committedMb / usableMb : 1 };
}
