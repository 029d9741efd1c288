/**
 * Every way a token exchange is refused (T-01..T-14, T-21): the right error and status, never a 5xx, nothing the
 * caller sent echoed back. oauth4webapi where it can send the request; plain fetch with a hand-built body where it
 * cannot (two auth methods, oversized or malformed bodies, forged JWTs).
 */
import * as oauth from 'oauth4webapi';
import type { RefusalReason } from '../../src/exchange/index.js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CLIENT_ASSERTION_JWT, GRANT_TOKEN_EXCHANGE, TT_ACCESS_TOKEN, TT_REFRESH_TOKEN, TT_TXN_TOKEN } from '../../src/txn/index.js';
import { clientAssertion, makeKey, rawJwt, tamperPayload } from '../helpers/jwt.js';
import { hmacJwt } from '../helpers/jwt.node.js';
import { basic, MCP_AUD } from '../helpers/names.js';
import { exchangeParams, type ExchangeResult, expectRefusal, o4wExchange, rawPost } from '../helpers/tts.js';
import { SECRETS, startWorld, type World } from '../helpers/world-tts.js';

let w: World;
beforeAll(async () => {
  w = await startWorld();
});
afterAll(async () => {
  await w?.close();
});

const agent = (params: Record<string, string>, grant?: string): Promise<ExchangeResult> =>
  o4wExchange(w.tts.as, 'mcp-support-agent', w.auth.agent, params, grant);

function form(params: Record<string, string>): URLSearchParams {
  return new URLSearchParams({ grant_type: GRANT_TOKEN_EXCHANGE, ...params });
}

