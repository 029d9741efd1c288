// baton/client against a real TTS on loopback: discovery, private_key_jwt and client_secret, cache, error codes,
// no token in any output.
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { exportJWK, generateKeyPair, SignJWT } from 'jose';
import { clientSecret, createTokenExchangeClient, privateKeyJwt, TokenExchangeError } from '../../src/client/index.js';
import { parseConfig } from '../../src/config/schema.js';
import { generateSigningJwk, toPublicJwk } from '../../src/jose/keys.js';
import { startNode, type RunningNode } from '../../src/node.js';
import { claimsOf } from '../helpers/jwt.js';
import { TT_TXN_TOKEN } from '../../src/txn/index.js';

const IDP = 'https://idp.test.example';
const AUD = 'https://mcp.test.example/mcp';
let tts: RunningNode;
let keysDir: string;
let idpKey: CryptoKey;
let agentJwk: Awaited<ReturnType<typeof generateSigningJwk>>;
const SECRET = 'a-long-client-secret-for-tests';

async function userToken(o: { sub?: string; scope?: string; exp?: string | number } = {}): Promise<string> {
  return new SignJWT({ scope: o.scope ?? 'tickets orders', client_id: 'chat-app' })
    .setProtectedHeader({ alg: 'ES256', typ: 'at+jwt', kid: 'idp-1' })
    .setIssuer(IDP).setSubject(o.sub ?? 'alice').setAudience(AUD).setIssuedAt(Math.floor(Date.now() / 1000) - 5)
    .setExpirationTime(o.exp ?? '10m').setJti(crypto.randomUUID()).sign(idpKey);
}

beforeAll(async () => {
  keysDir = await mkdtemp(join(tmpdir(), 'baton-client-test-'));
  const kp = await generateKeyPair('ES256');
  idpKey = kp.privateKey;
  const idpJwk = { ...(await exportJWK(kp.publicKey)), kid: 'idp-1', alg: 'ES256' };
  agentJwk = await generateSigningJwk('ES256');
  const config = parseConfig({
    issuer: 'http://127.0.0.1:0',
    trustDomain: 'support.example',
    keys: keysDir,
    policies: 'policies',
    subjectIssuers: [{ issuer: IDP, jwks: { keys: [idpJwk] }, audiences: [AUD], algorithms: ['ES256'] }],
    clients: [
      { id: 'mcp-support-agent', auth: 'private_key_jwt', jwks: { keys: [toPublicJwk(agentJwk)] }, scopes: ['tickets:read', 'tickets:write', 'orders:read', 'orders:refund'], subjectAudiences: [AUD] },
      { id: 'svc-secret', auth: 'client_secret_basic', secret: SECRET, scopes: ['tickets:read', 'orders:read'], subjectAudiences: [AUD] },
    ],
    scopeImplications: { tickets: ['tickets:read', 'tickets:write'], orders: ['orders:read', 'orders:refund'] },
    allowedRequestDetails: ['tool', 'ticket_id'],
  });
  // the issuer must name the real port: reserve one by starting once, then restart on it
  const probe = await startNode({ loaded: { config, file: 'test', resolvePath: (p) => p }, port: 0, say: () => {} });
  const port = Number(new URL(probe.url).port);
  await probe.close();
  tts = await startNode({ loaded: { config: { ...config, issuer: `http://127.0.0.1:${port}` }, file: 'test', resolvePath: (p) => p }, port, say: () => {} });
}, 30_000);

afterAll(async () => {
  await tts?.close();
  await rm(keysDir, { recursive: true, force: true });
});

const agent = () => createTokenExchangeClient({ issuer: tts.url, clientId: 'mcp-support-agent', auth: privateKeyJwt(agentJwk), trustDomain: 'support.example', allowInsecureHttp: true });

