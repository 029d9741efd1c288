// The whole exchange in process (request → client → limits → subject | replacement → chain → scope → mint), no HTTP:
// one decision entry per request, grant or deny, each refusal with its reason code (never in the error's JSON).
import { describe, expect, it } from 'vitest';
import { claimsOf } from '../../test/helpers/jwt.js';
import { basic, TRUST_DOMAIN } from '../../test/helpers/names.js';
import { refusal, SECRET, unitTts } from '../../test/helpers/tts-context.js';
import { GRANT_TOKEN_EXCHANGE, TT_ACCESS_TOKEN, TT_TXN_TOKEN } from '../txn/index.js';
import { OAuthError } from './errors.js';
import { exchange } from './exchange.js';

const form = (subject: string, extra: Record<string, string> = {}) =>
  new URLSearchParams({ grant_type: GRANT_TOKEN_EXCHANGE, requested_token_type: TT_TXN_TOKEN, audience: TRUST_DOMAIN, scope: 'tickets:read', subject_token: subject, subject_token_type: TT_ACCESS_TOKEN, ...extra });
const agent = basic('agent', SECRET);

describe('the exchange pipeline', () => {
  it('T-12 T-16 T-22 a first exchange, then a replacement by another workload (R-02, R-05): one grant entry each', async () => {
    const u = await unitTts();
    const first = await exchange(u.ctx, { form: form(await u.accessToken(), { scope: 'tickets:read orders:read' }), authorization: agent, remoteAddr: '10.0.0.1' });
    const c = claimsOf(first.access_token);
    expect(c).toMatchObject({ sub: 'alice', scope: 'tickets:read orders:read', req_wl: 'agent', act: { sub: 'agent' }, rctx: { req_ip: '10.0.0.1' } });
    const second = await exchange(u.ctx, { form: form(first.access_token, { subject_token_type: TT_TXN_TOKEN, scope: 'orders:read' }), authorization: basic('hop', SECRET) });
    expect(claimsOf(second.access_token)).toMatchObject({ sub: 'alice', txn: c.txn, scope: 'orders:read', req_wl: 'hop', act: { sub: 'hop', act: { sub: 'agent' } } });
    expect(u.decisions.map((d) => [d.event, d.effect, d.chain])).toEqual([['exchange', 'grant', ['agent']], ['replace', 'grant', ['hop', 'agent']]]);
  });

  it('a refusal is one deny entry with the OAuth error and the reason code; the error value carries the reason, its JSON does not', async () => {
    const u = await unitTts();
    const subject = await u.accessToken();
    const r = await refusal(exchange(u.ctx, { form: form(subject, { audience: 'evil.example' }), authorization: agent }));
    expect(r).toMatchObject({ error: 'invalid_target', reason: 'request.audience_unknown' });
    expect(u.decisions.at(-1)).toMatchObject({ event: 'exchange', effect: 'deny', workload: 'agent', error: 'invalid_target', reason_code: 'request.audience_unknown' });
    try {
      await exchange(u.ctx, { form: form(subject, { audience: 'evil.example' }), authorization: agent });
    } catch (e) {
      expect(JSON.stringify(e)).not.toContain('request.audience_unknown');
    }
  });

  it('T-03 T-08 an unauthenticated caller learns nothing about trust domains, and nothing it sent is logged', async () => {
    const u = await unitTts();
    const r = await refusal(exchange(u.ctx, { form: form(await u.accessToken(), { audience: 'evil.example' }), authorization: basic('agent', 'wrong-secret') }));
    expect(r).toMatchObject({ error: 'invalid_client', reason: 'client.secret_mismatch' });
    expect(u.decisions.at(-1)).toEqual({ time: expect.any(String), hop: 'tts', event: 'exchange', effect: 'deny', error: 'invalid_client', reason: 'client authentication failed', reason_code: 'client.secret_mismatch' });
  });

  it('an input refused while it is read (the HTTP layer hands over its reader) is logged like every refusal', async () => {
    const u = await unitTts();
    const read = () => Promise.reject(new OAuthError('invalid_request', 'request body exceeds 65536 bytes', { reason: 'request.body_too_large', status: 413 }));
    expect(await refusal(exchange(u.ctx, read))).toMatchObject({ status: 413, reason: 'request.body_too_large' });
    expect(u.decisions.at(-1)).toMatchObject({ effect: 'deny', error: 'invalid_request', reason_code: 'request.body_too_large' });
  });

  it('T-14 nothing granted: invalid_scope, the drops in the log only', async () => {
    const u = await unitTts();
    expect(await refusal(exchange(u.ctx, { form: form(await u.accessToken(), { scope: 'orders:refund' }), authorization: agent }))).toMatchObject({ error: 'invalid_scope', reason: 'scope.none_granted' });
    expect(u.decisions.at(-1)).toMatchObject({ dropped: [{ scope: 'orders:refund', reason: 'subject' }], reason_code: 'scope.none_granted' });
  });
});
