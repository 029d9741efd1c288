// What a check reports in `evaluationErrors`: Cerbos 0.55's errors (cel-go's choice of error and its wording, for the
// same failing expressions), and only for expressions Cerbos evaluates (no variable that nothing reads).
// The wording table was read from the Cerbos 0.55 binary's CEL error log for these expressions (2026-12-01).
import { describe, expect, it } from 'vitest';
import { CelEvalError, CelScope, compileCel } from '../../src/policy/cel/index.js';
import { createEngine } from '../../src/policy/engine.js';
import type { CheckInput } from '../../src/policy/types.js';
import '../../src/policy/yaml.js';

const scope = new CelScope(
  { principal: { id: 'u', roles: ['user'], attr: { s: 'x' } }, resource: { kind: 'doc', id: 'd', attr: { n: 'high', l: [1], m: {} } } },
  new Date('2026-01-01T00:00:00Z'),
  { environment: 'test' },
  { a: 1 },
);
const errorOf = (src: string): string => {
  try {
    compileCel(src).evaluateIn(scope);
  } catch (e) {
    expect(e).toBeInstanceOf(CelEvalError);
    return (e as Error).message;
  }
  throw new Error(`${src} did not fail`);
};

describe('evaluation errors are worded as Cerbos words them', () => {
  const table: [string, string][] = [
    ['P.attr.org == "x"', 'no such key: org'],
    ['R.attr["zz"] == 1', 'no such key: zz'],
    ['R.attr.m.k == 1', 'no such key: k'],
    ['has(R.attr.q.w)', 'no such key: q'],
    ['R.attr.l.exists(x, x.y == 1)', 'no such key: y'],
    ['V.eng', "undefined field 'eng'"],
    ['variables.eng', "undefined field 'eng'"],
    ['G.nope', "undefined field 'nope'"],
    ['R.attr.l[3] == 1', 'index out of bounds: 3'],
    ['R.attr.n > 1', 'no such overload'],
    ['R.attr.n + 1 == 2', 'no such overload'],
    ['"a" in R.attr.n', 'no such overload'],
    ['1 / 0 == 1', 'division by zero'],
  ];
  for (const [src, message] of table) it(`${src}: ${message}`, () => expect(errorOf(src)).toBe(message));

  it('no source excerpt in the message (one line)', () => {
    for (const [src] of table) expect(errorOf(src)).not.toContain('\n');
  });
});

describe('when both operands of && or || fail, the left one is reported (cel-go), at any depth', () => {
  it.each([
    ['V.eng && P.attr.org == "org-1"', "undefined field 'eng'"],
    ['P.attr.nope || R.attr.nope2', 'no such key: nope'],
    ['(P.attr.a1 || false) && (P.attr.a2 && R.attr.a3)', 'no such key: a1'],
    ['true && (P.attr.a2 || R.attr.a3)', 'no such key: a2'],
    ['!(P.attr.a2 && R.attr.a3)', 'no such key: a2'],
    // only the right operand fails: its error
    ['P.id == "u" && R.attr.a3', 'no such key: a3'],
    // a left operand that cannot run on its own (a comprehension's variable) leaves the library's choice
    ['R.attr.l.exists(x, x.p && x.q)', 'no such key: q'],
  ])('%s: %s', (src, message) => expect(errorOf(src)).toBe(message));

  it('a false operand still decides (no error)', () => {
    expect(compileCel('P.attr.nope && false').evaluateIn(scope)).toBe(false);
    expect(compileCel('P.attr.nope || true').evaluateIn(scope)).toBe(true);
  });
});

