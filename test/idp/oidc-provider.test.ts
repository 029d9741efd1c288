// Issue 17: Baton against a certified OpenID provider (oidc-provider 8.8.1) on loopback. Every subject token here
// comes out of the provider's own endpoints (authorization code flow with PKCE driven through its login and consent
// pages, client credentials), with resource indicators (RFC 8707) choosing JWT (RFC 9068) or opaque access tokens.
// The TTS is configured with the provider's issuer alone: JWKS and introspection endpoint are discovered.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { authorizationCodeLogin, clientCredentialsToken, revokeAtProvider } from '../../examples/oidc-provider/provider.node.js';
import { claimsOf, headerOf } from '../helpers/jwt.js';
import { expectRefusal, type TestTts } from '../helpers/tts.js';
import { BATCH, BILLING, BILLING_OPAQUE, CHAT, exchangeAs, MCP_JWT, MCP_OPAQUE, MCP_SHORT, MCP_SHORT_OPAQUE, type OidcWorld, providerIssuer, REPORTS_MCP, startBaton, startOidcWorld, txnClaims } from '../helpers/world-oidc.js';

const login = (w: OidcWorld, resource: string, o: { account?: string; scope?: string } = {}) =>
  authorizationCodeLogin({ issuer: w.op.issuer, client: CHAT, login: o.account ?? 'alice', scope: o.scope ?? 'openid email tickets orders', resource });

let world: OidcWorld;
let tts: TestTts;

beforeAll(async () => {
  world = await startOidcWorld();
  tts = await startBaton(world.op);
});
afterAll(async () => {
  await tts?.close();
  await world?.close();
});

describe('oidc-provider: authorization code flow, JWT access tokens (RFC 9068, RFC 8707 resource)', () => {
  it('T-09 alice signs in through the login and consent pages; her at+jwt for the MCP server is exchanged for a Txn-Token', async () => {
    const tokens = await login(world, MCP_JWT);
    // the login page and its form, then the consent page and its form, each followed by a return to /auth
    expect(tokens.visited.map((v) => v.replace(/\/[\w-]{10,}$/, '/:uid'))).toEqual([
      'GET /auth', 'GET /interaction/:uid', 'POST /interaction/:uid', 'GET /auth/:uid', 'GET /interaction/:uid', 'POST /interaction/:uid', 'GET /auth/:uid',
    ]);
    const header = headerOf(tokens.access_token);
    const at = claimsOf(tokens.access_token);
    expect(header).toMatchObject({ typ: 'at+jwt', alg: 'RS256' });
    expect(at).toMatchObject({ iss: world.op.issuer, aud: MCP_JWT, sub: 'alice', client_id: CHAT.client_id, scope: 'tickets orders', roles: ['user', 'vip'] });

    const r = await exchangeAs(tts, 'mcp-support-agent', tokens.access_token, 'tickets:read orders:read');
    const txn = txnClaims(r);
    expect(txn).toMatchObject({ sub: 'alice', scope: 'tickets:read orders:read', act: { sub: 'mcp-support-agent' } });
    expect(txn.tctx).toMatchObject({ roles: ['user', 'vip'], attr: { email: 'alice@example.com' } });
    expect(txn.exp as number).toBeLessThanOrEqual(at.exp as number);
  });

  it('T-12 scope is the intersection: the user consented to tickets and orders, the workload may not write orders', async () => {
    const tokens = await login(world, MCP_JWT, { account: 'bob' });
    const r = await exchangeAs(tts, 'mcp-support-agent', tokens.access_token, 'tickets:write orders:refund');
    expect(txnClaims(r)).toMatchObject({ sub: 'bob', scope: 'tickets:write' });
    expect(r.ok?.scope).toBe('tickets:write');
  });

  it('T-09 refuses a token for another resource (wrong audience): the audience is not accepted', async () => {
    const tokens = await login(world, BILLING);
    expect(claimsOf(tokens.access_token).aud).toBe(BILLING);
    const r = await exchangeAs(tts, 'mcp-support-agent', tokens.access_token);
    expectRefusal(r, 400, 'invalid_request', 'subject.wrong_audience', [tokens.access_token]);
    expect(JSON.parse(r.text).error_description).toBe('subject token audience is not accepted');
  });

  it('T-11 refuses the wrong workload: a token issued to the support MCP server, presented by the reports agent', async () => {
    const tokens = await login(world, MCP_JWT);
    const r = await exchangeAs(tts, 'reports-agent', tokens.access_token);
    expectRefusal(r, 400, 'invalid_request', 'subject.not_entitled', [tokens.access_token]);
    expect(JSON.parse(r.text).error_description).toBe('this workload may not exchange a subject token with this audience');
    // and the other way round: the reports agent may exchange a token issued to the reports MCP server
    const own = await login(world, REPORTS_MCP);
    expect(txnClaims(await exchangeAs(tts, 'reports-agent', own.access_token))).toMatchObject({ sub: 'alice', act: { sub: 'reports-agent' } });
  });

  it('T-09 refuses an expired JWT access token (the provider issued it for 1 s; the TTS tolerates no skew)', async () => {
    const strict = await startBaton(world.op, { clockSkew: 0 });
    try {
      const tokens = await login(world, MCP_SHORT);
      const at = claimsOf(tokens.access_token);
      expect((at.exp as number) - (at.iat as number)).toBe(1);
      await new Promise((r) => setTimeout(r, Math.max(0, (at.exp as number) * 1000 - Date.now()) + 1100));
      const r = await exchangeAs(strict, 'mcp-support-agent', tokens.access_token);
      expectRefusal(r, 400, 'invalid_request', 'subject.expired', [tokens.access_token]);
      expect(JSON.parse(r.text).error_description).toBe('subject token is expired');
    } finally {
      await strict.close();
    }
  });

  it('T-09 refuses the ID token of the same sign-in presented as an access token (typ JWT is not at+jwt)', async () => {
    const tokens = await login(world, MCP_JWT);
    expect(tokens.id_token).toBeDefined();
    const r = await exchangeAs(tts, 'mcp-support-agent', tokens.id_token!);
    expectRefusal(r, 400, 'invalid_request', 'subject.wrong_type', [tokens.id_token!]);
    expect(JSON.parse(r.text).error_description).toMatch(/^subject token type header not accepted/);
  });
});