describe('request parameters (T-01..T-07)', () => {
  it('T-01 refuses another grant type with unsupported_grant_type', async () => {
    const subject = await w.idp.mint();
    expectRefusal(await agent(exchangeParams(subject), 'client_credentials'), 400, 'unsupported_grant_type', 'request.grant_type_unsupported', [subject, SECRETS.agent]);
    expectRefusal(await agent(exchangeParams(subject), 'urn:ietf:params:oauth:grant-type:jwt-bearer'), 400, 'unsupported_grant_type', 'request.grant_type_unsupported', [subject]);
  });

  it('T-01 refuses a request without grant_type', async () => {
    const subject = await w.idp.mint();
    const body = new URLSearchParams(exchangeParams(subject));
    expectRefusal(await rawPost(w.tts.url, body, { authorization: basic('mcp-support-agent', SECRETS.agent) }), 400, 'invalid_request', 'request.grant_type_missing', [subject, SECRETS.agent]);
  });

  it('T-02 refuses a requested_token_type other than txn_token (access_token, the hyphenated txn-token, missing)', async () => {
    const subject = await w.idp.mint();
    for (const rtt of [TT_ACCESS_TOKEN, 'urn:ietf:params:oauth:token-type:txn-token', 'urn:ietf:params:oauth:token-type:jwt'])
      expectRefusal(await agent(exchangeParams(subject, { requested_token_type: rtt })), 400, 'invalid_request', 'request.requested_token_type_unsupported', [subject]);
    const p = exchangeParams(subject);
    delete (p as Partial<Record<string, string>>).requested_token_type;
    expectRefusal(await agent(p), 400, 'invalid_request', 'request.requested_token_type_missing', [subject]);
  });

  it('T-03 refuses an unknown or missing audience with invalid_target', async () => {
    const subject = await w.idp.mint();
    expectRefusal(await agent(exchangeParams(subject, { audience: 'evil.example' })), 400, 'invalid_target', 'request.audience_unknown', [subject]);
    expectRefusal(await agent(exchangeParams(subject, { audience: MCP_AUD })), 400, 'invalid_target', 'request.audience_unknown', [subject]);
    const p = exchangeParams(subject);
    delete (p as Partial<Record<string, string>>).audience;
    expectRefusal(await agent(p), 400, 'invalid_target', 'request.audience_missing', [subject]);
  });

  it('T-03/T-08 an unauthenticated caller cannot probe trust domains: a wrong secret is invalid_client whatever the audience', async () => {
    const subject = await w.idp.mint();
    for (const audience of ['evil.example', 'support.example']) {
      const r = await rawPost(w.tts.url, form(exchangeParams(subject, { audience })), { authorization: basic('mcp-support-agent', 'wrong-secret') });
      expect({ status: r.response.status, body: r.json }).toMatchObject({ status: 401, body: { error: 'invalid_client' } });
    }
  });

  it('T-04 refuses a missing or empty scope', async () => {
    const subject = await w.idp.mint();
    const p = exchangeParams(subject);
    delete (p as Partial<Record<string, string>>).scope;
    expectRefusal(await agent(p), 400, 'invalid_request', 'request.scope_missing', [subject]);
    expectRefusal(await agent(exchangeParams(subject, { scope: '   ' })), 400, 'invalid_request', 'request.scope_missing', [subject]);
  });

  it('T-05 refuses a missing subject_token or subject_token_type', async () => {
    const subject = await w.idp.mint();
    const noToken = exchangeParams(subject);
    delete (noToken as Partial<Record<string, string>>).subject_token;
    expectRefusal(await agent(noToken), 400, 'invalid_request', 'request.subject_token_missing');
    const noType = exchangeParams(subject);
    delete (noType as Partial<Record<string, string>>).subject_token_type;
    expectRefusal(await agent(noType), 400, 'invalid_request', 'request.subject_token_type_missing', [subject]);
  });

  it('T-06 refuses a refresh token as subject', async () => {
    const subject = await w.idp.mint();
    expectRefusal(await agent(exchangeParams(subject, { subject_token_type: TT_REFRESH_TOKEN })), 400, 'invalid_request', 'request.subject_token_type_refresh', [subject]);
  });

  it('T-06 refuses an unknown subject_token_type', async () => {
    const subject = await w.idp.mint();
    expectRefusal(await agent(exchangeParams(subject, { subject_token_type: 'urn:example:token-type:magic' })), 400, 'invalid_request', 'request.subject_token_type_unsupported', [subject]);
    expectRefusal(await agent(exchangeParams(subject, { subject_token_type: 'urn:ietf:params:oauth:token-type:saml2' })), 400, 'invalid_request', 'request.subject_token_type_unsupported', [subject]);
  });

  it('T-07 refuses a request_details that is not a JSON object (array, base64, string, number, null)', async () => {
    const subject = await w.idp.mint();
    const b64 = Buffer.from(JSON.stringify({ tool: 'x' })).toString('base64');
    const cases: Array<[string, RefusalReason]> = [
      ['["tool"]', 'request.json_not_object'],
      [b64, 'request.json_syntax'],
      ['"get_ticket"', 'request.json_not_object'],
      ['get_ticket', 'request.json_syntax'],
      ['42', 'request.json_not_object'],
      ['null', 'request.json_not_object'],
      ['{"tool":', 'request.json_syntax'],
    ];
    for (const [d, reason] of cases) expectRefusal(await agent(exchangeParams(subject, { request_details: d })), 400, 'invalid_request', reason, [subject]);
  });

  it('T-07 refuses a request_context that is not a JSON object, and an oversized request_details', async () => {
    const subject = await w.idp.mint();
    expectRefusal(await agent(exchangeParams(subject, { request_context: '[1,2]' })), 400, 'invalid_request', 'request.json_not_object', [subject]);
    const big = JSON.stringify({ tool: 'x'.repeat(5000) });
    const r = await agent(exchangeParams(subject, { request_details: big }));
    expectRefusal(r, 400, 'invalid_request', 'request.json_too_large', [subject, 'x'.repeat(200)]);
  });

  it('T-05 T-21 refuses duplicate parameters (RFC 6749 §3.2)', async () => {
    const subject = await w.idp.mint();
    for (const dup of ['scope', 'audience', 'subject_token', 'grant_type']) {
      const body = form(exchangeParams(subject));
      body.append(dup, dup === 'scope' ? 'orders:read' : dup === 'audience' ? 'support.example' : dup === 'grant_type' ? GRANT_TOKEN_EXCHANGE : subject);
      expectRefusal(await rawPost(w.tts.url, body, { authorization: basic('mcp-support-agent', SECRETS.agent) }), 400, 'invalid_request', 'request.param_repeated', [subject, SECRETS.agent]);
    }
  });

  it('T-07 T-21 refuses an oversized body (> 64 KiB) with 413, with or without Content-Length', async () => {
    const subject = await w.idp.mint();
    const body = form(exchangeParams(subject, { request_details: JSON.stringify({ tool: 'a'.repeat(70 * 1024) }) }));
    const r = await rawPost(w.tts.url, body, { authorization: basic('mcp-support-agent', SECRETS.agent) });
    expectRefusal(r, 413, 'invalid_request', 'request.body_too_large', [subject, SECRETS.agent]);
    // chunked: no Content-Length for the server to look at first
    const bytes = new TextEncoder().encode(body.toString());
    const stream = new ReadableStream<Uint8Array>({
      start(c) {
        for (let i = 0; i < bytes.length; i += 8192) c.enqueue(bytes.slice(i, i + 8192));
        c.close();
      },
    });
    const res = await fetch(`${w.tts.url}/token`, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded', authorization: basic('mcp-support-agent', SECRETS.agent) },
      body: stream,
      duplex: 'half',
    } as RequestInit);
    expectRefusal({ response: res, text: await res.text() }, 413, 'invalid_request', 'request.body_too_large', [subject, SECRETS.agent]);
  });

  it('T-05 refuses a subject_token larger than the TTS accepts', async () => {
    const huge = 'a'.repeat(20_000);
    expectRefusal(await agent(exchangeParams(huge)), 400, 'invalid_request', 'request.subject_token_too_large', [huge.slice(0, 100)]);
  });

  it('T-21 refuses a malformed form (JSON body, no content type) with invalid_request', async () => {
    const subject = await w.idp.mint();
    const json = JSON.stringify({ grant_type: GRANT_TOKEN_EXCHANGE, ...exchangeParams(subject) });
    const r = await rawPost(w.tts.url, json, { 'content-type': 'application/json', authorization: basic('mcp-support-agent', SECRETS.agent) });
    expectRefusal(r, 400, 'invalid_request', 'request.content_type', [subject, SECRETS.agent]);
    const res = await fetch(`${w.tts.url}/token`, { method: 'POST', body: new Blob([form(exchangeParams(subject)).toString()]) });
    expectRefusal({ response: res, text: await res.text() }, 400, 'invalid_request', 'request.content_type', [subject]);
  });

  it('T-21 a malformed percent-encoding or binary garbage never yields a 5xx', async () => {
    for (const body of ['%zz%%=&&==', `grant_type=${encodeURIComponent(GRANT_TOKEN_EXCHANGE)}&subject_token=%E0%A4%A`, '\u0000\u0001\u0002']) {
      const r = await rawPost(w.tts.url, body, { authorization: basic('mcp-support-agent', SECRETS.agent) });
      expect(r.response.status).toBeGreaterThanOrEqual(400);
      expect(r.response.status).toBeLessThan(500);
      expect(r.text.includes(SECRETS.agent)).toBe(false);
    }
  });
});

