// Explained decisions (issue 3): `check(input, { explain: true })` says, per action, which rule decided, which rules
// were considered and why each did or did not apply, and which derived roles activated.
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { parse } from 'yaml';
import { describe, expect, it } from 'vitest';
import { createEngine } from '../../src/policy/engine.js';
import { readPolicies } from '../../src/policy/fs.node.js';
import type { CheckInput, PolicySource } from '../../src/policy/types.js';

const dir = fileURLToPath(new URL('../../policies/', import.meta.url));
const examples = readPolicies(dir);
const engine = createEngine({ policies: examples });

const alice = { id: 'alice', roles: ['user'] };
const ticketOfBob = { kind: 'ticket', id: 'T-2001', attr: { owner: 'bob' } };

const inline = (name: string, content: string): PolicySource => ({ name, content });
const principalPolicy = inline(
  'alice.yaml',
  `apiVersion: api.cerbos.dev/v1
principalPolicy:
  principal: alice
  version: default
  rules:
    - resource: ticket
      actions:
        - name: alice-closes-low-priority
          action: close
          effect: EFFECT_ALLOW
          condition:
            match:
              expr: R.attr.priority == "low"
        - name: alice-never-deletes
          action: delete
          effect: EFFECT_DENY
`,
);
const levelPolicy = inline(
  'doc.yaml',
  `apiVersion: api.cerbos.dev/v1
resourcePolicy:
  resource: doc
  version: default
  rules:
    - name: clearance
      actions: ["read"]
      effect: EFFECT_ALLOW
      roles: ["user"]
      condition:
        match:
          all:
            of:
              - expr: P.attr.clearance >= R.attr.level
              - expr: R.attr.published == true
`,
);

