/**
 * The service-side entry points on their own (found by mutation testing, docs/mutation.md): the hono middleware's
 * answers (status, `WWW-Authenticate`, `Cache-Control: no-store`, the body a client reads, the scope list given as a
 * string or a list, implications), `verifyRequest` on a fetch Request (the Authorization header never read), and what
 * `withTxnToken` refuses to forward. Tokens are signed here with a key of the test's own, as the TTS signs them.
 */
import { Hono } from 'hono';
import { importJWK, SignJWT, type JWK } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { generateSigningJwk, toPublicJwk } from '../../src/jose/keys.js';
import { createVerifier, txnToken, TxnTokenError, verifyRequest, withTxnToken, type TxnTokenEnv, type Verifier } from '../../src/verify/index.js';
import { TRUST_DOMAIN } from '../helpers/names.js';

const T0 = 1_800_000_000;
let signing: JWK;
let verifier: Verifier;

async function token(scope = 'docs:read', exp = T0 + 300): Promise<string> {
  return new SignJWT({ txn: 'txn-1', scope, req_wl: 'mcp', act: { sub: 'mcp' } })
    .setProtectedHeader({ alg: 'EdDSA', kid: signing.kid!, typ: 'txntoken+jwt' })
    .setSubject('alice').setAudience(TRUST_DOMAIN).setIssuedAt(T0).setExpirationTime(exp)
    .sign(await importJWK(signing, 'EdDSA'));
}

function app(o: { scope?: string | string[]; implications?: Record<string, string[]> } = {}): Hono<TxnTokenEnv> {
  const a = new Hono<TxnTokenEnv>();
  a.use('*', txnToken({ verifier, ...o }));
  a.get('/', (c) => c.json({ sub: c.var.txn.sub, txn: c.var.txn.txn }));
  return a;
}

beforeAll(async () => {
  signing = await generateSigningJwk('EdDSA');
  verifier = createVerifier({ trustDomain: TRUST_DOMAIN, jwks: { keys: [toPublicJwk(signing)] }, onDecision: null, now: () => T0 * 1000 });
});
afterAll(async () => {
  await verifier?.close();
});

describe('txnToken (hono)', () => {
  it('a verified token: the route runs with c.var.txn', async () => {
    const r = await app().request('/', { headers: { 'Txn-Token': await token() } });
    expect(r.status).toBe(200);
    expect(await r.json()).toEqual({ sub: 'alice', txn: 'txn-1' });
  });

  it('a refused token: 401, the code in WWW-Authenticate and the body, never stored by a cache', async () => {
    const r = await app().request('/', { headers: { 'Txn-Token': await token('docs:read', T0 - 120) } });
    expect(r.status).toBe(401);
    expect(r.headers.get('www-authenticate')).toBe('Txn-Token error="expired"');
    expect(r.headers.get('cache-control')).toBe('no-store');
    expect(await r.json()).toEqual({ error: 'expired', error_description: expect.any(String) });
  });

  it('no Txn-Token: 401 missing, saying that a token in Authorization is never read only when one came there; another refusal is never turned into missing', async () => {
    const t = await token();
    const bare = await app().request('/');
    expect(bare.status).toBe(401);
    expect(bare.headers.get('www-authenticate')).toBe('Txn-Token error="missing"');
    expect(((await bare.json()) as { error_description: string }).error_description).not.toContain('Authorization');
    const viaAuth = await app().request('/', { headers: { Authorization: `Bearer ${t}` } });
    expect(viaAuth.status).toBe(401);
    const body = (await viaAuth.json()) as { error: string; error_description: string };
    expect(body.error).toBe('missing');
    expect(body.error_description).toContain('Authorization');
    const both = await app().request('/', { headers: { 'Txn-Token': await token('docs:read', T0 - 120), Authorization: `Bearer ${t}` } });
    expect(both.headers.get('www-authenticate')).toBe('Txn-Token error="expired"');
    expect(((await both.json()) as { error: string }).error).toBe('expired');
  });

  it('a scope not covered: 403 insufficient_scope naming what is missing; every needed scope is in the challenge', async () => {
    const r = await app({ scope: ['docs:read', 'docs:write', 'docs:admin'] }).request('/', { headers: { 'Txn-Token': await token('docs:read') } });
    expect(r.status).toBe(403);
    expect(r.headers.get('www-authenticate')).toBe('Txn-Token error="insufficient_scope", scope="docs:read docs:write docs:admin"');
    expect(r.headers.get('cache-control')).toBe('no-store');
    expect(await r.json()).toEqual({ error: 'insufficient_scope', error_description: "the Txn-Token's scope does not cover docs:write docs:admin" });
    // one scope as a string; covered directly or through the configured implications
    expect((await app({ scope: 'docs:write' }).request('/', { headers: { 'Txn-Token': await token('docs:read') } })).status).toBe(403);
    expect((await app({ scope: 'docs:read' }).request('/', { headers: { 'Txn-Token': await token('docs:read') } })).status).toBe(200);
    expect((await app({ scope: ['docs:read', 'docs:write'] }).request('/', { headers: { 'Txn-Token': await token('docs') } })).status).toBe(403);
    expect((await app({ scope: ['docs:read', 'docs:write'], implications: { docs: ['docs:read', 'docs:write'] } }).request('/', { headers: { 'Txn-Token': await token('docs') } })).status).toBe(200);
    expect((await app({ scope: [] }).request('/', { headers: { 'Txn-Token': await token('docs:read') } })).status).toBe(200);
  });
});

