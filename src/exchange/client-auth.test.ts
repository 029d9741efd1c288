// The client step (T-08) without HTTP: each authentication method and each refusal, with its reason.
import { describe, expect, it } from 'vitest';
import { clientAssertion } from '../../test/helpers/jwt.js';
import { basic } from '../../test/helpers/names.js';
import { refusal, SECRET, TTS_ISSUER, unitTts } from '../../test/helpers/tts-context.js';
import { CLIENT_ASSERTION_JWT } from '../txn/index.js';
import { parseConfig } from '../config/schema.js';
import type { ClientConfig } from '../config/schema.js';
import { MemoryStore } from '../store/memory.js';
import { StoreUnavailableError } from '../store/types.js';
import { authenticateClient, hashSecret, prepareWorkload, timingSafeEqual } from './client-auth.js';
import { readClientCredentials } from './request.js';
import { authenticateWorkload } from './context.js';

const params = (p: Record<string, string>) => new Map(Object.entries(p));
/** one client's configuration as the configuration schema reads it */
const parse = (client: Record<string, unknown>): ClientConfig =>
  parseConfig({ issuer: TTS_ISSUER, trustDomain: 'unit.example', keys: 'unused', subjectIssuers: [], clients: [{ scopes: ['tickets:read'], ...client }] }).clients[0]!;

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

  it('T-08 a Basic header that authenticated is known again (same workload); a changed secret after a reload, a wrong one, a client_id that differs are still refused', async () => {
    const u = await unitTts();
    const header = basic('agent', SECRET);
    const first = await authenticateWorkload(u.ctx, params({}), header);
    expect(await authenticateWorkload(u.ctx, params({}), header)).toBe(first);
    expect(await authenticateWorkload(u.ctx, params({ client_id: 'agent' }), header)).toBe(first);
    expect(await refusal(authenticateWorkload(u.ctx, params({ client_id: 'poster' }), header))).toMatchObject({ error: 'invalid_request', reason: 'client.id_mismatch' });
    const wrong = basic('agent', 'not-the-secret');
    for (let i = 0; i < 2; i++) expect(await refusal(authenticateWorkload(u.ctx, params({}), wrong))).toMatchObject({ error: 'invalid_client', reason: 'client.secret_mismatch' });
    // a reload prepares the workloads again: the secret changed, the header that passed before no longer does
    const reloaded = await unitTts({ overrides: { clients: [{ id: 'agent', auth: 'client_secret_basic', secret: 'a-new-secret-after-reload', scopes: ['tickets:read'] }] } });
    expect(await refusal(authenticateWorkload(reloaded.ctx, params({}), header))).toMatchObject({ error: 'invalid_client', reason: 'client.secret_mismatch' });
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

  it('T-08 Basic credentials are form-decoded (RFC 6749 §2.3.1); a malformed header, id or encoding is client.basic_malformed', async () => {
    const u = await unitTts({ overrides: { clients: [{ id: 'a:b', auth: 'client_secret_basic', secret: 'p q+%:secret', scopes: ['tickets:read'] }] } });
    const raw = (s: string) => `Basic ${btoa(s)}`;
    expect((await authenticateWorkload(u.ctx, params({}), raw('a%3Ab:p+q%2B%25:secret'))).id).toBe('a:b');
    expect((await authenticateWorkload(u.ctx, params({}), `basic ${btoa('a%3Ab:p+q%2B%25:secret')}`)).id).toBe('a:b'); // the scheme is case-insensitive
    expect(await refusal(authenticateWorkload(u.ctx, params({}), raw('a%3Ab:p q+%:secret')))).toMatchObject({ reason: 'client.basic_malformed' }); // % not encoded
    for (const bad of [raw('no-colon'), raw('a%ZZ:secret'), 'Basic AAAA=', `Basic ${btoa('\xff\xfe:x')}`, 'Basic  ', 'Basic'])
      expect(await refusal(authenticateWorkload(u.ctx, params({}), bad)), bad).toMatchObject({ error: 'invalid_client', reason: expect.stringMatching(/^client\.(basic_malformed|authorization_scheme)$/) });
    expect(await refusal(authenticateWorkload(u.ctx, params({}), raw('no-colon')))).toMatchObject({ reason: 'client.basic_malformed', status: 401 });
  });

  it('T-16 client_id next to Basic or an assertion must name the authenticated client; client_secret_post needs client_id', async () => {
    const u = await unitTts();
    expect(await refusal(authenticateWorkload(u.ctx, params({ client_id: 'poster' }), basic('agent', SECRET)))).toMatchObject({ error: 'invalid_request', reason: 'client.id_mismatch' });
    expect((await authenticateWorkload(u.ctx, params({ client_id: 'agent' }), basic('agent', SECRET))).id).toBe('agent');
    expect(await refusal(authenticateWorkload(u.ctx, params({ client_secret: SECRET }), undefined))).toMatchObject({ error: 'invalid_client', reason: 'client.id_missing' });
    const a = await clientAssertion(u.clientKey, 'jwt-client', TTS_ISSUER);
    const form = (extra: Record<string, string>) => params({ client_assertion_type: CLIENT_ASSERTION_JWT, client_assertion: a, ...extra });
    expect(await refusal(authenticateWorkload(u.ctx, form({ client_id: 'agent' }), undefined))).toMatchObject({ error: 'invalid_client', reason: 'client.assertion_id_mismatch' });
    expect((await authenticateWorkload(u.ctx, form({ client_id: 'jwt-client' }), undefined)).id).toBe('jwt-client');
  });

  it('T-08 only a failed Basic attempt carries the Basic challenge; a failed client_secret_post does not', async () => {
    const u = await unitTts();
    const headersOf = async (p: Promise<unknown>) => {
      try {
        await p;
      } catch (e) {
        return (e as { headers: Record<string, string> }).headers;
      }
      throw new Error('accepted');
    };
    expect(await headersOf(authenticateWorkload(u.ctx, params({}), basic('agent', 'wrong')))).toEqual({ 'WWW-Authenticate': 'Basic realm="baton"' });
    expect(await headersOf(authenticateWorkload(u.ctx, params({ client_id: 'poster', client_secret: 'wrong' }), undefined))).toEqual({});
    expect(await headersOf(authenticateWorkload(u.ctx, params({}), undefined))).toEqual({ 'WWW-Authenticate': 'Basic realm="baton"' });
    const unknownAssertion = await clientAssertion(u.clientKey, 'nobody', TTS_ISSUER);
    expect(await headersOf(authenticateWorkload(u.ctx, params({ client_assertion_type: CLIENT_ASSERTION_JWT, client_assertion: unknownAssertion }), undefined))).toEqual({});
  });

  it('T-08 an assertion that is missing, too large, unparseable, of an unknown client or of a secret client is refused, each by its check', async () => {
    const u = await unitTts();
    const form = (a: string) => params({ client_assertion_type: CLIENT_ASSERTION_JWT, client_assertion: a });
    expect(await refusal(authenticateWorkload(u.ctx, params({ client_assertion_type: CLIENT_ASSERTION_JWT }), undefined))).toMatchObject({ reason: 'client.assertion_missing' });
    expect(await refusal(authenticateWorkload(u.ctx, form(''), undefined))).toMatchObject({ reason: 'client.assertion_missing' });
    const big = await clientAssertion(u.clientKey, 'jwt-client', TTS_ISSUER, { claims: { pad: 'x'.repeat(8192) } });
    expect(await refusal(authenticateWorkload(u.ctx, form(big), undefined))).toMatchObject({ reason: 'client.assertion_too_large' });
    expect(await refusal(authenticateWorkload(u.ctx, form('a.b.c'), undefined))).toMatchObject({ reason: 'client.assertion_malformed' });
    const unknown = await clientAssertion(u.clientKey, 'nobody', TTS_ISSUER);
    expect(await refusal(authenticateWorkload(u.ctx, form(unknown), undefined))).toMatchObject({ error: 'invalid_client', reason: 'client.unknown', message: 'client authentication failed' });
    const secretClient = await clientAssertion(u.clientKey, 'agent', TTS_ISSUER);
    expect(await refusal(authenticateWorkload(u.ctx, form(secretClient), undefined))).toMatchObject({ error: 'invalid_client', reason: 'client.method_mismatch' });
    const expired = await clientAssertion(u.clientKey, 'jwt-client', TTS_ISSUER, { ttl: -120 });
    expect(await refusal(authenticateWorkload(u.ctx, form(expired), undefined))).toMatchObject({ error: 'invalid_client', reason: 'client.assertion.expired' });
    const long = await clientAssertion(u.clientKey, 'jwt-client', TTS_ISSUER, { ttl: 3600 });
    expect(await refusal(authenticateWorkload(u.ctx, form(long), undefined))).toMatchObject({ reason: 'client.assertion.lifetime_too_long' });
  });

  it('T-08 an assertion jti stays used until the assertion has expired (clock skew included), not shorter', async () => {
    let clock = Date.now();
    const store = new MemoryStore({ now: () => clock });
    const u = await unitTts({ store, now: () => new Date(clock) });
    const form = (a: string) => params({ client_assertion_type: CLIENT_ASSERTION_JWT, client_assertion: a });
    const a = await clientAssertion(u.clientKey, 'jwt-client', TTS_ISSUER, { ttl: 60 });
    const exp = (JSON.parse(atob(a.split('.')[1]!.replace(/-/g, '+').replace(/_/g, '/'))) as { exp: number }).exp;
    await authenticateWorkload(u.ctx, form(a), undefined);
    // just before exp + clockSkew the assertion still verifies: its jti must still be remembered
    clock = (exp + u.ctx.config.clockSkew) * 1000 - 1500;
    expect(await refusal(authenticateWorkload(u.ctx, form(a), undefined))).toMatchObject({ reason: 'client.assertion_replayed' });
    // and not longer: once the assertion can no longer verify, its jti leaves the store (memory follows live assertions)
    clock = (exp + u.ctx.config.clockSkew) * 1000 + 1000;
    for (let i = 0; i < 64; i++) await store.isRevoked('unrelated'); // the memory store sweeps every 64 operations
    expect(store.entryCounts().once).toBe(0);
  });

  it('T-08 a replay check that cannot answer is 503 (never an accepted assertion); another store failure is not hidden', async () => {
    const down = new (class extends MemoryStore {
      override useOnce(): never {
        throw new StoreUnavailableError('down');
      }
    })();
    const u = await unitTts({ store: down });
    const form = async () => params({ client_assertion_type: CLIENT_ASSERTION_JWT, client_assertion: await clientAssertion(u.clientKey, 'jwt-client', TTS_ISSUER) });
    expect(await refusal(authenticateWorkload(u.ctx, await form(), undefined))).toMatchObject({ error: 'temporarily_unavailable', status: 503, reason: 'client.replay_check_unavailable' });
    const broken = new (class extends MemoryStore {
      override useOnce(): never {
        throw new TypeError('store bug');
      }
    })();
    const v = await unitTts({ store: broken });
    const a = await clientAssertion(v.clientKey, 'jwt-client', TTS_ISSUER);
    await expect(authenticateWorkload(v.ctx, params({ client_assertion_type: CLIENT_ASSERTION_JWT, client_assertion: a }), undefined)).rejects.toThrow('store bug');
  });

  it('secrets: a sha256: secret must be 32 bytes of base64url (padding tolerated); anything else fails at startup', async () => {
    const digest = (await hashSecret(SECRET)).slice('sha256:'.length);
    expect((await prepareWorkload(parse({ id: 'p', auth: 'client_secret_basic', secret: `sha256:${digest}=` }))).secretDigest?.length).toBe(32);
    for (const bad of [`sha256:${digest.slice(0, -2)}`, 'sha256:not base64!', `sha256:${digest}A`, 'sha256:=='])
      await expect(prepareWorkload(parse({ id: 'p', auth: 'client_secret_basic', secret: bad })), bad).rejects.toThrow(/client p: secret sha256/);
    const u = await unitTts({ overrides: { clients: [{ id: 'h', auth: 'client_secret_basic', secret: await hashSecret(SECRET), scopes: ['tickets:read'] }] } });
    expect(await refusal(authenticateWorkload(u.ctx, params({}), basic('h', `sha256:${digest}`)))).toMatchObject({ reason: 'client.secret_mismatch' });
    expect(timingSafeEqual(new Uint8Array([1, 2]), new Uint8Array([1, 2, 3]))).toBe(false);
  });

  it('T-08 the credentials are exactly the Basic value (nothing after it), an empty Authorization is no method, and an assertion without its type is refused', async () => {
    const u = await unitTts();
    expect(await refusal(authenticateWorkload(u.ctx, params({}), `${basic('agent', SECRET)}!!`))).toMatchObject({ reason: 'client.basic_malformed' });
    expect((await authenticateWorkload(u.ctx, params({ client_id: 'poster', client_secret: SECRET }), '')).id).toBe('poster');
    const a = await clientAssertion(u.clientKey, 'jwt-client', TTS_ISSUER);
    expect(await refusal(authenticateWorkload(u.ctx, params({ client_assertion: a }), undefined))).toMatchObject({ error: 'invalid_client', reason: 'client.assertion_type' });
  });

  it('T-08 a client key set (jwksUri) that cannot be fetched is 503 client.assertion.key_unavailable, never an accepted assertion', async () => {
    const u = await unitTts({ overrides: { clients: [{ id: 'remote', auth: 'private_key_jwt', jwksUri: 'http://127.0.0.1:1/jwks.json', scopes: ['tickets:read'] }] } });
    const a = await clientAssertion(u.clientKey, 'remote', TTS_ISSUER);
    expect(await refusal(authenticateWorkload(u.ctx, params({ client_assertion_type: CLIENT_ASSERTION_JWT, client_assertion: a }), undefined))).toMatchObject({
      error: 'temporarily_unavailable',
      status: 503,
      reason: 'client.assertion.key_unavailable',
    });
  });

  it('secrets: a sha256: secret with whitespace or another character inside is not base64url and fails at startup', async () => {
    const digest = (await hashSecret(SECRET)).slice('sha256:'.length);
    // the base64url decoder alone would skip the whitespace and accept these 32 bytes
    for (const bad of [`${digest.slice(0, 20)} ${digest.slice(20)}`, `${digest.slice(0, 20)}\t${digest.slice(20)}`, ` ${digest}`, `${digest} `, `${digest.slice(0, 20)}.${digest.slice(20)}`])
      await expect(prepareWorkload(parse({ id: 'p', auth: 'client_secret_basic', secret: `sha256:${bad}` })), JSON.stringify(bad)).rejects.toThrow(/client p: secret sha256/);
  });

  it('T-08 the Authorization value must start with the Basic scheme and hold exactly one Basic value; an empty client id is an unknown client', async () => {
    const u = await unitTts();
    expect(await refusal(authenticateWorkload(u.ctx, params({}), `Bearer ${basic('agent', SECRET)}`))).toMatchObject({ error: 'invalid_client', reason: 'client.authorization_scheme' });
    expect(await refusal(authenticateWorkload(u.ctx, params({}), `Basic ${basic('agent', SECRET)}`))).toMatchObject({ error: 'invalid_client', reason: 'client.basic_malformed' });
    // `:secret` is a well-formed Basic value naming the client "": the same answer as any unknown client, with the challenge
    const empty = authenticateWorkload(u.ctx, params({}), `Basic ${btoa(`:${SECRET}`)}`);
    await expect(empty).rejects.toMatchObject({ error: 'invalid_client', reason: 'client.unknown', message: 'client authentication failed', headers: { 'WWW-Authenticate': 'Basic realm="baton"' } });
  });

  it('T-08 authenticateClient (exported) takes a header value with surrounding whitespace, and works without a clock of its own', async () => {
    const u = await unitTts();
    const ctx = { workloads: u.ctx.workloads, issuer: TTS_ISSUER, store: new MemoryStore(), clockSkew: 30 };
    expect((await authenticateClient(ctx, `${basic('agent', SECRET)} `, readClientCredentials(params({})))).id).toBe('agent');
    const a = await clientAssertion(u.clientKey, 'jwt-client', TTS_ISSUER);
    expect((await authenticateClient(ctx, undefined, readClientCredentials(params({ client_assertion_type: CLIENT_ASSERTION_JWT, client_assertion: a })))).id).toBe('jwt-client');
  });

  it('T-08 an assertion is judged by the TTS clock, not the machine clock', async () => {
    // the TTS clock is an hour ahead: an assertion valid for the next minute of machine time has expired for it
    const u = await unitTts({ now: () => new Date(Date.now() + 3_600_000) });
    const a = await clientAssertion(u.clientKey, 'jwt-client', TTS_ISSUER, { ttl: 60 });
    expect(await refusal(authenticateWorkload(u.ctx, params({ client_assertion_type: CLIENT_ASSERTION_JWT, client_assertion: a }), undefined))).toMatchObject({ reason: 'client.assertion.expired' });
  });

  it('T-08 an assertion of exactly 8192 characters passes the size check; a secret client with keys of its own (self-signed subjects) cannot use private_key_jwt', async () => {
    const u = await unitTts();
    const form = (a: string) => params({ client_assertion_type: CLIENT_ASSERTION_JWT, client_assertion: a });
    expect(await refusal(authenticateWorkload(u.ctx, form('x'.repeat(8192)), undefined))).toMatchObject({ reason: 'client.assertion_malformed' });
    expect(await refusal(authenticateWorkload(u.ctx, form('x'.repeat(8193)), undefined))).toMatchObject({ reason: 'client.assertion_too_large' });
    const self = await prepareWorkload(parse({ id: 'self', auth: 'client_secret_basic', secret: SECRET, jwks: { keys: [u.clientKey.publicJwk] }, allowSelfSignedSubject: true }));
    const ctx = { workloads: new Map([['self', self]]), issuer: TTS_ISSUER, store: new MemoryStore(), clockSkew: 30 };
    const a = await clientAssertion(u.clientKey, 'self', TTS_ISSUER);
    expect(await refusal(authenticateClient(ctx, undefined, readClientCredentials(form(a))))).toMatchObject({ error: 'invalid_client', reason: 'client.method_mismatch' });
  });

  it('T-08 a workload prepared without its credential (a configuration not read through the schema) is refused as the wrong method, never a crash', async () => {
    const u = await unitTts();
    const noSecret = await prepareWorkload({ ...parse({ id: 'no-secret', auth: 'private_key_jwt', jwks: { keys: [u.clientKey.publicJwk] } }), auth: 'client_secret_basic' });
    const noKeys = await prepareWorkload({ ...parse({ id: 'no-keys', auth: 'client_secret_basic', secret: SECRET }), auth: 'private_key_jwt' });
    const ctx = { workloads: new Map([['no-secret', noSecret], ['no-keys', noKeys]]), issuer: TTS_ISSUER, store: new MemoryStore(), clockSkew: 30 };
    expect(await refusal(authenticateClient(ctx, basic('no-secret', SECRET), readClientCredentials(params({}))))).toMatchObject({ error: 'invalid_client', reason: 'client.method_mismatch' });
    const a = await clientAssertion(u.clientKey, 'no-keys', TTS_ISSUER);
    expect(await refusal(authenticateClient(ctx, undefined, readClientCredentials(params({ client_assertion_type: CLIENT_ASSERTION_JWT, client_assertion: a }))))).toMatchObject({ error: 'invalid_client', reason: 'client.method_mismatch' });
  });
});
