// Conformance: the Cerbos engine cases (testdata/engine*/case_*.yaml) against the Cerbos test store, every field
// compared: effect, deciding policy and scope per action, effective derived roles, outputs (values and error text),
// evaluationErrors (expression and message, in Cerbos's order).
//
// Two runs of the same cases:
// - lenient evaluation, the mode Cerbos runs them in (internal/engine/engine_test.go builds its engine with
//   evaluator.Conf.SetDefaults(), whose StrictEvaluation is false): every case must equal Cerbos's expectation.
// - strict evaluation, Baton's default (P-01): every case must equal Cerbos's expectation too, except the inputs in
//   STRICT_GAPS, where P-01 overrides Cerbos's lenient answer. Each gap states the Cerbos behaviour it overrides and
//   Baton's whole answer for the fields that differ; the test asserts exactly that answer (a gap cannot widen).
// No case is skipped: a case is either equal or listed.
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { parse } from 'yaml';
import { describe, expect, it } from 'vitest';
import { createEngine, type Engine } from '../../src/policy/engine.js';
import { readPolicies } from '../../src/policy/fs.node.js';
import type { CheckResult } from '../../src/policy/types.js';
import type { EngineCaseInput } from '../helpers/cerbos.js';

const root = fileURLToPath(new URL('../../../shared/conformance/cerbos/', import.meta.url));
const present = existsSync(root);
if (!present) console.warn(`[conformance] ${root} is absent: Cerbos engine conformance tests are skipped`);

type Effect = { effect: string; policy: string; scope?: string };
type EvalError = { expression: string; message: string };
interface Want {
  requestId: string;
  actions: Record<string, Effect>;
  effectiveDerivedRoles?: string[];
  /** protojson also accepts the proto field name; one case uses it */
  effective_derived_roles?: string[];
  outputs?: { src: string; val?: unknown; action?: string; error?: string }[];
  evaluationErrors?: { celError: EvalError }[];
}

/**
 * Inputs (`dir/file#index`) where strict evaluation (P-01) answers differently from Cerbos's expectation, which Cerbos
 * computed leniently. In each, a condition on a rule that applies cannot be evaluated: Cerbos (lenient) skips that
 * rule and goes on to an ALLOW; Baton (strict) denies the action at that rule, and its walk for the action stops
 * there, so derived roles and conditions that Cerbos evaluated after it are not evaluated (fewer effective derived
 * roles, outputs and evaluationErrors). Cerbos 0.55's own `engine.strictEvaluation: true` answers these inputs exactly
 * as Baton does here (test/policy/conformance-engine-binary.test.ts asks the binary every case input in both modes).
 */
