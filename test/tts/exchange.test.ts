/**
 * Token exchange end to end (issue 2): oauth4webapi as the workload's client over real HTTP on loopback, subject
 * tokens from a test IdP whose JWKS is served on loopback. Positive behaviour T-01..T-22 and the refusals.
 */
import { createRemoteJWKSet, decodeJwt, decodeProtectedHeader, jwtVerify } from 'jose';
import * as oauth from 'oauth4webapi';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { TT_ACCESS_TOKEN, TT_ID_TOKEN, TT_SELF_SIGNED, TT_TXN_TOKEN, TT_UNSIGNED_JSON } from '../../src/txn/index.js';
import { claimsOf, headerOf, makeKey, selfSignedSubject } from '../helpers/jwt.js';
import { TRUST_DOMAIN } from '../helpers/names.js';
import { exchangeParams, type ExchangeResult, expectRefusal, o4wExchange } from '../helpers/tts.js';
import { OTHER_AUD, SECRETS, startWorld, type World } from '../helpers/world-tts.js';

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

let w: World;
beforeAll(async () => {
  w = await startWorld();
});
afterAll(async () => {
  await w?.close();
});

type ClientName = keyof World['auth'];
const CLIENT_IDS: Record<ClientName, string> = {
  agent: 'mcp-support-agent',
  poster: 'poster',
  narrow: 'narrow',
  unsigned: 'unsigned-ok',
  jwt: 'jwt-client',
};

function ex(client: ClientName, params: Record<string, string>, grant?: string): Promise<ExchangeResult> {
  return o4wExchange(w.tts.as, CLIENT_IDS[client], w.auth[client], params, grant);
}

/** The Txn-Token, verified the way a receiving service would, against the TTS JWKS from the discovered metadata. */
async function verified(r: ExchangeResult) {
  expect(r.error, r.text).toBeUndefined();
  const token = r.ok!.access_token;
  const jwks = createRemoteJWKSet(new URL(w.tts.as.jwks_uri!));
  const v = await jwtVerify(token, jwks, { issuer: w.tts.issuer, audience: TRUST_DOMAIN, typ: 'txntoken+jwt', algorithms: ['EdDSA', 'ES256'] });
  return { token, header: v.protectedHeader, claims: v.payload as Record<string, unknown> & { act?: Record<string, unknown>; tctx?: Record<string, unknown>; rctx?: Record<string, unknown> } };
}

