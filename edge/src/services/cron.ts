import { AppError } from "@oc/contracts/errors";
import { isTimeZone } from "@oc/contracts/time";
import type { Services } from "./context";
import { callNode } from "./node-call";

/** One job as the Cron Scheduler shows it (OpenClaw's own JSON, normalised). */
export interface CronJob {
  id: string;
  name: string;
  schedule: string;
  message: string | null;
  enabled: boolean;
  nextRunAt: number | null;
}

/** OpenClaw 2026.9 prints jobs as `{ id, name, displayName?, enabled, schedule: { kind: cron|every|at, … }, payload, state: { nextRunAtMs } }`. */
function normalise(raw: any): CronJob {
  const schedule = raw.schedule ?? {};
  const every =
    Number(schedule.everyMs) > 0
      ? `every ${Number(schedule.everyMs) >= 86_400_000 ? `${Number(schedule.everyMs) / 86_400_000} d` : `${Number(schedule.everyMs) / 60_000} min`}`
      : "";
  return {
    id: String(raw.id ?? raw.jobId ?? ""),
    name: String(raw.displayName ?? raw.name ?? raw.id ?? ""),
    schedule: String(schedule.expr ?? (every || schedule.at) ?? ""),
    message: raw.payload?.message ?? raw.payload?.text ?? null,
    enabled: raw.enabled !== false,
    nextRunAt: Number(raw.state?.nextRunAtMs ?? raw.nextRunAtMs) || null,
  };
}

const SLOW = 60_000; // the CLI starts a Node process in the container: a few seconds

export async function listCronJobs(s: Services, userId: string): Promise<CronJob[]> {
  const r = await callNode<any>(s, userId, { kind: "cron", userId, op: "list" }, SLOW);
  const jobs: any[] = Array.isArray(r) ? r : (r.jobs ?? r.items ?? r.automations ?? []);
  return jobs.map(normalise);
}

export async function addCronJob(s: Services, userId: string, job: { name: string; cron: string; message: string; tz?: string }) {
  if (!/^(\S+\s+){4,5}\S+$/.test(job.cron.trim())) throw new AppError("VALIDATION_FAILED", "A schedule has 5 fields, like `0 8 * * 1-5` (8:00 on weekdays).");
  if (job.tz && !isTimeZone(job.tz)) throw new AppError("VALIDATION_FAILED", `Unknown time zone "${job.tz}".`);
  const r = await callNode<any>(s, userId, { kind: "cron", userId, op: "add", job: { ...job, cron: job.cron.trim() } }, SLOW);
  return normalise(r.job ?? r);
}

export async function removeCronJob(s: Services, userId: string, id: string) {
  await callNode(s, userId, { kind: "cron", userId, op: "rm", id }, SLOW);
}
