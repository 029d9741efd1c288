import { describe, it, expect } from 'vitest';
import {
  compileCel, compileCondition, CelCompileError, CelEvalError, type CelActivation,
} from '../../src/policy/cel/index.js';

const NOW = new Date('2021-04-22T10:05:20.021-05:00');
function act(over: Partial<CelActivation> = {}): CelActivation {
  return {
    request: {
      principal: { id: 'alice', roles: ['user', 'support'], attr: { dept: 'eng', level: 3 } },
      resource: { kind: 'doc', id: 'd1', attr: { owner: 'alice', tags: ['a', 'b'] } },
      auxData: { jwt: { iss: 'https://idp', aud: ['baton'] } },
    },
    now: NOW,
    ...over,
  };
}

describe('compileCel', () => {
  it('rejects a syntax error with CelCompileError naming the position', () => {
    expect(() => compileCel('R.attr.owner == ')).toThrow(CelCompileError);
    try {
      compileCel('P.id == "x" &&');
    } catch (e) {
      expect((e as Error).message).toMatch(/syntax error/);
      expect((e as Error).message).toMatch(/\^/); // caret under the offending column
    }
  });
  it('rejects unknown top-level names and unknown functions at compile time', () => {
    expect(() => compileCel('user.id == "x"')).toThrow(/CEL type error.*user/);
    expect(() => compileCel('noSuchFn(P.id)')).toThrow(CelCompileError);
    expect(() => compileCel('   ')).toThrow(CelCompileError);
  });
  it('evaluates the typical ownership condition', () => {
    const p = compileCel('R.attr.owner == P.id && "support" in P.roles');
    expect(p.evaluate(act())).toBe(true);
    expect(p.source).toBe('R.attr.owner == P.id && "support" in P.roles');
  });
  it('exposes request, P, R, auxData.jwt, runtime', () => {
    const a = act({ runtime: { effectiveDerivedRoles: ['owner'] } });
    expect(compileCel('request.principal.id == P.id && request.resource.kind == R.kind').evaluate(a)).toBe(true);
    expect(compileCel('request.auxData.jwt.iss').evaluate(a)).toBe('https://idp');
    expect(compileCel('"owner" in runtime.effectiveDerivedRoles').evaluate(a)).toBe(true);
    expect(compileCel('size(runtime.effectiveDerivedRoles)').evaluate(act())).toBe(0n);
    expect(compileCel('P.scope == "" && R.policyVersion == ""').evaluate(act())).toBe(true);
  });
  it('V/variables, C/constants, G/globals are aliases', () => {
    const a = act({ variables: { isOwner: true }, constants: { max: 5 }, globals: { env: 'prod' } });
    expect(compileCel('V.isOwner && variables.isOwner').evaluate(a)).toBe(true);
    expect(compileCel('C.max == constants.max && C.max == 5').evaluate(a)).toBe(true);
    expect(compileCel('G.env == globals.env && G.env == "prod"').evaluate(a)).toBe(true);
  });
  it('reports variable and constant references', () => {
    const p = compileCel('V.a && variables.b && V.c.d == C.k && constants.j > 0 && P.attr.V == 1 && P.attr["V"] == 1');
    expect([...p.variableRefs].sort()).toEqual(['a', 'b', 'c']);
    expect([...p.constantRefs].sort()).toEqual(['j', 'k']);
  });
  it('refuses index lookups on variables, constants and globals, like Cerbos', () => {
    for (const src of ['V["b"]', 'variables["b"] == 1', 'C["k"] > 0', 'constants["k"] > 0', 'G["x"] == 1', 'globals["x"] == 1', '[1].exists(x, V["a"] == x)']) {
      expect(() => compileCel(src), src).toThrow(/no matching overload for '_\[_\]'/);
    }
    expect(compileCel('R.attr["owner"] == P.id').source).toBe('R.attr["owner"] == P.id');
  });
  it('now() is the activation instant, frozen for the request', () => {
    const p = compileCel('now() == timestamp("2021-04-22T15:05:20.021Z")');
    expect(p.evaluate(act())).toBe(true);
    expect(p.evaluate(act({ now: new Date('2030-01-01T00:00:00Z') }))).toBe(false);
    expect(compileCel('now() == now()').evaluate(act())).toBe(true);
  });
  it('evaluation errors throw CelEvalError', () => {
    expect(() => compileCel('P.attr.missing == 1').evaluate(act())).toThrow(CelEvalError);
    expect(() => compileCel('P.id + 1 == 2').evaluate(act())).toThrow(CelEvalError);
    expect(() => compileCel('timestamp(P.id) > now()').evaluate(act())).toThrow(CelEvalError);
  });
  it('re-evaluating with the same activation object sees a replaced variables object', () => {
    const a = act({ variables: { x: 1 } });
    const p = compileCel('V.x == 1');
    expect(p.evaluate(a)).toBe(true);
    a.variables = { x: 2 };
    expect(p.evaluate(a)).toBe(false);
  });
});

describe('compileCondition', () => {
  it('accepts the policy shape {match: ...} and the bare shape', () => {
    const m = compileCondition({ match: { all: { of: [{ expr: 'P.id == "alice"' }, { expr: 'V.ok' }] } } });
    expect(m.evaluate(act({ variables: { ok: true } }))).toBe(true);
    expect(m.evaluate(act({ variables: { ok: false } }))).toBe(false);
    expect([...m.variableRefs]).toEqual(['ok']);
    expect(compileCondition({ any: { of: [{ expr: 'false' }, { expr: 'true' }] } }).evaluate(act())).toBe(true);
    expect(compileCondition({ none: { of: [{ expr: 'false' }] } }).evaluate(act())).toBe(true);
  });
  it('validates the shape and names the path', () => {
    expect(() => compileCondition({ match: { all: { of: [{ exp: 'true' }] } } }, 'rules[0].condition'))
      .toThrow(/rules\[0\]\.condition\.match\.all\.of\[0\]/);
    expect(() => compileCondition({ match: { expr: 'true', all: { of: [] } } })).toThrow(CelCompileError);
    expect(() => compileCondition({ match: { any: { of: [{ expr: '1 +' }] } } }, 'c'))
      .toThrow(/c\.match\.any\.of\[0\]\.expr: CEL syntax error/);
  });
  it('a non-boolean result is an evaluation error, never a match', () => {
    const c = compileCondition({ match: { expr: 'P.id' } });
    expect(() => c.evaluate(act())).toThrow(/must evaluate to bool, got string/);
    expect(c.evaluateDetailed(act())).toMatchObject({ result: false });
  });
  it('errors count as not matched inside any/none (Cerbos semantics)', () => {
    const any = compileCondition({ match: { any: { of: [{ expr: 'P.attr.nope' }, { expr: 'true' }] } } });
    expect(any.evaluate(act())).toBe(true);
    const all = compileCondition({ match: { all: { of: [{ expr: 'P.attr.nope' }, { expr: 'true' }] } } });
    expect(() => all.evaluate(act())).toThrow(CelEvalError);
    expect(all.evaluateDetailed(act()).errors[0]?.message).toMatch(/no such key: nope/);
  });
});