describe('client authentication (T-08)', () => {
  it('T-08 refuses a wrong secret (client_secret_basic) with 401 invalid_client and a Basic challenge', async () => {
    const subject = await w.idp.mint();
    const r = await o4wExchange(w.tts.as, 'mcp-support-agent', oauth.ClientSecretBasic('wrong-secret-0123456789'), exchangeParams(subject));
    expectRefusal(r, 401, 'invalid_client', 'client.secret_mismatch', [subject, 'wrong-secret-0123456789']);
    expect(r.response.headers.get('www-authenticate')).toMatch(/^Basic /);
  });

  it('T-08 refuses a wrong secret (client_secret_post)', async () => {
    const subject = await w.idp.mint();
    const r = await o4wExchange(w.tts.as, 'poster', oauth.ClientSecretPost('wrong-secret-0123456789'), exchangeParams(subject));
    expectRefusal(r, 401, 'invalid_client', 'client.secret_mismatch', [subject, 'wrong-secret-0123456789']);
  });

  it('T-08 refuses an unknown client with the same answer as a wrong secret', async () => {
    const subject = await w.idp.mint();
    const unknown = await o4wExchange(w.tts.as, 'nobody', oauth.ClientSecretBasic(SECRETS.agent), exchangeParams(subject));
    expectRefusal(unknown, 401, 'invalid_client', 'client.unknown', [subject, SECRETS.agent]);
    const wrong = await o4wExchange(w.tts.as, 'mcp-support-agent', oauth.ClientSecretBasic('another-secret-0123'), exchangeParams(subject));
    expect(JSON.parse(unknown.text)).toEqual(JSON.parse(wrong.text));
  });

  it('T-08 refuses a client using a method it is not registered for (basic client via post)', async () => {
    const subject = await w.idp.mint();
    const r = await o4wExchange(w.tts.as, 'mcp-support-agent', oauth.ClientSecretPost(SECRETS.agent), exchangeParams(subject));
    expectRefusal(r, 401, 'invalid_client', 'client.method_mismatch', [subject, SECRETS.agent]);
  });

  it('T-08 refuses a Bearer or malformed Basic Authorization header with invalid_client', async () => {
    const subject = await w.idp.mint();
    const cases: Array<[string, RefusalReason]> = [
      [`Bearer ${subject}`, 'client.authorization_scheme'],
      ['Basic !!!notbase64', 'client.basic_malformed'],
      [`Basic ${Buffer.from('no-colon').toString('base64')}`, 'client.basic_malformed'],
    ];
    for (const [authorization, reason] of cases) {
      const r = await rawPost(w.tts.url, form(exchangeParams(subject)), { authorization });
      expectRefusal(r, 401, 'invalid_client', reason, [subject]);
    }
  });

  it('T-08 refuses a request without client authentication', async () => {
    const subject = await w.idp.mint();
    const r = await o4wExchange(w.tts.as, 'mcp-support-agent', oauth.None(), exchangeParams(subject));
    expectRefusal(r, 401, 'invalid_client', 'client.auth_missing', [subject]);
  });

  it('T-08 refuses two authentication methods at once (Basic + client_secret, Basic + assertion, post + assertion)', async () => {
    const subject = await w.idp.mint();
    const b = { authorization: basic('mcp-support-agent', SECRETS.agent) };
    const r1 = await rawPost(w.tts.url, form({ ...exchangeParams(subject), client_id: 'mcp-support-agent', client_secret: SECRETS.agent }), b);
    expectRefusal(r1, 400, 'invalid_request', 'client.auth_multiple', [subject, SECRETS.agent]);
    const assertion = await clientAssertion(w.clientKey, 'jwt-client', w.tts.issuer);
    const r2 = await rawPost(w.tts.url, form({ ...exchangeParams(subject), client_assertion_type: CLIENT_ASSERTION_JWT, client_assertion: assertion }), b);
    expectRefusal(r2, 400, 'invalid_request', 'client.auth_multiple', [subject, SECRETS.agent, assertion]);
    const r3 = await rawPost(
      w.tts.url,
      form({ ...exchangeParams(subject), client_id: 'poster', client_secret: SECRETS.poster, client_assertion_type: CLIENT_ASSERTION_JWT, client_assertion: assertion }),
    );
    expectRefusal(r3, 400, 'invalid_request', 'client.auth_multiple', [subject, SECRETS.poster, assertion]);
  });

  it('T-08 refuses a replayed client assertion (same jti twice)', async () => {
    const jti = `jti-${Date.now()}-${Math.random()}`;
    const auth = oauth.PrivateKeyJwt({ key: w.clientKey.privateKey, kid: w.clientKey.kid }, {
      [oauth.modifyAssertion]: (_h, p) => {
        p.jti = jti;
      },
    });
    const first = await o4wExchange(w.tts.as, 'jwt-client', auth, exchangeParams(await w.idp.mint()));
    expect(first.response.status, first.text).toBe(200);
    const subject = await w.idp.mint();
    const again = await o4wExchange(w.tts.as, 'jwt-client', auth, exchangeParams(subject));
    expectRefusal(again, 401, 'invalid_client', 'client.assertion_replayed', [subject, jti]);
    // the very same assertion string, resent by hand
    const assertion = await clientAssertion(w.clientKey, 'jwt-client', w.tts.issuer);
    const body = () => form({ ...exchangeParams(subject), client_id: 'jwt-client', client_assertion_type: CLIENT_ASSERTION_JWT, client_assertion: assertion });
    expect((await rawPost(w.tts.url, body())).response.status).toBe(200);
    expectRefusal(await rawPost(w.tts.url, body()), 401, 'invalid_client', 'client.assertion_replayed', [subject, assertion]);
  });

  it('T-08 refuses a client assertion with the wrong aud', async () => {
    const subject = await w.idp.mint();
    for (const aud of ['https://other-tts.example', `${w.tts.issuer}/token`]) {
      const assertion = await clientAssertion(w.clientKey, 'jwt-client', w.tts.issuer, { aud });
      const r = await rawPost(w.tts.url, form({ ...exchangeParams(subject), client_assertion_type: CLIENT_ASSERTION_JWT, client_assertion: assertion }));
      expectRefusal(r, 401, 'invalid_client', 'client.assertion.wrong_audience', [subject, assertion]);
    }
  });

  it('T-08 refuses a client assertion whose exp is too far ahead (more than 5 minutes)', async () => {
    const subject = await w.idp.mint();
    const assertion = await clientAssertion(w.clientKey, 'jwt-client', w.tts.issuer, { ttl: 3600 });
    const r = await rawPost(w.tts.url, form({ ...exchangeParams(subject), client_assertion_type: CLIENT_ASSERTION_JWT, client_assertion: assertion }));
    expectRefusal(r, 401, 'invalid_client', 'client.assertion.lifetime_too_long', [subject, assertion]);
  });

  it('T-08 refuses an expired assertion, one without jti, one signed by another key, iss != sub, alg none and HS256, each by its own check', async () => {
    const subject = await w.idp.mint();
    const other = await makeKey('EdDSA', w.clientKey.kid);
    const now = Math.floor(Date.now() / 1000);
    const cases: Array<[string, RefusalReason]> = [
      [await clientAssertion(w.clientKey, 'jwt-client', w.tts.issuer, { ttl: -120 }), 'client.assertion.expired'],
      [await clientAssertion(other, 'jwt-client', w.tts.issuer), 'client.assertion.bad_signature'],
      [await clientAssertion(w.clientKey, 'jwt-client', w.tts.issuer, { sub: 'poster' }), 'client.assertion.invalid_claim.sub'],
      // alg none with a signature segment, so that it is a well-formed JWS and reaches the algorithm check (issue 18)
      [rawJwt({ alg: 'none', typ: 'JWT' }, { iss: 'jwt-client', sub: 'jwt-client', aud: w.tts.issuer, exp: now + 60, jti: 'x1' }, 'AAAA'), 'client.assertion.bad_algorithm'],
      [hmacJwt({ kid: w.clientKey.kid }, { iss: 'jwt-client', sub: 'jwt-client', aud: w.tts.issuer, exp: now + 60, jti: 'x2' }, JSON.stringify(w.clientKey.publicJwk)), 'client.assertion.bad_algorithm'],
    ];
    for (const [assertion, reason] of cases) {
      const r = await rawPost(w.tts.url, form({ ...exchangeParams(subject), client_assertion_type: CLIENT_ASSERTION_JWT, client_assertion: assertion }));
      expectRefusal(r, 401, 'invalid_client', reason, [subject, assertion]);
    }
    // an unsecured JWS (alg none, empty signature segment) is not even a compact JWS
    const unsecured = rawJwt({ alg: 'none', typ: 'JWT' }, { iss: 'jwt-client', sub: 'jwt-client', aud: w.tts.issuer, exp: now + 60, jti: 'x3' });
    const r = await rawPost(w.tts.url, form({ ...exchangeParams(subject), client_assertion_type: CLIENT_ASSERTION_JWT, client_assertion: unsecured }));
    expectRefusal(r, 401, 'invalid_client', 'client.assertion.malformed', [subject, unsecured]);
    // without jti: built by hand through jose with no setJti
    const { SignJWT } = await import('jose');
    const noJti = await new SignJWT({}).setProtectedHeader({ alg: 'EdDSA', kid: w.clientKey.kid }).setIssuer('jwt-client').setSubject('jwt-client')
      .setAudience(w.tts.issuer).setIssuedAt(now).setExpirationTime(now + 60).sign(w.clientKey.privateKey);
    expectRefusal(await rawPost(w.tts.url, form({ ...exchangeParams(subject), client_assertion_type: CLIENT_ASSERTION_JWT, client_assertion: noJti })), 401, 'invalid_client', 'client.assertion.missing_claim.jti', [noJti]);
  });
});

