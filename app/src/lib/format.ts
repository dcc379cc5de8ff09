/** Display helpers shared by the dashboard pages. Money arrives in integer micro-USD. */
export const usd = (micros: number) => `$${(micros / 1_000_000).toFixed(micros !== 0 && Math.abs(micros) < 10_000 ? 4 : 2)}`;
export const cents = (c: number) => `$${(c / 100).toFixed(2)}`;
export const when = (t: number | string) => new Date(t).toLocaleString();
export const errorText = (e: unknown) => (e instanceof Error ? e.message : String(e));

/** Friendly words for the agent's status. */
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
};

/** What the user is told after a settings change: a running agent restarts on it, a stopped one uses it later. */
export const savedNote = (appliedToAgent: boolean) =>
  appliedToAgent ? "Saved. Your agent restarts with it (about 10 seconds)." : "Saved. Your agent uses it from its next start.";