const P01 = 'P-01: a condition that cannot be evaluated on a rule that applies decides DENY (Cerbos, lenient, skips the rule)';
interface StrictAnswer {
  actions?: Record<string, Effect>;
  effectiveDerivedRoles?: string[];
  evaluationErrors?: EvalError[];
  /** Outputs (src, action) of rules after the failing one that Cerbos's lenient walk reached and the strict one does not. */
  withoutOutputs?: { src: string; action: string }[];
}
const STRICT_GAPS: Record<string, { cerbos: string; invariant: string; strict: StrictAnswer }> = {
  'engine/case_04.yaml#1': {
    cerbos:
      'principal policy donald_duck: the ALLOW rule dev_admin (`variables.is_dev_record`, whose variable fails: no such key dev_record) is ' +
      'skipped for both actions, so the resource policy decides: view:public ALLOW, approve DENY',
    invariant: P01,
    strict: {
      actions: {
        'view:public': { effect: 'EFFECT_DENY', policy: 'principal.donald_duck.v20210210', scope: '' },
        approve: { effect: 'EFFECT_DENY', policy: 'principal.donald_duck.v20210210', scope: '' },
      },
      effectiveDerivedRoles: [],
      evaluationErrors: [
        { expression: 'request.resource.attr.dev_record == true', message: 'no such key: dev_record' },
        { expression: 'variables.is_dev_record', message: "undefined field 'is_dev_record'" },
      ],
    },
  },
  'engine/case_14.yaml#0': {
    cerbos: 'view ALLOW: the DENY rule whose condition fails (`R.attr.owner == P.id`: no such key) is skipped',
    invariant: P01,
    strict: { actions: { view: { effect: 'EFFECT_DENY', policy: 'resource.leave_request.v20210210', scope: '' } }, effectiveDerivedRoles: ['any_employee', 'reader'] },
  },
  'engine/case_15.yaml#0': {
    cerbos: 'view ALLOW: the DENY rule whose condition fails (`R.attr.owner == P.id`: no such key) is skipped',
    invariant: P01,
    strict: { actions: { view: { effect: 'EFFECT_DENY', policy: 'resource.leave_request.v20210210', scope: '' } } },
  },
  'engine/case_20.yaml#0': {
    cerbos: 'use ALLOW: the DENY rule whose condition reads the failed variable `V.eng` (`P.attr.is_engineer`: no such key) is skipped',
    invariant: P01,
    strict: { actions: { use: { effect: 'EFFECT_DENY', policy: 'resource.missing_attr.vdefault', scope: '' } } },
  },
  'engine/case_24.yaml#0': {
    cerbos: 'view:public ALLOW at scope acme: the DENY rule at acme.hr whose condition fails (`R.attr.owner == P.id`: no such key) is skipped',
    invariant: P01,
    strict: { actions: { 'view:public': { effect: 'EFFECT_DENY', policy: 'resource.leave_request.vdefault/acme.hr', scope: 'acme.hr' } }, effectiveDerivedRoles: [] },
  },
  'engine/case_25.yaml#0': {
    cerbos: 'party_plan DENY by role policy acme_creator: the ALLOW rule for organiser (`P.attr.in_party_committee == true`: no such key) is skipped',
    invariant: P01,
    strict: { actions: { party_plan: { effect: 'EFFECT_DENY', policy: 'resource.leave_request.vdefault/acme.hr.uk.brighton', scope: 'acme.hr.uk.brighton' } } },
  },
  'engine/case_28.yaml#0': {
    cerbos:
      'create: the role-policy rule city_check (`V.principal_in_home_city`, whose variable fails) counts as not met and emits its ' +
      'conditionNotMet output; the decision (DENY by the role policy) is the same',
    invariant: P01,
    strict: { withoutOutputs: [{ src: 'role.acme_london_employee.vdefault/acme.hr.uk.london#city_check', action: 'create' }] },
  },
  'engine/case_36.yaml#0': {
    cerbos: 'view ALLOW: the DENY rule whose condition fails (`request.resource.attr.public == true`: no such key) is skipped',
    invariant: P01,
    strict: { actions: { view: { effect: 'EFFECT_DENY', policy: 'resource.leave_request.v20210210', scope: '' } } },
  },
};
/** Cases lenient evaluation does not pass: none (it is Cerbos's own mode). Kept empty on purpose. */
const LENIENT_GAPS: Record<string, never> = {};

/** Output order is not part of Cerbos's contract (it differs between role-policy and resource-policy rules). */
const byKey = (a: { src: string; action?: string }, b: { src: string; action?: string }) =>
  `${a.src}\u0000${a.action ?? ''}`.localeCompare(`${b.src}\u0000${b.action ?? ''}`);
/** An output that failed: its error text (Cerbos sends no value; Baton's is null). */
const output = (o: { src: string; action?: string; val?: unknown; error?: string }) =>
  ({ src: o.src, action: o.action, ...(o.error !== undefined ? { error: o.error } : { val: o.val }) });

function normalise(r: CheckResult) {
  return {
    actions: Object.fromEntries(Object.entries(r.actions).map(([a, e]) => [a, { effect: e.effect, policy: e.policy, scope: e.scope }])),
    effectiveDerivedRoles: [...r.effectiveDerivedRoles].sort(),
    outputs: r.outputs.map(output).sort(byKey),
    evaluationErrors: r.evaluationErrors ?? [],
  };
}
function normaliseWant(w: Want) {
  return {
    actions: Object.fromEntries(Object.entries(w.actions).map(([a, e]) => [a, { effect: e.effect, policy: e.policy, scope: e.scope ?? '' }])),
    effectiveDerivedRoles: [...(w.effectiveDerivedRoles ?? w.effective_derived_roles ?? [])].sort(),
    outputs: (w.outputs ?? []).map(output).sort(byKey),
    evaluationErrors: (w.evaluationErrors ?? []).map((e) => e.celError),
  };
}
/** Cerbos's expectation with a strict gap's answer in place of the fields it names. */
function withGap(want: ReturnType<typeof normaliseWant>, gap: StrictAnswer) {
  const dropped = new Set((gap.withoutOutputs ?? []).map((o) => `${o.src}\u0000${o.action}`));
  return {
    ...want,
    actions: { ...want.actions, ...gap.actions },
    outputs: want.outputs.filter((o) => !dropped.has(`${o.src}\u0000${o.action}`)),
    ...(gap.effectiveDerivedRoles ? { effectiveDerivedRoles: [...gap.effectiveDerivedRoles].sort() } : {}),
    ...(gap.evaluationErrors ? { evaluationErrors: gap.evaluationErrors } : {}),
  };
}

