// Runner for Cerbos policy test suites (`*_test.yaml`): fixtures (inline, `testdata/` folders, groups), options
// (now, globals, defaultPolicyVersion, lenientScopeSearch, defaultScope), expected effects and outputs, skip.
// Results mirror Cerbos's TestResults so tooling can compare them directly.
import { parse } from 'yaml';
import * as z from 'zod';
import { compilePolicies, type CompiledPolicySet } from './compile.js';
import { createEngine, type Engine } from './engine.js';
import type { AuxData, CheckResult, OutputEntry, PolicySource, Principal, Resource } from './types.js';

export type TestResult = 'RESULT_SKIPPED' | 'RESULT_PASSED' | 'RESULT_FAILED' | 'RESULT_ERRORED';
export interface TestTally { result: TestResult; count: number }
export interface TestSummary { overallResult: TestResult; testsCount: number; resultCounts: TestTally[] }
export interface OutputFailure {
  src: string;
  missing?: { expected: unknown };
  mismatched?: { expected: unknown; actual: unknown };
  errored?: { expected: unknown; error: string };
}
export interface ActionDetails {
  result: TestResult;
  success?: { effect: string; outputs?: OutputEntry[] };
  failure?: { expected: string; actual: string; outputs?: OutputFailure[] };
  skipReason?: string;
  error?: string;
}
export interface TestCaseResult {
  name: string;
  principals: { name: string; resources: { name: string; actions: { name: string; details: ActionDetails }[] }[] }[];
}
export interface SuiteResult {
  file: string;
  name: string;
  description?: string;
  summary: TestSummary;
  testCases: TestCaseResult[];
  skipReason?: string;
  error?: string;
}
export interface TestResults { suites: SuiteResult[]; summary: TestSummary }

export interface RunTestSuitesOptions {
  /** Policy files, or an already compiled set. */
  policies: readonly PolicySource[] | CompiledPolicySet;
  /** Suite files (`*_test.yaml`); `name` is the path relative to the policy root, `/`-separated. */
  suites: readonly PolicySource[];
  /** Fixture files under `testdata/` folders, keyed by relative path (`dir/testdata/principals.yaml`). */
  testdata?: ReadonlyMap<string, string>;
  /** Cerbos's lenient condition errors (default false: Baton's fail-closed evaluation). */
  lenient?: boolean;
  /** Only run tests whose name matches. */
  filter?: RegExp;
}

const attr = z.record(z.string(), z.unknown());
const PrincipalFx = z.object({ id: z.string(), roles: z.array(z.string()), attr: attr.optional(), policyVersion: z.string().optional(), scope: z.string().optional() });
const ResourceFx = z.object({ kind: z.string(), id: z.string(), attr: attr.optional(), policyVersion: z.string().optional(), scope: z.string().optional() });
const AuxFx = z.object({ jwt: attr.optional() });
const Options = z.object({
  now: z.union([z.string(), z.date()]).optional(),
  globals: attr.optional(),
  defaultPolicyVersion: z.string().optional(),
  defaultScope: z.string().optional(),
  lenientScopeSearch: z.boolean().optional(),
  strictEvaluation: z.boolean().optional(),
});
const names = z.array(z.string().min(1));
const OutputExp = z.object({ action: z.string(), expected: z.array(z.object({ src: z.string(), val: z.unknown() })) });
const Expectation = z.object({
  principal: z.string().optional(),
  principals: names.optional(),
  principalGroups: names.optional(),
  resource: z.string().optional(),
  resources: names.optional(),
  resourceGroups: names.optional(),
  actions: z.record(z.string(), z.enum(['EFFECT_ALLOW', 'EFFECT_DENY'])),
  outputs: z.array(OutputExp).optional(),
});
const TestTable = z.object({
  name: z.string().min(1),
  description: z.string().optional(),
  skip: z.boolean().optional(),
  skipReason: z.string().optional(),
  options: Options.optional(),
  input: z.object({
    principals: names.optional(),
    principalGroups: names.optional(),
    resources: names.optional(),
    resourceGroups: names.optional(),
    actions: names.min(1),
    auxData: z.string().optional(),
  }),
  expected: z.array(Expectation).optional(),
});
const Suite = z.object({
  $schema: z.string().optional(),
  name: z.string().min(1),
  description: z.string().optional(),
  skip: z.boolean().optional(),
  skipReason: z.string().optional(),
  options: Options.optional(),
  principals: z.record(z.string(), PrincipalFx).optional(),
  resources: z.record(z.string(), ResourceFx).optional(),
  auxData: z.record(z.string(), AuxFx).optional(),
  principalGroups: z.record(z.string(), z.object({ principals: names })).optional(),
  resourceGroups: z.record(z.string(), z.object({ resources: names })).optional(),
  tests: z.array(TestTable).min(1),
});
type SuiteDoc = z.infer<typeof Suite>;
type OptionsDoc = z.infer<typeof Options>;

