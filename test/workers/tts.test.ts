// The TTS as a Worker, inside workerd: the same app as Node, configured from bindings, state in the Durable Object.
import { env, SELF } from 'cloudflare:test';
import { createLocalJWKSet, jwtVerify } from 'jose';
import { describe, expect, it } from 'vitest';
import committed from '../../policies.bundle.json';
import { DurableObjectStore } from '../../src/store/durable-object.js';
import { createWorker, type WorkerEnv } from '../../src/worker.js';
import { TT_TXN_TOKEN } from '../../src/txn/index.js';
import { claimsOf, headerOf } from '../helpers/jwt.js';
import { basic } from '../helpers/names.js';
import { agentAssertion, BASE, exchangeForm, post, userToken } from '../helpers/workers.js';

describe('metadata and keys', () => {
  it('serves the authorization server metadata naming the token and revocation endpoints', async () => {
    const res = await SELF.fetch(`${BASE}/.well-known/oauth-authorization-server`);
    expect(res.status).toBe(200);
    const m = (await res.json()) as Record<string, unknown>;
    expect(m.issuer).toBe('https://tts.test');
    expect(m.token_endpoint).toBe('https://tts.test/token');
    expect(m.revocation_endpoint).toBe('https://tts.test/revoke');
    expect(m.jwks_uri).toBe('https://tts.test/.well-known/jwks.json');
    expect(m.grant_types_supported).toEqual(['urn:ietf:params:oauth:grant-type:token-exchange']);
    expect(m.scopes_supported).toEqual(['orders:read', 'orders:refund', 'tickets:read', 'tickets:write']);
  });

  it('publishes both rotation keys, public members only', async () => {
    const res = await SELF.fetch(`${BASE}/.well-known/jwks.json`);
    expect(res.status).toBe(200);
    const { keys } = (await res.json()) as { keys: Record<string, unknown>[] };
    expect(keys.map((k) => k.kid).sort()).toEqual([env.TEST_SIGNING_KID, env.TEST_OLD_SIGNING_KID].sort());
    for (const k of keys) {
      expect(k.d).toBeUndefined();
      expect(k).toMatchObject({ kty: 'OKP', crv: 'Ed25519', alg: 'EdDSA', use: 'sig' });
    }
  });

  it('reports the Durable Object store healthy', async () => {
    const res = await SELF.fetch(`${BASE}/healthz`);
    expect(res.status).toBe(200);
    expect(await res.json()).toEqual({ status: 'ok', store: { ok: true, backend: 'durable-object' } });
  });
});

describe('token exchange', () => {
  it('mints a Txn-Token for a private_key_jwt client and an access token of the inline-JWKS IdP', async () => {
    const res = await post('/token', await exchangeForm({ scope: 'tickets:read tickets:write orders:read orders:refund', request_details: JSON.stringify({ tool: 'get_ticket', ticket_id: 'T-1', secret_note: 'x' }) }));
    expect(res.status, await res.clone().text()).toBe(200);
    expect(res.headers.get('cache-control')).toBe('no-store');
    const body = (await res.json()) as { access_token: string; issued_token_type: string; token_type: string; expires_in: number; scope: string };
    expect(body.issued_token_type).toBe(TT_TXN_TOKEN);
    expect(body.token_type).toBe('N_A');
    expect(body.expires_in).toBe(120);
    // the bundled txn_token policy: reads allowed; no tickets:write or refund through the AI agent workload
    expect(body.scope.split(' ').sort()).toEqual(['orders:read', 'tickets:read']);

    const jwks = (await (await SELF.fetch(`${BASE}/.well-known/jwks.json`)).json()) as { keys: [] };
    const { payload, protectedHeader } = await jwtVerify(body.access_token, createLocalJWKSet(jwks), { issuer: 'https://tts.test', audience: 'support.example' });
    expect(protectedHeader.kid).toBe(env.TEST_SIGNING_KID); // the newest key signs
    expect(protectedHeader.typ).toBe('txntoken+jwt');
    expect(payload).toMatchObject({ sub: 'alice', req_wl: 'mcp-support-agent', act: { sub: 'mcp-support-agent' }, scope: 'tickets:read orders:read' });
    expect(payload.tctx).toMatchObject({ roles: ['user'], attr: { email: 'alice@support.example' }, request_details: { tool: 'get_ticket', ticket_id: 'T-1' } });
    expect((payload.tctx as { request_details: Record<string, unknown> }).request_details.secret_note).toBeUndefined();
    expect(payload.rctx).toMatchObject({ req_ip: '203.0.113.7' }); // from cf-connecting-ip
    expect(typeof payload.txn).toBe('string');
  });

  it('replaces a Txn-Token with a narrower one for the same transaction', async () => {
    const first = (await (await post('/token', await exchangeForm())).json()) as { access_token: string };
    const res = await post('/token', await exchangeForm({ subject_token: first.access_token, subject_token_type: TT_TXN_TOKEN, scope: 'orders:read' }));
    expect(res.status).toBe(200);
    const b = (await res.json()) as { access_token: string };
    expect(claimsOf(b.access_token).scope).toBe('orders:read');
    expect(claimsOf(b.access_token).txn).toBe(claimsOf(first.access_token).txn);
    expect(headerOf(b.access_token).typ).toBe('txntoken+jwt');
  });
});

