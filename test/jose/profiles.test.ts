// The JWT profiles' claim checks at their edges, each refusal pinned to its reason (issue 18: found unasserted by
// mutation testing, docs/mutation.md). The HTTP paths that use them: test/tts/refusals.test.ts, test/verify/.
import { createLocalJWKSet, errors, exportJWK, generateKeyPair, type JWK } from 'jose';
import { beforeAll, describe, expect, it } from 'vitest';
import { nodeJwsCrypto } from '../../src/jose/crypto.node.js';
import { MAX_TXN_TOKEN_DEPTH } from '../../src/jose/json-bounds.js';
import { JwsFormatError, signCompactJws, type JwsCrypto } from '../../src/jose/jws.js';
import { JwtProfileError, normTyp, verifyAccessToken, verifyClientAssertion, verifyIdToken, verifySelfSigned, verifyTxnToken, type VerifyCommon } from '../../src/jose/profiles.js';

const NOW = 1_800_000_000;
const AUD = 'support.example';
let key: CryptoKey;
let common: VerifyCommon;

beforeAll(async () => {
  const pair = await generateKeyPair('EdDSA', { extractable: true });
  key = pair.privateKey;
  const jwk: JWK = { ...(await exportJWK(pair.publicKey)), kid: 'k', alg: 'EdDSA' };
  common = { getKey: createLocalJWKSet({ keys: [jwk] }), algorithms: ['EdDSA'], clockSkew: 30, currentDate: new Date(NOW * 1000) };
});

const sign = (claims: Record<string, unknown>, header: Record<string, unknown> = { typ: 'txntoken+jwt' }) => signCompactJws({ kid: 'k', ...header }, claims, 'EdDSA', key);
const txn = (over: Record<string, unknown> = {}) => ({ txn: 't-1', sub: 'alice', scope: 'tickets:read', req_wl: 'mcp', iat: NOW, exp: NOW + 60, aud: AUD, ...over });
const reasonOf = async (p: Promise<unknown>) =>
  p.then(
    () => 'accepted',
    (e: { reason?: string }) => e.reason ?? String(e),
  );
const txnProfile = () => ({ ...common, audiences: [AUD] });

