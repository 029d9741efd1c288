// Revocation without HTTP (V-08): by token for a workload of the transaction, by id for revokeById workloads; an
// invalid token is nothing to revoke (RFC 7009 §2.2); each refusal with its reason.
import { describe, expect, it } from 'vitest';
import { claimsOf } from '../../test/helpers/jwt.js';
import { basic, TRUST_DOMAIN } from '../../test/helpers/names.js';
import { refusal, SECRET, unitTts } from '../../test/helpers/tts-context.js';
import { GRANT_TOKEN_EXCHANGE, TT_ACCESS_TOKEN, TT_TXN_TOKEN } from '../txn/index.js';
import { exchange } from './exchange.js';
import { MAX_VERIFIER_CLOCK_TOLERANCE, revoke } from './revoke.js';

const revokeById = { clients: [
  { id: 'agent', auth: 'client_secret_basic' as const, secret: SECRET, scopes: ['tickets:read'], subjectAudiences: ['https://mcp.support.example'] },
  { id: 'ops', auth: 'client_secret_basic' as const, secret: SECRET, scopes: ['tickets:read'], revokeById: true },
  { id: 'bystander', auth: 'client_secret_basic' as const, secret: SECRET, scopes: ['tickets:read'] },
] };

describe('revocation', () => {
  it('V-08 by token, by a workload of its chain; stored until the longest exp plus the longest verifier tolerance', async () => {
    const now = new Date();
    const u = await unitTts({ overrides: { ...revokeById, maxTokenTtl: 300 }, now: () => now });
    const t = await exchange(u.ctx, { form: new URLSearchParams({ grant_type: GRANT_TOKEN_EXCHANGE, requested_token_type: TT_TXN_TOKEN, audience: TRUST_DOMAIN, scope: 'tickets:read', subject_token: await u.accessToken(), subject_token_type: TT_ACCESS_TOKEN }), authorization: basic('agent', SECRET) });
    const txn = claimsOf(t.access_token).txn as string;
    expect(await refusal(revoke(u.ctx, { form: new URLSearchParams({ token: t.access_token }), authorization: basic('bystander', SECRET) }))).toMatchObject({ error: 'unauthorized_client', reason: 'revoke.not_in_transaction' });
    await revoke(u.ctx, { form: new URLSearchParams({ token: t.access_token }), authorization: basic('agent', SECRET) });
    expect(await u.store.isRevoked(txn)).toBe(true);
    expect(u.decisions.at(-1)).toMatchObject({ event: 'revoke', effect: 'grant', workload: 'agent', txn, sub: 'alice' });
    expect(MAX_VERIFIER_CLOCK_TOLERANCE).toBe(60);
  });

  it('V-08 by id only for revokeById workloads; exactly one of token and txn; an invalid token is a grant with nothing revoked', async () => {
    const u = await unitTts({ overrides: revokeById });
    const by = (who: string, p: Record<string, string>) => revoke(u.ctx, { form: new URLSearchParams(p), authorization: basic(who, SECRET) });
    expect(await refusal(by('agent', { txn: 'x' }))).toMatchObject({ error: 'unauthorized_client', reason: 'revoke.by_id_not_allowed' });
    expect(await refusal(by('ops', { txn: 'x'.repeat(129) }))).toMatchObject({ error: 'invalid_request', reason: 'revoke.txn_invalid' });
    expect(await refusal(by('ops', {}))).toMatchObject({ error: 'invalid_request', reason: 'revoke.token_or_txn' });
    await by('ops', { txn: 'txn-9' });
    expect(await u.store.isRevoked('txn-9')).toBe(true);
    await by('agent', { token: 'not.a.token' });
    expect(u.decisions.at(-1)).toMatchObject({ effect: 'grant', reason_code: 'revoke.token_invalid' });
  });
});