describe('only the variables an expression reads are evaluated (Cerbos compiles no other)', () => {
  const input: CheckInput = { principal: { id: 'u', roles: ['user'] }, resource: { kind: 'doc', id: 'd', attr: {} }, actions: ['read', 'write'] };
  const doc = (body: string) => ({ name: 'doc.yaml', content: `apiVersion: api.cerbos.dev/v1\n${body}` });
  const errorsOf = (policies: { name: string; content: string }[], lenient: boolean) =>
    createEngine({ policies, lenient }).check(input).evaluationErrors?.map((e) => `${e.expression}: ${e.message}`);

  it('a resource policy: a variable no rule reads is never evaluated; one read through another variable is', () => {
    const p = doc(
      'resourcePolicy:\n  resource: doc\n  version: default\n  variables:\n    local:\n      unused: R.attr.a == 1\n      base: R.attr.b == 1\n      used: V.base\n' +
        '  rules:\n    - actions: [read]\n      effect: EFFECT_ALLOW\n      roles: [user]\n      condition:\n        match:\n          expr: V.used\n',
    );
    for (const lenient of [true, false]) {
      expect(errorsOf([p], lenient)).toEqual(['R.attr.b == 1: no such key: b', "V.base: undefined field 'base'", "V.used: undefined field 'used'"]);
    }
  });

  it('a derived role: only the variables its own condition reads, not those of other roles in its set', () => {
    const drs = {
      name: 'drs.yaml',
      content:
        'apiVersion: api.cerbos.dev/v1\nderivedRoles:\n  name: common\n  variables:\n    local:\n      geo: R.attr.geography == P.attr.geography\n' +
        '  definitions:\n    - name: anyone\n      parentRoles: [user]\n    - name: local_manager\n      parentRoles: [manager]\n      condition:\n        match:\n          expr: V.geo\n',
    };
    const rp = doc(
      'resourcePolicy:\n  resource: doc\n  version: default\n  importDerivedRoles: [common]\n  rules:\n    - actions: [read]\n      effect: EFFECT_ALLOW\n      derivedRoles: [anyone]\n' +
        '    - actions: [write]\n      effect: EFFECT_ALLOW\n      derivedRoles: [local_manager]\n',
    );
    for (const lenient of [true, false]) {
      const r = createEngine({ policies: [drs, rp], lenient }).check(input);
      expect(r.actions.read!.effect).toBe('EFFECT_ALLOW');
      expect(r.actions.write!.effect).toBe('EFFECT_DENY');
      expect(r.evaluationErrors).toBeUndefined();
    }
    // a manager reaches local_manager: its variable is evaluated and fails
    const m = createEngine({ policies: [drs, rp], lenient: true }).check({ ...input, principal: { id: 'u', roles: ['user', 'manager'] } });
    expect(m.evaluationErrors?.map((e) => e.expression)).toEqual(['R.attr.geography == P.attr.geography', 'V.geo']);
  });
});

describe('conditions read the request as it is given (Cerbos 0.55, checked against its binary)', () => {
  it('R.policyVersion and P.policyVersion are "" when the request names no version (the default applies to the lookup only)', () => {
    const rule = (a: string, expr: string) => `    - actions: [${a}]\n      effect: EFFECT_ALLOW\n      roles: [user]\n      condition:\n        match:\n          expr: ${expr}\n`;
    const p = {
      name: 'doc.yaml',
      content: `apiVersion: api.cerbos.dev/v1\nresourcePolicy:\n  resource: doc\n  version: default\n  rules:\n${rule('a', 'R.policyVersion == "default"')}${rule('b', 'R.policyVersion == ""')}${rule('c', 'P.policyVersion == ""')}`,
    };
    const e = createEngine({ policies: [p] });
    const r = e.check({ principal: { id: 'u', roles: ['user'] }, resource: { kind: 'doc', id: 'd' }, actions: ['a', 'b', 'c'] });
    expect([r.actions.a!.effect, r.actions.b!.effect, r.actions.c!.effect]).toEqual(['EFFECT_DENY', 'EFFECT_ALLOW', 'EFFECT_ALLOW']);
    const named = e.check({ principal: { id: 'u', roles: ['user'], policyVersion: 'default' }, resource: { kind: 'doc', id: 'd', policyVersion: 'default' }, actions: ['a', 'b', 'c'] });
    expect([named.actions.a!.effect, named.actions.b!.effect, named.actions.c!.effect]).toEqual(['EFFECT_ALLOW', 'EFFECT_DENY', 'EFFECT_DENY']);
  });
});

describe('outputs that are request messages are reported as Cerbos 0.55 reports them (protojson: empty fields left out)', () => {
  const p = {
    name: 'doc.yaml',
    content:
      'apiVersion: api.cerbos.dev/v1\nresourcePolicy:\n  resource: doc\n  version: default\n  rules:\n    - actions: [read]\n      effect: EFFECT_ALLOW\n      roles: [user]\n' +
      '      output:\n        when:\n          ruleActivated: R\n    - actions: [list]\n      effect: EFFECT_ALLOW\n      roles: [user]\n      output:\n        when:\n          ruleActivated: "[P, {\\"r\\": R}, request]"\n' +
      '    - actions: [attrs]\n      effect: EFFECT_ALLOW\n      roles: [user]\n      output:\n        when:\n          ruleActivated: R.attr\n',
  };
  const e = createEngine({ policies: [p] });
  const outputOf = (r: ReturnType<typeof e.check>, action: string) => r.outputs.find((o) => o.action === action)?.val;

  it('R with no attributes, scope or version is {kind, id}; P without them is {id, roles}; request holds both the same way', () => {
    const r = e.check({ principal: { id: 'u', roles: ['user'] }, resource: { kind: 'doc', id: 'd' }, actions: ['read', 'list'] });
    expect(outputOf(r, 'read')).toEqual({ kind: 'doc', id: 'd' });
    expect(outputOf(r, 'list')).toEqual([{ id: 'u', roles: ['user'] }, { r: { kind: 'doc', id: 'd' } }, { principal: { id: 'u', roles: ['user'] }, resource: { kind: 'doc', id: 'd' } }]);
  });

  it('fields that are set are kept, and attribute values keep their empty members', () => {
    const r = e.check({
      principal: { id: 'u', roles: ['user'], scope: 'acme' },
      resource: { kind: 'doc', id: 'd', policyVersion: 'default', attr: { s: '', l: [], m: {} } },
      actions: ['read', 'attrs'],
    });
    expect(outputOf(r, 'read')).toEqual({ kind: 'doc', id: 'd', policyVersion: 'default', attr: { s: '', l: [], m: {} } });
    expect(outputOf(r, 'attrs')).toEqual({ s: '', l: [], m: {} });
  });
});