const NOW = new Date('2021-04-22T10:05:20.021-05:00');
const sets: { dir: string; lenientScopeSearch: boolean }[] = [
  { dir: 'engine', lenientScopeSearch: false },
  { dir: 'engine_strict_scope_search', lenientScopeSearch: false },
  { dir: 'engine_lenient_scope_search', lenientScopeSearch: true },
];
const cases = present
  ? sets.flatMap(({ dir, lenientScopeSearch }) =>
      readdirSync(`${root}testdata/${dir}`).filter((f) => f.endsWith('.yaml')).sort().map((f) => ({
        id: `${dir}/${f}`,
        lenientScopeSearch,
        tc: parse(readFileSync(`${root}testdata/${dir}/${f}`, 'utf8')) as { description: string; inputs: EngineCaseInput[]; wantOutputs: Want[] },
      })))
  : [];

describe.skipIf(!present)('Cerbos engine conformance', () => {
  const engines = new Map<string, Engine>();
  const engineFor = (lenient: boolean, lenientScopeSearch: boolean) => {
    const k = `${lenient}/${lenientScopeSearch}`;
    let e = engines.get(k);
    if (!e) {
      e = createEngine({ policies: readPolicies(`${root}testdata/store`), lenient, lenientScopeSearch, globals: { environment: 'test' } });
      engines.set(k, e);
    }
    return e;
  };
  const counts = { lenient: { inputs: 0, equal: 0, withErrors: 0 }, strict: { inputs: 0, equal: 0, gaps: 0 } };

  for (const mode of ['lenient', 'strict'] as const) {
    describe(`${mode} evaluation${mode === 'lenient' ? " (Cerbos's test mode)" : ' (Baton\'s default, P-01)'}`, () => {
      for (const { id, lenientScopeSearch, tc } of cases) {
        it(`${id}: ${tc.description}`, () => {
          const engine = engineFor(mode === 'lenient', lenientScopeSearch);
          tc.inputs.forEach((input, i) => {
            const got = engine.check(
              { principal: input.principal, resource: input.resource, actions: input.actions, ...(input.auxData ? { auxData: input.auxData } : {}) },
              { now: NOW },
            );
            const want = normaliseWant(tc.wantOutputs[i]!);
            const gap = mode === 'strict' ? STRICT_GAPS[`${id}#${i}`] : LENIENT_GAPS[`${id}#${i}`];
            expect({ requestId: input.requestId, ...normalise(got) }).toEqual({ requestId: input.requestId, ...(gap ? withGap(want, gap.strict) : want) });
            const c = counts[mode];
            c.inputs++;
            if (gap) counts.strict.gaps++;
            else c.equal++;
            if (mode === 'lenient' && want.evaluationErrors.length > 0) counts.lenient.withErrors++;
          });
        });
      }
    });
  }

  it('every listed gap is an input of a case, strict only, and only ever turns an action into a DENY', () => {
    const inputs = new Set(cases.flatMap(({ id, tc }) => tc.inputs.map((_, i) => `${id}#${i}`)));
    expect(Object.keys(LENIENT_GAPS)).toEqual([]);
    for (const [key, gap] of Object.entries(STRICT_GAPS)) {
      expect(inputs.has(key), key).toBe(true);
      expect(gap.invariant).toMatch(/^P-0[1-5]: /);
      for (const e of Object.values(gap.strict.actions ?? {})) expect(e.effect).toBe('EFFECT_DENY');
      // a dropped output is one Cerbos's expectation has
      const [file, i] = key.split('#') as [string, string];
      const want = cases.find((c) => c.id === file)!.tc.wantOutputs[Number(i)]!;
      for (const o of gap.strict.withoutOutputs ?? []) expect(want.outputs?.some((w) => w.src === o.src && w.action === o.action), `${key} ${o.src}`).toBe(true);
    }
  });

  it('counts: every input compared in both modes, none skipped', () => {
    const files = cases.length;
    const inputs = cases.reduce((n, c) => n + c.tc.inputs.length, 0);
    console.log(
      `[conformance] Cerbos engine cases: ${files} files, ${inputs} check inputs. Lenient (Cerbos's mode): ${counts.lenient.equal}/${counts.lenient.inputs} inputs equal in every field, ` +
        `evaluationErrors included (${counts.lenient.withErrors} inputs carry some). Strict (P-01): ${counts.strict.equal}/${counts.strict.inputs} equal, ${counts.strict.gaps} listed P-01 gaps.`,
    );
    // the per-case tests above ran first (vitest runs a file's tests in order) and stop at their first difference
    expect(counts.lenient).toEqual({ inputs, equal: inputs, withErrors: counts.lenient.withErrors });
    expect(counts.strict).toEqual({ inputs, equal: inputs - Object.keys(STRICT_GAPS).length, gaps: Object.keys(STRICT_GAPS).length });
  });
});
