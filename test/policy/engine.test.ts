// Load-time errors (file + path + message), input validation, and Baton's fail-closed difference from Cerbos.
import { describe, expect, it } from 'vitest';
import { createEngine } from '../../src/policy/engine.js';
import { PolicyInputError, PolicyLoadError, type PolicyIssue } from '../../src/policy/errors.js';
import type { PolicySource } from '../../src/policy/types.js';
import '../../src/policy/yaml.js'; // the policies below are YAML text

function loadIssues(policies: PolicySource[]): PolicyIssue[] {
  try {
    createEngine({ policies });
  } catch (e) {
    expect(e).toBeInstanceOf(PolicyLoadError);
    return [...(e as PolicyLoadError).issues];
  }
  throw new Error('policies loaded but should not have');
}

const doc = (body: string) => `apiVersion: api.cerbos.dev/v1\n${body}`;
const rp = (rules: string, extra = '') =>
  doc(`resourcePolicy:\n  resource: doc\n  version: default\n${extra}  rules:\n${rules}`);

describe('load errors name the file, the path and the problem', () => {
  it('unknown derived role', () => {
    const issues = loadIssues([
      { name: 'dr.yaml', content: doc('derivedRoles:\n  name: common\n  definitions:\n    - name: owner\n      parentRoles: [user]\n') },
      { name: 'doc.yaml', content: rp('    - actions: [read]\n      effect: EFFECT_ALLOW\n      derivedRoles: [ownr]\n', '  importDerivedRoles: [common]\n') },
    ]);
    expect(issues).toEqual([{ file: 'doc.yaml', path: '$.resourcePolicy.rules[0].derivedRoles[0]', message: expect.stringContaining("unknown derived role 'ownr'") }]);
  });

  it('missing import', () => {
    const issues = loadIssues([{ name: 'doc.yaml', content: rp('    - actions: [read]\n      effect: EFFECT_ALLOW\n      roles: [user]\n', '  importDerivedRoles: [nope]\n') }]);
    expect(issues).toEqual([{ file: 'doc.yaml', path: '$.resourcePolicy.importDerivedRoles[0]', message: "derived roles import 'nope' cannot be found" }]);
  });

  it('variable cycle', () => {
    const issues = loadIssues([
      { name: 'doc.yaml', content: rp('    - actions: [read]\n      effect: EFFECT_ALLOW\n      roles: [user]\n      condition:\n        match:\n          expr: V.a\n', '  variables:\n    local:\n      a: V.b && true\n      b: V.a || false\n') },
    ]);
    expect(issues.length).toBeGreaterThan(0);
    expect(issues[0]!.file).toBe('doc.yaml');
    expect(issues[0]!.path).toMatch(/^\$\.resourcePolicy\.variables\.local\.(a|b)$/);
    expect(issues[0]!.message).toMatch(/variable cycle: (a -> b -> a|b -> a -> b)/);
  });

  it('invalid CEL', () => {
    const issues = loadIssues([{ name: 'doc.yaml', content: rp('    - actions: [read]\n      effect: EFFECT_ALLOW\n      roles: [user]\n      condition:\n        match:\n          expr: R.attr.x ^^ true\n') }]);
    expect(issues).toHaveLength(1);
    expect(issues[0]).toMatchObject({ file: 'doc.yaml', path: '$.resourcePolicy.rules[0].condition' });
    expect(issues[0]!.message).toMatch(/invalid condition/);
  });

  it('duplicate policy', () => {
    const body = rp('    - actions: [read]\n      effect: EFFECT_ALLOW\n      roles: [user]\n');
    const issues = loadIssues([{ name: 'a.yaml', content: body }, { name: 'b.yaml', content: body }]);
    expect(issues).toEqual([{ file: 'b.yaml', path: '$.resourcePolicy', message: 'duplicate policy definition: resource.doc.vdefault is also defined in a.yaml' }]);
  });

  it('unknown fields and bad enums are refused with their path', () => {
    const bad = doc('resourcePolicy:\n  resource: other\n  version: default\n  rules:\n    - actions: [read]\n      effect: ALLOW\n      roles: [user]\n      rolez: [x]\n');
    const issues = loadIssues([{ name: 'bad.yaml', content: bad }]);
    expect(issues).toEqual(
      expect.arrayContaining([
        expect.objectContaining({ file: 'bad.yaml', path: '$.resourcePolicy.rules[0].effect' }),
        expect.objectContaining({ file: 'bad.yaml', path: '$.resourcePolicy.rules[0]', message: 'unknown field(s): rolez' }),
      ]),
    );
  });

  it('a multi-document file is refused like Cerbos does, naming the file; a leading --- is fine', () => {
    const one = rp('    - actions: [read]\n      effect: EFFECT_ALLOW\n      roles: [user]\n');
    const two = `${one}\n---\n${doc('resourcePolicy:\n  resource: other\n  version: default\n  rules:\n    - actions: ["*"]\n      effect: EFFECT_ALLOW\n      roles: [admin]\n')}`;
    expect(loadIssues([{ name: 'multi.yaml', content: two }])).toEqual([
      { file: 'multi.yaml', path: '$', message: 'more than one YAML document detected: a policy file holds exactly one policy' },
    ]);
    expect(createEngine({ policies: [{ name: 'one.yaml', content: `---\n${one}` }] }).policyCount).toBe(1);
  });
});