describe('subject token validation (T-09..T-11)', () => {
  it('T-09 refuses an expired subject token', async () => {
    const subject = await w.idp.mint({ exp: Math.floor(Date.now() / 1000) - 120, iat: Math.floor(Date.now() / 1000) - 600 });
    expectRefusal(await agent(exchangeParams(subject)), 400, 'invalid_request', 'subject.expired', [subject]);
  });

  it('T-09 a subject token expired only within the clock skew still never yields a Txn-Token', async () => {
    const now = Math.floor(Date.now() / 1000);
    const subject = await w.idp.mint({ exp: now - 5, iat: now - 300 });
    expectRefusal(await agent(exchangeParams(subject)), 400, 'invalid_request', 'mint.expires_too_soon', [subject]);
  });

  it('T-09 refuses a subject token for an audience the TTS does not accept, or without aud', async () => {
    const subject = await w.idp.mint({ aud: 'https://unrelated.example' });
    expectRefusal(await agent(exchangeParams(subject)), 400, 'invalid_request', 'subject.wrong_audience', [subject]);
    const noAud = await w.idp.mint({ aud: null });
    expectRefusal(await agent(exchangeParams(noAud)), 400, 'invalid_request', 'subject.wrong_audience', [noAud]);
  });

  it('T-09 refuses a subject token from an unknown issuer', async () => {
    const subject = await w.idp.mint({ iss: 'https://attacker.example' });
    expectRefusal(await agent(exchangeParams(subject)), 400, 'invalid_request', 'subject.issuer_untrusted', [subject]);
    const notJwt = 'opaque-access-token-0123456789';
    expectRefusal(await agent(exchangeParams(notJwt)), 400, 'invalid_request', 'subject.not_jwt', [notJwt]);
  });

  it('T-09 refuses alg none (none, None, NONE, with and without kid) by the algorithm check', async () => {
    const now = Math.floor(Date.now() / 1000);
    const claims = { iss: w.idp.issuer, sub: 'alice', aud: MCP_AUD, scope: 'tickets:read', iat: now, exp: now + 300 };
    // a signature segment, so that each is a well-formed JWS and reaches the algorithm check (issue 18)
    for (const alg of ['none', 'None', 'NONE']) {
      const token = rawJwt({ alg, typ: 'at+jwt', kid: w.idp.key.kid }, claims, 'AAAA');
      expectRefusal(await agent(exchangeParams(token)), 400, 'invalid_request', 'subject.bad_algorithm', [token]);
    }
    const noKid = rawJwt({ alg: 'none', typ: 'at+jwt' }, claims, 'AAAA');
    expectRefusal(await agent(exchangeParams(noKid)), 400, 'invalid_request', 'subject.bad_algorithm', [noKid]);
  });

  it('T-09 an unsecured JWS (alg none, empty signature segment) is not a JWT', async () => {
    const now = Math.floor(Date.now() / 1000);
    const token = rawJwt({ alg: 'none', typ: 'at+jwt' }, { iss: w.idp.issuer, sub: 'alice', aud: MCP_AUD, scope: 'tickets:read', iat: now, exp: now + 300 });
    expectRefusal(await agent(exchangeParams(token)), 400, 'invalid_request', 'subject.not_jwt', [token]);
  });

  it('T-09 refuses HS256 signed with the IdP public key', async () => {
    const now = Math.floor(Date.now() / 1000);
    const claims = { iss: w.idp.issuer, sub: 'alice', aud: MCP_AUD, scope: 'tickets:read orders:refund', iat: now, exp: now + 300 };
    const { createPublicKey } = await import('node:crypto');
    const pem = createPublicKey({ key: w.idp.key.publicJwk as import('node:crypto').JsonWebKey, format: 'jwk' }).export({ type: 'spki', format: 'pem' }).toString();
    const secrets = [JSON.stringify(w.idp.key.publicJwk), pem, Buffer.from(String(w.idp.key.publicJwk.x), 'base64url')];
    for (const secret of secrets) {
      const token = hmacJwt({ typ: 'at+jwt', kid: w.idp.key.kid }, claims, secret);
      expectRefusal(await agent(exchangeParams(token)), 400, 'invalid_request', 'subject.bad_algorithm', [token]);
    }
  });

  it('T-09 refuses a wrong typ: txntoken+jwt, JWT, none at all', async () => {
    for (const typ of ['txntoken+jwt', 'JWT', null, 'client-authentication+jwt']) {
      const subject = await w.idp.mint({ typ });
      expectRefusal(await agent(exchangeParams(subject)), 400, 'invalid_request', 'subject.wrong_type', [subject]);
    }
  });

  it('T-09 refuses a tampered payload (scope widened, sub changed, exp extended)', async () => {
    const subject = await w.idp.mint({ scope: 'tickets:read' });
    const changes: Array<(c: Record<string, unknown>) => Record<string, unknown>> = [
      (c) => ({ ...c, scope: 'tickets:read orders:refund' }),
      (c) => ({ ...c, sub: 'admin' }),
      (c) => ({ ...c, exp: (c.exp as number) + 3600 }),
    ];
    for (const change of changes) {
      const forged = tamperPayload(subject, change);
      expectRefusal(await agent(exchangeParams(forged, { scope: 'tickets:read' })), 400, 'invalid_request', 'subject.bad_signature', [forged]);
    }
  });

  it('T-09 refuses a token signed by another key under the IdP kid, and an unknown kid', async () => {
    const attacker = await makeKey('EdDSA');
    const forged = await w.idp.mint({ key: attacker });
    expectRefusal(await agent(exchangeParams(forged)), 400, 'invalid_request', 'subject.bad_signature', [forged]);
    const unknownKid = await w.idp.mint({ key: attacker, kid: attacker.kid });
    expectRefusal(await agent(exchangeParams(unknownKid)), 400, 'invalid_request', 'subject.unknown_kid', [unknownKid]);
  });

  it('T-09 refuses a subject token not yet valid (iat far in the future)', async () => {
    const now = Math.floor(Date.now() / 1000);
    const subject = await w.idp.mint({ iat: now + 3600, exp: now + 7200 });
    expectRefusal(await agent(exchangeParams(subject)), 400, 'invalid_request', 'subject.not_yet_valid', [subject]);
  });

  it('T-11 refuses a subject token issued for another workload audience', async () => {
    const subject = await w.idp.mint({ aud: 'https://other.example' });
    expectRefusal(await agent(exchangeParams(subject)), 400, 'invalid_request', 'subject.not_entitled', [subject]);
  });

  it('T-09 refuses a Txn-Token subject that was not issued by this TTS', async () => {
    const forged = await w.idp.mint({ typ: 'txntoken+jwt', claims: { txn: 'x', req_wl: 'x' }, aud: 'support.example' });
    expectRefusal(await agent(exchangeParams(forged, { subject_token_type: TT_TXN_TOKEN })), 400, 'invalid_request', 'replace.unknown_kid', [forged]);
  });
});

