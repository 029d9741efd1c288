// Runner for Cerbos policy test suites (`*_test.yaml`): fixtures (inline, `testdata/` folders, groups), options
// (now, globals, defaultPolicyVersion, lenientScopeSearch, defaultScope), expected effects and outputs, skip.
// Results mirror Cerbos's TestResults so tooling can compare them directly.
import type { SchemaEnforcement } from './schema-validation.js';
import { parse } from 'yaml';
import * as z from 'zod';
import { NO_NOW, NO_NOW_MESSAGE } from './cel/clock.js';
import { compilePolicies, resourcePolicyKey, type CompiledPolicySet } from './compile.js';
import { createEngine, type Engine } from './engine.js';
import './yaml.js'; // suites and their policies are YAML
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
  /** Only run tests whose name matches; the others are reported as skipped. */
  filter?: RegExp;
  /**
   * Policies left out of the bundle under test (Cerbos FQNs such as `cerbos.resource.leave_request.v20210210`): a
   * test whose principal or resource would be decided by one is reported as skipped.
   */
  excludedResourcePolicyFqns?: readonly string[];
  excludedPrincipalPolicyFqns?: readonly string[];
  /** The directory's `_schemas/` files by name (`readPolicyDir(dir).schemas`): compiled with the policies. */
  schemas?: ReadonlyMap<string, string>;
  /**
   * Schema enforcement while the tests run. Default: `reject` when `schemas` are given (as `cerbos compile` runs tests;
   * its `--ignore-schemas` is `none`), else `none`.
   */
  schemaEnforcement?: SchemaEnforcement;
}

const attr = z.record(z.string(), z.unknown());
const PrincipalFx = z.strictObject({ id: z.string(), roles: z.array(z.string()), attr: attr.optional(), policyVersion: z.string().optional(), scope: z.string().optional() });
const ResourceFx = z.strictObject({ kind: z.string(), id: z.string(), attr: attr.optional(), policyVersion: z.string().optional(), scope: z.string().optional() });
const AuxFx = z.strictObject({ jwt: attr.optional(), jwts: z.record(z.string(), z.strictObject({ claims: attr })).optional() });
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

type FixtureDoc = z.infer<typeof Fixture>;
interface Fixtures {
  principals: Record<string, z.infer<typeof PrincipalFx>>;
  resources: Record<string, z.infer<typeof ResourceFx>>;
  auxData: Record<string, z.infer<typeof AuxFx>>;
  principalGroups: Record<string, { principals: string[] }>;
  resourceGroups: Record<string, { resources: string[] }>;
}
interface TestPlan {
  test: SuiteDoc['tests'][number];
  principals: string[];
  resources: string[];
  /** `${principal}\0${resource}\0${action}` -> expected effect and outputs (src -> value) */
  expected: Map<string, { effect?: string; outputs?: Map<string, unknown> }>;
}
interface SuitePlan {
  suite: SuiteDoc;
  fx: Fixtures;
  tests: TestPlan[];
}

function zodMessage(e: z.ZodError): string {
  return e.issues.map((i) => `${i.path.map(String).join('.') || '$'}: ${i.message}`).join('; ');
}

/** Fixture files of a suite's `testdata/` folder; a group must name fixtures of the same file. */
function loadFixtures(testdata: ReadonlyMap<string, string> | undefined, dir: string): FixtureDoc {
  const fx: FixtureDoc = {};
  if (!testdata) return fx;
  const base = dir ? `${dir}/testdata/` : 'testdata/';
  for (const kind of ['principals', 'resources', 'auxdata'] as const) {
    for (const ext of ['yaml', 'yml', 'json']) {
      const text = testdata.get(`${base}${kind}.${ext}`);
      if (text === undefined) continue;
      const what = kind === 'auxdata' ? 'aux data' : kind;
      const r = Fixture.safeParse(parse(text, { merge: true }) ?? {});
      if (!r.success) throw new Error(`failed to load test fixtures from testdata: failed to load ${what}: ${zodMessage(r.error)}`);
      const parsed = r.data;
      for (const [g, grp] of Object.entries(parsed.principalGroups ?? {}))
        for (const m of grp.principals)
          if (!parsed.principals?.[m]) throw new Error(`failed to load test fixtures from testdata: failed to load ${what}: missing fixture "${m}" referenced in group "${g}"`);
      for (const [g, grp] of Object.entries(parsed.resourceGroups ?? {}))
        for (const m of grp.resources)
          if (!parsed.resources?.[m]) throw new Error(`failed to load test fixtures from testdata: failed to load ${what}: missing fixture "${m}" referenced in group "${g}"`);
      Object.assign(fx, Object.fromEntries(Object.entries(parsed).filter(([, v]) => v !== undefined)));
    }
  }
  return fx;
}

