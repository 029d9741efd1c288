// Unit tests of the Txn-Token meaning (src/txn): the act chain and its one depth limit, the claim shapes a verifier
// requires, scope reading and implications, the principal, and unverified peeking through jose.
import { describe, expect, it } from 'vitest';
import {
  actChain,
  actDepth,
  expandScopes,
  isActChain,
  MAX_ACT_DEPTH,
  nestAct,
  parseScope,
  peekClaims,
  peekHeader,
  peekString,
  principalFrom,
  readAct,
  readScopeClaim,
  scopeCovers,
  scopeList,
  txnClaimsProblem,
  txnPrincipal,
  withActor,
  workloadsOf,
} from './index.js';

const b64 = (o: unknown) => btoa(JSON.stringify(o)).replace(/=+$/, '').replace(/\+/g, '-').replace(/\//g, '_');

describe('the act chain (T-22, T-23, R-05)', () => {
  it('T-22 nests the current workload outermost, earlier hops inside, and reads back outermost first', () => {
    const act = withActor('orders-svc', withActor('mcp', undefined));
    expect(act).toEqual({ sub: 'orders-svc', act: { sub: 'mcp' } });
    expect(actChain(act)).toEqual(['orders-svc', 'mcp']);
    expect(nestAct(['orders-svc', 'mcp'])).toEqual(act);
    expect(actDepth(act)).toBe(2);
    expect(workloadsOf({ act, req_wl: 'orders-svc' })).toEqual(['orders-svc', 'mcp']);
    expect(workloadsOf({ req_wl: 'mcp' })).toEqual(['mcp']);
  });

  it('T-23 one depth limit: MAX_ACT_DEPTH workloads are a chain, one more is not', () => {
    const names = (n: number) => Array.from({ length: n }, (_, i) => `w${i}`);
    expect(isActChain(nestAct(names(MAX_ACT_DEPTH)))).toBe(true);
    expect(isActChain(nestAct(names(MAX_ACT_DEPTH + 1)))).toBe(false);
    expect(readAct({ act: nestAct(names(MAX_ACT_DEPTH + 1)) })).toBe('invalid');
  });

  it('refuses an actor without a non-empty string sub, at any depth; a missing act is no chain', () => {
    for (const act of [{ sub: '' }, { sub: 7 }, [], 'mcp', { sub: 'a', act: { sub: '' } }, { sub: 'a', act: null }]) expect(readAct({ act })).toBe('invalid');
    expect(readAct({})).toBeUndefined();
  });

  it('a chain nested 100,000 levels deep is refused without recursion', () => {
    let deep: Record<string, unknown> = { sub: 'x' };
    for (let i = 0; i < 100_000; i++) deep = { sub: 'x', act: deep };
    expect(isActChain(deep)).toBe(false);
  });
});

describe('the claims of a Txn-Token (T-16, V-06)', () => {
  const ok = { txn: 't', sub: 'alice', scope: 'a', req_wl: 'mcp', act: { sub: 'mcp' }, tctx: {}, rctx: {} };
  it('V-06 well-formed claims have no problem', () => {
    expect(txnClaimsProblem(ok)).toBeUndefined();
  });
  it('V-06 names the first claim of the wrong type: sub as a number, an empty txn, scope as a number', () => {
    expect(txnClaimsProblem({ ...ok, sub: 42 })?.claim).toBe('sub');
    expect(txnClaimsProblem({ ...ok, txn: '' })?.claim).toBe('txn');
    expect(txnClaimsProblem({ ...ok, scope: 42 })?.claim).toBe('scope');
    expect(txnClaimsProblem({ ...ok, tctx: [] })?.claim).toBe('tctx');
  });
  it('T-22 the outermost act must be req_wl', () => {
    expect(txnClaimsProblem({ ...ok, act: { sub: 'someone-else' } })).toEqual({ claim: 'act', message: 'the outermost act does not name req_wl' });
  });
});

describe('scope (T-12, V-12)', () => {
  it('parses space-delimited scope once each, in order', () => {
    expect(parseScope(' a  b a c ')).toEqual(['a', 'b', 'c']);
    expect(scopeList(['a ', 'b', 'a', ''])).toEqual(['a', 'b']);
    // the client SDK's string form: space-delimited, the same reading
    expect(scopeList(' ab  cd ab ')).toEqual(['ab', 'cd']);
  });
  it('T-13 reads the configured claim, else scp; undefined when neither (unknown scope is never unlimited)', () => {
    expect(readScopeClaim({ scope: 'a b' })).toEqual(['a', 'b']);
    expect(readScopeClaim({ scp: ['a', 'b'] })).toEqual(['a', 'b']);
    expect(readScopeClaim({ perms: 'x' }, 'perms')).toEqual(['x']);
    expect(readScopeClaim({ scope: 42 })).toBeUndefined();
    expect(readScopeClaim({})).toBeUndefined();
  });
  it('T-13 a blank scope grants nothing: empty entries are dropped, so a claim of only blanks is an empty list (refused as no scope)', () => {
    expect(readScopeClaim({ scope: ' a  b ' })).toEqual(['a', 'b']);
    expect(readScopeClaim({ scope: '  ' })).toEqual([]);
    expect(readScopeClaim({ scope: ['a', '', 'b'] })).toEqual(['a', 'b']);
    expect(readScopeClaim({ scope: [''] })).toEqual([]);
  });
  it('T-13 a list with a non-string member is no scope claim (then scp is read); scp as the configured claim reads only scp', () => {
    expect(readScopeClaim({ scope: ['a', 42] })).toBeUndefined();
    expect(readScopeClaim({ scope: ['a', 42], scp: ['s'] })).toEqual(['s']);
    expect(readScopeClaim({ scope: 'a', scp: 'b c' }, 'scp')).toEqual(['b', 'c']);
    expect(readScopeClaim({ scope: 'a' }, 'scp')).toBeUndefined();
  });
  it('T-12 implications widen downward only, transitively, never through Object.prototype', () => {
    const imp = { tickets: ['tickets:read', 'tickets:write'], all: ['tickets'] };
    expect([...expandScopes(['all'], imp)].sort()).toEqual(['all', 'tickets', 'tickets:read', 'tickets:write']);
    expect(scopeCovers(new Set(['tickets']), 'tickets:read', imp)).toBe(true);
    expect(scopeCovers(new Set(['tickets:read']), 'tickets', imp)).toBe(false);
    expect(scopeCovers(new Set(['tickets']), 'tickets:read')).toBe(false);
    expect([...expandScopes(['constructor', '__proto__'], imp)].sort()).toEqual(['__proto__', 'constructor']);
  });
  it('T-12 a scope covers itself, with or without implications', () => {
    expect(scopeCovers(new Set(['tickets:read']), 'tickets:read')).toBe(true);
    expect(scopeCovers(new Set(['tickets:read']), 'tickets:read', { tickets: ['tickets:read'] })).toBe(true);
  });
  it('T-12 implications that form a cycle (the configuration allows it) end: each scope is expanded once', () => {
    const cyclic = { a: ['b'], b: ['c', 'a'], c: ['a'] };
    expect([...expandScopes(['a'], cyclic)].sort()).toEqual(['a', 'b', 'c']);
    expect(scopeCovers(new Set(['c']), 'b', cyclic)).toBe(true);
  });
});

describe('the principal (V-12, T-24)', () => {
  it('T-24 V-12 the user with the current actor and the earlier hops; workload and chain win over attributes', () => {
    const claims = { sub: 'alice', req_wl: 'orders-svc', act: { sub: 'orders-svc', act: { sub: 'mcp' } }, tctx: { roles: ['user', '', 7], attr: { tenant: 'acme', workload: 'forged' } } };
    expect(txnPrincipal(claims)).toEqual({ id: 'alice', roles: ['user'], attr: { tenant: 'acme', workload: 'orders-svc', chain: ['mcp'] } });
  });
  it('a user without roles gets ["user"], at the TTS and at every service alike', () => {
    expect(principalFrom({ sub: 'bob', roles: [], attr: {}, workload: 'mcp', earlier: [] })).toEqual({ id: 'bob', roles: ['user'], attr: { workload: 'mcp', chain: [] } });
    expect(txnPrincipal({ sub: 'bob', req_wl: 'mcp' }).roles).toEqual(['user']);
  });
});

describe('peeking at an unverified token (jose decodeJwt / decodeProtectedHeader)', () => {
  const token = `${b64({ alg: 'EdDSA', kid: 'k' })}.${b64({ iss: 'https://idp', sub: 'alice', txn: '' })}.c2ln`;
  it('reads header and claims without verifying anything', () => {
    expect(peekHeader(token)).toEqual({ alg: 'EdDSA', kid: 'k' });
    expect(peekClaims(token)).toMatchObject({ iss: 'https://idp', sub: 'alice' });
    expect(peekString(token, 'sub')).toBe('alice');
    expect(peekString(token, 'txn')).toBeUndefined();
  });
  it('is undefined for anything that is not a compact JWS with a JSON object payload', () => {
    for (const t of ['', 'opaque', 'a.b', `${b64({})}.${b64([1])}.x`, `${b64({})}.!!.x`, 'a.b.c.d.e']) expect(peekClaims(t)).toBeUndefined();
    expect(peekHeader('nope')).toBeUndefined();
  });
});