describe('explain: true', () => {
  it('alice cannot read bob\'s ticket: the owner derived role did not activate, its condition is named', () => {
    const r = engine.check({ principal: alice, resource: ticketOfBob, actions: ['read'] }, { explain: true });
    expect(r.actions.read?.effect).toBe('EFFECT_DENY');
    const read = r.explained!.actions.read!;
    expect(read).toMatchObject({ effect: 'EFFECT_DENY', policy: 'resource.ticket.vdefault', reason: 'default_deny' });
    expect(read.rule).toBeUndefined();
    expect(read.considered).toContainEqual({
      rule: 'resource.ticket.vdefault#owner-reads-and-comments',
      effect: 'EFFECT_ALLOW',
      outcome: 'derived_role_not_activated',
      role: 'user',
      derivedRoles: ['owner'],
      condition: 'R.attr.owner == P.id',
    });
    // the other rules for read are for roles alice does not have
    expect(read.considered.find((c) => c.rule.endsWith('#lead-handles-all'))).toMatchObject({ outcome: 'role_not_matched', roles: ['support_lead'] });
    expect(read.considered.find((c) => c.rule.endsWith('#agent-for-owner'))).toMatchObject({ outcome: 'role_not_matched', derivedRoles: ['agent_for_owner'] });
    expect(r.explained!.derivedRoles).toContainEqual({ name: 'owner', parentRoles: ['user'], activated: false, outcome: 'condition_not_met', condition: 'R.attr.owner == P.id' });
    expect(r.explained!.derivedRoles.find((d) => d.name === 'agent_for_owner')).toMatchObject({ activated: false, outcome: 'parent_role_not_matched' });
    expect(r.explained!.lines[0]).toBe(
      'read: DENY by resource.ticket.vdefault (default deny): owner-reads-and-comments needs derived role owner, not activated: R.attr.owner == P.id is false; ' +
        'agent-for-owner is for derived roles agent_for_owner; lead-handles-all is for roles support_lead',
    );
  });

  it('an ALLOW names its rule, and the derived role it came through', () => {
    const r = engine.check({ principal: alice, resource: { ...ticketOfBob, attr: { owner: 'alice' } }, actions: ['read', 'create'] }, { explain: true });
    expect(r.explained!.actions.read).toMatchObject({ effect: 'EFFECT_ALLOW', reason: 'rule', rule: 'resource.ticket.vdefault#owner-reads-and-comments' });
    expect(r.explained!.actions.read!.considered[0]).toMatchObject({ outcome: 'matched', role: 'user', derivedRoles: ['owner'] });
    expect(r.explained!.actions.create).toMatchObject({ effect: 'EFFECT_ALLOW', rule: 'resource.ticket.vdefault#open-ticket' });
    expect(r.explained!.derivedRoles).toContainEqual(expect.objectContaining({ name: 'owner', activated: true, outcome: 'activated' }));
    expect(r.explained!.lines.slice(0, 2)).toEqual([
      'read: ALLOW by resource.ticket.vdefault#owner-reads-and-comments (role user, derived role owner)',
      'create: ALLOW by resource.ticket.vdefault#open-ticket (role user)',
    ]);
  });

  it('a DENY rule names itself: no refund scope through the AI agent, even for a support lead', () => {
    const r = engine.check(
      {
        principal: { id: 'lead', roles: ['support_lead'], attr: { workload: 'mcp-support-agent', chain: [] } },
        resource: { kind: 'txn_token', id: 'orders-api', attr: { workload: 'mcp-support-agent', audience: 'orders-api', request_details: {}, request_context: {} } },
        actions: ['orders:refund', 'tickets:write'],
      },
      { explain: true },
    );
    const refund = r.explained!.actions['orders:refund']!;
    expect(refund).toMatchObject({ effect: 'EFFECT_DENY', reason: 'rule', rule: 'resource.txn_token.vdefault#never-refund-via-agent' });
    // the lead's ALLOW matched too; the DENY wins
    expect(refund.considered.map((c) => [c.rule.split('#')[1], c.outcome])).toEqual([
      ['refund-for-leads', 'matched'],
      ['never-refund-via-agent', 'matched'],
    ]);
    expect(r.explained!.actions['tickets:write']!.considered[0]).toMatchObject({ outcome: 'condition_not_met', condition: '!V.agent_workload' });
  });

  it('an erroring derived-role condition is explained with its error (strict: it denies; lenient: it is skipped)', () => {
    const input: CheckInput = { principal: alice, resource: { kind: 'ticket', id: 'T-9', attr: {} }, actions: ['read'] };
    const strict = engine.check(input, { explain: true }).explained!;
    expect(strict.actions.read).toMatchObject({ effect: 'EFFECT_DENY', reason: 'condition_error', rule: 'resource.ticket.vdefault#owner-reads-and-comments' });
    expect(strict.actions.read!.considered[0]).toMatchObject({ outcome: 'error', derivedRoles: ['owner'], condition: 'R.attr.owner == P.id' });
    expect(strict.actions.read!.considered[0]!.error).toMatch(/owner/);
    expect(strict.derivedRoles.find((d) => d.name === 'owner')).toMatchObject({ activated: false, outcome: 'error', error: expect.stringMatching(/no such key/i) });
    expect(strict.lines[0]).toMatch(/^read: DENY by resource\.ticket\.vdefault#owner-reads-and-comments \(condition error; strict evaluation denies\): .*R\.attr\.owner == P\.id failed: .*no such key: owner$/);

    const lenient = createEngine({ policies: examples, lenient: true }).check(input, { explain: true }).explained!;
    expect(lenient.actions.read).toMatchObject({ effect: 'EFFECT_DENY', reason: 'default_deny' });
    expect(lenient.actions.read!.rule).toBeUndefined();
    expect(lenient.actions.read!.considered[0]).toMatchObject({ outcome: 'error', condition: 'R.attr.owner == P.id' });
  });

  it('an erroring rule condition is named, not the derived-role condition met before it (also after a derived role failed)', () => {
    const policies = [
      inline('dr.yaml', 'apiVersion: api.cerbos.dev/v1\nderivedRoles:\n  name: common\n  definitions:\n    - name: owner\n      parentRoles: [user]\n      condition:\n        match:\n          expr: R.attr.owner == P.id\n'),
      inline(
        'doc.yaml',
        'apiVersion: api.cerbos.dev/v1\nresourcePolicy:\n  resource: doc\n  version: default\n  importDerivedRoles: [common]\n  rules:\n' +
          '    - actions: [a]\n      name: owner-a\n      effect: EFFECT_ALLOW\n      derivedRoles: [owner]\n      condition:\n        match:\n          expr: R.attr.level > 1\n' +
          '    - actions: [b]\n      name: user-b\n      effect: EFFECT_ALLOW\n      roles: [user]\n      condition:\n        match:\n          expr: R.attr.level > 1\n',
      ),
    ];
    const u = { id: 'u', roles: ['user'] };
    // lenient: the derived role holds, then the rule's own condition fails
    const lenient = createEngine({ policies, lenient: true }).check({ principal: u, resource: { kind: 'doc', id: 'd', attr: { owner: 'u' } }, actions: ['a'] }, { explain: true }).explained!;
    expect(lenient.actions.a!.considered[0]).toMatchObject({ rule: 'resource.doc.vdefault#owner-a', outcome: 'error', derivedRoles: ['owner'], condition: 'R.attr.level > 1' });
    // strict: a's derived-role condition fails (owner missing); b's rule condition, evaluated next, is the one named for b
    const strict = createEngine({ policies }).check({ principal: u, resource: { kind: 'doc', id: 'd', attr: {} }, actions: ['a', 'b'] }, { explain: true }).explained!;
    expect(strict.actions.a!.considered[0]).toMatchObject({ outcome: 'error', derivedRoles: ['owner'], condition: 'R.attr.owner == P.id' });
    expect(strict.actions.b!.considered[0]).toMatchObject({ rule: 'resource.doc.vdefault#user-b', outcome: 'error', condition: 'R.attr.level > 1' });
  });

  it('an erroring rule condition (all-of) is explained with the readable condition and the error', () => {
    const e = createEngine({ policies: [levelPolicy], lenient: true });
    const r = e.check({ principal: { id: 'u', roles: ['user'], attr: { clearance: 3 } }, resource: { kind: 'doc', id: 'd', attr: { level: 'high' } }, actions: ['read'] }, { explain: true });
    const c = r.explained!.actions.read!.considered[0]!;
    expect(c).toMatchObject({ rule: 'resource.doc.vdefault#clearance', outcome: 'error', condition: 'all(P.attr.clearance >= R.attr.level, R.attr.published == true)' });
    expect(c.error).toBeTruthy();
    // the same condition merely false
    const f = e.check({ principal: { id: 'u', roles: ['user'], attr: { clearance: 3 } }, resource: { kind: 'doc', id: 'd', attr: { level: 5, published: true } }, actions: ['read'] }, { explain: true });
    expect(f.explained!.actions.read!.considered[0]).toMatchObject({ outcome: 'condition_not_met' });
    expect(f.explained!.lines[0]).toBe('read: DENY by resource.doc.vdefault (default deny): clearance: all(P.attr.clearance >= R.attr.level, R.attr.published == true) is false');
  });

  it('a principal-policy decision names the principal rule; unmatched actions fall through to the resource policy', () => {
    const e = createEngine({ policies: [...examples, principalPolicy] });
    const r = e.check({ principal: alice, resource: { kind: 'ticket', id: 'T-1', attr: { owner: 'alice', priority: 'high' } }, actions: ['delete', 'close', 'read'] }, { explain: true });
    expect(r.actions.delete).toMatchObject({ effect: 'EFFECT_DENY', policy: 'principal.alice.vdefault' });
    expect(r.explained!.actions.delete).toMatchObject({ reason: 'rule', rule: 'principal.alice.vdefault#alice-never-deletes' });
    expect(r.explained!.actions.close!.considered[0]).toMatchObject({ rule: 'principal.alice.vdefault#alice-closes-low-priority', outcome: 'condition_not_met', condition: 'R.attr.priority == "low"' });
    expect(r.explained!.actions.close).toMatchObject({ effect: 'EFFECT_DENY', policy: 'resource.ticket.vdefault', reason: 'default_deny' });
    expect(r.explained!.actions.read).toMatchObject({ effect: 'EFFECT_ALLOW', rule: 'resource.ticket.vdefault#owner-reads-and-comments' });
    expect(r.explained!.lines[0]).toBe('delete: DENY by principal.alice.vdefault#alice-never-deletes');
  });

  it('no policy for the kind is said so', () => {
    const r = engine.check({ principal: alice, resource: { kind: 'invoice', id: 'I-1' }, actions: ['read'] }, { explain: true });
    expect(r.explained!.actions.read).toEqual({ effect: 'EFFECT_DENY', policy: 'NO_MATCH', scope: '', reason: 'no_policy', considered: [] });
    expect(r.explained!.lines).toEqual(['read: DENY by NO_MATCH (no policy applies)']);
  });

  it('is JSON-serialisable and never changes the decision', () => {
    const inputs: CheckInput[] = [
      { principal: alice, resource: ticketOfBob, actions: ['read', 'create', 'close'] },
      { principal: { id: 'sam', roles: ['support_agent'], attr: { acting_for: 'bob' } }, resource: ticketOfBob, actions: ['read', 'comment', 'close'] },
      { principal: { id: 'lee', roles: ['support_lead'] }, resource: { kind: 'ticket', id: 'T-3' }, actions: ['read'] },
    ];
    for (const input of inputs) {
      const plain = engine.check(input);
      const explained = engine.check(input, { explain: true });
      expect(explained.actions).toEqual(plain.actions);
      expect(explained.effectiveDerivedRoles).toEqual(plain.effectiveDerivedRoles);
      expect(JSON.parse(JSON.stringify(explained.explained))).toEqual(explained.explained);
      expect(Object.keys(explained.explained!.actions)).toEqual(input.actions);
    }
  });

  it('explain off (the default) returns no explanation at all', () => {
    for (const opts of [undefined, {}, { explain: false }]) {
      const r = engine.check({ principal: alice, resource: ticketOfBob, actions: ['read'] }, opts);
      expect(r.explained).toBeUndefined();
      expect(r.actions.read?.effect).toBe('EFFECT_DENY');
    }
  });
});

// Across the Cerbos engine conformance corpus: explaining never changes a decision, explains every action, names the
// rule behind every ALLOW, and stays JSON. (Strict and lenient evaluation, both scope searches.)
const corpus = fileURLToPath(new URL('../../../shared/conformance/cerbos/testdata/', import.meta.url));
const corpusPresent = existsSync(corpus);
if (!corpusPresent) console.warn(`[explain] ${corpus} is absent: the corpus-wide explain test is skipped`);
describe.skipIf(!corpusPresent)('explain over the Cerbos engine conformance corpus', () => {
  const NOW = new Date('2021-04-22T10:05:20.021-05:00');
  for (const [dir, lenientScopeSearch] of [['engine', false], ['engine_lenient_scope_search', true]] as const) {
    it(`${dir}: same decisions, every action explained, every ALLOW (and a deciding DENY) names its rule`, () => {
      const policies = readPolicies(`${corpus}store`);
      let allows = 0;
      for (const lenient of [true, false]) {
        const e = createEngine({ policies, lenient, lenientScopeSearch, globals: { environment: 'test' } });
        for (const f of readdirSync(`${corpus}${dir}`).filter((n) => n.endsWith('.yaml'))) {
          const tc = parse(readFileSync(`${corpus}${dir}/${f}`, 'utf8')) as { inputs: CheckInput[] };
          for (const input of tc.inputs) {
            const i: CheckInput = { principal: input.principal, resource: input.resource, actions: input.actions, ...(input.auxData ? { auxData: input.auxData } : {}) };
            const plain = e.check(i, { now: NOW });
            const x = e.check(i, { now: NOW, explain: true });
            expect(x.actions, f).toEqual(plain.actions);
            expect(x.effectiveDerivedRoles, f).toEqual(plain.effectiveDerivedRoles);
            expect(x.outputs, f).toEqual(plain.outputs);
            const ex = x.explained!;
            expect(JSON.parse(JSON.stringify(ex))).toEqual(ex);
            expect(Object.keys(ex.actions).sort(), f).toEqual(Object.keys(plain.actions).sort());
            for (const [a, eff] of Object.entries(plain.actions)) {
              expect(ex.actions[a], `${f} ${a}`).toMatchObject({ effect: eff.effect, policy: eff.policy, scope: eff.scope });
              const rule = ex.actions[a]!.rule;
              if (rule !== undefined) expect(ex.actions[a]!.considered.some((c) => c.rule === rule && (c.outcome === 'matched' || c.outcome === 'error')), `${f} ${a}`).toBe(true);
              if (eff.effect === 'EFFECT_ALLOW') {
                allows++;
                expect(ex.actions[a]!.reason, `${f} ${a}`).toBe('rule');
                expect(ex.actions[a]!.considered.some((c) => c.rule === ex.actions[a]!.rule && c.outcome === 'matched'), `${f} ${a}`).toBe(true);
              }
            }
            expect(ex.lines.length).toBeGreaterThanOrEqual(Object.keys(plain.actions).length);
          }
        }
      }
      expect(allows).toBeGreaterThan(0);
    });
  }
});
