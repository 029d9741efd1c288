// `npm run bench`: runs every bench/*.bench.ts in its own process, one after another (these machines have 2 cores;
// benchmarks must not compete with each other). Each benchmark prints its own table and reports ratios against a
// baseline measured in the same run. Pass names to run a subset: `npm run bench -- exchange policy`. At the end, every
// goal of issue 13 in one table (bench/lib/goals.ts), PASS/MISS as measured in this run.
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { printAllGoals } from './lib/goals.js';

const here = dirname(fileURLToPath(import.meta.url));
const only = process.argv.slice(2);
const files = readdirSync(here)
  .filter((f) => f.endsWith('.bench.ts'))
  .filter((f) => only.length === 0 || only.some((o) => f.startsWith(o)))
  .sort();
const goalsDir = mkdtempSync(join(tmpdir(), 'baton-bench-goals-'));
const goalsFile = join(goalsDir, 'goals.jsonl');
console.log(`npm run bench${only.length > 0 ? ` -- ${only.join(' ')}` : ''}: ${new Date().toISOString()}`);
let failed = 0;
for (const f of files) {
  console.log(`\n=== ${f} ===`);
  const r = spawnSync(process.execPath, ['--import', 'tsx', join(here, f)], { stdio: 'inherit', env: { ...process.env, BATON_BENCH_GOALS: goalsFile } });
  if (r.status !== 0) {
    failed++;
    console.log(`(${f} exited with ${r.status ?? r.signal})`);
  }
}
printAllGoals(goalsFile);
rmSync(goalsDir, { recursive: true, force: true });
process.exitCode = failed === 0 ? 0 : 1;
