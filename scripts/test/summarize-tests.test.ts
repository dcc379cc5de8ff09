import { spawnSync } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";

/** scripts/lib/summarize-tests.mjs decides `npm test`'s exit code from the suites' JSON reports. */
const dir = mkdtempSync(join(tmpdir(), "oc-summary-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const report = (name: string, r: Record<string, unknown>) => {
  const path = join(dir, `${name}.json`);
  writeFileSync(path, JSON.stringify({ numPassedTests: 0, numFailedTests: 0, numPendingTests: 0, numTodoTests: 0, testResults: [], ...r }));
  return path;
};
const summarize = (...paths: string[]) => {
  const r = spawnSync(process.execPath, ["scripts/lib/summarize-tests.mjs", ...paths], { encoding: "utf8" });
  return { code: r.status, line: r.stdout.trim() };
};

describe("the test summary", () => {
  const passing = report("passing", { numPassedTests: 3, success: true });

  it("fails a run whose global setup threw before any test (control: the same reports without it pass)", () => {
    // What vitest wrote when a second wrangler dev could not start: no test ran, none failed, success false.
    const setupFailed = report("setup-failed", { success: false });
    expect(summarize(passing, setupFailed)).toEqual({ code: 1, line: "tests: 3 passed, 1 failed, 0 skipped" });
    expect(summarize(passing)).toEqual({ code: 0, line: "tests: 3 passed, 0 failed, 0 skipped" });
  });

  it("counts failed tests once, and a missing report as a failure", () => {
    const failing = report("failing", { numPassedTests: 1, numFailedTests: 2, success: false });
    expect(summarize(passing, failing)).toEqual({ code: 1, line: "tests: 4 passed, 2 failed, 0 skipped" });
    expect(summarize(passing, join(dir, "absent.json")).code).toBe(1);
  });
});
