// Where an exchange's subject token is verified: inline when it is alone, on libuv's thread pool when other exchanges
// are in flight (a busy TTS then uses more than one core), with one probe per PROBE_MS; the Txn-Token is always signed
// inline. The answers are the same either way.
import { afterEach, describe, expect, it, vi } from 'vitest';
import { claimsOf } from '../../test/helpers/jwt.js';
import { basic, TRUST_DOMAIN } from '../../test/helpers/names.js';
import { refusal, SECRET, unitTts } from '../../test/helpers/tts-context.js';
import { installNodeJwsCrypto, nodeJwsCrypto, nodeJwsCryptoPooled } from '../jose/crypto.node.js';
import { defaultJwsCrypto, pooledJwsCrypto, setDefaultJwsCrypto, webCryptoJws } from '../jose/jws.js';
import { GRANT_TOKEN_EXCHANGE, TT_ACCESS_TOKEN, TT_TXN_TOKEN } from '../txn/index.js';
import { exchange } from './exchange.js';
import { BUSY_MS, CryptoOffload, PROBE_MS } from './offload.js';

const form = (subject: string, extra: Record<string, string> = {}) =>
  new URLSearchParams({ grant_type: GRANT_TOKEN_EXCHANGE, requested_token_type: TT_TXN_TOKEN, audience: TRUST_DOMAIN, scope: 'tickets:read', subject_token: subject, subject_token_type: TT_ACCESS_TOKEN, ...extra });
const agent = basic('agent', SECRET);

afterEach(() => {
  vi.restoreAllMocks();
  setDefaultJwsCrypto(webCryptoJws);
});

describe('CryptoOffload: the backend for a verification about to be computed', () => {
  it('alone: inline, but for one probe on the pool per PROBE_MS', () => {
    installNodeJwsCrypto();
    let t = 1000;
    const o = new CryptoOffload(() => t);
    o.enter();
    expect(o.verifier()).toBe(nodeJwsCryptoPooled); // the first is a probe
    expect(o.verifier()).toBe(nodeJwsCrypto);
    t += PROBE_MS - 1;
    expect(o.verifier()).toBe(nodeJwsCrypto);
    t += 1;
    expect(o.verifier()).toBe(nodeJwsCryptoPooled);
    expect(o.verifier()).toBe(nodeJwsCrypto);
    o.leave();
    expect(o.inflight).toBe(0);
  });

  it('with another exchange in flight: always the pool, alone again: the pool for BUSY_MS more, then inline', () => {
    installNodeJwsCrypto();
    let t = 1000;
    const o = new CryptoOffload(() => t);
    o.enter();
    expect(o.verifier()).toBe(nodeJwsCryptoPooled); // probe
    expect(o.verifier()).toBe(nodeJwsCrypto);
    o.enter();
    for (let i = 0; i < 5; i++) expect(o.verifier()).toBe(nodeJwsCryptoPooled);
    o.leave();
    t += BUSY_MS - 1;
    expect(o.verifier()).toBe(nodeJwsCryptoPooled); // others were in flight a moment ago
    t += 1;
    expect(o.verifier()).toBe(nodeJwsCrypto);
  });

  it('where the runtime has no pool (Web Crypto, Workers) both are the default backend', () => {
    setDefaultJwsCrypto(webCryptoJws);
    expect(pooledJwsCrypto()).toBe(defaultJwsCrypto());
    const o = new CryptoOffload(() => 0);
    o.enter();
    o.enter();
    expect(o.verifier()).toBe(webCryptoJws);
  });
});

describe('exchanges in flight together', () => {
  it('ten started together are verified on the pool and signed inline, each token verifies, and the count returns to 0', async () => {
    installNodeJwsCrypto();
    const u = await unitTts();
    const pooledSign = vi.spyOn(nodeJwsCryptoPooled, 'sign');
    const pooledVerify = vi.spyOn(nodeJwsCryptoPooled, 'verify');
    const inlineSign = vi.spyOn(nodeJwsCrypto, 'sign');
    const subjects = await Promise.all(Array.from({ length: 10 }, (_, i) => u.accessToken({ sub: `user-${i}` })));
    const out = await Promise.all(subjects.map((s) => exchange(u.ctx, { form: form(s), authorization: agent })));
    expect(out.map((o) => claimsOf(o.access_token).sub)).toEqual(subjects.map((_, i) => `user-${i}`));
    // all ten were in flight when the first verification was due: at most the last one ran alone
    expect(pooledVerify.mock.calls.length).toBeGreaterThanOrEqual(9);
    // a signature costs less than a hand-off to the pool and back: never sent there, however busy
    expect(pooledSign).not.toHaveBeenCalled();
    expect(inlineSign).toHaveBeenCalledTimes(10);
    expect(u.ctx.offload.inflight).toBe(0);
    // a token verified on the pool is exchanged as one verified inline: the TTS verifies its own token for a replacement
    const again = await exchange(u.ctx, { form: form(out[0]!.access_token, { subject_token_type: TT_TXN_TOKEN }), authorization: basic('hop', SECRET) });
    expect(claimsOf(again.access_token)).toMatchObject({ sub: 'user-0', txn: claimsOf(out[0]!.access_token).txn });
  });

  it('a refused exchange leaves the count as it found it (else every later exchange would go to the pool)', async () => {
    installNodeJwsCrypto();
    const u = await unitTts();
    const r = await refusal(exchange(u.ctx, { form: form(await u.accessToken(), { audience: 'evil.example' }), authorization: agent }));
    expect(r).toMatchObject({ error: 'invalid_target', reason: 'request.audience_unknown' });
    const bad = await refusal(exchange(u.ctx, { form: form(await u.accessToken()), authorization: basic('agent', 'wrong') }));
    expect(bad).toMatchObject({ error: 'invalid_client' });
    expect(u.ctx.offload.inflight).toBe(0);
  });
});
