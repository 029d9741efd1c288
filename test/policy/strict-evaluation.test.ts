// Where an evaluation error goes (P-01): under strict evaluation a condition that cannot be evaluated denies the action,
// whatever combinator holds it (all, any, none, nested), wherever it is (rule, derived role, variable, runtime); an
// output that fails never changes a decision. Lenient evaluation (Cerbos's default): a failing expression is false.
// The same shapes run against the real Cerbos binary in the differential test (generated policy sets).
import { describe, expect, it } from 'vitest';
import { createEngine } from '../../src/policy/engine.js';
import type { CheckInput } from '../../src/policy/types.js';
import '../../src/policy/yaml.js'; // the policies below are YAML text

const doc = (body: string) => ({ name: 'doc.yaml', content: `apiVersion: api.cerbos.dev/v1\n${body}` });
/** One ALLOW rule for role `user` on `read` with `condition`, plus what `extra` adds to the policy. */
const allowIf = (condition: string, extra = '') =>
  doc(`resourcePolicy:\n  resource: doc\n  version: default\n${extra}  rules:\n    - actions: [read]\n      effect: EFFECT_ALLOW\n      roles: [user]\n      condition:\n        match:\n${condition}`);
const input = (attr: Record<string, unknown>): CheckInput => ({ principal: { id: 'u', roles: ['user'] }, resource: { kind: 'doc', id: 'd', attr }, actions: ['read'] });
const effects = (policies: { name: string; content: string }[], attr: Record<string, unknown>) => ({
  strict: createEngine({ policies }).check(input(attr)).actions.read,
  lenient: createEngine({ policies, lenient: true }).check(input(attr)).actions.read!.effect,
});

// `R.attr.n > 1` fails when n is a string (or missing); with n: 0 it is merely false.
const FAILS = '          expr: R.attr.n > 1\n';
const cases: { name: string; cond: string; lenient: 'EFFECT_ALLOW' | 'EFFECT_DENY' }[] = [
  { name: 'none', cond: `          none:\n            of:\n              - expr: R.attr.n > 1\n`, lenient: 'EFFECT_ALLOW' },
  { name: 'none after a false expression', cond: `          none:\n            of:\n              - expr: R.attr.kind == "x"\n              - expr: R.attr.n > 1\n`, lenient: 'EFFECT_ALLOW' },
  { name: 'any after a false expression', cond: `          any:\n            of:\n              - expr: R.attr.kind == "x"\n              - expr: R.attr.n > 1\n              - expr: R.attr.kind == "doc"\n`, lenient: 'EFFECT_ALLOW' },
  { name: 'all', cond: `          all:\n            of:\n              - expr: R.attr.kind == "doc"\n              - expr: R.attr.n > 1\n`, lenient: 'EFFECT_DENY' },
  { name: 'none nested in all nested in any', cond: `          any:\n            of:\n              - expr: R.attr.kind == "x"\n              - all:\n                  of:\n                    - expr: R.attr.kind == "doc"\n                    - none:\n                        of:\n                          - expr: R.attr.n > 1\n`, lenient: 'EFFECT_ALLOW' },
  { name: 'an expression', cond: FAILS, lenient: 'EFFECT_DENY' },
];

