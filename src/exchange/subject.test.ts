// The subject step without HTTP (T-09..T-11, T-13, T-22): what the TTS learns of the user, and each refusal's reason.
import { describe, expect, it } from 'vitest';
import { rawJwt } from '../../test/helpers/jwt.js';
import { MCP_AUD } from '../../test/helpers/names.js';
import { refusal, unitTts, type UnitTts } from '../../test/helpers/tts-context.js';
import { TT_ACCESS_TOKEN, TT_SELF_SIGNED, TT_UNSIGNED_JSON, type SubjectTokenType } from '../txn/index.js';
import { validateSubject } from './subject.js';

function validate(u: UnitTts, token: string, type: SubjectTokenType = TT_ACCESS_TOKEN, client = 'agent') {
  const c = u.ctx.config;
  return validateSubject({ issuers: u.ctx.issuers, ttsIssuer: c.issuer, clockSkew: c.clockSkew, maxClaimsBytes: c.maxSubjectClaimsBytes }, u.ctx.workloads.get(client)!, token, type);
}

describe('the subject step', () => {
  it('T-09 T-22 an access token of a trusted issuer: sub, scopes, roles, the act chain kept below, exp', async () => {
    const u = await unitTts();
    const s = await validate(u, await u.accessToken({ act: { sub: 'assistant' } }));
    expect(s).toMatchObject({ sub: 'alice', scopes: ['tickets:read', 'orders:read'], roles: ['user'], act: { sub: 'assistant' }, kind: 'access_token' });
    expect(typeof s.exp).toBe('number');
  });

  it.each([
    ['an expired token', { exp: 1 }, {}, 'subject.expired'],
    ['another audience (T-11 needs it too, the profile refuses first)', { aud: 'https://other.example' }, {}, 'subject.wrong_audience'],
    ['a Txn-Token (T-15)', {}, { typ: 'txntoken+jwt' }, 'subject.wrong_type'],
    ['no scope (T-13)', { scope: undefined }, {}, 'subject.no_scope'],
    ['an untrusted issuer', { iss: 'https://evil.example' }, {}, 'subject.issuer_untrusted'],
    ['an act that is not a chain', { act: { sub: '' } }, {}, 'subject.act_invalid'],
  ])('T-09 refuses %s', async (_what, claims, header, reason) => {
    const u = await unitTts();
    expect(await refusal(validate(u, await u.accessToken(claims, header)))).toMatchObject({ error: 'invalid_request', reason });
  });

  it('T-09 alg none reaches the algorithm check when it is a well-formed JWS; without a signature it is no JWT', async () => {
    const u = await unitTts();
    const claims = { iss: 'https://idp.unit.example', sub: 'alice', aud: MCP_AUD, scope: 'tickets:read', exp: 9e9 };
    expect(await refusal(validate(u, rawJwt({ alg: 'none', typ: 'at+jwt' }, claims, 'AAAA')))).toMatchObject({ reason: 'subject.bad_algorithm' });
    expect(await refusal(validate(u, rawJwt({ alg: 'none', typ: 'at+jwt' }, claims)))).toMatchObject({ reason: 'subject.not_jwt' });
  });

  it('T-10 self-signed and unsigned subjects only from workloads configured for them', async () => {
    const u = await unitTts();
    expect(await refusal(validate(u, JSON.stringify({ sub: 'bob', scope: 'tickets:read' }), TT_UNSIGNED_JSON))).toMatchObject({ reason: 'subject.unsigned_not_allowed' });
    expect(await refusal(validate(u, 'x.y.z', TT_SELF_SIGNED))).toMatchObject({ reason: 'subject.no_keys' });
    const allowed = await unitTts({ overrides: { clients: [{ id: 'agent', auth: 'client_secret_basic', secret: 'unit-secret-0123456789', scopes: ['tickets:read'], allowUnsignedSubject: true }] } });
    expect(await validate(allowed, JSON.stringify({ sub: 'bob', scope: 'tickets:read', roles: ['admin'] }), TT_UNSIGNED_JSON)).toMatchObject({ sub: 'bob', roles: ['user'], kind: 'unsigned' });
    expect(await refusal(validate(allowed, JSON.stringify({ scope: 'tickets:read' }), TT_UNSIGNED_JSON))).toMatchObject({ reason: 'subject.unsigned_no_sub' });
  });

  it('T-11 a token the issuer made for another of its audiences is not this workload\'s to exchange, unless may_act names it', async () => {
    const u = await unitTts({ issuerAudiences: [MCP_AUD, 'https://reports.example'] });
    expect(await refusal(validate(u, await u.accessToken({ aud: 'https://reports.example' })))).toMatchObject({ reason: 'subject.not_entitled' });
    expect(await validate(u, await u.accessToken({ aud: 'https://reports.example', may_act: { sub: 'agent' } }))).toMatchObject({ sub: 'alice' });
  });
});
