// Helpers of the workerd tests: a test IdP and a private_key_jwt client, both with keys generated per run
// (vitest.workers.config.ts) and handed over as bindings.
import { env, SELF } from 'cloudflare:test';
import { importJWK, SignJWT, type JWK } from 'jose';

export const GRANT = 'urn:ietf:params:oauth:grant-type:token-exchange';
export const TT_ACCESS = 'urn:ietf:params:oauth:token-type:access_token';
export const TT_TXN = 'urn:ietf:params:oauth:token-type:txn_token';
export const ASSERTION_TYPE = 'urn:ietf:params:oauth:client-assertion-type:jwt-bearer';
export const TRUST_DOMAIN = 'support.example';
export const BASE = 'https://tts.test';

async function sign(jwkText: string, claims: Record<string, unknown>, typ?: string): Promise<string> {
  const jwk = JSON.parse(jwkText) as JWK;
  const key = await importJWK(jwk, 'EdDSA');
  return new SignJWT(claims).setProtectedHeader({ alg: 'EdDSA', kid: jwk.kid!, ...(typ ? { typ } : {}) }).sign(key);
}

/** An RFC 9068 access token from the test IdP. */
export async function userToken(o: { sub?: string; scope?: string; roles?: string[]; aud?: string; exp?: number } = {}): Promise<string> {
  const now = Math.floor(Date.now() / 1000);
  return sign(
    env.TEST_IDP_PRIVATE_JWK,
    {
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
    },
    'at+jwt',
  );
}

/** A private_key_jwt client assertion of mcp-support-agent (RFC 7523), a fresh jti unless given. */
export async function clientAssertion(o: { jti?: string; aud?: string | string[] } = {}): Promise<string> {
  const now = Math.floor(Date.now() / 1000);
  return sign(env.TEST_CLIENT_PRIVATE_JWK, {
    iss: 'mcp-support-agent',
    sub: 'mcp-support-agent',
    aud: o.aud ?? env.TEST_ISSUER,
    jti: o.jti ?? crypto.randomUUID(),
    iat: now,
    exp: now + 60,
  });
}

export async function exchangeForm(extra: Record<string, string> = {}, o: { assertion?: string; subject?: string } = {}): Promise<Record<string, string>> {
  return {
    grant_type: GRANT,
    subject_token: o.subject ?? (await userToken()),
    subject_token_type: TT_ACCESS,
    requested_token_type: TT_TXN,
    audience: TRUST_DOMAIN,
    scope: 'tickets:read orders:read',
    client_assertion_type: ASSERTION_TYPE,
    client_assertion: o.assertion ?? (await clientAssertion()),
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

export function basic(id: string, secret: string): string {
  return `Basic ${btoa(`${encodeURIComponent(id)}:${encodeURIComponent(secret)}`)}`;
}

/** The claims of a JWT (no verification: for asserting what was minted). */
export function claimsOf(jwt: string): Record<string, unknown> {
  const part = jwt.split('.')[1]!;
  const b64 = part.replace(/-/g, '+').replace(/_/g, '/');
  return JSON.parse(new TextDecoder().decode(Uint8Array.from(atob(b64 + '='.repeat((4 - (b64.length % 4)) % 4)), (c) => c.charCodeAt(0)))) as Record<string, unknown>;
}

export function headerOf(jwt: string): Record<string, unknown> {
  return claimsOf(`x.${jwt.split('.')[0]!}`);
}