describe('a first exchange', () => {
  it('T-01..T-05 T-15 exchanges a user access token (client_secret_basic) for a Txn-Token that verifies against the TTS JWKS', async () => {
    const subject = await w.idp.mint({ scope: 'tickets:read tickets:write' });
    const r = await ex('agent', exchangeParams(subject, { scope: 'tickets:read' }));
    expect(r.response.status).toBe(200);
    const { header, claims } = await verified(r);
    expect(header.typ).toBe('txntoken+jwt');
    expect(header.alg).toBe('EdDSA');
    expect(typeof header.kid).toBe('string');
    expect(w.tts.node.service.keys.current.kid).toBe(header.kid);
    expect(claims.sub).toBe('alice');
    expect(claims.scope).toBe('tickets:read');
  });

  it('T-08 authenticates with client_secret_post', async () => {
    const r = await ex('poster', exchangeParams(await w.idp.mint()));
    const { claims } = await verified(r);
    expect(claims.req_wl).toBe('poster');
  });

  it('T-08 authenticates with private_key_jwt (oauth4webapi PrivateKeyJwt, Ed25519 key)', async () => {
    const r = await ex('jwt', exchangeParams(await w.idp.mint()));
    const { claims } = await verified(r);
    expect(claims.req_wl).toBe('jwt-client');
    expect((claims.act as { sub: string }).sub).toBe('jwt-client');
  });

  it('T-16 claims: txn is a UUID unique per exchange, req_wl and act.sub are the authenticated client, aud is the trust domain, iss the TTS', async () => {
    const subject = await w.idp.mint();
    const a = await verified(await ex('agent', exchangeParams(subject)));
    const b = await verified(await ex('agent', exchangeParams(subject)));
    expect(a.claims.txn).toMatch(UUID);
    expect(b.claims.txn).toMatch(UUID);
    expect(a.claims.txn).not.toBe(b.claims.txn);
    expect(a.claims.req_wl).toBe('mcp-support-agent');
    expect(a.claims.act).toEqual({ sub: 'mcp-support-agent' });
    expect(a.claims.aud).toBe(TRUST_DOMAIN);
    expect(a.claims.iss).toBe(w.tts.issuer);
    expect(typeof a.claims.iat).toBe('number');
    expect(typeof a.claims.exp).toBe('number');
  });

  it('T-16 req_wl is never a caller-supplied value (client_id in the body must match the authenticated client)', async () => {
    const subject = await w.idp.mint();
    // oauth4webapi sends client_id in Basic; an extra mismatching client_id in the body is refused
    const r = await ex('agent', exchangeParams(subject, { client_id: 'poster' }));
    expectRefusal(r, 400, 'invalid_request', 'client.id_mismatch', [subject, SECRETS.agent]);
  });

  it('T-22 an act chain already in the subject token is nested below the requesting workload', async () => {
    const subject = await w.idp.mint({ claims: { act: { sub: 'agent-runtime', act: { sub: 'browser-ext' } } } });
    const { claims } = await verified(await ex('agent', exchangeParams(subject)));
    expect(claims.act).toEqual({ sub: 'mcp-support-agent', act: { sub: 'agent-runtime', act: { sub: 'browser-ext' } } });
    expect(claims.sub).toBe('alice');
  });

  it('T-23 a subject act chain that would exceed the maximum depth (8) is invalid_request', async () => {
    let act: Record<string, unknown> | undefined;
    for (let i = 0; i < 8; i++) act = act === undefined ? { sub: `hop-${i}` } : { sub: `hop-${i}`, act };
    const subject = await w.idp.mint({ claims: { act } });
    expectRefusal(await ex('agent', exchangeParams(subject)), 400, 'invalid_request', 'chain.too_deep', [subject]);
  });

  it('T-17 lifetime: default tokenTtl (120 s), and never beyond the subject token exp', async () => {
    const long = await verified(await ex('agent', exchangeParams(await w.idp.mint({ ttl: 3600 }))));
    expect((long.claims.exp as number) - (long.claims.iat as number)).toBe(120);
    const shortSubject = await w.idp.mint({ ttl: 40 });
    const short = await ex('agent', exchangeParams(shortSubject));
    const s = await verified(short);
    expect(s.claims.exp).toBe(decodeJwt(shortSubject).exp);
    expect(short.ok!.expires_in).toBe((s.claims.exp as number) - (s.claims.iat as number));
    expect(short.ok!.expires_in).toBeLessThanOrEqual(40);
  });

  it('T-18 tctx holds roles, configured attributes and only allow-listed request_details; rctx.req_ip comes from the connection', async () => {
    const subject = await w.idp.mint({
      claims: { roles: ['support_agent'], email: 'alice@example.com', tenant: 't1', phone: '+1555', amr: ['pwd', 'otp'] },
    });
    const r = await ex(
      'agent',
      exchangeParams(subject, {
        request_details: JSON.stringify({ tool: 'get_ticket', ticket_id: 'T-1', admin: true, scope: 'orders:refund' }),
        request_context: JSON.stringify({ req_ip: '6.6.6.6', channel: 'chat', req_wl: 'evil' }),
      }),
    );
    const { claims } = await verified(r);
    expect(claims.tctx).toEqual({
      roles: ['support_agent'],
      attr: { email: 'alice@example.com', tenant: 't1' },
      request_details: { tool: 'get_ticket', ticket_id: 'T-1' },
    });
    expect(claims.rctx).toEqual({ req_ip: '127.0.0.1', channel: 'chat', authn: ['pwd', 'otp'] });
    expect(claims.req_wl).toBe('mcp-support-agent');
    expect(claims.scope).toBe('tickets:read');
  });

  it('T-19 the Txn-Token contains neither the subject token nor its signature nor the client secret', async () => {
    const subject = await w.idp.mint({ claims: { roles: ['user'], email: 'a@example.com' } });
    const { token } = await verified(await ex('agent', exchangeParams(subject, { request_details: JSON.stringify({ tool: subject.slice(0, 40) }) })));
    const payload = JSON.stringify(claimsOf(token));
    const header = JSON.stringify(headerOf(token));
    for (const part of [subject, subject.split('.')[2]!, subject.split('.')[1]!, SECRETS.agent]) {
      expect(payload.includes(part)).toBe(false);
      expect(header.includes(part)).toBe(false);
    }
  });

  it('T-20 response: N_A token type, issued_token_type txn_token, expires_in, no scope when unchanged, no refresh_token, no-store', async () => {
    const r = await ex('agent', exchangeParams(await w.idp.mint(), { scope: 'tickets:read orders:read' }));
    expect(r.response.status).toBe(200);
    expect(r.response.headers.get('cache-control')).toContain('no-store');
    expect(r.response.headers.get('content-type')).toMatch(/^application\/json/);
    const body = JSON.parse(r.text) as Record<string, unknown>;
    expect(body.token_type).toBe('N_A');
    expect(body.issued_token_type).toBe(TT_TXN_TOKEN);
    expect(body.expires_in).toBe(120);
    expect('scope' in body).toBe(false);
    expect('refresh_token' in body).toBe(false);
    expect(r.ok!.token_type).toBe('n_a');
  });

  it('T-14 T-20 a narrower grant is returned with scope in the response', async () => {
    const r = await ex('agent', exchangeParams(await w.idp.mint({ scope: 'tickets:read' }), { scope: 'tickets:read tickets:write' }));
    const { claims } = await verified(r);
    expect(claims.scope).toBe('tickets:read');
    expect(r.ok!.scope).toBe('tickets:read');
  });

  it('T-12 a subject scope implies its finer scopes (tickets grants tickets:read)', async () => {
    const r = await ex('agent', exchangeParams(await w.idp.mint({ scope: 'tickets' }), { scope: 'tickets:read tickets:write' }));
    const { claims } = await verified(r);
    expect(claims.scope).toBe('tickets:read tickets:write');
  });

  it('T-12 a finer scope never implies the coarser one (tickets:read does not grant tickets)', async () => {
    const subject = await w.idp.mint({ scope: 'tickets:read tickets:write' });
    expectRefusal(await ex('agent', exchangeParams(subject, { scope: 'tickets' })), 400, 'invalid_scope', 'scope.none_granted', [subject]);
  });

  it('T-12 reads an scp array claim as the subject scope', async () => {
    const { claims } = await verified(await ex('agent', exchangeParams(await w.idp.mint({ scope: ['orders:read', 'tickets:read'] }), { scope: 'orders:read' })));
    expect(claims.scope).toBe('orders:read');
  });

  it('T-13 a subject token without any scope is refused (unknown scope is never unlimited)', async () => {
    const subject = await w.idp.mint({ scope: null });
    expectRefusal(await ex('agent', exchangeParams(subject)), 400, 'invalid_request', 'subject.no_scope', [subject]);
  });

  it('T-09 accepts an ID token subject (typ JWT, aud = the OIDC client) with the configured ID-token scopes', async () => {
    const idToken = await w.idp.mint({ typ: 'JWT', aud: 'mcp-oidc-client', scope: null });
    const { claims } = await verified(await ex('agent', exchangeParams(idToken, { subject_token_type: TT_ID_TOKEN })));
    expect(claims.sub).toBe('alice');
    expect(claims.scope).toBe('tickets:read');
  });

  it('T-09 an access token (typ at+jwt) is not accepted as an ID token', async () => {
    const at = await w.idp.mint({ aud: 'mcp-oidc-client' });
    expectRefusal(await ex('agent', exchangeParams(at, { subject_token_type: TT_ID_TOKEN })), 400, 'invalid_request', 'subject.wrong_type', [at]);
  });

  it('T-10 accepts a self-signed subject from a private_key_jwt workload configured for it (allowSelfSignedSubject), signed with its key', async () => {
    const subject = await selfSignedSubject(w.clientKey, 'jwt-client', w.tts.issuer, { scope: 'tickets:read' });
    const { claims } = await verified(await ex('jwt', exchangeParams(subject, { subject_token_type: TT_SELF_SIGNED })));
    expect(claims.sub).toBe('alice');
    expect(claims.req_wl).toBe('jwt-client');
    expect(claims.rctx).toMatchObject({ authn: 'self_signed' });
  });

  it('T-22 a self-signed subject cannot put earlier workloads into the chain (act is refused: only the TTS attests hops)', async () => {
    const forged = await selfSignedSubject(w.clientKey, 'jwt-client', w.tts.issuer, { scope: 'tickets:read', act: { sub: 'mcp-support-agent' } });
    expectRefusal(await ex('jwt', exchangeParams(forged, { subject_token_type: TT_SELF_SIGNED })), 400, 'invalid_request', 'subject.self_signed_act', [forged]);
  });

  it('T-10 refuses a self-signed subject with the wrong aud, signed by another key, naming the workload itself, or from a secret-only client', async () => {
    const wrongAud = await selfSignedSubject(w.clientKey, 'jwt-client', w.tts.issuer, { scope: 'tickets:read' }, { aud: 'https://elsewhere.example' });
    expectRefusal(await ex('jwt', exchangeParams(wrongAud, { subject_token_type: TT_SELF_SIGNED })), 400, 'invalid_request', 'subject.wrong_audience', [wrongAud]);
    const other = await makeKey('EdDSA', w.clientKey.kid);
    const forged = await selfSignedSubject(other, 'jwt-client', w.tts.issuer, { scope: 'tickets:read' });
    expectRefusal(await ex('jwt', exchangeParams(forged, { subject_token_type: TT_SELF_SIGNED })), 400, 'invalid_request', 'subject.bad_signature', [forged]);
    const itself = await selfSignedSubject(w.clientKey, 'jwt-client', w.tts.issuer, { scope: 'tickets:read' }, { sub: 'jwt-client' });
    expectRefusal(await ex('jwt', exchangeParams(itself, { subject_token_type: TT_SELF_SIGNED })), 400, 'invalid_request', 'subject.invalid_claim.sub', [itself]);
    expectRefusal(await ex('agent', exchangeParams(wrongAud, { subject_token_type: TT_SELF_SIGNED })), 400, 'invalid_request', 'subject.no_keys', [wrongAud, SECRETS.agent]);
  });

  it('T-10 accepts an unsigned JSON subject only from a workload configured for it, and only with sub', async () => {
    const unsigned = JSON.stringify({ sub: 'bob', scope: 'tickets:read' });
    const { claims } = await verified(await ex('unsigned', exchangeParams(unsigned, { subject_token_type: TT_UNSIGNED_JSON })));
    expect(claims.sub).toBe('bob');
    expect(claims.req_wl).toBe('unsigned-ok');
    expectRefusal(await ex('agent', exchangeParams(unsigned, { subject_token_type: TT_UNSIGNED_JSON })), 400, 'invalid_request', 'subject.unsigned_not_allowed', [unsigned]);
    const noSub = JSON.stringify({ scope: 'tickets:read' });
    expectRefusal(await ex('unsigned', exchangeParams(noSub, { subject_token_type: TT_UNSIGNED_JSON })), 400, 'invalid_request', 'subject.unsigned_no_sub', [noSub]);
    const notObject = JSON.stringify(['bob']);
    expectRefusal(await ex('unsigned', exchangeParams(notObject, { subject_token_type: TT_UNSIGNED_JSON })), 400, 'invalid_request', 'subject.unsigned_not_object', [notObject]);
  });

  it('T-21 a sub longer than 1024 characters is invalid_request, never a store error (the rate-limit key hashes the user)', async () => {
    const long = JSON.stringify({ sub: 'u'.repeat(1025), scope: 'tickets:read' });
    expectRefusal(await ex('unsigned', exchangeParams(long, { subject_token_type: TT_UNSIGNED_JSON })), 400, 'invalid_request', 'subject.sub_too_long', [long]);
    const edge = JSON.stringify({ sub: 'u'.repeat(1024), scope: 'tickets:read' });
    const { claims } = await verified(await ex('unsigned', exchangeParams(edge, { subject_token_type: TT_UNSIGNED_JSON })));
    expect(claims.sub).toHaveLength(1024);
  });

  it('T-11 may_act naming the workload lets it exchange a token issued for another audience', async () => {
    const subject = await w.idp.mint({ aud: OTHER_AUD, claims: { may_act: { sub: 'mcp-support-agent' } } });
    const { claims } = await verified(await ex('agent', exchangeParams(subject)));
    expect(claims.sub).toBe('alice');
  });

  it('T-11 refuses a subject token issued for an audience the workload is not registered for (and may_act naming someone else)', async () => {
    const foreign = await w.idp.mint({ aud: OTHER_AUD });
    expectRefusal(await ex('agent', exchangeParams(foreign)), 400, 'invalid_request', 'subject.not_entitled', [foreign]);
    const otherActor = await w.idp.mint({ aud: OTHER_AUD, claims: { may_act: { sub: 'poster' } } });
    expectRefusal(await ex('agent', exchangeParams(otherActor)), 400, 'invalid_request', 'subject.not_entitled', [otherActor]);
  });

  it('the subject IdP JWKS is fetched over HTTP once and cached across exchanges', async () => {
    const before = w.idp.jwksFetches();
    expect(before).toBeGreaterThanOrEqual(1);
    await verified(await ex('agent', exchangeParams(await w.idp.mint())));
    await verified(await ex('agent', exchangeParams(await w.idp.mint())));
    expect(w.idp.jwksFetches()).toBe(before);
  });

  it('T-15 the issued token header carries no jku/x5u/jwk and is never HMAC or none', async () => {
    const r = await ex('agent', exchangeParams(await w.idp.mint()));
    const h = decodeProtectedHeader(r.ok!.access_token);
    expect(Object.keys(h).sort()).toEqual(['alg', 'kid', 'typ']);
  });
});

