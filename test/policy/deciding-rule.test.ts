// `decidingRule: true` (CheckOptions): each action decided by a rule carries that rule, the one an explanation names,
// without an explanation being collected; the decision and everything else in the result stay as without it. The TTS
// scope decision (src/exchange/policy-scope.ts) names the rule that denied a scope this way.
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { parse } from 'yaml';
import { describe, expect, it } from 'vitest';
import { createEngine, type Engine } from '../../src/policy/engine.js';
import { readPolicies } from '../../src/policy/fs.node.js';
import type { CheckInput, CheckOptions, PolicySource } from '../../src/policy/types.js';
import { genAction, genAttrs, genPolicySet, genScope, PEOPLE, prng, vocabulary } from '../helpers/policy-gen.js';

const NOW = new Date('2021-04-22T10:05:20.021-05:00');

/** Checks `input` plainly, explained and with decidingRule; asserts they agree. Returns how many actions named a rule. */
function agree(e: Engine, input: CheckInput, label: string): number {
  const opts: CheckOptions = { now: NOW };
  const plain = e.check(input, opts);
  const x = e.check(input, { ...opts, explain: true });
  const named = e.check(input, { ...opts, decidingRule: true });
  for (const eff of Object.values(plain.actions)) expect('rule' in eff, label).toBe(false);
  expect(named.effectiveDerivedRoles, label).toEqual(plain.effectiveDerivedRoles);
  expect(named.outputs, label).toEqual(plain.outputs);
  expect(named.evaluationErrors, label).toEqual(plain.evaluationErrors);
  expect(named.resource, label).toEqual(plain.resource);
  expect(named.explained, label).toBeUndefined();
  expect(Object.keys(named.actions), label).toEqual(Object.keys(plain.actions));
  let n = 0;
  for (const [a, eff] of Object.entries(plain.actions)) {
    const got = named.actions[a]!;
    const want = x.explained!.actions[a]!.rule;
    expect(got, `${label} ${a}`).toEqual(want === undefined ? eff : { ...eff, rule: want });
    // an action no rule decided has no `rule` key at all (not one holding undefined)
    if (want === undefined) expect('rule' in got, `${label} ${a}`).toBe(false);
    if (want !== undefined) n++;
  }
  // explain and decidingRule together: the actions carry the rule and the explanation is the same
  const both = e.check(input, { ...opts, explain: true, decidingRule: true });
  expect(both.actions, label).toEqual(named.actions);
  expect(both.explained, label).toEqual(x.explained);
  return n;
}

