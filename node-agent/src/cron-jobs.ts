import type { DockerClient } from "./docker-client";
import { cliJson } from "./openclaw-cli";

export interface CronJobInput {
  name: string;
  cron: string;
  message: string;
  tz?: string;
}

/**
 * The Cron Scheduler's backend: OpenClaw's own `openclaw cron` CLI, run inside the user's running container
 * (as its user, with argv, never a shell), talking to its gateway with the container's token. Jobs stay in
 * OpenClaw's own store, so the agent and the dashboard always agree.
 */
export async function runCron(
  docker: DockerClient,
  containerId: string,
  token: string,
  user: string | undefined,
  op: "list" | "add" | "rm",
  args: { id?: string; job?: CronJobInput },
) {
  const gateway = ["--token", token, "--timeout", "20000"];
  const argv =
    op === "list"
      ? ["openclaw", "cron", "list", "--all", "--json", ...gateway]
      : op === "rm"
        ? ["openclaw", "cron", "rm", args.id!, "--json", ...gateway]
        : [
            "openclaw",
            "cron",
            "add",
            "--name",
            args.job!.name,
            "--cron",
            args.job!.cron,
            "--message",
            args.job!.message,
            ...(args.job!.tz ? ["--tz", args.job!.tz] : []),
            "--session",
            "isolated",
            "--json",
            ...gateway,
          ];
  const r = await docker.exec(containerId, argv, { user, timeoutMs: 60_000 });
  if (r.exitCode !== 0) throw new Error((r.stderr || r.stdout).trim().split("\n").slice(-3).join(" ").slice(0, 500) || `openclaw cron ${op} failed`);
  return cliJson(r.stdout);
}
