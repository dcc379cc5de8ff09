import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { DatabaseSync } from "node:sqlite";
import { Dir } from "./safe-fs";

/** Largest cron database copied out for reading (OpenClaw's state SQLite is a few MB). */
const MAX_DB_BYTES = 512 * 1024 * 1024;

/**
 * When the agent's next scheduled job (OpenClaw cron) is due, read from its stopped state: OpenClaw keeps
 * jobs in `<state>/state/openclaw.sqlite`, table `cron_jobs`, with `state_json.nextRunAtMs`. Only after the
 * container stopped (never a live database). Undefined when nothing is scheduled.
 *
 * The tenant controls that path, and SQLite opens by name (following links, blocking on a FIFO), so the
 * database (and its WAL) is first copied through safe-fs into a private temp dir and read there.
 */
export async function nextCronRun(stateDir: string): Promise<number | undefined> {
  const tmp = await mkdtemp(join(tmpdir(), "oc-cron-"));
  let db: DatabaseSync | undefined;
  try {
    const root = await Dir.openRoot(stateDir);
    try {
      const state = await root.sub("state");
      try {
        await state.copyOut("openclaw.sqlite", join(tmp, "openclaw.sqlite"), MAX_DB_BYTES);
        if (await state.entry("openclaw.sqlite-wal")) await state.copyOut("openclaw.sqlite-wal", join(tmp, "openclaw.sqlite-wal"), MAX_DB_BYTES);
      } finally {
        await state.close();
      }
    } finally {
      await root.close();
    }
    db = new DatabaseSync(join(tmp, "openclaw.sqlite"));
    const rows = db.prepare("SELECT state_json FROM cron_jobs WHERE enabled = 1").all() as { state_json: string }[];
    const next = rows.map((r) => Number((JSON.parse(r.state_json) as { nextRunAtMs?: number }).nextRunAtMs)).filter((t) => Number.isFinite(t) && t > 0);
    return next.length > 0 ? Math.min(...next) : undefined;
  } catch {
    // No database yet, an older layout, or a path the tenant turned into a link: nothing to pre-wake for.
    return undefined;
  } finally {
    db?.close();
    await rm(tmp, { recursive: true, force: true });
  }
}
