import type { ContainerInfo } from "./docker-client";

/**
 * OpenClaw's own CLI inside an agent's running container (cron-jobs.ts, channel-login.ts run it through
 * `DockerClient.exec`, argv only, as the container's user with its gateway token).
 */

/** The running container, its gateway token and user, for a CLI call; `what` says what needs it awake. */
export function cliTarget(info: ContainerInfo | undefined, what: string): { id: string; token: string; user?: string } {
  if (!info || info.state !== "running") throw new Error(`the agent is asleep: send it a message to wake it, then ${what}`);
  const token = info.env?.OPENCLAW_GATEWAY_TOKEN;
  if (!token) throw new Error("the agent's gateway token is missing");
  return { id: info.id, token, user: info.labels["openclaw.run-as"] || undefined };
}

/**
 * The JSON an `openclaw … --json` command printed. The CLI may print a banner line before its JSON, so the
 * document starts at the first bracket; no JSON at all reads as an empty object, broken JSON throws.
 */
export function cliJson(stdout: string): Record<string, unknown> {
  const text = stdout.trim();
  const start = text.search(/[[{]/);
  return start >= 0 ? JSON.parse(text.slice(start)) : {};
}
