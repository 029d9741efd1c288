// The request step (T-01..T-07) without HTTP: every parameter check, with the reason it refuses with.
import * as fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { refusal } from '../../test/helpers/tts-context.js';
import { GRANT_TOKEN_EXCHANGE, TT_ACCESS_TOKEN, TT_REFRESH_TOKEN, TT_TXN_TOKEN } from '../txn/index.js';
import { parseExchangeRequest, parseFormBody, readClientCredentials, singleValued } from './request.js';

const base = { grant_type: GRANT_TOKEN_EXCHANGE, requested_token_type: TT_TXN_TOKEN, audience: 'support.example', scope: 'a b a', subject_token: 't', subject_token_type: TT_ACCESS_TOKEN };
const parse = (p: Record<string, string | undefined>) => {
  const m = new Map<string, string>();
  for (const [k, v] of Object.entries({ ...base, ...p })) if (v !== undefined) m.set(k, v);
  return parseExchangeRequest(m, { maxContextBytes: 256 });
};

describe('the request step (T-01..T-07)', () => {
  it('T-04 T-05 reads audience, scopes (each once, in order), the subject token and the JSON members', () => {
    expect(parse({ request_details: '{"tool":"x"}' })).toEqual({
      audience: 'support.example', scopes: ['a', 'b'], subjectToken: 't', subjectTokenType: TT_ACCESS_TOKEN, requestContext: undefined, requestDetails: { tool: 'x' },
    });
  });

  it.each([
    [{ grant_type: undefined }, 'invalid_request', 'request.grant_type_missing'],
    [{ grant_type: 'client_credentials' }, 'unsupported_grant_type', 'request.grant_type_unsupported'],
    [{ requested_token_type: undefined }, 'invalid_request', 'request.requested_token_type_missing'],
    [{ requested_token_type: 'urn:ietf:params:oauth:token-type:txn-token' }, 'invalid_request', 'request.requested_token_type_unsupported'],
    [{ actor_token: 'x' }, 'invalid_request', 'request.actor_token'],
    [{ resource: 'https://x' }, 'invalid_target', 'request.resource'],
    [{ audience: '' }, 'invalid_target', 'request.audience_missing'],
    [{ scope: '  ' }, 'invalid_request', 'request.scope_missing'],
    [{ scope: 'a "b"' }, 'invalid_scope', 'request.scope_invalid'],
    [{ scope: Array.from({ length: 65 }, (_, i) => `s${i}`).join(' ') }, 'invalid_scope', 'request.scope_too_many'],
    [{ subject_token: '' }, 'invalid_request', 'request.subject_token_missing'],
    [{ subject_token: 'x'.repeat(16_385) }, 'invalid_request', 'request.subject_token_too_large'],
    [{ subject_token_type: undefined }, 'invalid_request', 'request.subject_token_type_missing'],
    [{ subject_token_type: TT_REFRESH_TOKEN }, 'invalid_request', 'request.subject_token_type_refresh'],
    [{ subject_token_type: 'urn:x' }, 'invalid_request', 'request.subject_token_type_unsupported'],
    [{ request_details: '[1]' }, 'invalid_request', 'request.json_not_object'],
    [{ request_context: 'e30=' }, 'invalid_request', 'request.json_syntax'],
    [{ request_details: JSON.stringify({ tool: 'x'.repeat(300) }) }, 'invalid_request', 'request.json_too_large'],
    [{ request_details: `{"a":${'['.repeat(40)}${']'.repeat(40)}}` }, 'invalid_request', 'request.json_too_deep'],
  ])('T-01..T-07 %j is %s (%s)', async (p, error, reason) => {
    expect(await refusal(() => parse(p))).toMatchObject({ error, reason });
  });

  it('T-01 request_details is bounded in UTF-8 bytes, exactly (maxContextBytes 256)', async () => {
    const details = (ch: string, n: number) => `{"t":"${ch.repeat(n)}"}`; // 8 bytes around n characters
    expect(parse({ request_details: details('é', 124) }).requestDetails).toEqual({ t: 'é'.repeat(124) }); // 256 bytes
    expect(await refusal(() => parse({ request_details: details('é', 125) }))).toMatchObject({ reason: 'request.json_too_large', message: 'request_details: request_details exceeds 256 bytes' });
    expect(parse({ request_details: details('€', 82) }).requestDetails).toEqual({ t: '€'.repeat(82) }); // 254 bytes
    expect(await refusal(() => parse({ request_details: details('€', 83) }))).toMatchObject({ reason: 'request.json_too_large' }); // 257 bytes in 91 characters
    expect(await refusal(() => parse({ request_context: details('😀', 63) }))).toMatchObject({ reason: 'request.json_too_large' }); // 260 bytes in 134 characters
    expect(parse({ request_context: details('x', 248) }).requestContext).toEqual({ t: 'x'.repeat(248) }); // 256 bytes
  });

  it('T-21 a repeated parameter is refused, naming it only when it is a known one', async () => {
    expect(await refusal(() => singleValued(new URLSearchParams('scope=a&scope=b')))).toMatchObject({ reason: 'request.param_repeated', message: 'parameter scope is repeated' });
    expect(await refusal(() => singleValued(new URLSearchParams('x=a&x=b')))).toMatchObject({ message: 'parameter (unknown) is repeated' });
  });

  it('T-08 the client-authentication members are read apart from the exchange', () => {
    expect(readClientCredentials(new Map([['client_id', 'c'], ['client_secret', 's']]))).toEqual({ clientId: 'c', clientSecret: 's', clientAssertion: undefined, clientAssertionType: undefined });
  });
});

