// Sums vitest JSON reports (test-results/*.json, written under CI=true) into one plain closing line:
// "tests: N passed, N failed, N skipped". Exits 1 when a report is missing or any test failed.
import { existsSync, readFileSync } from 'node:fs';

const files = process.argv.slice(2);
let passed = 0, failed = 0, skipped = 0;
for (const f of files) {
  if (!existsSync(f)) {
    console.error(`test summary: ${f} is missing (did the suite run?)`);
    process.exit(1);
  }
  const r = JSON.parse(readFileSync(f, 'utf8'));
  passed += r.numPassedTests;
  failed += r.numFailedTests + (r.numRuntimeErrorTestSuites ?? 0);
  skipped += r.numPendingTests + (r.numTodoTests ?? 0);
}
console.log(`tests: ${passed} passed, ${failed} failed, ${skipped} skipped`);
process.exit(failed === 0 && passed > 0 ? 0 : 1);
