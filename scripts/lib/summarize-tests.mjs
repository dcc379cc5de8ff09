// Adds up vitest JSON reports into one closing line: "tests: N passed, N failed, N skipped".
import { readFileSync } from "node:fs";

let passed = 0,
  failed = 0,
  skipped = 0,
  files = 0;
for (const path of process.argv.slice(2)) {
  let r;
  try {
    r = JSON.parse(readFileSync(path, "utf8"));
  } catch {
    console.error(`missing or unreadable report: ${path}`);
    failed++;
    continue;
  }
  files++;
  passed += r.numPassedTests;
  failed += r.numFailedTests + (r.numRuntimeErrorTestSuites ?? 0);
  // A run that failed before any test (its global setup threw, or it found no file) counts one failure.
  if (r.success === false && r.numFailedTests === 0 && !r.numRuntimeErrorTestSuites) failed++;
  skipped += r.numPendingTests + r.numTodoTests;
}
console.log(`tests: ${passed} passed, ${failed} failed, ${skipped} skipped`);
process.exit(failed > 0 || passed === 0 || files === 0 ? 1 : 0);