const Fixture = z.object({
  principals: z.record(z.string(), PrincipalFx).optional(),
  resources: z.record(z.string(), ResourceFx).optional(),
  auxData: z.record(z.string(), AuxFx).optional(),
  principalGroups: z.record(z.string(), z.object({ principals: names })).optional(),
  resourceGroups: z.record(z.string(), z.object({ resources: names })).optional(),
});

function summarise(results: TestResult[]): TestSummary {
  const counts = new Map<TestResult, number>();
  for (const r of results) counts.set(r, (counts.get(r) ?? 0) + 1);
  const order: TestResult[] = ['RESULT_SKIPPED', 'RESULT_PASSED', 'RESULT_FAILED', 'RESULT_ERRORED'];
  let overall: TestResult = results.length === 0 ? 'RESULT_SKIPPED' : 'RESULT_PASSED';
  if (results.length > 0 && results.every((r) => r === 'RESULT_SKIPPED')) overall = 'RESULT_SKIPPED';
  if (counts.has('RESULT_FAILED')) overall = 'RESULT_FAILED';
  if (counts.has('RESULT_ERRORED')) overall = 'RESULT_ERRORED';
  return {
    overallResult: overall,
    testsCount: results.length,
    resultCounts: order.filter((r) => counts.has(r)).map((r) => ({ result: r, count: counts.get(r)! })),
  };
}

function dirOf(path: string): string {
  const i = path.lastIndexOf('/');
  return i < 0 ? '' : path.slice(0, i);
}

function loadFixtures(testdata: ReadonlyMap<string, string> | undefined, dir: string) {
  const fx: z.infer<typeof Fixture> = {};
  if (!testdata) return fx;
  const base = dir ? `${dir}/testdata/` : 'testdata/';
  for (const kind of ['principals', 'resources', 'auxdata'] as const) {
    for (const ext of ['yaml', 'yml', 'json']) {
      const text = testdata.get(`${base}${kind}.${ext}`);
      if (text === undefined) continue;
      const parsed = Fixture.parse(parse(text, { merge: true }));
      Object.assign(fx, Object.fromEntries(Object.entries(parsed).filter(([, v]) => v !== undefined)));
    }
  }
  return fx;
}

function deepEqual(a: unknown, b: unknown): boolean {
  if (a === b) return true;
  if (typeof a === 'number' && typeof b === 'number') return a === b;
  if (typeof a === 'bigint' || typeof b === 'bigint') return Number(a) === Number(b);
  if (Array.isArray(a) && Array.isArray(b)) return a.length === b.length && a.every((x, i) => deepEqual(x, b[i]));
  if (a && b && typeof a === 'object' && typeof b === 'object' && !Array.isArray(a) && !Array.isArray(b)) {
    const ka = Object.keys(a as object);
    const kb = Object.keys(b as object);
    return ka.length === kb.length && ka.every((k) => deepEqual((a as Record<string, unknown>)[k], (b as Record<string, unknown>)[k]));
  }
  return false;
}

