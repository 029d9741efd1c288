// Issue 17 on Workers: the TTS inside workerd trusts a certified OpenID provider (oidc-provider, started on loopback
// by vitest.workers.config.ts) knowing only its issuer. Discovery, the JWKS, and introspection of opaque tokens with
// private_key_jwt and RFC 9701 JWT answers all run in the Workers runtime (fetch, Web Crypto), over real HTTP.
import { env } from 'cloudflare:test';
import { describe, expect, it } from 'vitest';
import committed from '../../policies.bundle.json';
import { createWorker, type WorkerEnv } from '../../src/worker.js';
import { TT_ACCESS_TOKEN, TT_TXN_TOKEN } from '../../src/txn/index.js';
import { claimsOf } from '../helpers/jwt.js';
import { basic } from '../helpers/names.js';
import { BASE, post } from '../helpers/workers.js';

const MCP_JWT = 'https://mcp.support.example';
const MCP_OPAQUE = 'https://mcp-opaque.support.example';
const SECRET = `agent-${crypto.randomUUID()}`;

function workerEnv(): WorkerEnv {
  const config = {
    issuer: BASE,
    trustDomain: 'support.example',
    subjectIssuers: [
      {
        issuer: env.TEST_OP_ISSUER, // alone: jwks_uri and introspection_endpoint are discovered
        audiences: [MCP_JWT, MCP_OPAQUE],
        algorithms: ['RS256'],
        rolesClaim: 'roles',
        principalAttributes: ['email'],
        introspection: { clientId: 'baton-jwt', auth: 'private_key_jwt', privateJwk: '${TEST_OP_INTROSPECTOR_JWK}', jwtResponse: true, cacheSeconds: 0 },
      },
    ],
    clients: [{ id: 'mcp-support-agent', auth: 'client_secret_basic', secret: '${TEST_AGENT_SECRET}', scopes: ['tickets:read', 'orders:read'], subjectAudiences: [MCP_JWT, MCP_OPAQUE] }],
    scopeImplications: { tickets: ['tickets:read'], orders: ['orders:read'] },
  };
  return {
    BATON_CONFIG: JSON.stringify(config),
    BATON_SIGNING_KEYS: env.BATON_SIGNING_KEYS,
    BATON_STORE: 'memory',
    BATON_DECISION_LOG: 'off',
    TEST_AGENT_SECRET: SECRET,
    TEST_OP_INTROSPECTOR_JWK: env.TEST_OP_INTROSPECTOR_JWK,
  } as WorkerEnv;
}

const worker = createWorker(committed);
const exchange = (subject: string) =>
  worker.fetch(
    new Request(`${BASE}/token`, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded', authorization: basic('mcp-support-agent', SECRET) },
      body: new URLSearchParams({
        grant_type: 'urn:ietf:params:oauth:grant-type:token-exchange',
        requested_token_type: TT_TXN_TOKEN,
        audience: 'support.example',
        scope: 'tickets:read',
        subject_token: subject,
        subject_token_type: TT_ACCESS_TOKEN,
      }).toString(),
    }),
    workerEnv(),
  );

describe('Workers: oidc-provider as the subject issuer (discovery, introspection)', () => {
  it('exchanges a JWT access token verified with the discovered JWKS', async () => {
    const res = await exchange(env.TEST_OP_JWT);
    expect(res.status, await res.clone().text()).toBe(200);
    const body = (await res.json()) as { access_token: string };
    expect(claimsOf(body.access_token)).toMatchObject({ sub: 'alice', scope: 'tickets:read', tctx: { roles: ['user', 'vip'], attr: { email: 'alice@example.com' } } });
  });

  it('exchanges an opaque access token: private_key_jwt (Web Crypto) and a signed RFC 9701 answer checked in workerd', async () => {
    const res = await exchange(env.TEST_OP_OPAQUE);
    expect(res.status, await res.clone().text()).toBe(200);
    const body = (await res.json()) as { access_token: string };
    expect(claimsOf(body.access_token)).toMatchObject({ sub: 'alice', act: { sub: 'mcp-support-agent' }, tctx: { roles: ['user', 'vip'] } });
    expect(JSON.stringify(body).includes(env.TEST_OP_OPAQUE)).toBe(false);
  });

  it('refuses an opaque token revoked at the provider, naming the reason', async () => {
    const res = await exchange(env.TEST_OP_REVOKED);
    expect(res.status).toBe(400);
    const text = await res.text();
    expect(JSON.parse(text)).toEqual({ error: 'invalid_request', error_description: 'subject token is not active (introspection)' });
    expect(text.includes(env.TEST_OP_REVOKED)).toBe(false);
  });

  it('still answers the workerd test suite\'s own requests (control: the default Worker is untouched)', async () => {
    const res = await post('/token', { grant_type: 'x' });
    expect(res.status).toBe(400);
  });
});
