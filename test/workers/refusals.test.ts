// Issue 18 item 4: refusals inside workerd that only the Node suites checked before. The body limit of the
// Fetch-stream reader (a TTS Worker without it would read any body whole), and the algorithm, `typ` and audience
// refusals of the TTS Worker and of `baton/verify` running in workerd. Each refusal asserts why it was refused.
import { env, SELF } from 'cloudflare:test';
import { base64url, importJWK, SignJWT, type JWK } from 'jose';
import { describe, expect, it } from 'vitest';
import { createVerifier, TxnTokenError } from '../../src/verify/index.js';
import { TT_TXN_TOKEN } from '../../src/txn/index.js';
import { TRUST_DOMAIN } from '../helpers/names.js';
import { BASE, exchangeForm, post, userToken } from '../helpers/workers.js';

async function refusal(res: Response, status: number, error: string): Promise<string> {
  const text = await res.text();
  expect(res.status, text).toBe(status);
  expect(res.headers.get('content-type')).toMatch(/^application\/json/);
  const b = JSON.parse(text) as { error: string; error_description: string };
  expect(b.error, text).toBe(error);
  return b.error_description;
}

/** A compact JWS with the given header over the given claims and a signature that is not empty (so that a parser
 * reaches the header's checks instead of refusing the shape). */
function forged(header: Record<string, unknown>, claims: Record<string, unknown>): string {
  const enc = (v: unknown) => base64url.encode(JSON.stringify(v));
  return `${enc(header)}.${enc(claims)}.${base64url.encode(new Uint8Array(64).fill(7))}`;
}

function userClaims(extra: Record<string, unknown> = {}): Record<string, unknown> {
  const now = Math.floor(Date.now() / 1000);
  return { iss: env.TEST_IDP, sub: 'alice', aud: env.TEST_MCP_AUDIENCE, scope: 'tickets:read', iat: now, exp: now + 300, jti: crypto.randomUUID(), ...extra };
}

function assertionClaims(): Record<string, unknown> {
  const now = Math.floor(Date.now() / 1000);
  return { iss: 'mcp-support-agent', sub: 'mcp-support-agent', aud: env.TEST_ISSUER, jti: crypto.randomUUID(), iat: now, exp: now + 60 };
}

async function hs256(claims: Record<string, unknown>, typ?: string): Promise<string> {
  const key = new TextEncoder().encode('a shared secret that no profile accepts, 32+ bytes');
  return new SignJWT(claims).setProtectedHeader({ alg: 'HS256', ...(typ ? { typ } : {}) }).sign(key);
}

async function txnToken(scope = 'tickets:read'): Promise<string> {
  const res = await post('/token', await exchangeForm({ scope }));
  expect(res.status, await res.clone().text()).toBe(200);
  return ((await res.json()) as { access_token: string }).access_token;
}