describe('oidc-provider: opaque access tokens through its introspection endpoint (RFC 7662)', () => {
  it('T-09 an opaque token for the MCP server is introspected and exchanged; nothing of it is a JWT', async () => {
    const tokens = await login(world, MCP_OPAQUE);
    expect(tokens.access_token.split('.').length).toBe(1);
    const before = world.op.requests('/token/introspection');
    const r = await exchangeAs(tts, 'mcp-support-agent', tokens.access_token, 'tickets:read orders:read');
    expect(txnClaims(r)).toMatchObject({ sub: 'alice', scope: 'tickets:read orders:read', tctx: { roles: ['user', 'vip'], attr: { email: 'alice@example.com' } } });
    expect(world.op.requests('/token/introspection')).toBe(before + 1);
  });

  it('refuses a token revoked at the provider: the next introspection says active: false', async () => {
    const tokens = await login(world, MCP_OPAQUE);
    expect((await exchangeAs(tts, 'mcp-support-agent', tokens.access_token)).ok).toBeDefined();
    await revokeAtProvider(world.op.issuer, CHAT.client_id, CHAT.client_secret, tokens.access_token);
    const r = await exchangeAs(tts, 'mcp-support-agent', tokens.access_token);
    expectRefusal(r, 400, 'invalid_request', 'subject.inactive', [tokens.access_token]);
    expect(JSON.parse(r.text).error_description).toBe('subject token is not active (introspection)');
  });

  it('T-09 refuses an opaque token for another resource (the introspected aud is not accepted)', async () => {
    const tokens = await login(world, BILLING_OPAQUE);
    const r = await exchangeAs(tts, 'mcp-support-agent', tokens.access_token);
    expectRefusal(r, 400, 'invalid_request', 'subject.wrong_audience', [tokens.access_token]);
    expect(JSON.parse(r.text).error_description).toBe('subject token audience is not accepted');
  });

  it('T-11 refuses an opaque token of the support MCP server presented by the reports agent', async () => {
    const tokens = await login(world, MCP_OPAQUE);
    const r = await exchangeAs(tts, 'reports-agent', tokens.access_token);
    expectRefusal(r, 400, 'invalid_request', 'subject.not_entitled', [tokens.access_token]);
    expect(JSON.parse(r.text).error_description).toBe('this workload may not exchange a subject token with this audience');
  });

  it('refuses an expired opaque token: the provider answers active: false', async () => {
    const tokens = await login(world, MCP_SHORT_OPAQUE);
    await new Promise((r) => setTimeout(r, 2100));
    const r = await exchangeAs(tts, 'mcp-support-agent', tokens.access_token);
    expectRefusal(r, 400, 'invalid_request', 'subject.inactive', [tokens.access_token]);
    expect(JSON.parse(r.text).error_description).toBe('subject token is not active (introspection)');
  });

  it('refuses a refresh token presented as an access token (no aud, no Bearer token_type)', async () => {
    const tokens = await login(world, MCP_OPAQUE, { scope: 'openid offline_access tickets orders' });
    expect(tokens.refresh_token).toBeDefined();
    const r = await exchangeAs(tts, 'mcp-support-agent', tokens.refresh_token!);
    expectRefusal(r, 400, 'invalid_request', 'subject.wrong_audience', [tokens.refresh_token!]);
    expect(JSON.parse(r.text).error_description).toBe('subject token audience is not accepted');
  });
});

describe('oidc-provider: client credentials', () => {
  it('T-09 a JWT access token of the client credentials grant: the client is the subject', async () => {
    const t = await clientCredentialsToken(world.op.issuer, BATCH.client_id, BATCH.client_secret, { scope: 'tickets', resource: MCP_JWT });
    expect(headerOf(t.access_token).typ).toBe('at+jwt');
    const txn = txnClaims(await exchangeAs(tts, 'mcp-support-agent', t.access_token));
    expect(txn).toMatchObject({ sub: BATCH.client_id, scope: 'tickets:read', tctx: { roles: ['user'], attr: {} } });
  });

  it('an opaque client-credentials token introspects without sub: subjectClaim [sub, client_id] names the client', async () => {
    const t = await clientCredentialsToken(world.op.issuer, BATCH.client_id, BATCH.client_secret, { scope: 'tickets', resource: MCP_OPAQUE });
    expect(txnClaims(await exchangeAs(tts, 'mcp-support-agent', t.access_token))).toMatchObject({ sub: BATCH.client_id });
    const subOnly = await startBaton(world.op, { issuer: { ...providerIssuer(world.op), subjectClaim: 'sub' } });
    try {
      const r = await exchangeAs(subOnly, 'mcp-support-agent', t.access_token);
      expectRefusal(r, 400, 'invalid_request', 'subject.no_sub', [t.access_token]);
      expect(JSON.parse(r.text).error_description).toBe('the subject token names no subject (sub)');
    } finally {
      await subOnly.close();
    }
  });
});