describe('parseFormBody: the pairs URLSearchParams gives, without building one (the HTTP form reader)', () => {
  it('T-01 the same pairs, in the same order, as new URLSearchParams(body), for encodings URLSearchParams keeps, replaces or drops', () => {
    const bodies = [
      '', '&&', 'a', 'a=', '=b', 'a=b=c', 'a=1&a=2', 'a+b=c+d', 'scope=tickets%3Aread+orders%3Aread', 'x=%2B%26%3D',
      'x=%C3%A9%E2%82%AC%F0%9F%98%80', 'x=%EF%BB%BFbom', 'x=%00', 'x=é😀', '?a=b', 'x=%', 'x=%zz&y=1', 'x=%C3', 'x=%ED%A0%80',
      'x=%C0%AF', 'x=\uD800', 'x=%e2%82%ac&&y',
    ];
    for (const body of bodies) expect(parseFormBody(body), body).toEqual([...new URLSearchParams(body)]);
    const real = new URLSearchParams({ grant_type: GRANT_TOKEN_EXCHANGE, scope: 'a b', subject_token: 'h.p.s', request_details: '{"tool":"t é"}' }).toString();
    expect(parseFormBody(real)).toEqual([...new URLSearchParams(real)]);
  });

  it('T-01 for any body of names, values, separators and (bad) percent-encodings: the pairs URLSearchParams gives', () => {
    const piece = fc.constantFrom(
      'a', 'scope', 'x', '=', '&', '+', '?', '%', '%2', '%3A', '%2B', '%26', '%3D', '%25', '%C3%A9', '%C3', '%A9', '%E2%82%AC', '%F0%9F%98%80',
      '%ED%A0%80', '%C0%AF', '%FF', '%zz', '%e2%82%ac', 'é', '😀', '\uD800', '\uDC00', ' ', '\u0000', 'eyJhbGciOiJFZERTQSJ9.e30.c2ln',
    );
    fc.assert(
      fc.property(fc.array(piece, { maxLength: 16 }), (parts) => {
        const body = parts.join('');
        expect(parseFormBody(body), body).toEqual([...new URLSearchParams(body)]);
      }),
      { numRuns: 5000, seed: 1 },
    );
  });

  it('T-21 a repeated parameter read by the fast reader is refused as before', async () => {
    expect(await refusal(() => singleValued(parseFormBody('scope=a&scope=b')))).toMatchObject({ error: 'invalid_request', reason: 'request.param_repeated', message: 'parameter scope is repeated' });
  });
});
