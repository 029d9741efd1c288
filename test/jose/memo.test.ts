// What the hot paths remember between tokens (issue 13): the key a local key set selected, the protected headers seen
// before, the verifier's frozen claims. Each must answer exactly what a fresh computation would, refusals included.
import { base64url, errors, exportJWK, generateKeyPair } from 'jose';
import { describe, expect, it } from 'vitest';
import { nodeJwsCrypto } from '../../src/jose/crypto.node.js';
import { freezeJsonWithin, jsonDepth } from '../../src/jose/json-bounds.js';
import { JwsFormatError, parseCompactJws, signCompactJws } from '../../src/jose/jws.js';
import { localKeySet } from '../../src/jose/key-source.js';
import { checkTxnToken } from '../../src/jose/profiles.js';

async function pair(kid: string) {
  const { publicKey, privateKey } = await generateKeyPair('EdDSA', { extractable: true });
  return { privateKey, jwk: { ...(await exportJWK(publicKey)), kid, alg: 'EdDSA' } };
}
const input = { protected: '', payload: '', signature: '' };

describe('localKeySet', () => {
  it('selects through jose the first time, then answers the same key at once; an unknown kid or alg is refused every time', async () => {
    const a = await pair('a');
    const b = await pair('b');
    const keys = localKeySet({ keys: [a.jwk, b.jwk] });
    expect(keys.cached({ alg: 'EdDSA', kid: 'a' }, input)).toBeUndefined();
    const first = keys({ alg: 'EdDSA', kid: 'a' }, input);
    expect(first).toBeInstanceOf(Promise);
    const key = await first;
    const again = keys({ alg: 'EdDSA', kid: 'a' }, input);
    expect(again).toBe(key); // not a promise: the remembered key
    expect(keys.cached({ alg: 'EdDSA', kid: 'b' }, input)).toBeUndefined(); // only what was selected
    expect(await keys({ alg: 'EdDSA', kid: 'b' }, input)).not.toBe(key);
    for (let i = 0; i < 2; i++) {
      await expect(keys({ alg: 'EdDSA', kid: 'nope' }, input)).rejects.toBeInstanceOf(errors.JWKSNoMatchingKey);
      await expect(keys({ alg: 'ES256', kid: 'a' }, input)).rejects.toBeInstanceOf(errors.JWKSNoMatchingKey);
      await expect(keys({ alg: 'EdDSA' }, input)).rejects.toBeInstanceOf(errors.JWKSMultipleMatchingKeys); // two keys, no kid
    }
  });

  it('never remembers a selection made with an unprotected header (it takes part in jose selection)', async () => {
    const a = await pair('a');
    const keys = localKeySet({ keys: [a.jwk] });
    await keys({ alg: 'EdDSA', kid: 'a' }, { ...input, header: { kid: 'a' } });
    expect(keys.cached({ alg: 'EdDSA', kid: 'a' }, input)).toBeUndefined();
  });
});

describe('parseCompactJws: headers seen before', () => {
  it('a remembered header is still refused for crit or b64, and is frozen', async () => {
    const a = await pair('a');
    const t1 = await signCompactJws({ kid: 'a', typ: 'txntoken+jwt' }, { sub: 'x' }, 'EdDSA', a.privateKey, nodeJwsCrypto);
    const t2 = await signCompactJws({ kid: 'a', typ: 'txntoken+jwt' }, { sub: 'y' }, 'EdDSA', a.privateKey, nodeJwsCrypto);
    const h1 = parseCompactJws(t1, nodeJwsCrypto).header;
    expect(parseCompactJws(t2, nodeJwsCrypto).header).toBe(h1);
    expect(Object.isFrozen(h1)).toBe(true);
    const crit = base64url.encode(JSON.stringify({ alg: 'EdDSA', crit: 'exp' }));
    const [, p, s] = t1.split('.');
    for (let i = 0; i < 2; i++) expect(() => parseCompactJws(`${crit}.${p}.${s}`, nodeJwsCrypto)).toThrow(JwsFormatError);
  });

  it('a header with an object member is parsed every time (never shared)', () => {
    const h = base64url.encode(JSON.stringify({ alg: 'EdDSA', jwk: { kty: 'OKP' } }));
    const token = `${h}.${base64url.encode('{}')}.AAAA`;
    const one = parseCompactJws(token, nodeJwsCrypto).header;
    const two = parseCompactJws(token, nodeJwsCrypto).header;
    expect(two).not.toBe(one);
    expect(two).toEqual(one);
  });
});

