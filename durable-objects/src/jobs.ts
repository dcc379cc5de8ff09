/**
 * Durable follow-up jobs of one user, in the user's Durable Object: work that must happen after something was
 * recorded elsewhere (a Stripe event in Postgres) but must not hold up the answer to it. A job is written
 * once (its id names the event and the step, so a redelivery adds nothing), held until its caller says the
 * event is recorded, then run by the object's alarm, retried with backoff when it throws, and given up after
 * MAX_JOB_ATTEMPTS with a line on the activity feed (its last error goes to the operators only). Giving up adds one more job, GAVE_UP_KIND, that
 * reports it to the operators (the Worker's runner records it for the console at /admin), retried like any
 * other: the failure is reported even when the dependency that broke the job (Postgres) was down too.
 *
 * The work itself belongs to the edge (it needs Postgres, mail, the fleet): the Worker registers the one
 * runner at start-up (`registerJobRunner`); this file only keeps the table and the schedule.
 */

export type { JobInput } from "@oc/contracts/agent";
import type { JobInput } from "@oc/contracts/agent";

export interface JobRow {
  id: string;
  group: string;
  kind: string;
  payload: unknown;
  attempts: number;
  lastError: string | null;
  nextAt: number | null;
  doneAt: number | null;
  failedAt: number | null;
}

export type JobRunner = (env: unknown, job: { id: string; kind: string; userId: string; payload: unknown }) => Promise<void>;

let runner: JobRunner | undefined;

/** The Worker's handler for every job kind (edge/src/worker.ts registers it). */
export function registerJobRunner(run: JobRunner) {
  runner = run;
}

export function jobRunner(): JobRunner | undefined {
  return runner;
}

export const MAX_JOB_ATTEMPTS = 8;

/** The job that tells the operators another job was given up; its payload is a GaveUpReport. */
export const GAVE_UP_KIND = "ops:job_gave_up";

export type GaveUpReport = { jobId: string; kind: string; attempts: number; error: string; at: number };

/** 10 s, 40 s, 2.7 min, 11 min, then hourly: a broken dependency is not hammered, a brief one recovers fast. */
export function retryDelayMs(attempts: number): number {
  return Math.min(3_600_000, 10_000 * 4 ** Math.max(0, attempts - 1));
}

export class JobTable {
  constructor(private readonly sql: SqlStorage) {
    // next_at NULL: held (its event is not recorded yet); done_at / failed_at: finished either way.
    sql.exec(`CREATE TABLE IF NOT EXISTS jobs (id TEXT PRIMARY KEY, grp TEXT NOT NULL, kind TEXT NOT NULL, payload TEXT NOT NULL, created_at INTEGER NOT NULL,
      next_at INTEGER, attempts INTEGER NOT NULL DEFAULT 0, last_error TEXT, done_at INTEGER, failed_at INTEGER)`);
  }

  /** Adds the jobs of `group` (an event id), held; a job id already present is left as it is. */
  enqueue(group: string, jobs: JobInput[], now: number) {
    for (const j of jobs)
      this.sql.exec(
        "INSERT OR IGNORE INTO jobs (id, grp, kind, payload, created_at) VALUES (?, ?, ?, ?, ?)",
        j.id,
        group,
        j.kind,
        JSON.stringify(j.payload ?? null),
        now,
      );
  }

  /** The group's event is recorded: its held jobs become due now. Repeating it changes nothing. */
  release(group: string, now: number): number {
    return this.sql.exec("UPDATE jobs SET next_at = ? WHERE grp = ? AND next_at IS NULL AND done_at IS NULL AND failed_at IS NULL", now, group).rowsWritten;
  }

  /** When the alarm must next run a job, if any is waiting. */
  nextAt(): number | null {
    return this.sql.exec<{ at: number | null }>("SELECT MIN(next_at) AS at FROM jobs WHERE next_at IS NOT NULL AND done_at IS NULL AND failed_at IS NULL").one()
      .at;
  }

