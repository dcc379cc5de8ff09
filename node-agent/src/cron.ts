import { existsSync } from "node:fs";
import { join } from "node:path";
import { DatabaseSync } from "node:sqlite";

/**
 * When the agent's next scheduled job (OpenClaw cron) is due, read from its stopped state: OpenClaw keeps
 * jobs in `<state>/state/openclaw.sqlite`, table `cron_jobs`, with `state_json.nextRunAtMs`. Read only, and
 * only after the container stopped (never a live database). Undefined when nothing is scheduled.
 */
export function nextCronRun(stateDir: string): number | undefined {
  const file = join(stateDir, "state", "openclaw.sqlite");
  if (!existsSync(file)) return undefined;
  let db: DatabaseSync | undefined;
  try {
    db = new DatabaseSync(file, { readOnly: true });
    const rows = db.prepare("SELECT state_json FROM cron_jobs WHERE enabled = 1").all() as { state_json: string }[];
    const next = rows.map((r) => Number((JSON.parse(r.state_json) as { nextRunAtMs?: number }).nextRunAtMs)).filter((t) => Number.isFinite(t) && t > 0);
    return next.length > 0 ? Math.min(...next) : undefined;
  } catch {
    return undefined; // an older layout or no cron table: nothing to pre-wake for
  } finally {
    db?.close();
  }
}