describe('input validation', () => {
  const engine = createEngine({ policies: [{ name: 'doc.yaml', content: rp('    - actions: [read]\n      effect: EFFECT_ALLOW\n      roles: [user]\n') }] });
  it.each([
    [{ principal: { id: 'u', roles: [] }, resource: { kind: 'doc', id: '1' }, actions: ['read'] }, 'principal.roles'],
    [{ principal: { id: '', roles: ['user'] }, resource: { kind: 'doc', id: '1' }, actions: ['read'] }, 'principal.id'],
    [{ principal: { id: 'u', roles: ['user'] }, resource: { kind: '', id: '1' }, actions: ['read'] }, 'resource.kind'],
    [{ principal: { id: 'u', roles: ['user'] }, resource: { kind: 'doc', id: '' }, actions: ['read'] }, 'resource.id'],
    [{ principal: { id: 'u', roles: ['user'] }, resource: { kind: 'doc', id: '1' }, actions: [] }, 'actions'],
  ])('refuses %j naming %s', (input, field) => {
    let err: unknown;
    try {
      engine.check(input as never);
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(PolicyInputError);
    expect((err as PolicyInputError).field).toBe(field);
  });
});

describe('fail closed by default, Cerbos-lenient on request', () => {
  const policies: PolicySource[] = [
    {
      name: 'doc.yaml',
      content: rp(
        '    - actions: [read]\n      effect: EFFECT_ALLOW\n      roles: [user]\n' +
          '    - actions: [read]\n      effect: EFFECT_DENY\n      roles: [user]\n      condition:\n        match:\n          expr: R.attr.blocked == true\n',
      ),
    },
  ];
  const input = { principal: { id: 'u', roles: ['user'] }, resource: { kind: 'doc', id: '1', attr: {} }, actions: ['read'] };

  it('a DENY rule whose condition errors (missing attribute) denies', () => {
    const r = createEngine({ policies }).check(input);
    expect(r.actions.read!.effect).toBe('EFFECT_DENY');
    expect(r.evaluationErrors?.[0]?.expression).toBe('R.attr.blocked == true');
  });

  it('the result names the resource checked, with the policy version and scope it was decided at', () => {
    const e = createEngine({ policies, lenient: true });
    expect(e.check(input).resource).toEqual({ kind: 'doc', id: '1', policyVersion: 'default', scope: '' });
  });

  it('lenient: true skips the erroring DENY rule, as Cerbos does', () => {
    expect(createEngine({ policies, lenient: true }).check(input).actions.read!.effect).toBe('EFFECT_ALLOW');
  });

  it('both agree when the condition evaluates', () => {
    const blocked = { ...input, resource: { kind: 'doc', id: '1', attr: { blocked: true } } };
    const open = { ...input, resource: { kind: 'doc', id: '1', attr: { blocked: false } } };
    for (const lenient of [false, true]) {
      const e = createEngine({ policies, lenient });
      expect(e.check(blocked).actions.read!.effect).toBe('EFFECT_DENY');
      expect(e.check(open).actions.read!.effect).toBe('EFFECT_ALLOW');
    }
  });
});

describe('a scope that requires parental consent for ALLOWs', () => {
  // The consent rule turns a conditional ALLOW of the scope into `none(condition)`; a DENY keeps its own condition.
  const policies: PolicySource[] = [
    { name: 'root.yaml', content: rp('    - actions: [read]\n      effect: EFFECT_ALLOW\n      roles: [user]\n') },
    {
      name: 'a.yaml',
      content: rp(
        '    - actions: [read]\n      effect: EFFECT_DENY\n      roles: [user]\n      condition:\n        match:\n          expr: R.attr.blocked == true\n',
        '  scope: a\n  scopePermissions: SCOPE_PERMISSIONS_REQUIRE_PARENTAL_CONSENT_FOR_ALLOWS\n',
      ),
    },
  ];
  const check = (blocked: boolean) =>
    createEngine({ policies }).check({ principal: { id: 'u', roles: ['user'] }, resource: { kind: 'doc', id: '1', scope: 'a', attr: { blocked } }, actions: ['read'] }).actions.read;

  it('a conditional DENY there denies when its condition holds, and only then (the parent allows otherwise)', () => {
    expect(check(true)).toEqual({ effect: 'EFFECT_DENY', policy: 'resource.doc.vdefault/a', scope: 'a' });
    expect(check(false)).toEqual({ effect: 'EFFECT_ALLOW', policy: 'resource.doc.vdefault/a', scope: '' });
  });

  it('an unconditional ALLOW there is activated (its ruleActivated output), though only the parent allows', () => {
    // Cerbos 0.55 (`cerbos compile` with a test suite, 2026-12-01): outputs `activated` for this rule; only a conditional
    // ALLOW is turned into `none(condition)`.
    const withOutput: PolicySource[] = [
      policies[0]!,
      {
        name: 'a.yaml',
        content: rp(
          '    - actions: [read]\n      name: plain\n      effect: EFFECT_ALLOW\n      roles: [user]\n      output:\n        when:\n          ruleActivated: \'"activated"\'\n          conditionNotMet: \'"not met"\'\n',
          '  scope: a\n  scopePermissions: SCOPE_PERMISSIONS_REQUIRE_PARENTAL_CONSENT_FOR_ALLOWS\n',
        ),
      },
    ];
    const r = createEngine({ policies: withOutput }).check({ principal: { id: 'u', roles: ['user'] }, resource: { kind: 'doc', id: '1', scope: 'a' }, actions: ['read'] });
    expect(r.actions.read).toEqual({ effect: 'EFFECT_ALLOW', policy: 'resource.doc.vdefault/a', scope: '' });
    expect(r.outputs).toEqual([{ src: 'resource.doc.vdefault/a#plain', action: 'read', val: 'activated' }]);
  });
});

describe('per-request state', () => {
  const policies: PolicySource[] = [
    { name: 'dr.yaml', content: doc('derivedRoles:\n  name: common\n  definitions:\n    - name: owner\n      parentRoles: [user]\n      condition:\n        match:\n          expr: R.attr.owner == P.id\n') },
    {
      name: 'doc.yaml',
      content: rp(
        '    - actions: [read, edit]\n      effect: EFFECT_ALLOW\n      derivedRoles: [owner]\n' +
          '    - actions: [sign]\n      effect: EFFECT_ALLOW\n      roles: [user]\n      condition:\n        match:\n          expr: \'"A" in request.auxData.jwts.idp.claims.groups\'\n',
        '  importDerivedRoles: [common]\n',
      ),
    },
  ];
  const engine = createEngine({ policies });

  it('nothing of one check leaks into the next (derived roles, attributes, aux data)', () => {
    const owner = { principal: { id: 'alice', roles: ['user'] }, resource: { kind: 'doc', id: 'd1', attr: { owner: 'alice' } }, actions: ['read', 'edit'] };
    const other = { principal: { id: 'bob', roles: ['user'] }, resource: { kind: 'doc', id: 'd1', attr: { owner: 'alice' } }, actions: ['read', 'edit'] };
    for (let i = 0; i < 3; i++) {
      const a = engine.check(owner);
      expect(Object.values(a.actions).map((x) => x.effect)).toEqual(['EFFECT_ALLOW', 'EFFECT_ALLOW']);
      expect(a.effectiveDerivedRoles).toEqual(['owner']);
      const b = engine.check(other);
      expect(Object.values(b.actions).map((x) => x.effect)).toEqual(['EFFECT_DENY', 'EFFECT_DENY']);
      expect(b.effectiveDerivedRoles).toEqual([]);
    }
  });

  it('several named JWTs are visible as request.auxData.jwts.NAME.claims; malformed ones are refused', () => {
    const input = (groups: string[]) => ({
      principal: { id: 'alice', roles: ['user'] },
      resource: { kind: 'doc', id: 'd1', attr: {} },
      actions: ['sign'],
      auxData: { jwts: { idp: { claims: { groups } } } },
    });
    expect(engine.check(input(['A', 'B'])).actions.sign!.effect).toBe('EFFECT_ALLOW');
    expect(engine.check(input(['B'])).actions.sign!.effect).toBe('EFFECT_DENY');
    const noAux = { principal: { id: 'alice', roles: ['user'] }, resource: { kind: 'doc', id: 'd1', attr: {} }, actions: ['sign'] };
    expect(engine.check(noAux).actions.sign!.effect).toBe('EFFECT_DENY');
    expect(() => engine.check({ ...noAux, auxData: { jwts: { idp: { groups: ['A'] } } } } as never)).toThrow(PolicyInputError);
  });
});

describe('a derived role evaluated for a row gives what evaluating it there again would (each condition once per check)', () => {
  // Cerbos 0.55.0 gives the same decisions and derived roles for this request (checked against the binary on
  // 2026-12-01 with startCerbos of test/helpers/cerbos.ts, strict and lenient): a row re-reads a derived role only where
  // that cannot differ from the scope's own evaluation of it, which here it does twice.
  const policies: PolicySource[] = [
    {
      name: 'drs.yaml',
      content: doc(
        'derivedRoles:\n  name: rt\n  variables:\n    local:\n      missing: R.attr.nope\n  definitions:\n' +
          '    - name: first\n      parentRoles: [user]\n      condition:\n        match:\n          expr: "true"\n' +
          "    - name: second\n      parentRoles: [user]\n      condition:\n        match:\n          expr: '\"first\" in runtime.effectiveDerivedRoles'\n" +
          '    - name: nullvar\n      parentRoles: [user]\n      condition:\n        match:\n          expr: V.missing == null\n',
      ),
    },
    {
      name: 'doc.yaml',
      content: rp(
        '    - name: by-second\n      actions: [view]\n      effect: EFFECT_ALLOW\n      derivedRoles: [second]\n' +
          '    - name: by-nullvar\n      actions: [edit]\n      effect: EFFECT_ALLOW\n      derivedRoles: [nullvar]\n' +
          '    - name: by-first\n      actions: [list]\n      effect: EFFECT_ALLOW\n      derivedRoles: [first]\n',
        '  importDerivedRoles: [rt]\n',
      ),
    },
  ];
  const input = { principal: { id: 'u', roles: ['user'] }, resource: { kind: 'doc', id: 'd', attr: {} }, actions: ['view', 'edit', 'list'] };
  const effects = (lenient: boolean) => {
    const r = createEngine({ policies, lenient }).check(input);
    return { actions: Object.fromEntries(Object.entries(r.actions).map(([a, e]) => [a, e.effect])), roles: r.effectiveDerivedRoles };
  };

  it('lenient: a condition reading runtime sees the scope\'s roles at the row; a failing variable is null only for the scope', () => {
    // `second` is not among the scope's roles (runtime was empty then) yet its row holds (runtime has `first` there);
    // `nullvar` is among them (its failing variable was null) yet its row does not hold (the variable is unset there)
    expect(effects(true)).toEqual({ actions: { view: 'EFFECT_ALLOW', edit: 'EFFECT_DENY', list: 'EFFECT_ALLOW' }, roles: ['first', 'nullvar'] });
  });

  it('strict: the failing variable denies the rows through the set\'s derived roles that read it or runtime', () => {
    expect(effects(false)).toEqual({ actions: { view: 'EFFECT_DENY', edit: 'EFFECT_DENY', list: 'EFFECT_ALLOW' }, roles: ['first'] });
  });
});