  /**
   * Runs every due job in order. The attempt and its retry time are written before the job runs, so a crash
   * in the middle (the object evicted, the Worker redeployed) leaves a job the alarm picks up again.
   */
  async runDue(now: number, run: (job: JobRow) => Promise<void>, onGiveUp: (job: JobRow, error: string) => Promise<void>) {
    const due = this.sql
      .exec<RawJob>("SELECT * FROM jobs WHERE next_at IS NOT NULL AND next_at <= ? AND done_at IS NULL AND failed_at IS NULL ORDER BY rowid", now)
      .toArray()
      .map(toRow);
    for (const job of due) {
      const attempts = job.attempts + 1;
      this.sql.exec("UPDATE jobs SET attempts = ?, next_at = ? WHERE id = ?", attempts, now + retryDelayMs(attempts), job.id);
      try {
        await run({ ...job, attempts });
        this.sql.exec("UPDATE jobs SET done_at = ?, last_error = NULL WHERE id = ?", Date.now(), job.id);
      } catch (e) {
        const error = (e instanceof Error ? e.message : String(e)).slice(0, 1000);
        const gaveUp = attempts >= MAX_JOB_ATTEMPTS;
        this.sql.exec("UPDATE jobs SET last_error = ?, failed_at = ? WHERE id = ?", error, gaveUp ? Date.now() : null, job.id);
        if (!gaveUp) continue;
        // Written in the same step as the give-up (due now: the alarm after this one runs it). A report that
        // is itself given up is not reported again.
        if (job.kind !== GAVE_UP_KIND) {
          const report: GaveUpReport = { jobId: job.id, kind: job.kind, attempts, error, at: Date.now() };
          this.enqueue(job.group, [{ id: `${job.id}:gave_up`, kind: GAVE_UP_KIND, payload: report }], now);
          this.sql.exec("UPDATE jobs SET next_at = ? WHERE id = ? AND next_at IS NULL", Date.now(), `${job.id}:gave_up`);
        }
        await onGiveUp({ ...job, attempts, lastError: error }, error);
      }
    }
  }

  /**
   * The alarm's turn: every due job through the Worker's runner, for `userId`; a job given up is told to the
   * user on the activity feed (the operators' report is not theirs to read); old finished jobs go.
   */
  async runTurn(env: unknown, userId: string | null, recordActivity: (kind: string, message: string) => Promise<unknown>) {
    // Without the Worker's runner (an object started on its own, as in unit tests) jobs wait untouched.
    if (!runner || !userId) return;
    const run = runner;
    const now = Date.now();
    await this.runDue(
      now,
      (job) => run(env, { id: job.id, kind: job.kind, userId, payload: job.payload }),
      async (job, error) => {
        console.error(`[jobs] ${job.id} given up after ${job.attempts} attempts: ${error}`);
        if (job.kind === GAVE_UP_KIND) return;
        // The error itself (a database message, a configuration problem) is for the operators' report only.
        await recordActivity("billing", `A follow-up of a payment (${job.kind}) failed ${job.attempts} times and was given up. Support has been told.`);
      },
    );
    this.prune(now - 30 * 86_400_000);
  }

  list(group?: string): JobRow[] {
    return this.sql
      .exec<RawJob>("SELECT * FROM jobs WHERE ?1 IS NULL OR grp = ?1 ORDER BY rowid", group ?? null)
      .toArray()
      .map(toRow);
  }

  /** Finished jobs older than `before` go (the event's own record stays in Postgres). */
  prune(before: number) {
    this.sql.exec("DELETE FROM jobs WHERE coalesce(done_at, failed_at) < ?", before);
  }

  clear() {
    this.sql.exec("DELETE FROM jobs");
  }
}

type RawJob = {
  id: string;
  grp: string;
  kind: string;
  payload: string;
  attempts: number;
  last_error: string | null;
  next_at: number | null;
  done_at: number | null;
  failed_at: number | null;
};

const toRow = (r: RawJob): JobRow => ({
  id: r.id,
  group: r.grp,
  kind: r.kind,
  payload: JSON.parse(r.payload),
  attempts: r.attempts,
  lastError: r.last_error,
  nextAt: r.next_at,
  doneAt: r.done_at,
  failedAt: r.failed_at,
});