describe('claim checks, each refusal by its reason', () => {
  it('V-05 exp: refused from now - clockSkew on, accepted one second before', async () => {
    expect(await reasonOf(verifyTxnToken(await sign(txn({ iat: NOW - 120, exp: NOW - 30 })), txnProfile()))).toBe('expired');
    expect(await reasonOf(verifyTxnToken(await sign(txn({ iat: NOW - 120, exp: NOW - 29 })), txnProfile()))).toBe('accepted');
  });

  it('V-05 iat and nbf: accepted up to now + clockSkew, refused after', async () => {
    expect(await reasonOf(verifyTxnToken(await sign(txn({ iat: NOW + 30, exp: NOW + 90 })), txnProfile()))).toBe('accepted');
    expect(await reasonOf(verifyTxnToken(await sign(txn({ iat: NOW + 31, exp: NOW + 90 })), txnProfile()))).toBe('not_yet_valid');
    expect(await reasonOf(verifyTxnToken(await sign(txn({ nbf: NOW + 30 })), txnProfile()))).toBe('accepted');
    expect(await reasonOf(verifyTxnToken(await sign(txn({ nbf: NOW + 31 })), txnProfile()))).toBe('not_yet_valid');
  });

  it('V-05 time claims must be numbers; sub must be a non-empty string', async () => {
    for (const c of ['iat', 'nbf', 'exp'] as const) expect(await reasonOf(verifyTxnToken(await sign(txn({ [c]: String(NOW) })), txnProfile())), c).toBe(`invalid_claim.${c}`);
    expect(await reasonOf(verifyTxnToken(await sign(txn({ sub: 42 })), txnProfile()))).toBe('invalid_claim.sub');
    expect(await reasonOf(verifyTxnToken(await sign(txn({ sub: '' })), txnProfile()))).toBe('invalid_claim.sub');
  });

  it('V-03 V-04 V-07 audience and issuer: missing or not listed are wrong_audience / wrong_issuer; any listed audience is enough', async () => {
    expect(await reasonOf(verifyTxnToken(await sign(txn({ aud: undefined })), txnProfile()))).toBe('wrong_audience');
    expect(await reasonOf(verifyTxnToken(await sign(txn({ aud: ['other.example', AUD] })), txnProfile()))).toBe('accepted');
    expect(await reasonOf(verifyTxnToken(await sign(txn({ aud: ['other.example', 7] })), txnProfile()))).toBe('wrong_audience');
    expect(await reasonOf(verifyTxnToken(await sign(txn({ aud: [AUD, 7] })), txnProfile()))).toBe('wrong_audience');
    const withIss = { ...txnProfile(), issuer: 'https://tts.example' };
    expect(await reasonOf(verifyTxnToken(await sign(txn()), withIss))).toBe('wrong_issuer');
    expect(await reasonOf(verifyTxnToken(await sign(txn({ iss: 'https://other.example' })), withIss))).toBe('wrong_issuer');
    expect(await reasonOf(verifyTxnToken(await sign(txn({ iss: 'https://tts.example' })), withIss))).toBe('accepted');
  });

  it('V-02 each required Txn-Token claim, when missing, is named', async () => {
    for (const c of ['txn', 'scope', 'req_wl', 'iat'] as const) expect(await reasonOf(verifyTxnToken(await sign(txn({ [c]: undefined })), txnProfile())), c).toBe(`missing_claim.${c}`);
  });

  it('V-03 typ is compared as RFC 7515 says: case-insensitive, application/ prefix omitted; other kinds are wrong_type', async () => {
    expect(normTyp('Application/TxnToken+JWT')).toBe('txntoken+jwt');
    expect(normTyp(7)).toBeUndefined();
    for (const typ of ['TxnToken+JWT', 'application/txntoken+jwt']) expect(await reasonOf(verifyTxnToken(await sign(txn(), { typ }), txnProfile())), typ).toBe('accepted');
    for (const typ of ['JWT', 'at+jwt', undefined]) expect(await reasonOf(verifyTxnToken(await sign(txn(), typ === undefined ? {} : { typ }), txnProfile())), String(typ)).toBe('wrong_type');
  });

  it('V-06 the algorithm is checked against the list before any key; a key set that cannot answer is key_unavailable', async () => {
    expect(await reasonOf(verifyTxnToken(await sign(txn()), { ...txnProfile(), algorithms: ['ES256'] }))).toBe('bad_algorithm');
    const throwing = (e: Error) => ({ ...txnProfile(), getKey: () => Promise.reject(e) });
    expect(await reasonOf(verifyTxnToken(await sign(txn()), throwing(new errors.JWKSMultipleMatchingKeys())))).toBe('unknown_kid');
    expect(await reasonOf(verifyTxnToken(await sign(txn()), throwing(new errors.JWKSNoMatchingKey())))).toBe('unknown_kid');
    expect(await reasonOf(verifyTxnToken(await sign(txn()), throwing(new errors.JOSEAlgNotAllowed('x'))))).toBe('bad_algorithm');
    expect(await reasonOf(verifyTxnToken(await sign(txn()), throwing(new errors.JOSENotSupported('x'))))).toBe('bad_algorithm');
    expect(await reasonOf(verifyTxnToken(await sign(txn()), throwing(new Error('ECONNREFUSED'))))).toBe('key_unavailable');
  });

  it('V-02 the kid of the verified token is returned (absent: undefined)', async () => {
    expect((await verifyTxnToken(await sign(txn()), txnProfile())).kid).toBe('k');
    const noKid = await signCompactJws({ typ: 'txntoken+jwt' }, txn(), 'EdDSA', key);
    expect((await verifyTxnToken(noKid, txnProfile())).kid).toBeUndefined();
  });

  it('V-03 V-06 a token of the wrong type or algorithm never reaches key selection', async () => {
    let lookups = 0;
    const counting = { ...txnProfile(), getKey: (...a: Parameters<VerifyCommon['getKey']>) => (lookups++, common.getKey(...a)) };
    expect(await reasonOf(verifyTxnToken(await sign(txn(), { typ: 'at+jwt' }), counting))).toBe('wrong_type');
    expect(await reasonOf(verifyTxnToken(await sign(txn()), { ...counting, algorithms: ['ES256'] }))).toBe('bad_algorithm');
    expect(lookups).toBe(0);
    expect(await reasonOf(verifyTxnToken(await sign(txn()), counting))).toBe('accepted');
    expect(lookups).toBe(1);
  });

  it('a key set failure keeps what failed as the cause (for the log), and a malformed token is malformed', async () => {
    const down = new Error('ECONNREFUSED');
    const e = await verifyTxnToken(await sign(txn()), { ...txnProfile(), getKey: () => Promise.reject(down) }).catch((x: unknown) => x);
    expect(e).toBeInstanceOf(JwtProfileError);
    expect(e).toMatchObject({ code: 'key_unavailable', reason: 'key_unavailable', cause: down });
    expect(await reasonOf(verifyTxnToken('not.a.jwt', txnProfile()))).toBe('malformed');
    expect(new JwtProfileError('expired', 'x').cause).toBeUndefined();
  });

  it('V-04 V-07 issuer and audience are compared whole: a prefix of the configured value is not it', async () => {
    expect(await reasonOf(verifyTxnToken(await sign(txn({ aud: 'support' })), txnProfile()))).toBe('wrong_audience');
    const withIss = { ...txnProfile(), issuer: 'https://tts.example' };
    expect(await reasonOf(verifyTxnToken(await sign(txn({ iss: 'https://tts' })), withIss))).toBe('wrong_issuer');
  });

  it('V-02 a malformed act is named, unless the claims are nested too deep to read (then too_deep, before any walk)', async () => {
    expect(await reasonOf(verifyTxnToken(await sign(txn({ act: { sub: '' } })), txnProfile()))).toBe('invalid_claim.act');
    let deep: unknown = { sub: 'x' };
    for (let i = 0; i < 70; i++) deep = { sub: 'x', act: deep };
    expect(await reasonOf(verifyTxnToken(await sign(txn({ act: deep })), txnProfile()))).toBe('too_deep');
    expect(await reasonOf(verifyTxnToken(await sign(txn({ scope: 7 })), txnProfile()))).toBe('invalid_claim.scope');
    expect(await reasonOf(verifyTxnToken(await sign(txn({ scope: 7, tctx: deep })), txnProfile()))).toBe('invalid_claim.scope');
    expect(await reasonOf(verifyTxnToken(await sign(txn({ tctx: deep })), txnProfile()))).toBe('too_deep');
  });
});

