// The scope step without HTTP (T-12..T-14, T-24): requested ∩ subject ∩ ceiling ∩ policy, with why each was dropped.
import { describe, expect, it } from 'vitest';
import { refusal } from '../../test/helpers/tts-context.js';
import { principalFrom } from '../txn/index.js';
import { decideScope, NoScopeGranted, type ScopePolicy } from './scope.js';

const policyInput = {
  principal: principalFrom({ sub: 'alice', roles: ['user'], attr: {}, workload: 'agent', earlier: ['assistant'] }),
  workload: 'agent', chain: ['assistant'], audience: 'support.example', requestDetails: undefined, requestContext: undefined,
};

describe('the scope step', () => {
  it('T-12 granted = requested ∩ subject (with implications) ∩ ceiling ∩ policy, in the order asked, each drop with its reason', () => {
    const seen: unknown[] = [];
    const policy: ScopePolicy = {
      allowedScopes(input, candidates) {
        seen.push(input.principal);
        return { allowed: candidates.filter((s) => s !== 'tickets:write'), denied: [{ scope: 'tickets:write', policy: 'resource.txn_token.vdefault', rule: 'resource.txn_token.vdefault#r' }] };
      },
    };
    const d = decideScope({
      requested: ['orders:read', 'tickets:write', 'tickets:read', 'admin'],
      subjectScopes: ['tickets', 'admin'],
      ceiling: ['tickets', 'orders:read'],
      implications: { tickets: ['tickets:read', 'tickets:write'] },
      policy,
      policyInput,
    });
    expect(d.granted).toEqual(['tickets:read']);
    expect(d.dropped).toEqual([
      { scope: 'orders:read', reason: 'subject' },
      { scope: 'admin', reason: 'ceiling' },
      { scope: 'tickets:write', reason: 'policy', policy: 'resource.txn_token.vdefault', rule: 'resource.txn_token.vdefault#r' },
    ]);
    // T-24: the policy sees the user with the current actor and the earlier hops, as every service does
    expect(seen).toEqual([{ id: 'alice', roles: ['user'], attr: { workload: 'agent', chain: ['assistant'] } }]);
  });

  it('T-14 nothing granted is invalid_scope, carrying the drops for the log (never for the caller)', async () => {
    const r = await refusal(() => decideScope({ requested: ['x'], subjectScopes: [], ceiling: ['x'], implications: {} }));
    expect(r).toMatchObject({ error: 'invalid_scope', reason: 'scope.none_granted', message: 'none of the requested scopes can be granted' });
    try {
      decideScope({ requested: ['x'], subjectScopes: [], ceiling: ['x'], implications: {} });
    } catch (e) {
      expect((e as NoScopeGranted).dropped).toEqual([{ scope: 'x', reason: 'subject' }]);
    }
  });

  it('T-12 policy is not asked when the subject and the ceiling leave nothing: the refusal carries only their drops', async () => {
    const asked: string[][] = [];
    const policy: ScopePolicy = { allowedScopes: (_i, c) => (asked.push([...c]), { allowed: [...c], denied: [] }) };
    const r = await refusal(() => decideScope({ requested: ['x', 'y'], subjectScopes: ['y'], ceiling: ['x'], implications: {}, policy, policyInput }));
    expect(r).toMatchObject({ error: 'invalid_scope', reason: 'scope.none_granted' });
    expect(asked).toEqual([]);
    // and with something left, policy sees exactly what passed both
    decideScope({ requested: ['x', 'y', 'z'], subjectScopes: ['x', 'z'], ceiling: ['z', 'y'], implications: {}, policy, policyInput });
    expect(asked).toEqual([['z']]);
  });

  it('a policy without its input fails closed (a wiring error, never a grant without a decision)', () => {
    const policy: ScopePolicy = { allowedScopes: (_i, c) => ({ allowed: [...c], denied: [] }) };
    expect(() => decideScope({ requested: ['x'], subjectScopes: ['x'], ceiling: ['x'], implications: {}, policy })).toThrow('policy input missing');
  });

  it('T-12 a policy drop names the policy and rule only when policy gave them; a rule given as a getter is read only by the log', () => {
    let reads = 0;
    const lazy = { scope: 'b', policy: 'p', get rule() { reads += 1; return 'p#r'; } };
    const policy: ScopePolicy = { allowedScopes: () => ({ allowed: ['c'], denied: [{ scope: 'a' }, lazy] }) };
    const d = decideScope({ requested: ['a', 'b', 'c'], subjectScopes: ['a', 'b', 'c'], ceiling: ['a', 'b', 'c'], implications: {}, policy, policyInput });
    expect(d.granted).toEqual(['c']);
    expect(d.dropped[0]).toStrictEqual({ scope: 'a', reason: 'policy' });
    expect(Object.keys(d.dropped[0]!)).toEqual(['scope', 'reason']);
    expect(reads).toBe(0);
    expect(d.dropped[1]!.rule).toBe('p#r');
    expect(reads).toBe(1);
    expect(JSON.parse(JSON.stringify(d.dropped[1]))).toEqual({ scope: 'b', reason: 'policy', policy: 'p', rule: 'p#r' });
  });
});
