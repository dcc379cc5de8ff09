import type { ContainerReport, NodeMetrics } from "./wire";

/**
 * The capacity model, as pure functions over what each node's NodeLink knows. A node's room is its RAM minus
 * a reserve for the system, Docker and Traefik, minus what its agents hold: a running agent its memory limit
 * (an idle OpenClaw uses ~1 GiB but may grow to its limit), a dozing one what it really holds (resident +
 * compressed, from the node's heartbeat: ~64 MiB + ~400 MiB after a reclaim), and never more than the RAM
 * the node actually reports free. Dozing agents can always be sent to deep sleep (S3) to make room, least
 * recently used first, so they count as room for placement and never toward buying a node.
 */
export const SYSTEM_RESERVE_MB = 1024;
/** Container size of an agent before any plan: OpenClaw idles at ~1 GiB and peaks above; its docs say 2 GB. */
export const AGENT_MEMORY_MB = 2048;
/** A node counts as healthy when connected and heard from this recently (heartbeats come every 15 s). */
export const HEALTHY_MS = 60_000;

/** What a node's NodeLink knows about it (its `getStatus()`), the input of every capacity decision. */
export interface NodeStatus {
  nodeId: string | null;
  connected: boolean;
  agentVersion: string | null;
  lastHeartbeatAt: number | null;
  metrics: NodeMetrics | null;
  /** Managed containers the node reported that the platform did not place there (reported, never deleted). */
  unknownContainers: ContainerReport[];
  /** Memory limits of the agents placed here that hold memory (running, paused, or being started). */
  committedMb: number;
  /** Memory limits of the agents running (or being started) here: what they may grow to. */
  runningMb: number;
  /** Dozing agents with what each really holds (the node's measure, else its limit), longest dozing first. */
  dozing: Dozer[];
  /** What the agents here really hold per the node's last heartbeat (resident + compressed swap). */
  measuredMb: number;
  agents: { running: number; paused: number; sleeping: number };
  /** Failed provision/wake commands in the last 24 h, newest first (operator console). */
  recentFailures: { userId: string; kind: string; error: string; at: number }[];
}

export interface NodeView {
  id: string;
  status: "registering" | "active" | "draining" | "retired" | "down";
  live: NodeStatus;
}

export const healthy = (n: NodeView, now = Date.now()) =>
  n.live.connected && !!n.live.metrics && !!n.live.lastHeartbeatAt && now - n.live.lastHeartbeatAt < HEALTHY_MS;

/** A dozing agent on a node, as the eviction decision needs it. */
export interface Dozer {
  userId: string;
  /** What it really holds now (resident + compressed), or its limit while the node has not reported it. */
  heldMb: number;
  /** When it began to doze: the longest-dozing (least recently used) goes to deep sleep first. */
  since: number;
}

/** What the agents on a node hold: running ones their limits, dozing ones what the node measured. */
export const heldMb = (n: NodeView) => n.live.runningMb + n.live.dozing.reduce((sum, d) => sum + d.heldMb, 0);

/** Memory an agent may be given on this node now, without sending anyone to deep sleep. */
export function freeMb(n: NodeView): number {
  const m = n.live.metrics;
  if (!m) return 0;
  const byHoldings = m.ramTotalMb - SYSTEM_RESERVE_MB - heldMb(n);
  const byUse = m.ramTotalMb - m.ramUsedMb;
  return Math.max(0, Math.min(byHoldings, byUse));
}

/** Memory an agent may be given here once every dozing agent went to deep sleep (they free what they hold). */
export function roomMb(n: NodeView): number {
  const m = n.live.metrics;
  if (!m) return 0;
  const dozing = n.live.dozing.reduce((sum, d) => sum + d.heldMb, 0);
  return Math.max(0, Math.min(m.ramTotalMb - SYSTEM_RESERVE_MB - n.live.runningMb, m.ramTotalMb - m.ramUsedMb + dozing));
}

/** Nodes that can take a new agent of `memoryMb` (after evicting dozing agents if need be), roomiest first. */
export function placeable(nodes: NodeView[], memoryMb: number, now = Date.now()): NodeView[] {
  return nodes.filter((n) => n.status === "active" && healthy(n, now) && roomMb(n) >= memoryMb).sort((a, b) => freeMb(b) - freeMb(a) || roomMb(b) - roomMb(a));
}

/**
 * Which dozing agents go to deep sleep so that `needMb` fits next to `freeMb`: least recently used first, as
 * few as needed. `undefined` when even all of them would not make room (the caller must look elsewhere).
 */
export function evictionPlan(dozing: Dozer[], needMb: number, freeMb: number, keep?: string): string[] | undefined {
  const out: string[] = [];
  let free = freeMb;
  for (const d of [...dozing].filter((x) => x.userId !== keep).sort((a, b) => a.since - b.since)) {
    if (free >= needMb) break;
    out.push(d.userId);
    free += d.heldMb;
  }
  return free >= needMb ? out : undefined;
}

/**
 * Running agents' limits over usable memory of the fleet's healthy active nodes (0..1+), the autoscaler's
 * measure. Dozing agents are left out: they can always go to deep sleep, so they never cause a purchase.
 */
export function utilisation(nodes: NodeView[], now = Date.now()): { committedMb: number; usableMb: number; ratio: number } {
  let committedMb = 0;
  let usableMb = 0;
  for (const n of nodes) {
    if (n.status !== "active" || !healthy(n, now)) continue;
    committedMb += n.live.runningMb;
    usableMb += Math.max(0, n.live.metrics!.ramTotalMb - SYSTEM_RESERVE_MB);
  }
  return { committedMb, usableMb, ratio: usableMb > 0 ? committedMb / usableMb : 1 };
}
