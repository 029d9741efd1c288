#!/usr/bin/env node
// node scripts/mutation-partial.mjs <module>: the results so far of a Stryker run (finished or not) from its event
// recorder (reports/mutation/<module>.events/, see stryker.config.mjs): counts by status, the score over the mutants
// tested so far, how many are still to test (and how many of those are static: they run last, each a full test run),
// and every surviving or uncovered mutant (file:line, mutator, replacement).
import { existsSync, readdirSync, readFileSync } from 'node:fs';

const name = process.argv[2];
const dir = `reports/mutation/${name}.events`;
if (name === undefined || !existsSync(dir)) {
  console.error(`usage: node scripts/mutation-partial.mjs <module> (no ${dir})`);
  process.exit(2);
}
const files = readdirSync(dir).sort();
const plan = files.find((f) => f.endsWith('-onMutationTestingPlanReady.json'));
const planned = plan === undefined ? [] : JSON.parse(readFileSync(`${dir}/${plan}`, 'utf8')).mutantPlans;
const tested = files.filter((f) => f.endsWith('-onMutantTested.json')).map((f) => JSON.parse(readFileSync(`${dir}/${f}`, 'utf8')));
const n = {};
for (const m of tested) n[m.status] = (n[m.status] ?? 0) + 1;
const early = planned.filter((p) => p.plan === 'EarlyResult').length;
const toRun = planned.filter((p) => p.plan === 'Run');
const done = new Set(tested.map((m) => m.id));
const left = toRun.filter((p) => !done.has(p.mutant.id));
const detected = (n.Killed ?? 0) + (n.Timeout ?? 0);
const valid = detected + (n.Survived ?? 0) + (n.NoCoverage ?? 0);
console.log(`${name}: ${tested.length} mutants reported of ${planned.length} planned (${early} decided without a run: ignored, no coverage)`);
console.log(`  ${Object.entries(n).map(([k, v]) => `${k} ${v}`).join(', ')}`);
console.log(`  score so far ${valid === 0 ? '-' : ((100 * detected) / valid).toFixed(1)}% (${detected} of ${valid})`);
console.log(`  still to test: ${left.length} (${left.filter((p) => p.mutant.static).length} static)`);
for (const m of tested.filter((t) => t.status === 'Survived' || t.status === 'NoCoverage').sort((a, b) => a.fileName.localeCompare(b.fileName) || a.location.start.line - b.location.start.line))
  console.log(`  ${m.status.padEnd(10)} ${m.fileName}:${m.location.start.line}:${m.location.start.column} ${m.mutatorName}: ${JSON.stringify(m.replacement)}${m.static ? ' (static)' : ''}`);