describe('txnToken with a verifier of the service\'s own (the Verifier interface)', () => {
  it('a verifier that fails with anything but a TxnTokenError: 503 unavailable (fail closed), nothing of the failure shown', async () => {
    const failing: Verifier = { verify: () => Promise.reject(new Error('db password wrong')), cacheStats: () => ({ entries: 0, bytes: 0 }), close: async () => {} };
    const a = new Hono<TxnTokenEnv>();
    a.use('*', txnToken({ verifier: failing }));
    a.get('/', (c) => c.text('reached'));
    const r = await a.request('/', { headers: { 'Txn-Token': await token() } });
    expect(r.status).toBe(503);
    expect(r.headers.get('www-authenticate')).toBe('Txn-Token error="unavailable"');
    const body = (await r.json()) as { error: string; error_description: string };
    expect(body).toEqual({ error: 'unavailable', error_description: expect.any(String) });
    expect(body.error_description).not.toContain('password');
  });
});

describe('verifyRequest (fetch Request)', () => {
  it('verifies the Txn-Token header; without one, `missing` (saying so when a token came in Authorization, which is never read)', async () => {
    const t = await token();
    expect((await verifyRequest(verifier, new Request('http://svc/', { headers: { 'Txn-Token': t } }))).txn).toBe('txn-1');
    const bare = await verifyRequest(verifier, new Request('http://svc/')).catch((e: unknown) => e);
    expect(bare).toBeInstanceOf(TxnTokenError);
    expect(bare).toMatchObject({ code: 'missing', reason: 'header.missing' });
    expect((bare as Error).message).not.toContain('Authorization');
    const viaAuth = await verifyRequest(verifier, new Request('http://svc/', { headers: { Authorization: `Bearer ${t}` } })).catch((e: unknown) => e);
    expect(viaAuth).toBeInstanceOf(TxnTokenError);
    expect(viaAuth).toMatchObject({ code: 'missing', reason: 'header.missing' });
    expect((viaAuth as Error).message).toContain('Authorization');
    // a refused token next to an Authorization header keeps its own refusal
    const both = await verifyRequest(verifier, new Request('http://svc/', { headers: { 'Txn-Token': await token('docs:read', T0 - 120), Authorization: `Bearer ${t}` } })).catch((e: unknown) => e);
    expect(both).toMatchObject({ code: 'expired', reason: 'expired' });
    const notJws = await verifyRequest(verifier, new Request('http://svc/', { headers: { 'Txn-Token': 'x', Authorization: `Bearer ${t}` } })).catch((e: unknown) => e);
    expect(notJws).toMatchObject({ code: 'malformed', reason: 'header.not_jws' });
  });
});

describe('withTxnToken (V-10)', () => {
  it('refuses to forward anything but one token: empty, with whitespace or a comma (two tokens), or a context without one', async () => {
    const f = async () => new Response('ok');
    for (const bad of ['', 'a.b.c d.e.f', 'a.b.c,d.e.f', ' a.b.c', 'a.b.c\n', { token: '' }]) expect(() => withTxnToken(f, bad as string)).toThrow(TypeError);
    expect(() => withTxnToken(f, {} as { token: string })).toThrow(TypeError);
    expect(() => withTxnToken(f, 'a.b.c')).not.toThrow();
    expect(() => withTxnToken(f, { token: 'a.b.c' })).not.toThrow();
  });
});
