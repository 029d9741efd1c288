// The client step (T-08) without HTTP: each authentication method and each refusal, with its reason.
import { describe, expect, it } from 'vitest';
import { clientAssertion } from '../../test/helpers/jwt.js';
import { basic } from '../../test/helpers/names.js';
import { refusal, SECRET, TTS_ISSUER, unitTts } from '../../test/helpers/tts-context.js';
import { CLIENT_ASSERTION_JWT } from '../txn/index.js';
import { hashSecret, timingSafeEqual } from './client-auth.js';
import { authenticateWorkload } from './context.js';

const params = (p: Record<string, string>) => new Map(Object.entries(p));

describe('the client step (T-08)', () => {
  it('T-08 client_secret_basic, client_secret_post and private_key_jwt each authenticate their own client', async () => {
    const u = await unitTts();
    expect((await authenticateWorkload(u.ctx, params({}), basic('agent', SECRET))).id).toBe('agent');
    expect((await authenticateWorkload(u.ctx, params({ client_id: 'poster', client_secret: SECRET }), undefined)).id).toBe('poster');
    const assertion = await clientAssertion(u.clientKey, 'jwt-client', TTS_ISSUER);
    expect((await authenticateWorkload(u.ctx, params({ client_assertion_type: CLIENT_ASSERTION_JWT, client_assertion: assertion }), undefined)).id).toBe('jwt-client');
  });

  it('T-08 an unknown client, a wrong secret and the wrong method get the same answer; only the reason differs', async () => {
    const u = await unitTts();
    const unknown = await refusal(authenticateWorkload(u.ctx, params({}), basic('nobody', SECRET)));
    const wrong = await refusal(authenticateWorkload(u.ctx, params({}), basic('agent', 'not-the-secret')));
    const method = await refusal(authenticateWorkload(u.ctx, params({ client_id: 'agent', client_secret: SECRET }), undefined));
    expect([unknown.reason, wrong.reason, method.reason]).toEqual(['client.unknown', 'client.secret_mismatch', 'client.method_mismatch']);
    for (const r of [unknown, wrong, method]) expect({ error: r.error, status: r.status, message: r.message }).toEqual({ error: 'invalid_client', status: 401, message: 'client authentication failed' });
  });

  it('T-08 exactly one method; none is 401 with a challenge; a Bearer header is not client authentication', async () => {
    const u = await unitTts();
    expect(await refusal(authenticateWorkload(u.ctx, params({ client_secret: 'x', client_id: 'poster' }), basic('agent', SECRET)))).toMatchObject({ error: 'invalid_request', reason: 'client.auth_multiple' });
    expect(await refusal(authenticateWorkload(u.ctx, params({}), undefined))).toMatchObject({ error: 'invalid_client', reason: 'client.auth_missing' });
    expect(await refusal(authenticateWorkload(u.ctx, params({}), 'Bearer abc'))).toMatchObject({ reason: 'client.authorization_scheme' });
    expect(await refusal(authenticateWorkload(u.ctx, params({}), 'Basic !!!'))).toMatchObject({ reason: 'client.basic_malformed' });
  });

  it('T-08 an assertion is single use, for this TTS only (aud one string), and alg none never reaches a key', async () => {
    const u = await unitTts();
    const form = (a: string) => params({ client_assertion_type: CLIENT_ASSERTION_JWT, client_assertion: a });
    const a = await clientAssertion(u.clientKey, 'jwt-client', TTS_ISSUER);
    await authenticateWorkload(u.ctx, form(a), undefined);
    expect(await refusal(authenticateWorkload(u.ctx, form(a), undefined))).toMatchObject({ error: 'invalid_client', reason: 'client.assertion_replayed' });
    const array = await clientAssertion(u.clientKey, 'jwt-client', TTS_ISSUER, { aud: [TTS_ISSUER, 'https://other.example'] });
    expect(await refusal(authenticateWorkload(u.ctx, form(array), undefined))).toMatchObject({ reason: 'client.assertion.audience_not_single' });
    const none = `${btoa('{"alg":"none"}').replace(/=+$/, '')}.${btoa(JSON.stringify({ iss: 'jwt-client', sub: 'jwt-client', aud: TTS_ISSUER, exp: 9e9, jti: 'j' })).replace(/=+$/, '')}.AAAA`;
    expect(await refusal(authenticateWorkload(u.ctx, form(none), undefined))).toMatchObject({ reason: 'client.assertion.bad_algorithm' });
    expect(await refusal(authenticateWorkload(u.ctx, params({ client_assertion_type: 'x', client_assertion: a }), undefined))).toMatchObject({ reason: 'client.assertion_type' });
  });

  it('secrets: the sha256: form matches the plain secret; digests compare in constant time', async () => {
    const u = await unitTts({ overrides: { clients: [{ id: 'h', auth: 'client_secret_basic', secret: await hashSecret(SECRET), scopes: ['tickets:read'] }] } });
    expect((await authenticateWorkload(u.ctx, params({}), basic('h', SECRET))).id).toBe('h');
    expect(timingSafeEqual(new Uint8Array([1, 2]), new Uint8Array([1, 2]))).toBe(true);
    expect(timingSafeEqual(new Uint8Array([1, 2]), new Uint8Array([1, 3]))).toBe(false);
  });
});