describe('parseCompactJws: what the header memo keeps, and its bound', () => {
  // Found unasserted by the jose mutation run of 2026-12-01 17:04 UTC (docs/mutation.md, jose).
  const tokenWith = (header: Record<string, unknown>) => `${base64url.encode(JSON.stringify(header))}.e30.AAAA`;
  const headerOf = (token: string) => parseCompactJws(token, nodeJwsCrypto).header;

  it('two headers in turn are both remembered (a new header does not drop the others)', () => {
    const a = tokenWith({ alg: 'EdDSA', kid: 'turn-a' });
    const b = tokenWith({ alg: 'EdDSA', kid: 'turn-b' });
    const ha = headerOf(a);
    const hb = headerOf(b);
    expect(headerOf(a)).toBe(ha);
    expect(headerOf(b)).toBe(hb);
  });

  it('a header part of up to 512 characters is remembered, a longer one is parsed every time; a null member is flat', () => {
    // {"alg":"EdDSA","kid":"…"}: 22 + kid + 2 characters of JSON; 384 bytes are 512 base64url characters, 385 are 514
    const at512 = tokenWith({ alg: 'EdDSA', kid: 'k'.repeat(360) });
    const at514 = tokenWith({ alg: 'EdDSA', kid: 'k'.repeat(361) });
    expect(at512.indexOf('.')).toBe(512);
    expect(at514.indexOf('.')).toBe(514);
    expect(headerOf(at512)).toBe(headerOf(at512));
    const long = headerOf(at514);
    expect(headerOf(at514)).not.toBe(long);
    expect(headerOf(at514)).toEqual(long);
    const withNull = tokenWith({ alg: 'EdDSA', kid: 'null-member', x5t: null });
    expect(headerOf(withNull)).toBe(headerOf(withNull));
  });

  it('holds at most 256 headers: the 257th distinct header drops the memo first', () => {
    const probe = tokenWith({ alg: 'EdDSA', kid: 'bound-probe' });
    let fresh = 0;
    const insertFresh = () => headerOf(tokenWith({ alg: 'EdDSA', kid: `bound-${fresh++}` }));
    // the memo's state is unknown (other tests): insert distinct headers until the probe is dropped with the memo
    let prev = headerOf(probe);
    let steps = 0;
    for (; steps < 300; steps++) {
      insertFresh();
      const again = headerOf(probe);
      if (again !== prev) break; // dropped while inserting: the memo now holds that header and the probe again
      prev = again;
    }
    expect(steps).toBeLessThan(257);
    const kept = headerOf(probe);
    for (let i = 0; i < 254; i++) insertFresh(); // 256 headers
    expect(headerOf(probe)).toBe(kept);
    insertFresh(); // the 257th: the memo is dropped, then this one kept
    expect(headerOf(probe)).not.toBe(kept);
  });
});

describe('freezeJsonWithin', () => {
  it('answers jsonDepth and freezes every object and array it walked', () => {
    const v = { a: [1, { b: { c: [] } }], d: 'x' };
    expect(freezeJsonWithin(v, 64)).toBe(jsonDepth(v));
    expect(Object.isFrozen(v) && Object.isFrozen(v.a) && Object.isFrozen(v.a[1]) && Object.isFrozen((v.a[1] as { b: { c: [] } }).b.c)).toBe(true);
    let deep: unknown = {};
    for (let i = 0; i < 100; i++) deep = { x: deep };
    expect(freezeJsonWithin(deep, 64)).toBeGreaterThan(64);
  });
});

describe('checkTxnToken', () => {
  it('answers at once when the key was selected before and the backend is node:crypto; the claims frozen when asked', async () => {
    const a = await pair('a');
    const now = Math.floor(Date.now() / 1000);
    const claims = { txn: 't', sub: 'alice', scope: 's', req_wl: 'w', iat: now, exp: now + 60, aud: 'd', tctx: { attr: { e: 'x' } } };
    const token = await signCompactJws({ kid: 'a', typ: 'txntoken+jwt' }, claims, 'EdDSA', a.privateKey, nodeJwsCrypto);
    const profile = { getKey: localKeySet({ keys: [a.jwk] }), algorithms: ['EdDSA'], clockSkew: 30, audiences: ['d'], crypto: nodeJwsCrypto, freeze: true };
    const first = checkTxnToken(token, profile);
    expect(first).toBeInstanceOf(Promise); // the key is selected through jose the first time
    await first;
    const second = checkTxnToken(token, profile);
    expect(second).not.toBeInstanceOf(Promise);
    const { claims: got } = second as Awaited<typeof first>;
    expect(got).toMatchObject({ sub: 'alice' });
    expect(Object.isFrozen(got) && Object.isFrozen(got.tctx) && Object.isFrozen(got.tctx!.attr)).toBe(true);
    // a refusal is still thrown synchronously, with its reason
    expect(() => checkTxnToken(token, { ...profile, audiences: ['other'] })).toThrow(expect.objectContaining({ reason: 'wrong_audience' }));
  });
});