/** Run Cerbos-format test suites against a policy set. Throws PolicyLoadError if the policies do not load. */
export function runTestSuites(opts: RunTestSuitesOptions): TestResults {
  const compiled: CompiledPolicySet = Array.isArray(opts.policies)
    ? compilePolicies(opts.policies as readonly PolicySource[])
    : (opts.policies as CompiledPolicySet);
  const engines = new Map<string, Engine>();
  const engineFor = (o: OptionsDoc) => {
    const key = JSON.stringify([o.globals ?? {}, o.defaultPolicyVersion ?? '', o.lenientScopeSearch === true]);
    let e = engines.get(key);
    if (!e) {
      e = createEngine({
        policies: compiled,
        lenient: opts.lenient === true,
        ...(o.globals ? { globals: o.globals } : {}),
        ...(o.defaultPolicyVersion ? { defaultPolicyVersion: o.defaultPolicyVersion } : {}),
        lenientScopeSearch: o.lenientScopeSearch === true,
      });
      engines.set(key, e);
    }
    return e;
  };

  const suites: SuiteResult[] = [];
  const all: TestResult[] = [];
  for (const src of [...opts.suites].sort((a, b) => a.name.localeCompare(b.name))) {
    let suite: SuiteDoc;
    let fx: ReturnType<typeof loadFixtures>;
    try {
      const parsed = Suite.safeParse(parse(src.content, { merge: true }));
      if (!parsed.success) {
        const iss = parsed.error.issues[0]!;
        throw new Error(`invalid test suite at $.${iss.path.join('.')}: ${iss.message}`);
      }
      suite = parsed.data;
      fx = loadFixtures(opts.testdata, dirOf(src.name));
    } catch (e) {
      const summary = summarise(['RESULT_ERRORED']);
      suites.push({ file: src.name, name: src.name, summary, testCases: [], error: (e as Error).message });
      all.push('RESULT_ERRORED');
      continue;
    }
    const principals = { ...fx.principals, ...suite.principals };
    const resources = { ...fx.resources, ...suite.resources };
    const auxData = { ...fx.auxData, ...suite.auxData };
    const pGroups = { ...fx.principalGroups, ...suite.principalGroups };
    const rGroups = { ...fx.resourceGroups, ...suite.resourceGroups };
    const expandP = (one?: string, many?: string[], groups?: string[]) => [
      ...(one ? [one] : []),
      ...(many ?? []),
      ...(groups ?? []).flatMap((g) => pGroups[g]?.principals ?? [`<unknown principal group ${g}>`]),
    ];
    const expandR = (one?: string, many?: string[], groups?: string[]) => [
      ...(one ? [one] : []),
      ...(many ?? []),
      ...(groups ?? []).flatMap((g) => rGroups[g]?.resources ?? [`<unknown resource group ${g}>`]),
    ];

    const suiteResults: TestResult[] = [];
    const testCases: TestCaseResult[] = [];
    for (const test of suite.tests) {
      if (opts.filter && !opts.filter.test(test.name)) continue;
      const o: OptionsDoc = { ...suite.options, ...test.options };
      const skip = suite.skip === true || test.skip === true;
      const skipReason = suite.skip ? suite.skipReason : test.skipReason;
      const now = o.now !== undefined ? new Date(o.now) : new Date();
      const tc: TestCaseResult = { name: test.name, principals: [] };
      const expected = new Map<string, { effect: string; outputs?: z.infer<typeof OutputExp>[] }>();
      for (const ex of test.expected ?? []) {
        for (const p of expandP(ex.principal, ex.principals, ex.principalGroups))
          for (const r of expandR(ex.resource, ex.resources, ex.resourceGroups))
            for (const [a, eff] of Object.entries(ex.actions))
              expected.set(`${p}\u0000${r}\u0000${a}`, { effect: eff, ...(ex.outputs ? { outputs: ex.outputs.filter((x) => x.action === a) } : {}) });
      }
      for (const pName of expandP(undefined, test.input.principals, test.input.principalGroups)) {
        const pr = { name: pName, resources: [] as TestCaseResult['principals'][number]['resources'] };
        for (const rName of expandR(undefined, test.input.resources, test.input.resourceGroups)) {
          const rr = { name: rName, actions: [] as { name: string; details: ActionDetails }[] };
          let check: CheckResult | undefined;
          let error: string | undefined;
          if (!skip) {
            try {
              const principal = principals[pName] as Principal | undefined;
              const resourceFx = resources[rName] as Resource | undefined;
              if (!principal) throw new Error(`principal '${pName}' not found`);
              if (!resourceFx) throw new Error(`resource '${rName}' not found`);
              const resource = { ...resourceFx };
              if (resource.scope === undefined && o.defaultScope) resource.scope = o.defaultScope;
              let aux: AuxData | undefined;
              if (test.input.auxData) {
                aux = auxData[test.input.auxData];
                if (!aux) throw new Error(`auxData '${test.input.auxData}' not found`);
              }
              check = engineFor(o).check({ principal, resource, actions: test.input.actions, ...(aux ? { auxData: aux } : {}) }, { now });
            } catch (e) {
              error = (e as Error).message;
            }
          }
          for (const action of test.input.actions) {
            let details: ActionDetails;
            const exp = expected.get(`${pName}\u0000${rName}\u0000${action}`);
            const expEffect = exp?.effect ?? 'EFFECT_DENY';
            if (skip) details = { result: 'RESULT_SKIPPED', ...(skipReason ? { skipReason } : {}) };
            else if (error !== undefined || !check) details = { result: 'RESULT_ERRORED', error: error ?? 'no result' };
            else {
              const actual = check.actions[action]!.effect;
              const outs = check.outputs.filter((x) => x.action === action);
              const outFailures: OutputFailure[] = [];
              for (const oe of exp?.outputs ?? []) {
                for (const want of oe.expected) {
                  const got = outs.find((x) => x.src === want.src);
                  if (!got) outFailures.push({ src: want.src, missing: { expected: want.val } });
                  else if (got.error !== undefined) outFailures.push({ src: want.src, errored: { expected: want.val, error: got.error } });
                  else if (!deepEqual(got.val, want.val)) outFailures.push({ src: want.src, mismatched: { expected: want.val, actual: got.val } });
                }
              }
              if (actual === expEffect && outFailures.length === 0)
                details = { result: 'RESULT_PASSED', success: { effect: actual, ...(outs.length > 0 && exp?.outputs?.length ? { outputs: outs } : {}) } };
              else details = { result: 'RESULT_FAILED', failure: { expected: expEffect, actual, ...(outFailures.length ? { outputs: outFailures } : {}) } };
            }
            suiteResults.push(details.result);
            rr.actions.push({ name: action, details });
          }
          pr.resources.push(rr);
        }
        tc.principals.push(pr);
      }
      testCases.push(tc);
    }
    const summary = summarise(suiteResults);
    all.push(...suiteResults);
    suites.push({
      file: src.name,
      name: suite.name,
      ...(suite.description ? { description: suite.description } : {}),
      summary,
      testCases,
      ...(suite.skip && suite.skipReason ? { skipReason: suite.skipReason } : {}),
    });
  }
  return { suites, summary: summarise(all) };
}