describe('profiles other than the Txn-Token', () => {
  const client = (over: Record<string, unknown> = {}) => ({ iss: 'c1', sub: 'c1', aud: 'https://tts.example', jti: 'j-1', exp: NOW + 60, ...over });
  const clientProfile = () => ({ ...common, clientId: 'c1', audience: 'https://tts.example', maxLifetime: 300 });

  it('T-08 a client assertion: sub = the client, a jti of 1..256 characters, exp at most maxLifetime (+ skew) ahead', async () => {
    const v = async (over: Record<string, unknown>, header: Record<string, unknown> = {}) => reasonOf(verifyClientAssertion(await sign(client(over), header), clientProfile()));
    expect(await v({})).toBe('accepted');
    for (const typ of ['JWT', 'client-authentication+jwt']) expect(await v({}, { typ }), typ).toBe('accepted');
    expect(await v({}, { typ: 'at+jwt' })).toBe('wrong_type');
    expect(await v({ sub: 'c2' })).toBe('invalid_claim.sub');
    expect(await v({ jti: '' })).toBe('invalid_claim.jti');
    expect(await v({ jti: 7 })).toBe('invalid_claim.jti');
    expect(await v({ jti: 'j'.repeat(256) })).toBe('accepted');
    expect(await v({ jti: 'j'.repeat(257) })).toBe('invalid_claim.jti');
    expect(await v({ exp: NOW + 330 })).toBe('accepted');
    expect(await v({ exp: NOW + 331 })).toBe('lifetime_too_long');
    expect(await v({ jti: undefined })).toBe('missing_claim.jti');
    // without exp an assertion would never expire
    expect(await v({ exp: undefined })).toBe('missing_claim.exp');
    expect(await v({ sub: undefined })).toBe('missing_claim.sub');
    expect(await v({ iss: 'c2' })).toBe('wrong_issuer');
    expect(await v({ iss: 'c' })).toBe('wrong_issuer');
    expect(await v({ aud: 'https://tts' })).toBe('wrong_audience');
    expect(await v({ aud: ['https://tts.example'] })).toBe('audience_not_single');
    expect(await v({ aud: undefined })).toBe('wrong_audience');
  });

  it('T-10 a self-signed subject names a user (never the workload), with a bounded lifetime', async () => {
    const self = (over: Record<string, unknown>) => ({ iss: 'c1', sub: 'alice', aud: 'https://tts.example', iat: NOW, exp: NOW + 60, ...over });
    const v = async (over: Record<string, unknown>, header: Record<string, unknown> = {}) => reasonOf(verifySelfSigned(await sign(self(over), header), clientProfile()));
    expect(await v({})).toBe('accepted');
    expect(await v({}, { typ: 'JWT' })).toBe('accepted');
    expect(await v({}, { typ: 'client-authentication+jwt' })).toBe('wrong_type');
    expect(await v({ sub: 'c1' })).toBe('invalid_claim.sub');
    expect(await v({ exp: NOW + 330 })).toBe('accepted');
    expect(await v({ exp: NOW + 331 })).toBe('lifetime_too_long');
    expect(await v({ aud: ['https://tts.example'] })).toBe('audience_not_single');
    expect(await v({ aud: 'https://other.example' })).toBe('wrong_audience');
    expect(await v({ iss: 'c2' })).toBe('wrong_issuer');
    for (const c of ['sub', 'iat', 'exp']) expect(await v({ [c]: undefined }), c).toBe(`missing_claim.${c}`);
  });

  it('T-09 an access token: typ from the configured list (null: absent), never txntoken+jwt; exp and sub required', async () => {
    const at = (over: Record<string, unknown> = {}) => ({ iss: 'https://idp.example', sub: 'alice', aud: 'mcp', exp: NOW + 60, ...over });
    const profile = (typ: (string | null)[]) => ({ ...common, issuer: 'https://idp.example', audiences: ['mcp'], typ });
    const v = async (typ: (string | null)[], header: Record<string, unknown>, over: Record<string, unknown> = {}) => reasonOf(verifyAccessToken(await sign(at(over), header), profile(typ)));
    expect(await v(['at+jwt'], { typ: 'at+jwt' })).toBe('accepted');
    expect(await v(['at+jwt'], { typ: 'application/AT+JWT' })).toBe('accepted');
    expect(await v(['at+jwt'], {})).toBe('wrong_type');
    expect(await v(['at+jwt', null], {})).toBe('accepted');
    expect(await v(['txntoken+jwt'], { typ: 'txntoken+jwt' })).toBe('wrong_type');
    expect(await v(['at+jwt'], { typ: 'at+jwt' }, { exp: undefined })).toBe('missing_claim.exp');
    expect(await v(['at+jwt'], { typ: 'at+jwt' }, { sub: undefined })).toBe('missing_claim.sub');
    expect(await v(['at+jwt'], { typ: 'at+jwt' }, { iss: 'https://idp' })).toBe('wrong_issuer');
    expect(await v(['at+jwt'], { typ: 'at+jwt' }, { iss: undefined })).toBe('wrong_issuer');
    expect(await v(['at+jwt'], { typ: 'at+jwt' }, { aud: 'other' })).toBe('wrong_audience');
    // an access token may carry several audiences (RFC 9068); one configured is enough
    expect(await v(['at+jwt'], { typ: 'at+jwt' }, { aud: ['other', 'mcp'] })).toBe('accepted');
  });

  it('T-09 an ID token: typ JWT or absent, iat required', async () => {
    const id = (over: Record<string, unknown> = {}) => ({ iss: 'https://idp.example', sub: 'alice', aud: 'mcp', iat: NOW, exp: NOW + 60, ...over });
    const profile = { ...common, issuer: 'https://idp.example', audiences: ['mcp'] };
    expect(await reasonOf(verifyIdToken(await sign(id(), {}), profile))).toBe('accepted');
    expect(await reasonOf(verifyIdToken(await sign(id(), { typ: 'JWT' }), profile))).toBe('accepted');
    expect(await reasonOf(verifyIdToken(await sign(id(), { typ: 'at+jwt' }), profile))).toBe('wrong_type');
    expect(await reasonOf(verifyIdToken(await sign(id({ iat: undefined }), {}), profile))).toBe('missing_claim.iat');
    expect(await reasonOf(verifyIdToken(await sign(id({ exp: undefined }), {}), profile))).toBe('missing_claim.exp');
    expect(await reasonOf(verifyIdToken(await sign(id({ sub: undefined }), {}), profile))).toBe('missing_claim.sub');
    expect(await reasonOf(verifyIdToken(await sign(id({ iss: 'https://other.example' }), {}), profile))).toBe('wrong_issuer');
    expect(await reasonOf(verifyIdToken(await sign(id({ aud: 'other' }), {}), profile))).toBe('wrong_audience');
    expect(await reasonOf(verifyIdToken(await sign(id({ exp: NOW - 31 }), {}), profile))).toBe('expired');
  });
});