describe('refused exchanges', () => {
  async function refused(res: Response, status: number, error: string): Promise<string> {
    const b = (await res.json()) as { error: string; error_description: string };
    expect([res.status, b.error], b.error_description).toEqual([status, error]);
    expect(typeof b.error_description).toBe('string');
    return b.error_description;
  }

  it('invalid_request: no subject_token', async () => {
    const form = await exchangeForm();
    delete form.subject_token;
    await refused(await post('/token', form), 400, 'invalid_request');
  });

  it('invalid_request: a subject token for an audience the workload may not exchange', async () => {
    await refused(await post('/token', await exchangeForm({}, { subject: await userToken({ aud: 'https://other.example' }) })), 400, 'invalid_request');
  });

  it('invalid_client: an assertion for another audience, and a wrong client secret', async () => {
    const res = await post('/token', await exchangeForm({}, { assertion: await agentAssertion({ aud: 'https://elsewhere.test' }) }));
    await refused(res, 401, 'invalid_client');
    const form = await exchangeForm();
    delete form.client_assertion;
    delete form.client_assertion_type;
    await refused(await post('/token', form, { authorization: basic('orders-service', 'not-the-secret') }), 401, 'invalid_client');
  });

  it('unsupported_grant_type', async () => {
    await refused(await post('/token', await exchangeForm({ grant_type: 'client_credentials' })), 400, 'unsupported_grant_type');
  });

  it('invalid_target: an audience that is not this trust domain', async () => {
    await refused(await post('/token', await exchangeForm({ audience: 'evil.example' })), 400, 'invalid_target');
  });

  it('invalid_scope: a scope beyond the client ceiling and the policy', async () => {
    await refused(await post('/token', await exchangeForm({ scope: 'admin:everything' })), 400, 'invalid_scope');
  });

  it('a body that is not a form is invalid_request; an unknown route is 404', async () => {
    const res = await SELF.fetch(`${BASE}/token`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{}' });
    await refused(res, 400, 'invalid_request');
    expect((await SELF.fetch(`${BASE}/nope`)).status).toBe(404);
  });
});

describe('single-use client assertions through the Durable Object', () => {
  it('refuses the second request carrying the same jti', async () => {
    const assertion = await agentAssertion();
    const ok = await post('/token', await exchangeForm({}, { assertion }));
    expect(ok.status).toBe(200);
    const replay = await post('/token', await exchangeForm({}, { assertion }));
    expect(replay.status).toBe(401);
    const b = (await replay.json()) as { error: string; error_description: string };
    expect(b.error).toBe('invalid_client');
    expect(b.error_description).toMatch(/already used/);
  });

  it('is one shared truth for separate clients (as two isolates would be): the first use wins, once', async () => {
    const a = new DurableObjectStore(env.BATON_STORE_DO);
    const b = new DurableObjectStore(env.BATON_STORE_DO);
    const id = crypto.randomUUID();
    const results = await Promise.all([a.useOnce('client_assertion', id, 60_000), b.useOnce('client_assertion', id, 60_000), a.useOnce('client_assertion', id, 60_000)]);
    expect(results.filter((r) => r)).toHaveLength(1);
    expect(await b.useOnce('client_assertion', id, 60_000)).toBe(false);
    expect(await b.useOnce('other_namespace', id, 60_000)).toBe(true);
  });
});

describe('revocation through the Worker', () => {
  it('stores a revocation by token in the Durable Object, seen by any client of it', async () => {
    const { access_token } = (await (await post('/token', await exchangeForm())).json()) as { access_token: string };
    const txn = claimsOf(access_token).txn as string;
    const store = new DurableObjectStore(env.BATON_STORE_DO);
    expect(await store.isRevoked(txn)).toBe(false);
    const res = await post('/revoke', { token: access_token, client_assertion_type: 'urn:ietf:params:oauth:client-assertion-type:jwt-bearer', client_assertion: await agentAssertion() });
    expect(res.status).toBe(200);
    expect(await store.isRevoked(txn)).toBe(true);
    // a revoked transaction cannot be extended by replacement
    const again = await post('/token', await exchangeForm({ subject_token: access_token, subject_token_type: TT_TXN_TOKEN, scope: 'orders:read' }));
    expect(again.status).toBe(400);
  });
});

describe('rate limits through the Durable Object', () => {
  it('refuses the exchange over the client limit with 429 and Retry-After', async () => {
    const clientId = `rl-${crypto.randomUUID()}`;
    const cfg = JSON.parse(env.BATON_CONFIG) as { clients: unknown[] };
    cfg.clients.push({
      id: clientId,
      auth: 'client_secret_basic',
      secret: 'rate-limit-test-secret',
      scopes: ['orders:read'],
      subjectAudiences: [env.TEST_MCP_AUDIENCE],
      rateLimit: { perClient: 2, perSubject: 100, windowSeconds: 60 },
    });
    const w = createWorker(committed);
    const e = { ...env, BATON_CONFIG: JSON.stringify(cfg) } as unknown as WorkerEnv;
    const statuses: number[] = [];
    let last: Response | undefined;
    for (let i = 0; i < 3; i++) {
      const form = await exchangeForm({ scope: 'orders:read' });
      delete form.client_assertion;
      delete form.client_assertion_type;
      last = await w.fetch(
        new Request(`${BASE}/token`, {
          method: 'POST',
          headers: { 'content-type': 'application/x-www-form-urlencoded', authorization: basic(clientId, 'rate-limit-test-secret') },
          body: new URLSearchParams(form).toString(),
        }),
        e,
      );
      statuses.push(last.status);
    }
    expect(statuses).toEqual([200, 200, 429]);
    const retry = Number(last!.headers.get('retry-after'));
    expect(retry).toBeGreaterThanOrEqual(1);
    expect(retry).toBeLessThanOrEqual(60);
    expect(((await last!.json()) as { error: string }).error).toBe('temporarily_unavailable');
  });
});
