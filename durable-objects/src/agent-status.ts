import type { AgentStatus, NodeFact } from "@oc/contracts/agent";

/**
 * The agent's status has one owner, the user's object, and this is its rule book: what each fact a node
 * reported (relayed by NodeLink as a `NodeFact`, never as a status) means for the status.
 */
export type { AgentStatus, NodeFact };

/** The part of the lifecycle (lifecycle.ts) that a fact moves. */
export interface StatusTarget {
  setStatus(status: AgentStatus, reason?: string): Promise<void>;
  sleepFailed(reason: string): Promise<void>;
  onSlept(nextCronAt: number | null): Promise<void>;
  recover(reason: string): Promise<boolean>;
}

/** The status a successful lifecycle command leaves the agent in (`configure` only when it restarted it). */
const AFTER_SUCCESS: Partial<Record<string, AgentStatus>> = { provision: "ready", wake: "ready", pause: "paused", sleep: "sleeping", remove: "stopped" };

/** Commands whose failure fails the agent; a failed file or schedule request is only the caller's answer. */
const FAILS_AGENT = new Set<string>(["provision", "wake", "configure", "remove"]);

export async function applyNodeFact(t: StatusTarget, f: NodeFact): Promise<void> {
  if (f.kind === "progress") return t.setStatus(f.step);
  if (f.kind === "container_missing") {
    await t.recover(f.state ? `its container was ${f.state} after the server reconnected` : "its container was missing after the server reconnected");
    return;
  }
  const reason = f.error ?? "the node reported a failure";
  // A failed pause or sleep leaves the agent running (the node restarts it when the archive could not be stored).
  if (!f.ok && (f.command === "sleep" || f.command === "pause")) return t.sleepFailed(reason);
  if (f.ok && f.command === "sleep") return t.onSlept(f.nextCronAt ?? null);
  if (!f.ok) return FAILS_AGENT.has(f.command) ? t.setStatus("failed", reason) : undefined;
  // `configure` restarts a running agent (ready again afterwards) and only rewrites a sleeping one's config.
  const status = f.command === "configure" ? (f.restarted ? "ready" : undefined) : AFTER_SUCCESS[f.command];
  if (status) await t.setStatus(status);
}