describe('evaluationErrors are sorted as Cerbos sorts them (by expression, then message)', () => {
  it('two failing conditions met in the other order are reported sorted by expression', () => {
    const p = {
      name: 'doc.yaml',
      content:
        'apiVersion: api.cerbos.dev/v1\nresourcePolicy:\n  resource: doc\n  version: default\n  rules:\n' +
        '    - actions: [read]\n      effect: EFFECT_ALLOW\n      roles: [user]\n      condition:\n        match:\n          expr: R.attr.zz == 1\n' +
        '    - actions: [write]\n      effect: EFFECT_ALLOW\n      roles: [user]\n      condition:\n        match:\n          expr: R.attr.aa == 1\n',
    };
    const r = createEngine({ policies: [p], lenient: true }).check({ principal: { id: 'u', roles: ['user'] }, resource: { kind: 'doc', id: 'd', attr: {} }, actions: ['read', 'write'] });
    expect(r.evaluationErrors?.map((e) => `${e.expression}: ${e.message}`)).toEqual(['R.attr.aa == 1: no such key: aa', 'R.attr.zz == 1: no such key: zz']);
  });
});

describe('the order of evaluationErrors', () => {
  // One expression can fail with two messages in one check: `runtime.effectiveDerivedRoles` (strict evaluation) fails
  // with the names of the derived roles that could not be computed, which differ from scope to scope.
  const y = (s: string) => ({ name: `${s.split('\n')[0]!.replace(/\W+/g, '_')}.yaml`, content: `apiVersion: api.cerbos.dev/v1\n${s}` });
  const runtimeRule = (action: string) => `    - actions: [${action}]\n      effect: EFFECT_ALLOW\n      roles: [r]\n      condition:\n        match:\n          expr: runtime.effectiveDerivedRoles.exists(x, x == "z")\n`;
  const policies = [
    y('derivedRoles:\n  name: common\n  definitions:\n    - name: d1\n      parentRoles: [r]\n      condition:\n        match:\n          expr: R.attr.m1 == 1\n    - name: d2\n      parentRoles: [r]\n      condition:\n        match:\n          expr: R.attr.m2 == 1\n'),
    y(`resourcePolicy:\n  resource: doc\n  version: default\n  importDerivedRoles: [common]\n  rules:\n${runtimeRule('x')}    - actions: [b]\n      effect: EFFECT_ALLOW\n      derivedRoles: [d1]\n    - actions: [c]\n      effect: EFFECT_ALLOW\n      derivedRoles: [d2]\n`),
    y(`resourcePolicy:\n  resource: doc\n  version: default\n  scope: acme\n  importDerivedRoles: [common]\n  rules:\n${runtimeRule('a')}    - actions: [b]\n      effect: EFFECT_ALLOW\n      derivedRoles: [d2]\n`),
  ];
  it('by expression, then by message, whatever the order the check met them in (a at scope acme: [d2]; then x, at the root: [d1, d2])', () => {
    const r = createEngine({ policies, lenient: false }).check({ principal: { id: 'u', roles: ['r'] }, resource: { kind: 'doc', id: 'd', scope: 'acme', attr: {} }, actions: ['a', 'x'] });
    expect(r.actions.a).toMatchObject({ effect: 'EFFECT_DENY', scope: 'acme' });
    expect(r.actions.x).toMatchObject({ effect: 'EFFECT_DENY', scope: '' });
    expect(r.evaluationErrors).toEqual([
      { expression: 'R.attr.m1 == 1', message: 'no such key: m1' },
      { expression: 'R.attr.m2 == 1', message: 'no such key: m2' },
      { expression: 'runtime.effectiveDerivedRoles.exists(x, x == "z")', message: 'failed to compute effective derived roles [d1, d2]' },
      { expression: 'runtime.effectiveDerivedRoles.exists(x, x == "z")', message: 'failed to compute effective derived roles [d2]' },
    ]);
  });
  it('the same order when the check meets the two messages of one expression already sorted (x at the root: [d1, d2]; then a)', () => {
    const r = createEngine({ policies, lenient: false }).check({ principal: { id: 'u', roles: ['r'] }, resource: { kind: 'doc', id: 'd', scope: 'acme', attr: {} }, actions: ['x', 'a'] });
    expect(r.evaluationErrors?.map((e) => e.message)).toEqual([
      'no such key: m1',
      'no such key: m2',
      'failed to compute effective derived roles [d1, d2]',
      'failed to compute effective derived roles [d2]',
    ]);
  });
});
