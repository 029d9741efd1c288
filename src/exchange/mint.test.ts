// The mint step without HTTP (T-15, T-16, T-20; issue 10 finding 4): what is signed and what is answered.
import { describe, expect, it } from 'vitest';
import { claimsOf, headerOf } from '../../test/helpers/jwt.js';
import { refusal, unitTts } from '../../test/helpers/tts-context.js';
import { TT_ACCESS_TOKEN, TT_TXN_TOKEN } from '../txn/index.js';
import { issueTxnToken, type Issue } from './mint.js';

async function issue(over: Partial<Issue> = {}, ttl = 60) {
  const u = await unitTts();
  const iat = Math.floor(Date.now() / 1000);
  const i: Issue = {
    req: { audience: 'support.example', scopes: ['tickets:read', 'orders:read'], subjectToken: 't', subjectTokenType: TT_ACCESS_TOKEN, requestContext: undefined, requestDetails: undefined },
    workload: u.ctx.workloads.get('agent')!,
    sub: 'alice',
    txn: 'txn-1',
    chain: { act: { sub: 'agent' }, earlier: [] },
    content: { tctx: { roles: ['user'] }, rctx: {}, exp: iat + ttl },
    granted: ['tickets:read'],
    iat,
    ...over,
  };
  return { u, body: await issueTxnToken(u.ctx, i), iat };
}

describe('the mint step', () => {
  it('T-15 T-16 T-20 signs typ txntoken+jwt with the current kid; req_wl is the authenticated workload; a narrower grant says its scope', async () => {
    const { u, body, iat } = await issue();
    expect(body).toMatchObject({ issued_token_type: TT_TXN_TOKEN, token_type: 'N_A', expires_in: 60, scope: 'tickets:read' });
    expect(headerOf(body.access_token)).toMatchObject({ typ: 'txntoken+jwt', kid: u.ctx.keys.current.kid, alg: 'EdDSA' });
    expect(claimsOf(body.access_token)).toEqual({
      iss: 'https://tts.unit.example', iat, exp: iat + 60, aud: 'support.example', txn: 'txn-1', sub: 'alice', scope: 'tickets:read', req_wl: 'agent', act: { sub: 'agent' }, tctx: { roles: ['user'] }, rctx: {},
    });
  });

  it('T-17 a token that would expire at once is never issued; nor one longer than every verifier accepts', async () => {
    expect(await refusal(issue({}, 0))).toMatchObject({ error: 'invalid_request', reason: 'mint.expires_too_soon' });
    expect(await refusal(issue({ content: { tctx: { pad: 'x'.repeat(20_000) }, rctx: {}, exp: Math.floor(Date.now() / 1000) + 60 } }))).toMatchObject({ reason: 'mint.too_large' });
  });

  it('checks still in flight decide whether the token leaves: a refused one is dropped unseen', async () => {
    const u = await unitTts();
    const limit = Promise.reject(Object.assign(new Error('rate limited'), { error: 'temporarily_unavailable', reason: 'limit.subject' }));
    limit.catch(() => {});
    const iat = Math.floor(Date.now() / 1000);
    const r = await refusal(
      issueTxnToken(u.ctx, {
        req: { audience: 'support.example', scopes: ['tickets:read'], subjectToken: 't', subjectTokenType: TT_ACCESS_TOKEN, requestContext: undefined, requestDetails: undefined },
        workload: u.ctx.workloads.get('agent')!, sub: 'alice', txn: 't', chain: { act: { sub: 'agent' }, earlier: [] }, content: { tctx: {}, rctx: {}, exp: iat + 60 }, granted: ['tickets:read'], iat,
      }, [limit]),
    );
    expect(r.reason).toBe('limit.subject');
  });
});