describe('createTokenExchangeClient', () => {
  it('W-02 exchanges with private_key_jwt (fresh assertion each time) and caches per subject, scope and details', async () => {
    const c = agent();
    const at = await userToken();
    const a = await c.exchange({ subjectToken: at, scope: 'tickets:read', requestDetails: { tool: 'get_ticket', ticket_id: 'T-1' } });
    expect(a.cached).toBe(false);
    expect(a.scope).toEqual(['tickets:read']);
    expect(a.sub).toBe('alice');
    expect(a.chain).toEqual(['mcp-support-agent']);
    expect(a.txn).toMatch(/^[0-9a-f-]{36}$/);
    expect(a.expiresAt).toBeGreaterThan(Date.now() / 1000);

    const hit = await c.exchange({ subjectToken: at, scope: ['tickets:read'], requestDetails: { ticket_id: 'T-1', tool: 'get_ticket' } });
    expect(hit.cached).toBe(true);
    expect(hit.token).toBe(a.token);

    // a miss for other details, another scope, another subject token: each a new transaction (and a new jti, or the TTS would refuse it)
    const otherDetails = await c.exchange({ subjectToken: at, scope: 'tickets:read', requestDetails: { tool: 'get_ticket', ticket_id: 'T-2' } });
    const otherScope = await c.exchange({ subjectToken: at, scope: 'orders:read', requestDetails: { tool: 'get_ticket', ticket_id: 'T-1' } });
    const otherSubject = await c.exchange({ subjectToken: await userToken(), scope: 'tickets:read', requestDetails: { tool: 'get_ticket', ticket_id: 'T-1' } });
    const txns = new Set([a.txn, otherDetails.txn, otherScope.txn, otherSubject.txn]);
    expect(txns.size).toBe(4);
    expect([otherDetails, otherScope, otherSubject].every((r) => !r.cached)).toBe(true);

    c.clearCache();
    expect((await c.exchange({ subjectToken: at, scope: 'tickets:read', requestDetails: { tool: 'get_ticket', ticket_id: 'T-1' } })).cached).toBe(false);
  });

  it('the cache key is what is sent: details that serialize differently (Date, toJSON) never share a cached token', async () => {
    const c = agent();
    const at = await userToken();
    const a = await c.exchange({ subjectToken: at, scope: 'tickets:read', requestDetails: { tool: 'get_ticket', ticket_id: new Date(1_000) } });
    const b = await c.exchange({ subjectToken: at, scope: 'tickets:read', requestDetails: { tool: 'get_ticket', ticket_id: new Date(2_000) } });
    expect(b.cached).toBe(false);
    expect(b.txn).not.toBe(a.txn);
    const tctx = (t: string) => (claimsOf(t) as { tctx: { request_details: unknown } }).tctx;
    expect(tctx(b.token).request_details).toEqual({ tool: 'get_ticket', ticket_id: new Date(2_000).toISOString() });
    const again = await c.exchange({ subjectToken: at, scope: 'tickets:read', requestDetails: { ticket_id: new Date(2_000), tool: 'get_ticket' } });
    expect(again.cached).toBe(true);
  });

  it('reports a narrower grant and refreshes a token close to expiry', async () => {
    let now = Date.now();
    const c = createTokenExchangeClient({ issuer: tts.url, clientId: 'mcp-support-agent', auth: privateKeyJwt(agentJwk), trustDomain: 'support.example', allowInsecureHttp: true, now: () => now });
    const at = await userToken();
    const r = await c.exchange({ subjectToken: at, scope: 'tickets:read orders:refund' });
    expect(r.scope).toEqual(['tickets:read']);
    expect(r.requested).toEqual(['tickets:read', 'orders:refund']);
    now = r.expiresAt * 1000 - 10_000; // within the default 15 s refresh window
    const again = await c.exchange({ subjectToken: at, scope: 'tickets:read orders:refund' });
    expect(again.cached).toBe(false);
    expect(again.txn).not.toBe(r.txn);
  });

  it('R-02 R-03 replace() keeps txn and sub, narrows scope', async () => {
    const c = agent();
    const first = await c.exchange({ subjectToken: await userToken(), scope: 'tickets:read orders:read' });
    const r = await c.replace(first.token, { scope: 'orders:read' });
    expect(r.txn).toBe(first.txn);
    expect(r.sub).toBe('alice');
    expect(r.scope).toEqual(['orders:read']);
    expect(r.chain).toEqual(['mcp-support-agent', 'mcp-support-agent']);
  });

  it('W-03 a Txn-Token is never the workload\'s own credential: exchange() refuses one as its subject (replacing one is explicit: replace())', async () => {
    const c = agent();
    const first = await c.exchange({ subjectToken: await userToken(), scope: 'tickets:read' });
    await expect(c.exchange({ subjectToken: first.token, subjectTokenType: TT_TXN_TOKEN, scope: 'tickets:read' })).rejects.toThrow(/replace\(\)/);
  });

  it('works with client_secret_basic', async () => {
    const c = createTokenExchangeClient({ issuer: tts.url, clientId: 'svc-secret', auth: clientSecret(SECRET), trustDomain: 'support.example', allowInsecureHttp: true });
    const r = await c.exchange({ subjectToken: await userToken(), scope: 'orders:read' });
    expect(r.scope).toEqual(['orders:read']);
  });

  it('errors carry the OAuth error code and status, never a token', async () => {
    const at = await userToken();
    const expired = await userToken({ exp: Math.floor(Date.now() / 1000) - 120 });
    const cases: Array<[() => Promise<unknown>, string, number]> = [
      [() => createTokenExchangeClient({ issuer: tts.url, clientId: 'svc-secret', auth: clientSecret('wrong-secret-value'), trustDomain: 'support.example', allowInsecureHttp: true }).exchange({ subjectToken: at, scope: 'orders:read' }), 'invalid_client', 401],
      [() => agent().exchange({ subjectToken: at, scope: 'orders:refund' }), 'invalid_scope', 400],
      [() => agent().exchange({ subjectToken: expired, scope: 'orders:read' }), 'invalid_request', 400],
      [() => createTokenExchangeClient({ issuer: tts.url, clientId: 'mcp-support-agent', auth: privateKeyJwt(agentJwk), trustDomain: 'other.example', allowInsecureHttp: true }).exchange({ subjectToken: at, scope: 'orders:read' }), 'invalid_target', 400],
    ];
    for (const [p, code, status] of cases) {
      const e = await p().then(() => undefined, (x: unknown) => x);
      expect(e).toBeInstanceOf(TokenExchangeError);
      const err = e as TokenExchangeError;
      expect([err.error, err.status]).toEqual([code, status]);
      expect(`${err.message} ${err.description ?? ''} ${JSON.stringify(err)}`).not.toContain(at);
      expect(`${err.message}`).not.toContain(expired);
    }
  });

  it('discovery refuses a TTS whose metadata names another issuer, and an unreachable TTS is temporarily_unavailable', async () => {
    const asLocalhost = tts.url.replace('127.0.0.1', 'localhost');
    const c = createTokenExchangeClient({ issuer: asLocalhost, clientId: 'mcp-support-agent', auth: privateKeyJwt(agentJwk), trustDomain: 'support.example', allowInsecureHttp: true });
    await expect(c.exchange({ subjectToken: await userToken(), scope: 'orders:read' })).rejects.toMatchObject({ error: 'invalid_response' });
    const dead = createTokenExchangeClient({ issuer: 'http://127.0.0.1:1', clientId: 'x', auth: clientSecret('abcdefgh'), trustDomain: 'support.example', allowInsecureHttp: true });
    await expect(dead.exchange({ subjectToken: 'a.b.c', scope: 'orders:read' })).rejects.toMatchObject({ error: 'temporarily_unavailable', status: 0 });
  });

  it('W-01: https only, plain http only to loopback and only when allowed', () => {
    const base = { clientId: 'x', auth: clientSecret('abcdefgh'), trustDomain: 'd' };
    expect(() => createTokenExchangeClient({ ...base, issuer: 'http://tts.example.com' })).toThrow(/https/);
    expect(() => createTokenExchangeClient({ ...base, issuer: 'http://tts.example.com', allowInsecureHttp: true })).toThrow(/loopback/);
    expect(() => createTokenExchangeClient({ ...base, issuer: 'http://127.0.0.1:8080' })).toThrow(/https/);
    expect(() => createTokenExchangeClient({ ...base, issuer: 'http://127.0.0.1:8080', allowInsecureHttp: true })).not.toThrow();
    expect(() => createTokenExchangeClient({ ...base, issuer: 'https://tts.example.com' })).not.toThrow();
  });

  it('never writes a token to the console', async () => {
    const spies = (['log', 'info', 'warn', 'error', 'debug'] as const).map((m) => vi.spyOn(console, m));
    try {
      const c = agent();
      const at = await userToken();
      const r = await c.exchange({ subjectToken: at, scope: 'tickets:read' });
      await c.exchange({ subjectToken: at, scope: 'tickets:read' });
      await c.exchange({ subjectToken: at, scope: 'orders:refund' }).catch(() => undefined);
      const out = spies.flatMap((s) => s.mock.calls.map((a) => a.map(String).join(' '))).join('\n');
      expect(out.includes(at)).toBe(false);
      expect(out.includes(r.token)).toBe(false);
    } finally {
      for (const s of spies) s.mockRestore();
    }
  });
});
