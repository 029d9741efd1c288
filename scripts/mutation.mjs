#!/usr/bin/env node
// npm run mutation [-- <module> ...]: StrykerJS over the security-critical modules, one at a time (issue 18 item 3).
// Modules and their test files: scripts/mutation-modules.json. Incremental: a rerun only tests the mutants whose code
// or covering tests changed (reports/mutation/<module>.incremental.json; `--force` reruns all). Prints the score per
// module at the end. Not part of every CI run (minutes per module). Env: BATON_MUTATION_CONCURRENCY (default 2).
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, symlinkSync } from 'node:fs';
import { resolve } from 'node:path';

const modules = JSON.parse(readFileSync(new URL('./mutation-modules.json', import.meta.url), 'utf8'));
const args = process.argv.slice(2);
const force = args.includes('--force');
const asked = args.filter((a) => !a.startsWith('--'));
const unknown = asked.filter((m) => modules[m] === undefined);
if (unknown.length > 0) {
  console.error(`unknown module ${unknown.join(', ')}; modules: ${Object.keys(modules).join(', ')}`);
  process.exit(2);
}
const run = asked.length > 0 ? asked : Object.keys(modules);

/** Mutation score as Stryker computes it: detected / (detected + undetected), ignored and compile errors left out. */
function score(report) {
  const n = { Killed: 0, Timeout: 0, Survived: 0, NoCoverage: 0, Ignored: 0, RuntimeError: 0, CompileError: 0 };
  for (const f of Object.values(report.files)) for (const m of f.mutants) n[m.status] = (n[m.status] ?? 0) + 1;
  const detected = n.Killed + n.Timeout;
  const valid = detected + n.Survived + n.NoCoverage;
  return { ...n, valid, score: valid === 0 ? 100 : (100 * detected) / valid };
}

const rows = [];
let failed = false;
for (const name of run) {
  console.log(`\n=== mutation: ${name} (${modules[name].title}) ===`);
  // Suites read `../shared` beside the checkout (test/setup/shared.ts); from a sandbox (.stryker-tmp/<module>/sandbox-*)
  // that is .stryker-tmp/<module>/shared: without this link the conformance suites would skip there, silently.
  const shared = resolve('../shared');
  const link = `.stryker-tmp/${name}/shared`;
  if (existsSync(shared) && !existsSync(link)) {
    mkdirSync(`.stryker-tmp/${name}`, { recursive: true });
    symlinkSync(shared, link);
  }
  const r = spawnSync('npx', ['stryker', 'run', 'stryker.config.mjs', ...(force ? ['--force'] : [])], {
    stdio: 'inherit',
    env: { ...process.env, BATON_MUTATION_MODULE: name },
  });
  const file = `reports/mutation/${name}.json`;
  if (r.status !== 0 || !existsSync(file)) {
    failed = true;
    rows.push(`${name.padEnd(12)} stryker failed (exit ${r.status})`);
    continue;
  }
  const s = score(JSON.parse(readFileSync(file, 'utf8')));
  rows.push(
    `${name.padEnd(12)} ${s.score.toFixed(1).padStart(5)}%  killed ${s.Killed}, timeout ${s.Timeout}, survived ${s.Survived}, no coverage ${s.NoCoverage}, ignored ${s.Ignored}`,
  );
}
console.log(`\nmutation score per module (goal >= 85%), ${new Date().toISOString().slice(0, 10)}:\n${rows.join('\n')}`);
process.exit(failed ? 1 : 0);
