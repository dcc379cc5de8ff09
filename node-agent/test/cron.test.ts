import { mkdirSync, mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { DatabaseSync } from "node:sqlite";
import { describe, expect, it } from "vitest";
import { nextCronRun } from "../src/cron";

/** The cron table as the pinned OpenClaw package creates it (dist/state/openclaw-state-read.worker.js). */
const DDL = `CREATE TABLE IF NOT EXISTS cron_jobs (store_key TEXT NOT NULL, job_id TEXT NOT NULL, declaration_key TEXT, owner_agent_id TEXT,
  name TEXT NOT NULL, description TEXT, enabled INTEGER NOT NULL, agent_id TEXT, payload_kind TEXT NOT NULL, job_json TEXT NOT NULL,
  grant_definition_revision TEXT, grant_definition_generation INTEGER, grant_definition_updated_at INTEGER, state_json TEXT NOT NULL DEFAULT '{}',
  runtime_updated_at_ms INTEGER, schedule_identity TEXT, sort_order INTEGER NOT NULL DEFAULT 0, updated_at INTEGER NOT NULL,
  PRIMARY KEY (store_key, job_id)) STRICT;`;

function stateWith(jobs: { id: string; enabled: boolean; next?: number }[]) {
  const dir = mkdtempSync(join(tmpdir(), "oc-cron-"));
  mkdirSync(join(dir, "state"));
  const db = new DatabaseSync(join(dir, "state", "openclaw.sqlite"));
  db.exec(DDL);
  const insert = db.prepare(
    "INSERT INTO cron_jobs (store_key, job_id, name, enabled, payload_kind, job_json, state_json, updated_at) VALUES ('main', ?, ?, ?, 'systemEvent', '{}', ?, 0)",
  );
  for (const j of jobs) insert.run(j.id, j.id, j.enabled ? 1 : 0, JSON.stringify(j.next ? { nextRunAtMs: j.next } : {}));
  db.close();
  return dir;
}

describe("the next scheduled job, read from a stopped agent's state", () => {
  it("is the earliest enabled job's next run", async () => {
    const dir = stateWith([
      { id: "late", enabled: true, next: 2_000_000_000_000 },
      { id: "soon", enabled: true, next: 1_900_000_000_000 },
      { id: "off", enabled: false, next: 1_800_000_000_000 },
      { id: "unscheduled", enabled: true },
    ]);
    expect(await nextCronRun(dir)).toBe(1_900_000_000_000);
  });

  it("is nothing without jobs, without a database, or with an unreadable one", async () => {
    expect(await nextCronRun(stateWith([]))).toBeUndefined();
    expect(await nextCronRun(mkdtempSync(join(tmpdir(), "oc-cron-")))).toBeUndefined();
    const broken = mkdtempSync(join(tmpdir(), "oc-cron-"));
    mkdirSync(join(broken, "state"));
    writeFileSync(join(broken, "state", "openclaw.sqlite"), "not a database");
    expect(await nextCronRun(broken)).toBeUndefined();
  });
});