describe('replacement chain (T-22, T-23)', () => {
  it('T-22 a Txn-Token replaced by another workload keeps txn and sub; the new workload is the outermost act', async () => {
    const first = await verified(await ex('agent', exchangeParams(await w.idp.mint(), { scope: 'tickets:read tickets:write' })));
    const r = await ex('poster', { ...exchangeParams(first.token, { subject_token_type: TT_TXN_TOKEN, scope: 'tickets:read' }) });
    const second = await verified(r);
    expect(second.claims.txn).toBe(first.claims.txn);
    expect(second.claims.sub).toBe('alice');
    expect(second.claims.req_wl).toBe('poster');
    expect(second.claims.act).toEqual({ sub: 'poster', act: { sub: 'mcp-support-agent' } });
    expect(second.claims.exp as number).toBeLessThanOrEqual(first.claims.exp as number);
  });

  it('T-22 R-03 replacement can only narrow the scope', async () => {
    const first = await verified(await ex('agent', exchangeParams(await w.idp.mint(), { scope: 'tickets:read' })));
    const r = await ex('poster', exchangeParams(first.token, { subject_token_type: TT_TXN_TOKEN, scope: 'tickets:write' }));
    expectRefusal(r, 400, 'invalid_scope', 'scope.none_granted', [first.token]);
  });

  it('T-23 a replacement chain deeper than the maximum depth (8) is invalid_request', async () => {
    let token = (await verified(await ex('agent', exchangeParams(await w.idp.mint())))).token;
    const order: ClientName[] = ['poster', 'jwt', 'agent', 'poster', 'jwt', 'agent', 'poster'];
    for (const c of order) {
      const r = await ex(c, exchangeParams(token, { subject_token_type: TT_TXN_TOKEN }));
      token = (await verified(r)).token;
    }
    expect(decodeJwt(token).act).toBeDefined();
    let depth = 0;
    for (let a = decodeJwt(token).act as { act?: unknown } | undefined; a !== undefined; a = a.act as { act?: unknown } | undefined) depth++;
    expect(depth).toBe(8);
    const r = await ex('jwt', exchangeParams(token, { subject_token_type: TT_TXN_TOKEN }));
    expectRefusal(r, 400, 'invalid_request', 'chain.too_deep', [token]);
  });

  it('T-15 a Txn-Token is never accepted as an access token (typ txntoken+jwt)', async () => {
    const first = await verified(await ex('agent', exchangeParams(await w.idp.mint())));
    expectRefusal(await ex('agent', exchangeParams(first.token, { subject_token_type: TT_ACCESS_TOKEN })), 400, 'invalid_request', 'subject.wrong_type', [first.token]);
  });
});