describe('issue 10 finding 14: strict evaluation fails closed in every combinator', () => {
  for (const c of cases) {
    it(`${c.name}: a failing expression denies (strict); is false (lenient)`, () => {
      const e = effects([allowIf(c.cond)], { kind: 'doc', n: 'high' });
      expect(e.strict).toEqual({ effect: 'EFFECT_DENY', policy: 'resource.doc.vdefault', scope: '' });
      expect(e.lenient).toBe(c.lenient);
      // the same condition evaluated without failure decides by its value (n: 0 makes `n > 1` false)
      expect(effects([allowIf(c.cond)], { kind: 'doc', n: 0 }).strict!.effect).toBe(c.lenient);
    });
  }

  it('a short-circuit before the failing expression decides (any: an earlier true; all: an earlier false)', () => {
    const anyFirst = `          any:\n            of:\n              - expr: R.attr.kind == "doc"\n              - expr: R.attr.n > 1\n`;
    const allFirst = `          all:\n            of:\n              - expr: R.attr.kind == "x"\n              - expr: R.attr.n > 1\n`;
    expect(effects([allowIf(anyFirst)], { kind: 'doc' }).strict!.effect).toBe('EFFECT_ALLOW');
    expect(effects([allowIf(allFirst)], { kind: 'doc' }).strict!.effect).toBe('EFFECT_DENY');
  });

  it('a condition that is not a bool is false, not a failure (Cerbos 0.55)', () => {
    const e = effects([allowIf(`          none:\n            of:\n              - expr: R.attr.flag\n`)], { flag: 'yes' });
    expect(e.strict!.effect).toBe('EFFECT_ALLOW');
  });

  it('through a variable: the failing variable is left unset and the condition reading it denies', () => {
    const p = allowIf(`          none:\n            of:\n              - expr: V.big\n`, '  variables:\n    local:\n      big: R.attr.n > 1\n');
    const r = createEngine({ policies: [p] }).check(input({ n: 'high' }));
    expect(r.actions.read!.effect).toBe('EFFECT_DENY');
    expect(r.evaluationErrors?.map((x) => x.expression).sort()).toEqual(['R.attr.n > 1', 'V.big']);
    expect(effects([p], { n: 'high' }).lenient).toBe('EFFECT_ALLOW');
  });

  it('in a derived role: a rule through a derived role whose condition fails denies', () => {
    const dr = { name: 'dr.yaml', content: 'apiVersion: api.cerbos.dev/v1\nderivedRoles:\n  name: common\n  definitions:\n    - name: small\n      parentRoles: [user]\n      condition:\n        match:\n          none:\n            of:\n              - expr: R.attr.n > 1\n' };
    const rp = doc('resourcePolicy:\n  resource: doc\n  version: default\n  importDerivedRoles: [common]\n  rules:\n    - actions: [read]\n      effect: EFFECT_ALLOW\n      derivedRoles: [small]\n');
    expect(effects([dr, rp], { n: 'high' })).toEqual({ strict: { effect: 'EFFECT_DENY', policy: 'resource.doc.vdefault', scope: '' }, lenient: 'EFFECT_ALLOW' });
  });

  it('an output that fails is reported with its error and never changes the decision', () => {
    const p = doc('resourcePolicy:\n  resource: doc\n  version: default\n  rules:\n    - actions: [read]\n      effect: EFFECT_ALLOW\n      roles: [user]\n      output:\n        when:\n          ruleActivated: R.attr.n > 1\n');
    const r = createEngine({ policies: [p] }).check(input({ n: 'high' }));
    expect(r.actions.read!.effect).toBe('EFFECT_ALLOW');
    expect(r.outputs).toEqual([{ src: 'resource.doc.vdefault#rule-001', action: 'read', val: null, error: expect.any(String) }]);
  });
});

describe('principal policies: a DENY is final whatever the order of the rules (issue 18)', () => {
  const pp = (rules: string) => ({ name: 'pp.yaml', content: `apiVersion: api.cerbos.dev/v1\nprincipalPolicy:\n  principal: u\n  version: default\n  rules:\n    - resource: doc\n      actions:\n${rules}` });
  const deny = '        - action: read\n          effect: EFFECT_DENY\n          condition:\n            match:\n              expr: R.attr.secret == true\n';
  const allow = '        - action: "*"\n          effect: EFFECT_ALLOW\n';
  for (const [name, rules] of [['DENY then ALLOW', deny + allow], ['ALLOW then DENY', allow + deny]] as const) {
    it(`${name}: the matched DENY wins over the ALLOW`, () => {
      const e = createEngine({ policies: [pp(rules)] });
      expect(e.check(input({ secret: true })).actions.read).toEqual({ effect: 'EFFECT_DENY', policy: 'principal.u.vdefault', scope: '' });
      expect(e.check(input({ secret: false })).actions.read!.effect).toBe('EFFECT_ALLOW');
    });
  }
});
