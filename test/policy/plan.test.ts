// engine.plan: the API (input validation, result shape), the cases where Baton's plan follows the check and Cerbos's
// planner does not (P-03), strict evaluation, refusals (PlanError), and the adapters' guarantees (planToSql never puts a
// value in the SQL text; planPredicate reads Cerbos's JSON).
import { describe, expect, it } from 'vitest';
import '../../src/policy/yaml.js'; // the policies below are YAML text
import { createEngine, PlanError, planPredicate, planToSql, PlanSqlError, PolicyInputError, type Engine, type PlanInput, type PolicySource } from '../../src/policy/index.js';

const policy = (name: string, content: string): PolicySource => ({ name, content: `apiVersion: api.cerbos.dev/v1\n${content}` });
const docs: PolicySource[] = [
  policy(
    'doc.yaml',
    `resourcePolicy:
  resource: doc
  version: default
  rules:
    - name: owner-reads
      actions: [read]
      effect: EFFECT_ALLOW
      roles: [user]
      condition: { match: { expr: R.attr.owner == P.id } }
    - name: flagged-hidden
      actions: [read]
      effect: EFFECT_DENY
      roles: [user]
      condition: { match: { expr: R.attr.flagged == true } }
    - name: public
      actions: [list]
      effect: EFFECT_ALLOW
      roles: [user]
    - name: tagged
      actions: [tagged]
      effect: EFFECT_ALLOW
      roles: [user]
      condition: { match: { expr: has(R.attr.tag) } }
    - name: non-boolean
      actions: [answer]
      effect: EFFECT_ALLOW
      roles: [user]
      condition: { match: { expr: "42" } }
    - name: admin-answers
      actions: [answer]
      effect: EFFECT_ALLOW
      roles: [admin]
    - name: same-version
      actions: [same_version]
      effect: EFFECT_ALLOW
      roles: [user]
      condition: { match: { expr: request.principal.policyVersion == request.resource.policyVersion } }
    - name: loop
      actions: [loop]
      effect: EFFECT_ALLOW
      roles: [user]
      condition: { match: { expr: "R.attr.items.all(i, P.attr.allowed.exists(a, a == i))" } }
`,
  ),
  policy(
    'doc-principal.yaml',
    `principalPolicy:
  principal: mallory
  version: default
  rules:
    - resource: doc
      actions:
        - { name: never, action: "*", effect: EFFECT_DENY }
`,
  ),
];
const strict = createEngine({ policies: docs });
const lenient = createEngine({ policies: docs, lenient: true });
const alice = { id: 'alice', roles: ['user'] };

function agrees(engine: Engine, input: PlanInput, resources: Record<string, unknown>[]): void {
  const plan = engine.plan(input);
  const holds = planPredicate(plan, { principal: input.principal });
  for (const attr of resources) {
    const r = { kind: input.resource.kind, id: 'x', attr };
    const allowed = engine.check({ principal: input.principal, resource: r, actions: [input.action!] }).actions[input.action!]!.effect === 'EFFECT_ALLOW';
    expect(holds(r), `${plan.filterDebug} on ${JSON.stringify(attr)}`).toBe(allowed);
  }
}