const uniq = (xs: string[]): string[] => [...new Set(xs)];

/** Parse and validate a suite completely before anything runs (as Cerbos does): any problem errors the whole suite. */
function planSuite(src: PolicySource, testdata: ReadonlyMap<string, string> | undefined): SuitePlan {
  let doc: unknown;
  try {
    doc = parse(src.content, { merge: true });
  } catch (e) {
    throw new Error(`failed to load test suite: ${(e as Error).message}`);
  }
  const parsed = Suite.safeParse(doc);
  if (!parsed.success) throw new Error(`failed to load test suite: ${zodMessage(parsed.error)}`);
  const suite = parsed.data;
  if (badNow(suite.options)) throw new Error(`failed to load test suite: options.now: invalid timestamp value "${String(suite.options!.now)}"`);
  const fd = loadFixtures(testdata, dirOf(src.name));
  const fx: Fixtures = {
    principals: { ...fd.principals, ...suite.principals },
    resources: { ...fd.resources, ...suite.resources },
    auxData: { ...fd.auxData, ...suite.auxData },
    principalGroups: { ...fd.principalGroups, ...suite.principalGroups },
    resourceGroups: { ...fd.resourceGroups, ...suite.resourceGroups },
  };
  const names = new Set<string>();
  const tests = suite.tests.map((test, ti) => {
    if (names.has(test.name)) throw new Error(`Invalid test suite: another test named ${test.name} already exists`);
    names.add(test.name);
    return planTest(test, ti, fx);
  });
  return { suite, fx, tests };
}

const badNow = (o: OptionsDoc | undefined) => o?.now !== undefined && Number.isNaN(new Date(o.now).getTime());

type TestDoc = SuiteDoc['tests'][number];
type ExpectationDoc = NonNullable<TestDoc['expected']>[number];

/** One test of a suite: its principals and resources (groups expanded, each known) and what is expected of each. */
function planTest(test: TestDoc, ti: number, fx: Fixtures): TestPlan {
  const bad = (m: string): never => {
    throw new Error(`Failed to load the test suite: invalid test "${test.name}": ${m}`);
  };
  if (badNow(test.options)) throw new Error(`failed to load test suite: tests[${ti}].options.now: invalid timestamp value "${String(test.options!.now)}"`);
  const expandP = (many: string[] = [], groups: string[] = []) =>
    uniq([...many, ...groups.flatMap((g) => fx.principalGroups[g]?.principals ?? bad(`principal group "${g}" not found`))]);
  const expandR = (many: string[] = [], groups: string[] = []) =>
    uniq([...many, ...groups.flatMap((g) => fx.resourceGroups[g]?.resources ?? bad(`resource group "${g}" not found`))]);
  const principals = expandP(test.input.principals, test.input.principalGroups);
  const resources = expandR(test.input.resources, test.input.resourceGroups);
  for (const p of principals) if (!fx.principals[p]) bad(`principal "${p}" not found`);
  for (const r of resources) if (!fx.resources[r]) bad(`resource "${r}" not found`);
  if (test.input.auxData !== undefined && !fx.auxData[test.input.auxData]) bad(`auxData "${test.input.auxData}" not found`);
  const actions = new Set(test.input.actions);
  const expected: TestPlan['expected'] = new Map();
  (test.expected ?? []).forEach((ex, ei) => {
    checkExpectationShape(ex, `tests[${ti}].expected[${ei}]`);
    const missing = Object.keys(ex.actions).filter((a) => !actions.has(a));
    if (missing.length) bad(`found expectations for actions that do not exist in the input actions list: [${missing.join(' ')}]`);
    const missingOut = uniq((ex.outputs ?? []).map((o) => o.action).filter((a) => !actions.has(a)));
    if (missingOut.length) bad(`found output expectations for actions that are not in the input actions list: [${missingOut.join(' ')}]`);
    for (const p of expandP(ex.principal !== undefined ? [ex.principal, ...(ex.principals ?? [])] : ex.principals, ex.principalGroups)) {
      for (const r of expandR(ex.resource !== undefined ? [ex.resource, ...(ex.resources ?? [])] : ex.resources, ex.resourceGroups)) {
        if (!principals.includes(p) || !resources.includes(r))
          bad(`found an expectation for principal "${p}" and resource "${r}", but at least one of these is not present in input`);
        for (const a of actions) addExpectation(expected, ex, p, r, a, bad);
      }
    }
  });
  return { test, principals, resources, expected };
}

