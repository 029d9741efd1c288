/**
 * The TTS as a Node service: metadata and JWKS endpoints, signing keys and rotation, ES256, configured lifetime,
 * /healthz, rate limiting, the policy-driven scope decision with the example policies.
 */
import { createRemoteJWKSet, jwtVerify } from 'jose';
import { resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { generateSigningJwk } from '../../src/jose/keys.js';
import { TRUST_DOMAIN } from '../helpers/names.js';
import { exchangeParams, type ExchangeResult, expectRefusal, o4wExchange } from '../helpers/tts.js';
import { SECRETS, startWorld, type World } from '../helpers/world-tts.js';

const POLICIES = resolve(import.meta.dirname, '../../policies');

async function verifiedWith(w: World, r: ExchangeResult, algorithms = ['EdDSA', 'ES256']) {
  expect(r.error, r.text).toBeUndefined();
  const jwks = createRemoteJWKSet(new URL(w.tts.as.jwks_uri!));
  return jwtVerify(r.ok!.access_token, jwks, { issuer: w.tts.issuer, audience: TRUST_DOMAIN, typ: 'txntoken+jwt', algorithms });
}

describe('endpoints and keys', () => {
  let w: World;
  let older: Awaited<ReturnType<typeof generateSigningJwk>>;
  let newer: Awaited<ReturnType<typeof generateSigningJwk>>;
  beforeAll(async () => {
    older = await generateSigningJwk('EdDSA', new Date('2024-01-01T00:00:00Z'));
    newer = await generateSigningJwk('EdDSA', new Date('2025-06-01T00:00:00Z'));
    w = await startWorld({ tts: { signingKeys: [older, newer] } });
  });
  afterAll(async () => {
    await w?.close();
  });

  it('serves RFC 8414 metadata at /.well-known/oauth-authorization-server', async () => {
    const res = await fetch(`${w.tts.url}/.well-known/oauth-authorization-server`);
    expect(res.status).toBe(200);
    const m = (await res.json()) as Record<string, unknown>;
    expect(m.issuer).toBe(w.tts.issuer);
    expect(m.token_endpoint).toBe(`${w.tts.issuer}/token`);
    expect(m.jwks_uri).toBe(`${w.tts.issuer}/.well-known/jwks.json`);
    expect(m.grant_types_supported).toEqual(['urn:ietf:params:oauth:grant-type:token-exchange']);
    expect(m.token_endpoint_auth_methods_supported).toEqual(expect.arrayContaining(['private_key_jwt', 'client_secret_basic', 'client_secret_post']));
    expect(m.scopes_supported).toEqual(expect.arrayContaining(['tickets:read', 'orders:refund']));
  });

  it('T-15 publishes public keys only (no d) at /.well-known/jwks.json, every key of the keys dir (rotation overlap)', async () => {
    const res = await fetch(`${w.tts.url}/.well-known/jwks.json`);
    expect(res.status).toBe(200);
    const text = await res.text();
    const jwks = JSON.parse(text) as { keys: Array<Record<string, unknown>> };
    expect(jwks.keys.map((k) => k.kid).sort()).toEqual([older.kid, newer.kid].sort());
    for (const k of jwks.keys) {
      for (const priv of ['d', 'p', 'q', 'dp', 'dq', 'qi', 'k']) expect(k).not.toHaveProperty(priv);
      expect(k.kty).toBe('OKP');
    }
    expect(text.includes(String(older.d))).toBe(false);
    expect(text.includes(String(newer.d))).toBe(false);
  });

  it('T-15 key rotation: the newest key signs, and the token verifies against the published JWKS', async () => {
    const r = await o4wExchange(w.tts.as, 'mcp-support-agent', w.auth.agent, exchangeParams(await w.idp.mint()));
    const v = await verifiedWith(w, r);
    expect(v.protectedHeader.kid).toBe(newer.kid);
    expect(v.protectedHeader.alg).toBe('EdDSA');
  });

  it('/healthz answers 200 with the store status', async () => {
    const res = await fetch(`${w.tts.url}/healthz`);
    expect(res.status).toBe(200);
    expect(await res.json()).toMatchObject({ status: 'ok', store: { ok: true, backend: 'memory' } });
  });
});

describe('configured signing and lifetime', () => {
  let w: World;
  beforeAll(async () => {
    w = await startWorld({ overrides: { signingAlg: 'ES256', tokenTtl: 45, maxTokenTtl: 90 }, clientKeyAlg: 'ES256' });
  });
  afterAll(async () => {
    await w?.close();
  });

  it('T-15 signs with ES256 when configured (a dev key is generated in the empty keys dir)', async () => {
    const r = await o4wExchange(w.tts.as, 'jwt-client', w.auth.jwt, exchangeParams(await w.idp.mint()));
    const v = await verifiedWith(w, r, ['ES256']);
    expect(v.protectedHeader.alg).toBe('ES256');
    expect(v.protectedHeader.typ).toBe('txntoken+jwt');
    const jwks = (await (await fetch(w.tts.as.jwks_uri!)).json()) as { keys: Array<Record<string, unknown>> };
    expect(jwks.keys).toHaveLength(1);
    expect(jwks.keys[0]).toMatchObject({ kty: 'EC', crv: 'P-256', kid: v.protectedHeader.kid });
    expect(jwks.keys[0]).not.toHaveProperty('d');
  });

  it('T-17 uses the configured tokenTtl', async () => {
    const r = await o4wExchange(w.tts.as, 'mcp-support-agent', w.auth.agent, exchangeParams(await w.idp.mint({ ttl: 3600 })));
    const v = await verifiedWith(w, r);
    expect((v.payload.exp as number) - (v.payload.iat as number)).toBe(45);
    expect(r.ok!.expires_in).toBe(45);
  });
});

describe('rate limiting (T-21)', () => {
  let w: World;
  beforeAll(async () => {
    w = await startWorld({ overrides: { defaultRateLimit: { perClient: 1000, perSubject: 2, windowSeconds: 60 } } });
  });
  afterAll(async () => {
    await w?.close();
  });

  it('T-21 answers 429 temporarily_unavailable with Retry-After when a (workload, subject) pair exceeds its limit', async () => {
    const subject = await w.idp.mint({ sub: 'carol' });
    const ex = () => o4wExchange(w.tts.as, 'mcp-support-agent', w.auth.agent, exchangeParams(subject));
    expect((await ex()).response.status).toBe(200);
    expect((await ex()).response.status).toBe(200);
    const r = await ex();
    expectRefusal(r, 429, 'temporarily_unavailable', 'limit.subject', [subject, SECRETS.agent]);
    const retry = Number(r.response.headers.get('retry-after'));
    expect(Number.isInteger(retry) && retry >= 1 && retry <= 60).toBe(true);
    // another user through the same workload is not limited
    const other = await o4wExchange(w.tts.as, 'mcp-support-agent', w.auth.agent, exchangeParams(await w.idp.mint({ sub: 'dave' })));
    expect(other.response.status).toBe(200);
  });
});

describe('policy-driven scope decision (T-12, T-24) with the example policies', () => {
  let w: World;
  beforeAll(async () => {
    w = await startWorld({ overrides: { policies: POLICIES } });
  });
  afterAll(async () => {
    await w?.close();
  });

  it('T-12 policy denies orders:refund to the AI agent workload even for a support lead (invalid_scope)', async () => {
    const subject = await w.idp.mint({ scope: 'orders', claims: { roles: ['support_lead'] } });
    const r = await o4wExchange(w.tts.as, 'mcp-support-agent', w.auth.agent, exchangeParams(subject, { scope: 'orders:refund' }));
    expectRefusal(r, 400, 'invalid_scope', 'scope.none_granted', [subject, SECRETS.agent]);
    // the deny line of the decision log says which scope was dropped and why (the caller only sees invalid_scope)
    const deny = w.tts.decisions.filter((d) => d.effect === 'deny' && d.error === 'invalid_scope').at(-1);
    expect(deny?.dropped).toEqual([{ scope: 'orders:refund', reason: 'policy', policy: expect.stringContaining('txn_token'), rule: expect.any(String) }]);
    // ... naming the deciding rule, not just the policy
    expect(deny?.dropped?.[0]).toMatchObject({ policy: 'resource.txn_token.vdefault', rule: 'resource.txn_token.vdefault#never-refund-via-agent' });
  });

  it('T-12 T-14 policy narrows a mixed request through the agent to what it allows', async () => {
    const subject = await w.idp.mint({ scope: 'orders tickets', claims: { roles: ['support_lead'] } });
    const r = await o4wExchange(w.tts.as, 'mcp-support-agent', w.auth.agent, exchangeParams(subject, { scope: 'orders:read orders:refund tickets:write' }));
    const v = await verifiedWith(w, r);
    expect(v.payload.scope).toBe('orders:read');
    expect(r.ok!.scope).toBe('orders:read');
    // the grant line names the rule that denied each dropped scope; a default deny names only the policy
    const grant = w.tts.decisions.filter((d) => d.effect === 'grant').at(-1);
    expect(grant?.dropped).toContainEqual({ scope: 'orders:refund', reason: 'policy', policy: 'resource.txn_token.vdefault', rule: 'resource.txn_token.vdefault#never-refund-via-agent' });
    expect(grant?.dropped).toContainEqual({ scope: 'tickets:write', reason: 'policy', policy: 'resource.txn_token.vdefault' });
  });

  it('T-12 the same support lead through a non-agent workload gets orders:refund; a plain user does not', async () => {
    const lead = await w.idp.mint({ scope: 'orders', claims: { roles: ['support_lead'] } });
    const ok = await o4wExchange(w.tts.as, 'poster', w.auth.poster, exchangeParams(lead, { scope: 'orders:refund' }));
    expect((await verifiedWith(w, ok)).payload.scope).toBe('orders:refund');
    const user = await w.idp.mint({ scope: 'orders', claims: { roles: ['user'] } });
    expectRefusal(await o4wExchange(w.tts.as, 'poster', w.auth.poster, exchangeParams(user, { scope: 'orders:refund' })), 400, 'invalid_scope', 'scope.none_granted', [user]);
  });

  it('T-24 no refund downstream of the agent: the agent earlier in the act chain makes policy deny orders:refund', async () => {
    const viaAgent = await w.idp.mint({ scope: 'orders', claims: { roles: ['support_lead'], act: { sub: 'mcp-support-agent' } } });
    const r = await o4wExchange(w.tts.as, 'poster', w.auth.poster, exchangeParams(viaAgent, { scope: 'orders:read orders:refund' }));
    const v = await verifiedWith(w, r);
    expect(v.payload.scope).toBe('orders:read');
    expect(v.payload.act).toEqual({ sub: 'poster', act: { sub: 'mcp-support-agent' } });
    const direct = await w.idp.mint({ scope: 'orders', claims: { roles: ['support_lead'], act: { sub: 'console' } } });
    const ok = await o4wExchange(w.tts.as, 'poster', w.auth.poster, exchangeParams(direct, { scope: 'orders:read orders:refund' }));
    expect((await verifiedWith(w, ok)).payload.scope).toBe('orders:read orders:refund');
  });
});

describe('rctx.req_ip comes only from the connection (T-18)', () => {
  let w: World;
  beforeAll(async () => {
    // an operator who (wrongly) allow-lists req_ip in request_context must still not let the caller set it
    w = await startWorld({ overrides: { allowedRequestContext: ['channel', 'req_ip'] } });
  });
  afterAll(async () => {
    await w?.close();
  });

  it('T-18 over HTTP the connection address wins over a req_ip in request_context', async () => {
    const r = await o4wExchange(w.tts.as, 'mcp-support-agent', w.auth.agent, exchangeParams(await w.idp.mint(), { request_context: '{"req_ip":"6.6.6.6","channel":"chat"}' }));
    expect((await verifiedWith(w, r)).payload.rctx).toMatchObject({ req_ip: '127.0.0.1', channel: 'chat' });
  });

  it('T-18 when the runtime gives no connection address, a caller-supplied req_ip is dropped, not copied', async () => {
    const form = new URLSearchParams({
      grant_type: 'urn:ietf:params:oauth:grant-type:token-exchange',
      ...exchangeParams(await w.idp.mint(), { request_context: '{"req_ip":"6.6.6.6","channel":"chat"}' }),
    });
    const authorization = `Basic ${Buffer.from(`mcp-support-agent:${SECRETS.agent}`).toString('base64')}`;
    const body = await w.tts.node.service.exchange({ form, authorization });
    const claims = (await w.tts.node.service.verifyOwnTxnToken(body.access_token)) as { rctx?: Record<string, unknown> };
    expect(claims.rctx).toEqual({ channel: 'chat' });
  });
});
