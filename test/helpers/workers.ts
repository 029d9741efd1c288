// Helpers of the workerd tests: a test IdP and a private_key_jwt client, both with keys generated per run
// (vitest.workers.config.ts) and handed over as bindings.
import { env, SELF } from 'cloudflare:test';
import { importJWK, SignJWT, type JWK } from 'jose';
import { CLIENT_ASSERTION_JWT, GRANT_TOKEN_EXCHANGE, TT_ACCESS_TOKEN, TT_TXN_TOKEN } from '../../src/txn/index.js';
import { clientAssertion as assertion } from './jwt.js';
import { TRUST_DOMAIN } from './names.js';

export const BASE = 'https://tts.test';

async function keyOf(jwkText: string): Promise<{ alg: 'EdDSA'; kid: string; privateKey: CryptoKey }> {
  const jwk = JSON.parse(jwkText) as JWK;
  return { alg: 'EdDSA', kid: jwk.kid!, privateKey: (await importJWK(jwk, 'EdDSA')) as CryptoKey };
}

/** An RFC 9068 access token from the test IdP. */
export async function userToken(o: { sub?: string; scope?: string; roles?: string[]; aud?: string; exp?: number } = {}): Promise<string> {
  const now = Math.floor(Date.now() / 1000);
  const key = await keyOf(env.TEST_IDP_PRIVATE_JWK);
  return new SignJWT({
    iss: env.TEST_IDP,
    sub: o.sub ?? 'alice',
    aud: o.aud ?? env.TEST_MCP_AUDIENCE,
    scope: o.scope ?? 'tickets:read tickets:write orders:read orders:refund',
    roles: o.roles ?? ['user'],
    email: `${o.sub ?? 'alice'}@support.example`,
    client_id: 'support-desk-app',
    iat: now,
    exp: o.exp ?? now + 300,
    jti: crypto.randomUUID(),
  })
    .setProtectedHeader({ alg: 'EdDSA', kid: key.kid, typ: 'at+jwt' })
    .sign(key.privateKey);
}

/** A private_key_jwt client assertion of mcp-support-agent (RFC 7523), a fresh jti unless given. */
export async function agentAssertion(o: { jti?: string; aud?: string | string[] } = {}): Promise<string> {
  return assertion(await keyOf(env.TEST_CLIENT_PRIVATE_JWK), 'mcp-support-agent', env.TEST_ISSUER, {
    ...(o.jti !== undefined ? { jti: o.jti } : {}),
    ...(o.aud !== undefined ? { aud: o.aud } : {}),
  });
}

export async function exchangeForm(extra: Record<string, string> = {}, o: { assertion?: string; subject?: string } = {}): Promise<Record<string, string>> {
  return {
    grant_type: GRANT_TOKEN_EXCHANGE,
    subject_token: o.subject ?? (await userToken()),
    subject_token_type: TT_ACCESS_TOKEN,
    requested_token_type: TT_TXN_TOKEN,
    audience: TRUST_DOMAIN,
    scope: 'tickets:read orders:read',
    client_assertion_type: CLIENT_ASSERTION_JWT,
    client_assertion: o.assertion ?? (await agentAssertion()),
    ...extra,
  };
}

export function post(path: string, form: Record<string, string>, headers: Record<string, string> = {}): Promise<Response> {
  return SELF.fetch(`${BASE}${path}`, {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded', 'cf-connecting-ip': '203.0.113.7', ...headers },
    body: new URLSearchParams(form).toString(),
  });
}
