// StrykerJS over one security-critical module at a time (issue 18 item 3). Run through `npm run mutation [-- <module>]`
// (scripts/mutation.mjs), which sets BATON_MUTATION_MODULE; the modules, what each mutates and which fast test files
// kill its mutants are in scripts/mutation-modules.json. Results: docs/mutation.md.
import { readFileSync } from 'node:fs';

const modules = JSON.parse(readFileSync(new URL('./scripts/mutation-modules.json', import.meta.url), 'utf8'));
const name = process.env.BATON_MUTATION_MODULE ?? '';
const mod = modules[name];
if (mod === undefined) throw new Error(`BATON_MUTATION_MODULE must be one of: ${Object.keys(modules).join(', ')} (got "${name}")`);

/**
 * `file#fnA,fnB` mutates only those functions or methods of the file (Stryker's `file:start-end` line ranges),
 * found by their declaration line and the closing brace at the same indentation; a name that is not found fails.
 */
function mutateSpec(spec) {
  const at = spec.indexOf('#');
  if (at < 0) return [spec];
  const file = spec.slice(0, at);
  const fns = spec.slice(at + 1);
  const lines = readFileSync(new URL(`./${file}`, import.meta.url), 'utf8').split('\n');
  return fns.split(',').map((fn) => {
    const esc = fn.replace(/[$#]/g, (c) => `\\${c}`);
    const decl = new RegExp(`^(\\s*)(?:export\\s+)?(?:(?:private|protected|public|static)\\s+)*(?:async\\s+)?(?:function\\s+)?${esc}\\s*[<(].*\\{$`);
    const start = lines.findIndex((l) => decl.test(l));
    if (start < 0) throw new Error(`${file}: no function ${fn}`);
    const indent = decl.exec(lines[start])[1];
    const end = lines.findIndex((l, i) => i > start && l === `${indent}}`);
    if (end < 0) throw new Error(`${file}: no end of ${fn}`);
    return `${file}:${start + 1}-${end + 1}`;
  });
}

const concurrency = Number(process.env.BATON_MUTATION_CONCURRENCY ?? 2);

/** @type {import('@stryker-mutator/api/core').PartialStrykerOptions} */
export default {
  testRunner: 'vitest',
  plugins: ['@stryker-mutator/vitest-runner', './scripts/mutation-ignore.mjs'],
  ignorers: ['baton-descriptions'],
  vitest: { configFile: 'vitest.mutation.config.ts', related: false },
  coverageAnalysis: 'perTest',
  // BATON_MUTATION_IGNORE_STATIC=1: a mutant of code also run outside any test (module load, beforeAll: a verifier
  // built in a suite's setup) is tested only with the tests that reach it at run time, each such mutant still reloading
  // the module; one reached by no test at run time (a module-level constant) is reported Ignored. Without it, each of
  // them reruns every test of the module (verify: 184 mutants, ~70% of the run). docs/mutation.md says which runs used it.
  ignoreStatic: process.env.BATON_MUTATION_IGNORE_STATIC === '1',
  mutate: mod.mutate.flatMap(mutateSpec),
  concurrency,
  incremental: true,
  incrementalFile: `reports/mutation/${name}.incremental.json`,
  // event-recorder: every tested mutant as it is tested (reports/mutation/<module>.events/), so a run stopped for time
  // still tells which mutants survived: `node scripts/mutation-partial.mjs <module>`
  reporters: ['clear-text', 'progress-append-only', 'json', 'html', 'event-recorder'],
  eventReporter: { baseDir: `reports/mutation/${name}.events` },
  jsonReporter: { fileName: `reports/mutation/${name}.json` },
  htmlReporter: { fileName: `reports/mutation/${name}.html` },
  clearTextReporter: { allowColor: false, logTests: false, maxTestsToLog: 0, reportScoreTable: true },
  thresholds: { high: 90, low: 85, break: null },
  // only what the tests read is copied to the sandbox (not the sandboxes of other modules' runs either)
  ignorePatterns: ['build', 'dist', 'bench', 'docs', 'examples', 'packaging', 'test/packages', 'test/workers', 'test-results', '.wrangler', 'reports', '/.stryker-tmp'],
  tempDirName: `.stryker-tmp/${name}`,
  cleanTempDir: true,
  timeoutMS: 10_000,
  timeoutFactor: 2,
  disableTypeChecks: true,
  logLevel: 'info',
  fileLogLevel: 'off',
};