function checkExpectationShape(ex: ExpectationDoc, at: string): void {
  const pCount = [ex.principal !== undefined, ex.principals !== undefined, ex.principalGroups !== undefined].filter(Boolean).length;
  const rCount = [ex.resource !== undefined, ex.resources !== undefined, ex.resourceGroups !== undefined].filter(Boolean).length;
  if (pCount === 0) throw new Error(`failed to load test suite: ${at}: principal, principals, or principalGroups must be present`);
  if (ex.principal !== undefined && ex.principals !== undefined) throw new Error(`failed to load test suite: ${at}: principal and principals may not both be present`);
  if (rCount === 0) throw new Error(`failed to load test suite: ${at}: resource, resources, or resourceGroups must be present`);
  if (ex.resource !== undefined && ex.resources !== undefined) throw new Error(`failed to load test suite: ${at}: resource and resources may not both be present`);
}

/** Adds what `ex` expects of principal `p` doing `a` on resource `r`; contradicting an earlier expectation is refused. */
function addExpectation(expected: TestPlan['expected'], ex: ExpectationDoc, p: string, r: string, a: string, bad: (m: string) => never): void {
  const key = `${p}\u0000${r}\u0000${a}`;
  const cur = expected.get(key) ?? {};
  const eff = ex.actions[a];
  if (eff !== undefined) {
    if (cur.effect !== undefined && cur.effect !== eff) bad(`found inconsistent expectations for principal "${p}" performing action "${a}" on resource "${r}"`);
    cur.effect = eff;
  }
  for (const o of ex.outputs ?? []) {
    if (o.action !== a) continue;
    cur.outputs ??= new Map();
    for (const w of o.expected) {
      if (cur.outputs.has(w.src) && !deepEqual(cur.outputs.get(w.src), w.val))
        bad(`found inconsistent expectations for output "${w.src}" from principal "${p}" performing action "${a}" on resource "${r}"`);
      cur.outputs.set(w.src, w.val);
    }
  }
  if (cur.effect !== undefined || cur.outputs) expected.set(key, cur);
}

/** What running suites shares: the options, one engine per distinct engine configuration, the excluded policies. */
class Run {
  private readonly engines = new Map<string, Engine>();
  readonly exclusions: { resource: Set<string>; principal: Set<string> };
  constructor(
    readonly opts: RunTestSuitesOptions,
    private readonly compiled: CompiledPolicySet,
  ) {
    this.exclusions = {
      resource: new Set((opts.excludedResourcePolicyFqns ?? []).map((f) => f.replace(/^cerbos\./, ''))),
      principal: new Set((opts.excludedPrincipalPolicyFqns ?? []).map((f) => f.replace(/^cerbos\./, ''))),
    };
  }
  engineFor(o: OptionsDoc, strict: boolean): Engine {
    const key = JSON.stringify([o.globals ?? {}, o.defaultPolicyVersion ?? '', o.lenientScopeSearch === true, strict]);
    let e = this.engines.get(key);
    if (!e) {
      e = createEngine({
        policies: this.compiled,
        lenient: !strict,
        ...(o.globals ? { globals: o.globals } : {}),
        ...(o.defaultPolicyVersion ? { defaultPolicyVersion: o.defaultPolicyVersion } : {}),
        lenientScopeSearch: o.lenientScopeSearch === true,
        schemaEnforcement: this.opts.schemaEnforcement ?? (this.opts.schemas ? 'reject' : 'none'),
      });
      this.engines.set(key, e);
    }
    return e;
  }
}

/** Run Cerbos-format test suites against a policy set. Throws PolicyLoadError if the policies do not load. */
export function runTestSuites(opts: RunTestSuitesOptions): TestResults {
  const compiled: CompiledPolicySet = Array.isArray(opts.policies)
    ? compilePolicies(opts.policies as readonly PolicySource[], opts.schemas ? { schemas: opts.schemas } : {})
    : (opts.policies as CompiledPolicySet);
  const run = new Run(opts, compiled);
  const suites: SuiteResult[] = [];
  const all: TestResult[] = [];
  for (const src of [...opts.suites].sort((a, b) => a.name.localeCompare(b.name))) {
    let plan: SuitePlan;
    try {
      plan = planSuite(src, opts.testdata);
    } catch (e) {
      const summary = summarise(['RESULT_ERRORED']);
      suites.push({ file: src.name, name: src.name, summary, testCases: [], error: (e as Error).message });
      all.push('RESULT_ERRORED');
      continue;
    }
    const { suite } = plan;
    if (suite.skip === true) {
      suites.push({ file: src.name, name: suite.name, ...(suite.description ? { description: suite.description } : {}), summary: summarise([]), testCases: [], ...(suite.skipReason ? { skipReason: suite.skipReason } : {}) });
      continue;
    }
    const suiteResults: TestResult[] = [];
    const testCases = plan.tests.map((t) => runTest(run, plan, t, suiteResults));
    all.push(...suiteResults);
    suites.push({ file: src.name, name: suite.name, ...(suite.description ? { description: suite.description } : {}), summary: summarise(suiteResults), testCases });
  }
  return { suites, summary: summarise(all) };
}

