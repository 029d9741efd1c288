// P-05 with the per-check condition cache: a rule (or a derived role of a rule) that serves several actions is
// evaluated once per check, as Cerbos 0.55 does (its conditionCache, keyed by the rule's evaluation key), and every
// action it serves must be explained alike. Before the fix, a condition that failed in lenient mode was explained as
// `error` for the first action and, from the cache, as `condition_not_met` for the next; a derived role that did not
// hold was `derived_role_not_activated` first, then `condition_not_met` (naming a rule condition never evaluated).
// Decisions and outputs are the cache's (Cerbos's): explain-cache-cerbos.test.ts asks the Cerbos binary the same.
import { rmSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createEngine, type Engine } from '../../src/policy/engine.js';
import { readPolicies } from '../../src/policy/fs.node.js';
import type { CheckInput, CheckResult, ConsideredRule } from '../../src/policy/types.js';
import { CASES, doc, principal, summary, writePolicies } from './explain-cache.fixture.js';

/** The considered entry of `rule` for each action, as [action, entry]. */
const entries = (r: CheckResult, rule: string, actions: readonly string[]): ConsideredRule[] =>
  actions.map((a) => r.explained!.actions[a]!.considered.find((c) => c.rule === `resource.doc.vdefault#${rule}`)!);

let dir = '';
let engine: Engine;
beforeAll(() => {
  dir = writePolicies();
  engine = createEngine({ policies: readPolicies(dir), lenient: true });
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('explain: a cached condition is explained alike for every action it serves (lenient evaluation)', () => {
  it('a failing rule condition is `error`, with its condition and message, for both actions of the rule', () => {
    for (const actions of [['a', 'b'], ['b', 'a']]) {
      const r = engine.check({ principal, resource: doc({}), actions }, { explain: true });
      const [first, second] = entries(r, 'level', actions);
      expect(first).toMatchObject({ outcome: 'error', condition: 'R.attr.level > 1', error: expect.stringMatching(/no such key/) });
      expect(second).toEqual(first);
      for (const a of actions) expect(r.explained!.lines.find((l) => l.startsWith(`${a}:`))).toMatch(/R\.attr\.level > 1 failed: .*no such key/);
    }
  });

  it('after another condition failed in between, the cached one still names its own message', () => {
    // c's derived-role condition (owner missing) fails after a's rule condition; b then reads level from the cache
    const r = engine.check({ principal, resource: doc({}), actions: ['a', 'c', 'b'] }, { explain: true });
    const [a, c, b] = [entries(r, 'level', ['a'])[0]!, entries(r, 'owner-cd', ['c'])[0]!, entries(r, 'level', ['b'])[0]!];
    expect(c).toMatchObject({ outcome: 'error', condition: 'R.attr.owner == P.id', error: expect.stringMatching(/owner/) });
    expect(a.error).toMatch(/level/);
    expect(b).toEqual(a);
  });

  it('a failing derived-role condition is `error` naming the derived role\'s condition for both actions', () => {
    const r = engine.check({ principal, resource: doc({ open: true }), actions: ['c', 'd'] }, { explain: true });
    const [c, d] = entries(r, 'owner-cd', ['c', 'd']);
    expect(c).toMatchObject({ outcome: 'error', derivedRoles: ['owner'], condition: 'R.attr.owner == P.id' });
    expect(d).toEqual(c);
  });

  it('from the cache, a derived role that did not hold (or failed) for the first action is a condition not met for the next: its conditionNotMet output is emitted there only (as Cerbos 0.55 does)', () => {
    for (const attr of [{ owner: 'someone-else', open: true }, { open: true }]) {
      const r = engine.check({ principal, resource: doc(attr), actions: ['c', 'd'] });
      expect(r.outputs.map((o) => [o.action, o.src, o.val])).toEqual([['d', 'resource.doc.vdefault#owner-cd', 'not open']]);
      expect(r.actions.d).toMatchObject({ effect: 'EFFECT_DENY', policy: 'resource.doc.vdefault' });
    }
  });

  it('a derived role that does not hold is `derived_role_not_activated` for both actions, its condition named', () => {
    const r = engine.check({ principal, resource: doc({ owner: 'someone-else', open: true }), actions: ['c', 'd'] }, { explain: true });
    const [c, d] = entries(r, 'owner-cd', ['c', 'd']);
    expect(c).toMatchObject({ outcome: 'derived_role_not_activated', derivedRoles: ['owner'], condition: 'R.attr.owner == P.id' });
    expect(d).toEqual(c);
  });

  it('a condition merely false is `condition_not_met` for both actions (and a met one `matched`)', () => {
    const no = engine.check({ principal, resource: doc({ level: 0 }), actions: ['a', 'b'] }, { explain: true });
    expect(entries(no, 'level', ['a', 'b']).map((c) => [c.outcome, c.condition, c.error])).toEqual([
      ['condition_not_met', 'R.attr.level > 1', undefined],
      ['condition_not_met', 'R.attr.level > 1', undefined],
    ]);
    const yes = engine.check({ principal, resource: doc({ level: 2 }), actions: ['a', 'b'] }, { explain: true });
    expect(entries(yes, 'level', ['a', 'b']).map((c) => c.outcome)).toEqual(['matched', 'matched']);
  });
});

describe('explaining changes no decision and no output', () => {
  it('explained and plain checks agree on every case', () => {
    for (const { attr, actions } of CASES) {
      const input: CheckInput = { principal, resource: doc(attr), actions };
      const plain = engine.check(input);
      const x = engine.check(input, { explain: true });
      expect(summary(x), JSON.stringify({ attr, actions })).toEqual(summary(plain));
      expect(x.effectiveDerivedRoles).toEqual(plain.effectiveDerivedRoles);
    }
  });
});

