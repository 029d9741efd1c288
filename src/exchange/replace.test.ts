// The replacement subject step without HTTP: the input verified as a receiving service would, not
// revoked, kept in its trust domain.
import { describe, expect, it } from 'vitest';
import { basic, TRUST_DOMAIN } from '../../test/helpers/names.js';
import { refusal, SECRET, unitTts } from '../../test/helpers/tts-context.js';
import { MemoryStore } from '../store/memory.js';
import { StoreUnavailableError } from '../store/types.js';
import { GRANT_TOKEN_EXCHANGE, TT_ACCESS_TOKEN, TT_TXN_TOKEN } from '../txn/index.js';
import { exchange } from './exchange.js';
import { isRevoked } from './replace.js';

const form = (subject: string, type: string, extra: Record<string, string> = {}) =>
  new URLSearchParams({ grant_type: GRANT_TOKEN_EXCHANGE, requested_token_type: TT_TXN_TOKEN, audience: TRUST_DOMAIN, scope: 'tickets:read', subject_token: subject, subject_token_type: type, ...extra });

describe('the replacement step', () => {
  it('R-01 a revoked transaction, a Txn-Token of another TTS, and an access token presented as a Txn-Token are refused, each by its check', async () => {
    const u = await unitTts();
    const other = await unitTts();
    const first = await exchange(u.ctx, { form: form(await u.accessToken(), TT_ACCESS_TOKEN), authorization: basic('agent', SECRET) });
    const foreign = await exchange(other.ctx, { form: form(await other.accessToken(), TT_ACCESS_TOKEN), authorization: basic('agent', SECRET) });
    const replace = (t: string, extra: Record<string, string> = {}) => exchange(u.ctx, { form: form(t, TT_TXN_TOKEN, extra), authorization: basic('hop', SECRET) });
    expect(await refusal(replace(foreign.access_token))).toMatchObject({ error: 'invalid_request', reason: 'replace.unknown_kid' });
    expect(await refusal(replace(await u.accessToken()))).toMatchObject({ reason: 'replace.wrong_type' });
    expect(await refusal(replace(first.access_token, { audience: 'other.example' }))).toMatchObject({ error: 'invalid_target', reason: 'request.audience_unknown' });
    const { txn } = (await import('../../test/helpers/jwt.js')).claimsOf(first.access_token) as { txn: string };
    await u.store.revoke(txn, Math.floor(Date.now() / 1000) + 300);
    expect(await refusal(replace(first.access_token))).toMatchObject({ error: 'invalid_request', reason: 'replace.revoked' });
  });

  it('V-08 a revocation store that cannot answer refuses (503), unless revocationFailOpen', async () => {
    const down = new (class extends MemoryStore {
      override isRevoked(): never {
        throw new StoreUnavailableError('down');
      }
    })();
    const closed = await unitTts({ store: down });
    expect(await refusal(isRevoked(closed.ctx, 't'))).toMatchObject({ error: 'temporarily_unavailable', reason: 'replace.revocation_unavailable' });
    const open = await unitTts({ store: down, overrides: { revocationFailOpen: true } });
    expect(await isRevoked(open.ctx, 't')).toBe(false);
  });

  it('R-02 a TTS serving two trust domains never replaces a Txn-Token of one into the other', async () => {
    const u = await unitTts({ overrides: { trustDomain: undefined, trustDomains: [TRUST_DOMAIN, 'payments.example'] } });
    const first = await exchange(u.ctx, { form: form(await u.accessToken(), TT_ACCESS_TOKEN), authorization: basic('agent', SECRET) });
    const replace = (audience: string) => exchange(u.ctx, { form: form(first.access_token, TT_TXN_TOKEN, { audience }), authorization: basic('hop', SECRET) });
    expect(await refusal(replace('payments.example'))).toMatchObject({ error: 'invalid_target', reason: 'replace.audience_changed' });
    expect((await replace(TRUST_DOMAIN)).access_token).toEqual(expect.any(String)); // the same trust domain is replaced
  });

  it('V-08 a store that fails in another way than being unavailable is never read as "not revoked", even with revocationFailOpen', async () => {
    const broken = new (class extends MemoryStore {
      override isRevoked(): never {
        throw new TypeError('store bug');
      }
    })();
    const open = await unitTts({ store: broken, overrides: { revocationFailOpen: true } });
    await expect(isRevoked(open.ctx, 't')).rejects.toThrow('store bug');
  });

  it('R-01 a fault of the TTS while verifying the input (a NaN clock tolerance handed past the schema) fails closed and is never blamed on the token', async () => {
    const u = await unitTts();
    const first = await exchange(u.ctx, { form: form(await u.accessToken(), TT_ACCESS_TOKEN), authorization: basic('agent', SECRET) });
    // the verifier refuses to compare times with a NaN tolerance (every comparison would be false: an expired token
    // accepted); that is the TTS's fault, not the client's, so it must not come back as invalid_request (400)
    const faulty = { ...u.ctx, config: { ...u.ctx.config, clockSkew: Number.NaN } };
    const replaced = exchange(faulty, { form: form(first.access_token, TT_TXN_TOKEN), authorization: basic('hop', SECRET) });
    expect(await refusal(replaced)).toMatchObject({ error: 'server_error', status: 500, reason: 'internal' });
  });
});
