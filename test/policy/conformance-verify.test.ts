// Conformance: Cerbos's `verify` cases (testdata/verify/cases/*.yaml.input, txtar archives holding a suite_test.yaml
// and fixtures) run through our test-suite runner against the conformance policy store, compared with Cerbos's
// golden results by outcome: overall result, per-suite result, and the result of every (test, principal, resource,
// action). Messages and formatting are not compared.
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { parse } from 'yaml';
import { describe, expect, it } from 'vitest';
import { compilePolicies, type CompiledPolicySet } from '../../src/policy/compile.js';
import { readPolicyDir } from '../../src/policy/fs.node.js';
import { formatTestResults, runTestSuites, type TestResults } from '../../src/policy/testrunner.js';
import { parseTxtar } from './txtar.js';

const root = fileURLToPath(new URL('../../../shared/conformance/cerbos/testdata/', import.meta.url));
const present = existsSync(`${root}verify/cases`);
if (!present) console.warn(`[conformance] ${root}verify/cases is absent: Cerbos verify conformance tests are skipped`);

/** Cases we do not match yet (reason printed; never asserted). */
const VERIFY_GAPS: Record<string, string> = {};

interface GoldenAction { name: string; details: { result: string } }
interface GoldenSuite {
  file: string;
  summary: { overallResult: string };
  testCases?: { name: string; principals: { name: string; resources: { name: string; actions: GoldenAction[] }[] }[] }[];
}
interface Golden { suites?: GoldenSuite[]; summary: { overallResult: string } }

/** The case's `config` (test-name filter, policies excluded from the bundle) as runner options. */
function runOptions(c: string): { filter?: RegExp; excludedResourcePolicyFqns?: string[]; excludedPrincipalPolicyFqns?: string[] } {
  const path = `${root}verify/cases/${c}`;
  if (!existsSync(path)) return {};
  const cfg = ((parse(readFileSync(path, 'utf8')) ?? {}) as { config?: { includedTestNamesRegexp?: string; excludedResourcePolicyFqns?: string[]; excludedPrincipalPolicyFqns?: string[] } }).config ?? {};
  return {
    ...(cfg.includedTestNamesRegexp ? { filter: new RegExp(cfg.includedTestNamesRegexp) } : {}),
    ...(cfg.excludedResourcePolicyFqns ? { excludedResourcePolicyFqns: cfg.excludedResourcePolicyFqns } : {}),
    ...(cfg.excludedPrincipalPolicyFqns ? { excludedPrincipalPolicyFqns: cfg.excludedPrincipalPolicyFqns } : {}),
  };
}

/** Outcome lines: overall, per suite, and per action, so a diff names exactly what differs. */
function outcomes(r: Golden | TestResults): string[] {
  const out = [`overall ${r.summary.overallResult}`];
  for (const s of r.suites ?? []) {
    out.push(`suite ${s.file}: ${s.summary.overallResult}`);
    for (const tc of s.testCases ?? [])
      for (const p of tc.principals)
        for (const res of p.resources)
          for (const a of res.actions) out.push(`${s.file} > ${tc.name} > ${p.name} > ${res.name} > ${a.name}: ${a.details.result}`);
  }
  return out.sort();
}

describe.skipIf(!present)('Cerbos verify cases', () => {
  const dir = `${root}verify/cases/`;
  const cases = present ? readdirSync(dir).filter((f) => f.endsWith('.yaml.input')).map((f) => f.slice(0, -'.input'.length)).sort() : [];
  let store: CompiledPolicySet | undefined;
  const policies = (): CompiledPolicySet => {
    if (!store) {
      const d = readPolicyDir(`${root}store`);
      store = compilePolicies(d.policies, { schemas: d.schemas });
    }
    return store;
  };
  const gaps = cases.filter((c) => VERIFY_GAPS[c]);
  if (gaps.length) console.warn(`[conformance] verify cases excluded: ${gaps.map((g) => `${g} (${VERIFY_GAPS[g]})`).join('; ')}`);

  it('there are verify cases to run', () => {
    expect(cases.length).toBeGreaterThanOrEqual(45);
  });

  for (const c of cases) {
    const meta = existsSync(dir + c) ? ((parse(readFileSync(dir + c, 'utf8')) ?? {}) as { description?: string }) : {};
    const run = VERIFY_GAPS[c] ? it.skip : it;
    run(`${c}: ${meta.description ?? ''}`, () => {
      const files = parseTxtar(readFileSync(`${dir}${c}.input`, 'utf8'));
      const suites = [...files].filter(([n]) => /_test\.(ya?ml|json)$/.test(n) && !n.split('/').includes('testdata')).map(([name, content]) => ({ name, content }));
      const testdata = new Map([...files].filter(([n]) => n.split('/').includes('testdata')));
      const golden = JSON.parse(readFileSync(`${dir}${c}.golden`, 'utf8')) as Golden;
      // Cerbos's default (non-strict) evaluation, as the golden results were produced.
      const got = runTestSuites({ policies: policies(), suites, testdata, lenient: true, ...runOptions(c) });
      const want = outcomes(golden);
      const have = outcomes(got);
      if (JSON.stringify(want) !== JSON.stringify(have)) console.log(`${c}:\n${formatTestResults(got)}`);
      expect(have).toEqual(want);
    });
  }
});