/** A readable, line-oriented summary of test results (failures in detail). */
export function formatTestResults(results: TestResults): string {
  const lines: string[] = [];
  for (const s of results.suites) {
    lines.push(`${s.summary.overallResult.replace('RESULT_', '')}  ${s.file} (${s.name})${s.error ? `: ${s.error}` : ''}`);
    for (const tc of s.testCases)
      for (const p of tc.principals)
        for (const r of p.resources)
          for (const a of r.actions) {
            const d = a.details;
            if (d.result === 'RESULT_FAILED') {
              lines.push(`  FAIL  ${tc.name} > ${p.name} > ${r.name} > ${a.name}: expected ${d.failure!.expected}, got ${d.failure!.actual}`);
              for (const o of d.failure!.outputs ?? []) lines.push(`        output ${o.src}: ${JSON.stringify(o.missing ?? o.mismatched ?? o.errored)}`);
            } else if (d.result === 'RESULT_ERRORED') lines.push(`  ERROR ${tc.name} > ${p.name} > ${r.name} > ${a.name}: ${d.error}`);
          }
  }
  const c = (r: TestResult) => results.summary.resultCounts.find((x) => x.result === r)?.count ?? 0;
  lines.push(
    `${results.summary.testsCount} tests: ${c('RESULT_PASSED')} passed, ${c('RESULT_FAILED')} failed, ${c('RESULT_ERRORED')} errored, ${c('RESULT_SKIPPED')} skipped => ${results.summary.overallResult.replace('RESULT_', '')}`,
  );
  return lines.join('\n');
}