// Found unasserted by the jose mutation run of 2026-12-01 17:04 UTC (docs/mutation.md, jose): each case pins a
// refusal's code next to its reason, a bound at its edge, or what a caller hands the profile (backend, clock, key set).
describe('profile edges: codes, bounds, what the caller configured', () => {
  let pub: CryptoKey;
  beforeAll(async () => {
    pub = (await common.getKey({ alg: 'EdDSA', kid: 'k' }, { protected: '', payload: '', signature: '' })) as CryptoKey;
  });
  const refusal = async (p: Promise<unknown>) =>
    p.then(
      () => 'accepted',
      (e: JwtProfileError) => ({ name: e.name, code: e.code, reason: e.reason }),
    );
  const client = (over: Record<string, unknown> = {}) => ({ iss: 'c1', sub: 'c1', aud: 'https://tts.example', jti: 'j-1', exp: NOW + 60, ...over });
  const clientProfile = () => ({ ...common, clientId: 'c1', audience: 'https://tts.example', maxLifetime: 300 });
  const self = (over: Record<string, unknown> = {}) => ({ iss: 'c1', sub: 'alice', aud: 'https://tts.example', iat: NOW, exp: NOW + 60, ...over });
  const at = (over: Record<string, unknown> = {}) => ({ iss: 'https://idp.example', sub: 'alice', aud: 'mcp', exp: NOW + 60, ...over });
  const atProfile = (typ: (string | null)[] = ['at+jwt']) => ({ ...common, issuer: 'https://idp.example', audiences: ['mcp'], typ });
  /** nested objects, `levels` deep (an object is one level, as jsonDepth counts) */
  const nested = (levels: number): Record<string, unknown> => {
    let v: Record<string, unknown> = {};
    for (let i = 1; i < levels; i++) v = { x: v };
    return v;
  };

  it('a refusal is a JwtProfileError by name; the bound refusals keep the code a caller maps next to their finer reason', async () => {
    expect(await refusal(verifyTxnToken(await sign(txn({ iat: NOW - 120, exp: NOW - 31 })), txnProfile()))).toEqual({ name: 'JwtProfileError', code: 'expired', reason: 'expired' });
    expect(await refusal(verifyClientAssertion(await sign(client({ aud: ['https://tts.example'] }), {}), clientProfile()))).toMatchObject({ code: 'wrong_audience', reason: 'audience_not_single' });
    expect(await refusal(verifySelfSigned(await sign(self({ aud: ['https://tts.example'] }), {}), clientProfile()))).toMatchObject({ code: 'wrong_audience', reason: 'audience_not_single' });
    expect(await refusal(verifyClientAssertion(await sign(client({ exp: NOW + 331 }), {}), clientProfile()))).toMatchObject({ code: 'invalid_claim', reason: 'lifetime_too_long' });
    expect(await refusal(verifySelfSigned(await sign(self({ exp: NOW + 331 }), {}), clientProfile()))).toMatchObject({ code: 'invalid_claim', reason: 'lifetime_too_long' });
    expect(await refusal(verifyTxnToken(await sign(txn({ tctx: nested(64) })), txnProfile()))).toMatchObject({ code: 'invalid_claim', reason: 'too_deep' });
  });

  it(`V-02 claims nested exactly MAX_TXN_TOKEN_DEPTH (${MAX_TXN_TOKEN_DEPTH}) levels are read, one more is too_deep, frozen or not`, async () => {
    // the payload is level 1, so tctx may hold MAX_TXN_TOKEN_DEPTH - 1 levels
    for (const freeze of [false, true]) {
      const profile = { ...txnProfile(), freeze };
      expect(await reasonOf(verifyTxnToken(await sign(txn({ tctx: nested(MAX_TXN_TOKEN_DEPTH - 1) })), profile)), `freeze ${freeze}`).toBe('accepted');
      expect(await reasonOf(verifyTxnToken(await sign(txn({ tctx: nested(MAX_TXN_TOKEN_DEPTH) })), profile)), `freeze ${freeze}`).toBe('too_deep');
    }
  });

  it('the claims are deeply frozen only when freeze: true is asked (the verifier), otherwise the caller may edit them (the TTS)', async () => {
    const token = await sign(txn({ tctx: { a: { b: [1] } } }));
    const frozen = (await verifyTxnToken(token, { ...txnProfile(), freeze: true })).claims;
    expect(Object.isFrozen(frozen) && Object.isFrozen(frozen.tctx) && Object.isFrozen((frozen.tctx as { a: { b: number[] } }).a.b)).toBe(true);
    for (const freeze of [undefined, false]) {
      const { claims } = await verifyTxnToken(token, { ...txnProfile(), freeze });
      expect(Object.isFrozen(claims) || Object.isFrozen(claims.tctx), `freeze ${freeze}`).toBe(false);
    }
  });

  it('V-05 a clockSkew of 0 is allowed and exact: exp = now is expired, exp = now + 1 is not', async () => {
    const exact = { ...txnProfile(), clockSkew: 0 };
    expect(await reasonOf(verifyTxnToken(await sign(txn({ exp: NOW + 1 })), exact))).toBe('accepted');
    expect(await reasonOf(verifyTxnToken(await sign(txn({ exp: NOW })), exact))).toBe('expired');
    expect(await reasonOf(verifyTxnToken(await sign(txn({ iat: NOW + 1 })), exact))).toBe('not_yet_valid');
  });

  it('T-09 T-10 sub must be a non-empty string in every profile, not only the Txn-Token', async () => {
    for (const sub of [42, '']) {
      expect(await reasonOf(verifyAccessToken(await sign(at({ sub }), { typ: 'at+jwt' }), atProfile())), `access ${sub}`).toBe('invalid_claim.sub');
      const id = { iss: 'https://idp.example', sub, aud: 'mcp', iat: NOW, exp: NOW + 60 };
      expect(await reasonOf(verifyIdToken(await sign(id, {}), { ...common, issuer: 'https://idp.example', audiences: ['mcp'] })), `id ${sub}`).toBe('invalid_claim.sub');
      expect(await reasonOf(verifySelfSigned(await sign(self({ sub }), {}), clientProfile())), `self ${sub}`).toBe('invalid_claim.sub');
    }
  });

  it('the issuer is checked before the audience: a token with neither is wrong_issuer', async () => {
    expect(await reasonOf(verifyAccessToken(await sign(at({ iss: undefined, aud: undefined }), { typ: 'at+jwt' }), atProfile()))).toBe('wrong_issuer');
    expect(await reasonOf(verifyClientAssertion(await sign(client({ iss: undefined, aud: undefined }), {}), clientProfile()))).toBe('wrong_issuer');
  });

  it('T-08 T-10 without a configured currentDate the lifetime bound reads the real clock', async () => {
    const real = Math.floor(Date.now() / 1000);
    const live = { ...clientProfile(), currentDate: undefined };
    expect(await reasonOf(verifyClientAssertion(await sign(client({ exp: real + 60 }), {}), live))).toBe('accepted');
    expect(await reasonOf(verifyClientAssertion(await sign(client({ exp: real + 400 }), {}), live))).toBe('lifetime_too_long');
    expect(await reasonOf(verifySelfSigned(await sign(self({ iat: real, exp: real + 60 }), {}), live))).toBe('accepted');
    expect(await reasonOf(verifySelfSigned(await sign(self({ iat: real, exp: real + 400 }), {}), live))).toBe('lifetime_too_long');
  });

  it('T-09 the wrong_type refusal names the accepted typ values (the subject refusal sends it to the client)', async () => {
    const e = await verifyAccessToken(await sign(at(), { typ: 'JWT' }), atProfile(['at+jwt', null])).catch((x: unknown) => x);
    expect(e).toMatchObject({ code: 'wrong_type', message: 'typ must be at+jwt or (absent)' });
  });

  it("T-09 an issuer's typ list changed in place is read as it is now (the contents decide, not the array)", async () => {
    const list: (string | null)[] = ['at+jwt'];
    const v = async (header: Record<string, unknown>) => reasonOf(verifyAccessToken(await sign(at(), header), atProfile(list)));
    expect(await v({ typ: 'at+jwt' })).toBe('accepted');
    expect(await v({})).toBe('wrong_type');
    list[0] = 'jwt'; // same length, every member changed
    expect(await v({ typ: 'JWT' })).toBe('accepted');
    expect(await v({ typ: 'at+jwt' })).toBe('wrong_type');
    list.push(null); // longer, the first member unchanged
    expect(await v({})).toBe('accepted');
    list[1] = 'at+jwt'; // same length, one member of two changed
    expect(await v({})).toBe('wrong_type');
    expect(await v({ typ: 'at+jwt' })).toBe('accepted');
  });

  it('key selection: a synchronous refusal is mapped as an asynchronous one, with its cause; a JwtProfileError of the key source passes unchanged', async () => {
    const token = await sign(txn());
    const noKey = new errors.JWKSNoMatchingKey();
    const e1 = await verifyTxnToken(token, { ...txnProfile(), getKey: () => { throw noKey; } }).catch((x: unknown) => x);
    expect(e1).toMatchObject({ code: 'unknown_kid', cause: noKey });
    const down = new Error('ECONNREFUSED');
    expect(await verifyTxnToken(token, { ...txnProfile(), getKey: () => { throw down; } }).catch((x: unknown) => x)).toMatchObject({ code: 'key_unavailable', cause: down });
    const many = new errors.JWKSMultipleMatchingKeys();
    expect(await verifyTxnToken(token, { ...txnProfile(), getKey: () => Promise.reject(many) }).catch((x: unknown) => x)).toMatchObject({ code: 'unknown_kid', cause: many });
    const alg = new errors.JOSEAlgNotAllowed('x');
    expect(await verifyTxnToken(token, { ...txnProfile(), getKey: () => Promise.reject(alg) }).catch((x: unknown) => x)).toMatchObject({ code: 'bad_algorithm', cause: alg });
    // the key source's own refusal (it says when the next fetch is tried) reaches the caller as it was thrown
    const own = new JwtProfileError('key_unavailable', 'the key set cannot be fetched (timeout); next attempt in 5 s');
    expect(await verifyTxnToken(token, { ...txnProfile(), getKey: () => Promise.reject(own) }).catch((x: unknown) => x)).toBe(own);
    const unknown = new JwtProfileError('unknown_kid', 'no such kid');
    expect(await reasonOf(verifyTxnToken(token, { ...txnProfile(), getKey: () => Promise.reject(unknown) }))).toBe('unknown_kid');
  });

  it('a malformed token keeps the parse refusal as its cause', async () => {
    const e = await verifyTxnToken('a.b', txnProfile()).catch((x: unknown) => x);
    expect(e).toMatchObject({ code: 'malformed', reason: 'malformed' });
    expect((e as Error).cause).toBeInstanceOf(JwsFormatError);
  });

  it('a kid that is not a string is never returned as the kid', async () => {
    const token = await sign(txn(), { kid: 7, typ: 'txntoken+jwt' });
    expect(await verifyTxnToken(token, { ...txnProfile(), getKey: () => pub })).toMatchObject({ claims: { sub: 'alice' }, kid: undefined });
  });

  it("the profile's signature backend parses and verifies, not the process default", async () => {
    const b64 = nodeJwsCrypto.base64url!;
    let decodes = 0;
    let verifies = 0;
    const counting: JwsCrypto = {
      ...nodeJwsCrypto,
      name: 'counting',
      base64url: { encode: (i) => b64.encode(i), decode: (s) => (decodes++, b64.decode(s)) },
      verify: (...a) => (verifies++, nodeJwsCrypto.verify(...a)),
    };
    expect(await reasonOf(verifyTxnToken(await sign(txn({ txn: 't-counting' })), { ...txnProfile(), crypto: counting }))).toBe('accepted');
    expect(decodes).toBeGreaterThan(0);
    expect(verifies).toBe(1);
    const refusing: JwsCrypto = { ...nodeJwsCrypto, name: 'refusing', verify: () => false };
    expect(await reasonOf(verifyTxnToken(await sign(txn()), { ...txnProfile(), crypto: refusing }))).toBe('bad_signature');
  });
});