describe('engine.plan: input and result', () => {
  it('returns Cerbos shapes: kind, version, scope, actions, filter, filterDebug, matched scopes, the rules behind it', () => {
    const plan = strict.plan({ principal: alice, resource: { kind: 'doc' }, action: 'read' });
    expect(plan).toEqual({
      kind: 'doc',
      policyVersion: 'default',
      scope: '',
      actions: ['read'],
      filter: {
        kind: 'KIND_CONDITIONAL',
        condition: {
          expression: {
            operator: 'and',
            operands: [
              { expression: { operator: 'not', operands: [{ expression: { operator: 'eq', operands: [{ variable: 'request.resource.attr.flagged' }, { value: true }] } }] } },
              { expression: { operator: 'eq', operands: [{ variable: 'request.resource.attr.owner' }, { value: 'alice' }] } },
            ],
          },
        },
      },
      filterDebug: '(and (not (eq request.resource.attr.flagged true)) (eq request.resource.attr.owner "alice"))',
      matchedScopes: { read: '' },
      rules: [
        { rule: 'resource.doc.vdefault#owner-reads', action: 'read', effect: 'EFFECT_ALLOW' },
        { rule: 'resource.doc.vdefault#flagged-hidden', action: 'read', effect: 'EFFECT_DENY' },
      ],
      validationErrors: [],
    });
  });

  it('several actions: the resource must be allowed for all of them', () => {
    const plan = strict.plan({ principal: alice, resource: { kind: 'doc' }, actions: ['list', 'read'] });
    expect(plan.filterDebug).toBe('(and (not (eq request.resource.attr.flagged true)) (eq request.resource.attr.owner "alice"))');
    expect(strict.plan({ principal: alice, resource: { kind: 'doc' }, actions: ['list', 'nope'] }).filter).toEqual({ kind: 'KIND_ALWAYS_DENIED' });
  });

  it('no policy for the kind: ALWAYS_DENIED, filterDebug NO_MATCH', () => {
    expect(strict.plan({ principal: alice, resource: { kind: 'nothing' }, action: 'read' })).toMatchObject({ filter: { kind: 'KIND_ALWAYS_DENIED' }, filterDebug: 'NO_MATCH' });
  });

  it('attributes given in the request are known: the plan is decided for them', () => {
    expect(strict.plan({ principal: alice, resource: { kind: 'doc', attr: { owner: 'alice', flagged: false } }, action: 'read' }).filter).toEqual({ kind: 'KIND_ALWAYS_ALLOWED' });
    expect(strict.plan({ principal: alice, resource: { kind: 'doc', attr: { owner: 'bob' } }, action: 'read' }).filter).toEqual({ kind: 'KIND_ALWAYS_DENIED' });
  });

  it.each([
    [{ principal: alice, resource: {}, action: 'read' }, 'resource.kind'],
    [{ principal: { id: 'a', roles: [] }, resource: { kind: 'doc' }, action: 'read' }, 'principal.roles'],
    [{ principal: alice, resource: { kind: 'doc' } }, 'actions'],
    [{ principal: alice, resource: { kind: 'doc' }, action: 'read', actions: ['read'] }, 'actions'],
    [{ principal: alice, resource: { kind: 'doc', scope: 'a..b' }, action: 'read' }, 'resource.scope'],
  ])('a malformed input is refused naming the field (%#)', (input, field) => {
    let err: unknown;
    try {
      strict.plan(input as PlanInput);
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(PolicyInputError);
    expect((err as PolicyInputError).field).toBe(field);
  });
});

describe('P-03: the plan never admits what the check denies', () => {
  it("an unconditional principal-policy DENY stays a DENY (Cerbos's planner lets the resource policy allow)", () => {
    const mallory = { id: 'mallory', roles: ['user'] };
    expect(strict.plan({ principal: mallory, resource: { kind: 'doc' }, action: 'list' }).filter).toEqual({ kind: 'KIND_ALWAYS_DENIED' });
    expect(lenient.plan({ principal: mallory, resource: { kind: 'doc' }, action: 'list' }).filter).toEqual({ kind: 'KIND_ALWAYS_DENIED' });
    expect(strict.check({ principal: mallory, resource: { kind: 'doc', id: 'd' }, actions: ['list'] }).actions.list!.effect).toBe('EFFECT_DENY');
  });

  it('has(R.attr.tag) is not read as true: a resource without the attribute is not admitted', () => {
    for (const engine of [strict, lenient]) {
      const plan = engine.plan({ principal: alice, resource: { kind: 'doc' }, action: 'tagged' });
      expect(plan.filterDebug).toBe('(eq request.resource.attr.tag request.resource.attr.tag)');
      agrees(engine, { principal: alice, resource: { kind: 'doc' }, action: 'tagged' }, [{ tag: 'x' }, { tag: null }, {}]);
    }
  });

  it('strict evaluation: a resource where a condition fails to evaluate is denied by the check and not admitted by the plan', () => {
    // no `flagged` attribute: the DENY rule's condition fails; strict evaluation denies, lenient skips the rule
    agrees(strict, { principal: alice, resource: { kind: 'doc' }, action: 'read' }, [{ owner: 'alice', flagged: false }, { owner: 'alice' }, { owner: 'alice', flagged: true }, { owner: 'bob', flagged: false }]);
    expect(planPredicate(strict.plan({ principal: alice, resource: { kind: 'doc' }, action: 'read' }))({ attr: { owner: 'alice' } })).toBe(false);
  });
});

describe('a condition whose value is not a bool', () => {
  it('is false without failing, in both modes, as in the check: another role can still allow (planner-differential seed 1418411304)', () => {
    for (const engine of [strict, lenient]) {
      const user = engine.plan({ principal: alice, resource: { kind: 'doc' }, action: 'answer' });
      expect(user.filter).toEqual({ kind: 'KIND_ALWAYS_DENIED' });
      const both = { id: 'alice', roles: ['user', 'admin'] };
      expect(engine.plan({ principal: both, resource: { kind: 'doc' }, action: 'answer' }).filter).toEqual({ kind: 'KIND_ALWAYS_ALLOWED' });
      agrees(engine, { principal: both, resource: { kind: 'doc' }, action: 'answer' }, [{}, { owner: 'alice' }]);
      agrees(engine, { principal: alice, resource: { kind: 'doc' }, action: 'answer' }, [{}]);
    }
  });
});

describe("the resource's policyVersion is known to a plan, as its kind and scope are", () => {
  it('decided as the check decides a resource of the plan (planner-differential seed 1397561566, conformance store, strict)', () => {
    for (const engine of [strict, lenient]) {
      // neither gives a version: the check compares "" with "" and allows; the plan said (eq "" R.policyVersion) and
      // excluded every resource, its predicate reading the plan's version "default"
      const none = { principal: alice, resource: { kind: 'doc' }, action: 'same_version' };
      expect(engine.plan(none).filter).toEqual({ kind: 'KIND_ALWAYS_ALLOWED' });
      agrees(engine, none, [{}, { owner: 'bob' }]);
      const versioned = { principal: { ...alice, policyVersion: 'default' }, resource: { kind: 'doc' }, action: 'same_version' };
      expect(engine.plan(versioned).filter).toEqual({ kind: 'KIND_ALWAYS_DENIED' });
      agrees(engine, versioned, [{}]);
    }
  });
});

describe('what Cerbos cannot plan', () => {
  it("a comprehension body that fails for every resource (a missing principal attribute) is refused like Cerbos's planner refuses it", () => {
    expect(() => strict.plan({ principal: alice, resource: { kind: 'doc' }, action: 'loop' })).toThrow(PlanError);
    try {
      strict.plan({ principal: alice, resource: { kind: 'doc' }, action: 'loop' });
    } catch (e) {
      expect(e).toMatchObject({ code: 'plan_failed', expression: 'R.attr.items.all(i, P.attr.allowed.exists(a, a == i))' });
    }
    // with the attribute, it plans
    expect(strict.plan({ principal: { ...alice, attr: { allowed: ['a'] } }, resource: { kind: 'doc' }, action: 'loop' }).filter.kind).toBe('KIND_CONDITIONAL');
  });
});

describe('planToSql', () => {
  const fields = { 'request.resource.attr.owner': { column: 'owner', type: 'text' as const }, 'request.resource.attr.flagged': { column: 'flagged', type: 'boolean' as const } };
  it('values are parameters, columns quoted identifiers', () => {
    const evil = "x'); DROP TABLE docs; --";
    const plan = strict.plan({ principal: { id: evil, roles: ['user'] }, resource: { kind: 'doc' }, action: 'read' });
    const where = planToSql(plan, { fields, firstParam: 3 });
    expect(where).toEqual({ sql: '((NOT ("flagged" = $3)) AND ("owner" = $4))', params: [true, evil] });
  });
  it('always allowed / denied become TRUE / FALSE', () => {
    expect(planToSql(strict.plan({ principal: alice, resource: { kind: 'doc' }, action: 'list' }), { fields })).toEqual({ sql: 'TRUE', params: [] });
    expect(planToSql(strict.plan({ principal: alice, resource: { kind: 'doc' }, action: 'nope' }), { fields })).toEqual({ sql: 'FALSE', params: [] });
  });
  it('an attribute without a column is refused, naming it', () => {
    const plan = strict.plan({ principal: alice, resource: { kind: 'doc' }, action: 'read' });
    expect(() => planToSql(plan, { fields: { 'request.resource.attr.owner': fields['request.resource.attr.owner'] } })).toThrow(new PlanSqlError('no column for request.resource.attr.flagged in the field map'));
  });
});

describe('planPredicate reads Cerbos JSON', () => {
  it('abbreviations, lambdas, an empty struct', () => {
    const holds = planPredicate({
      kind: 'KIND_CONDITIONAL',
      condition: { expression: { operator: 'exists', operands: [{ variable: 'R.attr.tags' }, { expression: { operator: 'lambda', operands: [{ expression: { operator: 'eq', operands: [{ variable: 't' }, { value: 'a' }] } }, { variable: 't' }] } }] } },
    });
    expect([holds({ attr: { tags: ['b', 'a'] } }), holds({ attr: { tags: ['b'] } }), holds({ attr: {} })]).toEqual([true, false, false]);
    const none = planPredicate({ kind: 'KIND_CONDITIONAL', condition: { expression: { operator: 'eq', operands: [{ expression: { operator: 'get-field', operands: [{ expression: { operator: 'struct', operands: [] } }, { variable: 'x' }] } }, { value: 1 }] } } });
    expect(none({ attr: {} })).toBe(false);
  });
});