describe('decidingRule: true', () => {
  const examples = createEngine({ policies: readPolicies(fileURLToPath(new URL('../../policies/', import.meta.url))) });

  it('names the rule behind an ALLOW and a DENY, and nothing for a default deny or a missing policy', () => {
    const agent = { id: 'u1', roles: ['support_lead'], attr: { workload: 'mcp-support-agent', chain: [] } };
    const txn = { kind: 'txn_token', id: 'support.example', attr: { workload: 'mcp-support-agent', audience: 'support.example', request_details: {}, request_context: {} } };
    const r = examples.check({ principal: agent, resource: txn, actions: ['tickets:read', 'tickets:write', 'orders:refund'] }, { decidingRule: true });
    expect(r.actions).toEqual({
      'tickets:read': { effect: 'EFFECT_ALLOW', policy: 'resource.txn_token.vdefault', scope: '', rule: 'resource.txn_token.vdefault#read-scopes' },
      'tickets:write': { effect: 'EFFECT_DENY', policy: 'resource.txn_token.vdefault', scope: '' },
      'orders:refund': { effect: 'EFFECT_DENY', policy: 'resource.txn_token.vdefault', scope: '', rule: 'resource.txn_token.vdefault#never-refund-via-agent' },
    });
    const none = examples.check({ principal: agent, resource: { kind: 'invoice', id: 'I-1' }, actions: ['read'] }, { decidingRule: true });
    expect(none.actions).toEqual({ read: { effect: 'EFFECT_DENY', policy: 'NO_MATCH', scope: '' } });
  });

  it('the example policies: the rule an explanation names, for every role and action', () => {
    let n = 0;
    for (const roles of [['user'], ['support_agent'], ['support_lead'], ['user', 'support_agent']]) {
      for (const workload of ['web-portal', 'mcp-support-agent']) {
        const principal = { id: 'alice', roles, attr: { workload, chain: workload === 'web-portal' ? ['mcp-support-agent'] : [], acting_for: 'bob' } };
        for (const owner of ['alice', 'bob']) {
          n += agree(examples, { principal, resource: { kind: 'ticket', id: 'T-1', attr: { owner } }, actions: ['create', 'read', 'comment', 'close', 'delete'] }, `ticket ${roles} ${workload} ${owner}`);
          n += agree(examples, { principal, resource: { kind: 'order', id: 'O-1', attr: { owner } }, actions: ['read', 'refund', 'cancel'] }, `order ${roles} ${workload} ${owner}`);
        }
        const txn = { kind: 'txn_token', id: 'support.example', attr: { workload, audience: 'support.example', request_details: {}, request_context: {} } };
        n += agree(examples, { principal, resource: txn, actions: ['tickets:read', 'tickets:write', 'orders:read', 'orders:refund'] }, `txn_token ${roles} ${workload}`);
      }
    }
    expect(n).toBeGreaterThan(20);
  });

  it('generated policy sets (seed 7): the rule an explanation names', () => {
    const rng = prng(7);
    let n = 0;
    for (let set = 0; set < 3; set++) {
      const sources: PolicySource[] = genPolicySet(rng);
      const v = vocabulary(sources);
      for (const lenient of [false, true]) {
        const e = createEngine({ policies: sources, lenient });
        for (let i = 0; i < 100; i++) {
          const id = rng.pick([...PEOPLE, ...v.principalIds]);
          const ids = [id, ...PEOPLE, ...v.principalIds];
          const principal: CheckInput['principal'] = { id, roles: rng.some([...v.roles, ...v.derivedRoles, 'user'], 1, 3) };
          const pAttr = genAttrs(rng, v, v.pAttrs, ids);
          if (pAttr) principal.attr = pAttr;
          const pScope = genScope(rng, v);
          if (pScope !== undefined) principal.scope = pScope;
          const resource: CheckInput['resource'] = { kind: rng.pick(v.kinds), id: `r${i}` };
          const rAttr = genAttrs(rng, v, v.rAttrs, ids);
          if (rAttr) resource.attr = rAttr;
          const rScope = rng.chance(0.5) ? pScope : genScope(rng, v);
          if (rScope !== undefined) resource.scope = rScope;
          const actions = [...new Set(Array.from({ length: 1 + rng.int(5) }, () => genAction(rng, v)))];
          n += agree(e, { principal, resource, actions }, `set ${set} lenient=${lenient} case ${i}`);
        }
      }
    }
    expect(n).toBeGreaterThan(100);
  });

  const corpus = fileURLToPath(new URL('../../../shared/conformance/cerbos/testdata/', import.meta.url));
  it.skipIf(!existsSync(corpus))('the Cerbos engine conformance corpus (strict and lenient, both scope searches): the rule an explanation names', () => {
    let n = 0;
    for (const [dir, lenientScopeSearch] of [['engine', false], ['engine_lenient_scope_search', true]] as const) {
      const policies = readPolicies(`${corpus}store`);
      for (const lenient of [true, false]) {
        const e = createEngine({ policies, lenient, lenientScopeSearch, globals: { environment: 'test' } });
        for (const f of readdirSync(`${corpus}${dir}`).filter((x) => x.endsWith('.yaml'))) {
          const tc = parse(readFileSync(`${corpus}${dir}/${f}`, 'utf8')) as { inputs: CheckInput[] };
          for (const input of tc.inputs) {
            const i: CheckInput = { principal: input.principal, resource: input.resource, actions: input.actions, ...(input.auxData ? { auxData: input.auxData } : {}) };
            n += agree(e, i, `${dir}/${f} lenient=${lenient}`);
          }
        }
      }
    }
    expect(n).toBeGreaterThan(50);
  });
});