describe('scope decision (T-12..T-14)', () => {
  it('T-14 scope escalation beyond the subject scope is invalid_scope', async () => {
    const subject = await w.idp.mint({ scope: 'tickets:read' });
    expectRefusal(await agent(exchangeParams(subject, { scope: 'orders:refund' })), 400, 'invalid_scope', 'scope.none_granted', [subject]);
    expectRefusal(await agent(exchangeParams(subject, { scope: 'tickets:write orders:read' })), 400, 'invalid_scope', 'scope.none_granted', [subject]);
  });

  it('T-12 T-14 scope escalation beyond the workload ceiling is invalid_scope, and narrowed when mixed', async () => {
    const subject = await w.idp.mint({ scope: 'tickets orders' });
    const narrow = (scope: string) => o4wExchange(w.tts.as, 'narrow', w.auth.narrow, exchangeParams(subject, { scope }));
    expectRefusal(await narrow('tickets:write'), 400, 'invalid_scope', 'scope.none_granted', [subject, SECRETS.narrow]);
    const mixed = await narrow('tickets:read orders:refund');
    expect(mixed.response.status, mixed.text).toBe(200);
    expect(mixed.ok!.scope).toBe('tickets:read');
  });

  it('T-12 a scope outside every configured scope is never granted, whatever the subject claims', async () => {
    const subject = await w.idp.mint({ scope: 'admin tickets:read' });
    expectRefusal(await agent(exchangeParams(subject, { scope: 'admin' })), 400, 'invalid_scope', 'scope.none_granted', [subject]);
  });

  it('T-21 a subject scope named like an Object.prototype member (constructor, __proto__) is a plain scope, never a 5xx', async () => {
    // regression: the implication lookup once reached Object.prototype and answered 500 server_error
    const subject = await w.idp.mint({ scope: 'constructor __proto__ toString tickets:read' });
    const r = await agent(exchangeParams(subject, { scope: 'tickets:read constructor' }));
    expect(r.response.status, r.text).toBe(200);
    expect(r.ok!.scope).toBe('tickets:read');
    expectRefusal(await agent(exchangeParams(subject, { scope: 'constructor __proto__' })), 400, 'invalid_scope', 'scope.none_granted', [subject]);
  });

  it('T-14 refuses scope tokens with characters RFC 6749 forbids', async () => {
    const subject = await w.idp.mint();
    expectRefusal(await agent(exchangeParams(subject, { scope: 'tickets:read "quoted"' })), 400, 'invalid_scope', 'request.scope_invalid', [subject]);
  });
});

