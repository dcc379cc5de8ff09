/** Display helpers shared by the dashboard pages. Money arrives in integer micro-USD. */
import type { AgentStatus } from "@oc/contracts/agent";

export const usd = (micros: number) => `$${(micros / 1_000_000).toFixed(micros !== 0 && Math.abs(micros) < 10_000 ? 4 : 2)}`;
export const cents = (c: number) => `$${(c / 100).toFixed(2)}`;
export const when = (t: number | string) => new Date(t).toLocaleString();
export const errorText = (e: unknown) => (e instanceof Error ? e.message : String(e));

/** Friendly words for the agent's status (every status has one; indexed by what the API sent). */
export const STATUS_TEXT: Record<string, string> = {
  none: "Not created yet",
  queued: "Queued",
  placing: "Finding a server",
  creating: "Creating your agent",
  starting: "Starting",
  ready: "Running",
  paused: "Dozing (wakes instantly)",
  sleeping: "Asleep (wakes on the next message)",
  stopped: "Stopped",
  failed: "Needs attention",
} satisfies Record<AgentStatus, string>;

/** What the user is told after a settings change: a running agent restarts on it, a stopped one uses it later. */
export const savedNote = (appliedToAgent: boolean) =>
  appliedToAgent ? "Saved. Your agent restarts with it (about 10 seconds)." : "Saved. Your agent uses it from its next start.";

/**
 * Why the agent could not start, in words a customer understands, and what to do about it. The technical
 * reason the node reported is shown beside it for support.
 */
export function failureHelp(reason: string): { title: string; advice: string } {
  if (/capacity|no (healthy )?node|servers? (are|is) full/i.test(reason))
    return {
      title: "All our servers are busy right now",
      advice: "We are adding room. Your agent starts by itself as soon as there is space; you don't need to do anything.",
    };
  if (/image .* not on this node|build or load it/i.test(reason))
    return {
      title: "The server chosen for your agent was not ready",
      advice: "This is on our side, not yours. Press \u201cTry again\u201d in a minute; if it happens again, contact support.",
    };
  if (/out of memory|oom/i.test(reason))
    return {
      title: "Your agent ran out of memory while starting",
      advice: "Press \u201cTry again\u201d. If it keeps happening, a larger plan gives your agent more memory.",
    };
  return {
    title: "Your agent could not start",
    advice: "Press \u201cTry again\u201d. If it keeps failing, contact support and mention the time shown below; nothing you set up is lost.",
  };
}