/** One test: every principal against every resource; each action's result is also added to `results`. */
function runTest(run: Run, plan: SuitePlan, t: TestPlan, results: TestResult[]): TestCaseResult {
  const test = t.test;
  const o: OptionsDoc = { ...plan.suite.options, ...test.options };
  let skipReason: string | undefined;
  let skip = false;
  if (test.skip === true) {
    skip = true;
    skipReason = test.skipReason;
  } else if (run.opts.filter && !run.opts.filter.test(test.name)) {
    skip = true;
    skipReason = 'Test name did not match the provided pattern';
  }
  const tc: TestCaseResult = { name: test.name, principals: [] };
  for (const pName of t.principals) {
    const pr = { name: pName, resources: [] as TestCaseResult['principals'][number]['resources'] };
    for (const rName of t.resources) {
      const actions = runPair(run, plan.fx, t, o, pName, rName, skip ? (skipReason ?? '') : undefined);
      for (const a of actions) results.push(a.details.result);
      pr.resources.push({ name: rName, actions });
    }
    tc.principals.push(pr);
  }
  return tc;
}

/** One principal and one resource of a test: the check (unless skipped or excluded), then each action's result. */
function runPair(run: Run, fx: Fixtures, t: TestPlan, o: OptionsDoc, pName: string, rName: string, skipped: string | undefined): { name: string; details: ActionDetails }[] {
  const test = t.test;
  const now = o.now !== undefined ? new Date(o.now) : undefined;
  let check: CheckResult | undefined;
  let error: string | undefined;
  let actionSkip = skipped;
  const principal = fx.principals[pName] as Principal;
  const resource = { ...(fx.resources[rName] as Resource) };
  if (resource.scope === undefined && o.defaultScope) resource.scope = o.defaultScope;
  if (actionSkip === undefined) {
    const pv = principal.policyVersion || o.defaultPolicyVersion || 'default';
    const rv = resource.policyVersion || o.defaultPolicyVersion || 'default';
    if (run.exclusions.principal.has(`principal.${principal.id}.v${pv}`)) actionSkip = 'Principal matched a policy that was excluded from the bundle';
    else if (run.exclusions.resource.has(resourcePolicyKey(resource.kind, rv, resource.scope ?? ''))) actionSkip = 'Resource matched a policy that was excluded from the bundle';
  }
  if (actionSkip === undefined) {
    try {
      const aux: AuxData | undefined = test.input.auxData ? fx.auxData[test.input.auxData] : undefined;
      const strict = o.strictEvaluation !== undefined ? o.strictEvaluation : run.opts.lenient !== true;
      check = run.engineFor(o, strict).check({ principal, resource, actions: test.input.actions, ...(aux ? { auxData: aux } : {}) }, { now: now ?? NO_NOW });
      if (!now && check.evaluationErrors?.some((e) => e.message.includes(NO_NOW_MESSAGE)))
        throw new Error('a policy used a time-based condition, but `now` was not provided in the test options');
    } catch (e) {
      error = (e as Error).message;
    }
  }
  return test.input.actions.map((action) => {
    const exp = t.expected.get(`${pName}\u0000${rName}\u0000${action}`);
    if (actionSkip !== undefined) return { name: action, details: { result: 'RESULT_SKIPPED', ...(actionSkip ? { skipReason: actionSkip } : {}) } };
    if (error !== undefined || !check) return { name: action, details: { result: 'RESULT_ERRORED', error: error ?? 'no result' } };
    return { name: action, details: judge(check, action, exp) };
  });
}

/** An action's result against what the test expects (its effect, default DENY, and its outputs). */
function judge(check: CheckResult, action: string, exp: { effect?: string; outputs?: Map<string, unknown> } | undefined): ActionDetails {
  const expEffect = exp?.effect ?? 'EFFECT_DENY';
  const actual = check.actions[action]!.effect;
  const outs = check.outputs.filter((x) => x.action === action);
  const outFailures: OutputFailure[] = [];
  for (const [srcName, val] of exp?.outputs ?? []) {
    const got = outs.find((x) => x.src === srcName);
    if (!got) outFailures.push({ src: srcName, missing: { expected: val } });
    else if (got.error !== undefined) outFailures.push({ src: srcName, errored: { expected: val, error: got.error } });
    else if (!deepEqual(got.val, val)) outFailures.push({ src: srcName, mismatched: { expected: val, actual: got.val } });
  }
  if (actual === expEffect && outFailures.length === 0)
    return { result: 'RESULT_PASSED', success: { effect: actual, ...(outs.length > 0 && exp?.outputs?.size ? { outputs: outs } : {}) } };
  return { result: 'RESULT_FAILED', failure: { expected: expEffect, actual, ...(outFailures.length ? { outputs: outFailures } : {}) } };
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