describe('deeply nested request_details (T-07, T-21)', () => {
  let big: World;
  beforeAll(async () => {
    big = await startWorld({ overrides: { maxContextBytes: 16_384 } });
  });
  afterAll(async () => {
    await big?.close();
  });

  it('T-07 an allow-listed member nested thousands of levels deep is invalid_request, never a 5xx (it once overflowed the minting stack)', async () => {
    const subject = await big.idp.mint();
    const deep = `{"tool":${'['.repeat(6000)}${']'.repeat(6000)}}`;
    const r = await o4wExchange(big.tts.as, 'mcp-support-agent', big.auth.agent, exchangeParams(subject, { request_details: deep }));
    expectRefusal(r, 400, 'invalid_request', 'request.json_too_deep', [subject]);
    // ordinary nesting still passes
    const ok = await o4wExchange(big.tts.as, 'mcp-support-agent', big.auth.agent, exchangeParams(subject, { request_details: '{"tool":{"a":[{"b":1}]}}' }));
    expect(ok.response.status, ok.text).toBe(200);
  });
});

describe('error format (T-21)', () => {
  it('T-21 errors are RFC 6749 §5.2 JSON with no-store', async () => {
    const subject = await w.idp.mint();
    const r = await agent(exchangeParams(subject, { audience: 'nope' }));
    const body = JSON.parse(r.text) as Record<string, unknown>;
    expect(Object.keys(body).sort()).toEqual(['error', 'error_description']);
    expect(r.response.headers.get('cache-control')).toContain('no-store');
  });

  it('T-21 a GET on /token or an unknown path is not a 5xx', async () => {
    const get = await fetch(`${w.tts.url}/token`);
    expect(get.status).toBeGreaterThanOrEqual(400);
    expect(get.status).toBeLessThan(500);
    const nf = await fetch(`${w.tts.url}/nope`);
    expect(nf.status).toBe(404);
  });
});

describe('decision log', () => {
  it('T-21 one decision per exchange, granted and refused, and never a raw token, assertion or secret', async () => {
    const n = w.tts.decisions.length;
    const subject = await w.idp.mint();
    await agent(exchangeParams(subject));
    await agent(exchangeParams(subject, { scope: 'nope:nope' }));
    const mine = w.tts.decisions.slice(n);
    expect(mine.map((d) => d.effect)).toEqual(['grant', 'deny']);
    expect(mine[0]).toMatchObject({ event: 'exchange', workload: 'mcp-support-agent', sub: 'alice', granted: ['tickets:read'] });
    expect(mine[1]).toMatchObject({ error: 'invalid_scope' });
    const all = JSON.stringify(w.tts.decisions);
    expect(all).not.toMatch(/eyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}/);
    for (const s of Object.values(SECRETS)) expect(all.includes(s)).toBe(false);
  });
});