describe('the body limit of the TTS Worker (64 KiB, enforced while reading)', () => {
  it('a declared body over the limit is 413 invalid_request', async () => {
    const form = await exchangeForm({ request_details: JSON.stringify({ tool: 'x', pad: 'a'.repeat(70 * 1024) }) });
    const desc = await refusal(await post('/token', form), 413, 'invalid_request');
    expect(desc).toBe('request body exceeds 65536 bytes');
  });

  it('a streamed body without a length is cut at the limit, not read whole', async () => {
    let pulled = 0;
    const body = new ReadableStream<Uint8Array>({
      pull(c) {
        pulled += 16 * 1024;
        c.enqueue(new TextEncoder().encode('a'.repeat(16 * 1024)));
        if (pulled >= 8 * 1024 * 1024) c.close();
      },
    });
    const res = await SELF.fetch(`${BASE}/token`, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body,
      // @ts-expect-error: workerd's RequestInit takes duplex for streamed bodies like undici's
      duplex: 'half',
    });
    expect(await refusal(res, 413, 'invalid_request')).toBe('request body exceeds 65536 bytes');
    expect(pulled).toBeLessThan(1024 * 1024);
  });

  it('a body just under the limit is read and judged on its content (control)', async () => {
    const form = await exchangeForm({ scope: 'tickets:read' });
    const base = new URLSearchParams(form).toString();
    const padded = `${base}&pad=${'a'.repeat(64 * 1024 - base.length - 5)}`;
    expect(padded.length).toBeLessThanOrEqual(64 * 1024);
    const res = await SELF.fetch(`${BASE}/token`, { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded' }, body: padded });
    expect(res.status, await res.clone().text()).toBe(200);
  });
});

describe('algorithm refusals in workerd (T-08, T-09, T-15)', () => {
  it('a client assertion with alg none is invalid_client because of its algorithm', async () => {
    const assertion = forged({ alg: 'none', kid: 'whatever' }, assertionClaims());
    const desc = await refusal(await post('/token', await exchangeForm({}, { assertion })), 401, 'invalid_client');
    expect(desc).toMatch(/alg/i);
  });

  it('a client assertion signed with HS256 is invalid_client because of its algorithm', async () => {
    const desc = await refusal(await post('/token', await exchangeForm({}, { assertion: await hs256(assertionClaims()) })), 401, 'invalid_client');
    expect(desc).toMatch(/alg/i);
  });

  it('a subject token with alg none or HS256 is invalid_request because of its algorithm', async () => {
    for (const subject of [forged({ alg: 'none', typ: 'at+jwt' }, userClaims()), await hs256(userClaims(), 'at+jwt')]) {
      const desc = await refusal(await post('/token', await exchangeForm({}, { subject })), 400, 'invalid_request');
      expect(desc).toMatch(/alg/i);
    }
  });

  it('the verifier in workerd refuses alg none and HS256 Txn-Tokens as bad algorithms', async () => {
    const v = createVerifier({ trustDomain: TRUST_DOMAIN, jwksUri: `${BASE}/.well-known/jwks.json`, jwksFetch: (i, init) => SELF.fetch(i, init), onDecision: null });
    const now = Math.floor(Date.now() / 1000);
    const claims = { aud: TRUST_DOMAIN, txn: crypto.randomUUID(), sub: 'alice', scope: 'tickets:read', req_wl: 'mcp-support-agent', iat: now, exp: now + 60 };
    for (const token of [forged({ alg: 'none', typ: 'txntoken+jwt', kid: env.TEST_SIGNING_KID }, claims), await hs256(claims, 'txntoken+jwt')]) {
      const e = await v.verify(token).then(() => undefined, (x: unknown) => x);
      expect(e).toBeInstanceOf(TxnTokenError);
      expect((e as TxnTokenError).code).toBe('bad_algorithm');
    }
    await v.close();
  });
});

describe('typ refusals in workerd (T-15, V-03)', () => {
  it('a Txn-Token presented as an access token is refused because of its typ', async () => {
    const token = await txnToken();
    const desc = await refusal(await post('/token', await exchangeForm({}, { subject: token })), 400, 'invalid_request');
    expect(desc).toMatch(/typ/);
  });

  it('an access token of the trusted IdP with typ txntoken+jwt is refused as a subject because of its typ', async () => {
    const jwk = JSON.parse(env.TEST_IDP_PRIVATE_JWK) as JWK;
    const subject = await new SignJWT(userClaims())
      .setProtectedHeader({ alg: 'EdDSA', kid: jwk.kid!, typ: 'txntoken+jwt' })
      .sign(await importJWK(jwk, 'EdDSA'));
    const desc = await refusal(await post('/token', await exchangeForm({}, { subject })), 400, 'invalid_request');
    expect(desc).toMatch(/typ/);
  });

  it('the verifier in workerd refuses a user access token as a Txn-Token (wrong_type)', async () => {
    const v = createVerifier({ trustDomain: TRUST_DOMAIN, jwksUri: `${BASE}/.well-known/jwks.json`, jwksFetch: (i, init) => SELF.fetch(i, init), onDecision: null });
    const e = await v.verify(await userToken()).then(() => undefined, (x: unknown) => x);
    expect(e).toBeInstanceOf(TxnTokenError);
    expect((e as TxnTokenError).code).toBe('wrong_type');
    await v.close();
  });
});

describe('audience refusals in workerd (T-03, T-11, V-04)', () => {
  it('an exchange for another trust domain is invalid_target', async () => {
    const desc = await refusal(await post('/token', await exchangeForm({ audience: 'evil.example' })), 400, 'invalid_target');
    expect(desc).toMatch(/audience/);
  });

  it('a subject token issued to another audience is invalid_request naming the audience (T-11)', async () => {
    const subject = await userToken({ aud: 'https://other.example' });
    const desc = await refusal(await post('/token', await exchangeForm({}, { subject })), 400, 'invalid_request');
    expect(desc).toMatch(/aud/);
  });

  it('a replacement asked for another trust domain is refused (R-02: aud is copied, never changed)', async () => {
    const token = await txnToken();
    const res = await post('/token', await exchangeForm({ subject_token: token, subject_token_type: TT_TXN_TOKEN, audience: 'evil.example' }));
    const desc = await refusal(res, 400, 'invalid_target');
    expect(desc).toMatch(/audience/);
  });

  it('the verifier in workerd refuses a Txn-Token of another trust domain (wrong_audience)', async () => {
    const v = createVerifier({ trustDomain: 'other.example', jwksUri: `${BASE}/.well-known/jwks.json`, jwksFetch: (i, init) => SELF.fetch(i, init), onDecision: null });
    const e = await v.verify(await txnToken()).then(() => undefined, (x: unknown) => x);
    expect(e).toBeInstanceOf(TxnTokenError);
    expect((e as TxnTokenError).code).toBe('wrong_audience');
    await v.close();
  });
});