describe('oauth4webapi client metadata', () => {
  it('discovers the TTS with RFC 8414 metadata', () => {
    expect(w.tts.as.issuer).toBe(w.tts.issuer);
    expect(w.tts.as.token_endpoint).toBe(`${w.tts.issuer}/token`);
    expect(w.tts.as.jwks_uri).toBe(`${w.tts.issuer}/.well-known/jwks.json`);
    expect(w.tts.as.grant_types_supported).toEqual(['urn:ietf:params:oauth:grant-type:token-exchange']);
    expect(w.tts.as.token_endpoint_auth_methods_supported).toEqual(expect.arrayContaining(['private_key_jwt', 'client_secret_basic', 'client_secret_post']));
    expect(w.tts.as.token_endpoint_auth_signing_alg_values_supported).not.toContain('none');
    expect(w.tts.as.token_endpoint_auth_signing_alg_values_supported?.some((a) => a.startsWith('HS'))).toBe(false);
  });

  it('uses oauth4webapi ResponseBodyError for refusals (error and status readable by the workload)', async () => {
    const subject = await w.idp.mint();
    const r = await ex('agent', exchangeParams(subject, { audience: 'nope.example' }));
    expect(r.error).toBeInstanceOf(oauth.ResponseBodyError);
    const err = r.error as oauth.ResponseBodyError;
    expect(err.error).toBe('invalid_target');
    expect(err.status).toBe(400);
  });
});

