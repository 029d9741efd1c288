/**
 * Two TTS instances (two `startNode` in one process, each with its own RedisStore built from `config.store`, one
 * Redis, one signing-key directory) behave as one TTS: a client assertion is single-use across both, rate limits
 * are counted across both, and a transaction revoked through one is refused by a verifier-side revocation cache built
 * on yet another RedisStore (pushed within 1 s), and by the other instance for replacement.
 */
import { Redis } from 'ioredis';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { MemoryStore } from '../../src/store/memory.js';
import type { Store } from '../../src/store/types.js';
import { RedisStore } from '../../src/store/redis.js';
import { RevocationCache } from '../../src/store/revocation-cache.js';
import { createVerifier } from '../../src/verify/index.js';
import { claimsOf } from '../helpers/jwt.js';
import { basic, TRUST_DOMAIN } from '../helpers/names.js';
import { deleteKeys, REDIS_SKIP_REASON, redisUrl, testPrefix } from '../helpers/redis.js';
import { eventually } from '../helpers/time.js';
import { expectLoggedRefusal, startTts, type TestTts } from '../helpers/tts.js';
import { accessToken, BASIC_SECRET, clientAssertionOf, exchangeForm, type Fixture, makeFixture, post, type RateLimitInput, TTS_ISSUER, ttsConfig, verdict, withAssertion } from '../helpers/world-redis.js';

const url = redisUrl();
if (url === undefined) console.warn(`[tts-redis cluster] skipped: ${REDIS_SKIP_REASON}`);

describe.skipIf(url === undefined)('two TTS instances sharing one Redis', () => {
  let f: Fixture;
  const open: Array<{ close(): unknown }> = [];
  const prefixes: string[] = [];

  beforeAll(async () => {
    f = await makeFixture();
  });
  afterEach(async () => {
    for (const o of open.splice(0).reverse()) await o.close();
    for (const p of prefixes.splice(0)) await deleteKeys(url!, p);
  });
  afterAll(() => f?.cleanup());

  /** Starts A and B on a fresh key prefix; the store comes from the configuration's object form. */
  async function pair(rateLimit?: RateLimitInput): Promise<{ a: TestTts; b: TestTts; keyPrefix: string }> {
    const keyPrefix = testPrefix('tts');
    prefixes.push(keyPrefix);
    const config = ttsConfig(f, { url: url!, keyPrefix }, rateLimit === undefined ? {} : { rateLimit });
    const a = await startTts({ config });
    open.push(a);
    const b = await startTts({ config });
    open.push(b);
    expect(a.node.store.backend).toBe('redis');
    expect(b.node.store).not.toBe(a.node.store);
    return { a, b, keyPrefix };
  }

  it('a client assertion accepted by A is refused by B (jti single-use across instances)', async () => {
    const { a, b } = await pair();
    const form = exchangeForm(await accessToken(f));
    const assertion = await clientAssertionOf(f);

    const first = await post(a.url, '/token', withAssertion(form, assertion));
    expect(first.status).toBe(200);
    expect(typeof first.body?.access_token).toBe('string');

    const replay = await post(b.url, '/token', withAssertion(form, assertion));
    expect(replay.status).toBe(401);
    expect(replay.body?.error).toBe('invalid_client');
    expectLoggedRefusal('invalid_client', 'client.assertion_replayed');
    // Nothing the caller sent is echoed.
    expect(JSON.stringify(replay.body)).not.toContain(assertion);

    // And back at A too; while B accepts a fresh assertion of the same client.
    expect((await post(a.url, '/token', withAssertion(form, assertion))).body?.error).toBe('invalid_client');
    expect((await post(b.url, '/token', withAssertion(form, await clientAssertionOf(f)))).status).toBe(200);
  });

  it('per-client rate limit (5) holds across A and B: the 6th exchange is 429 with Retry-After', async () => {
    const { a, b } = await pair({ perClient: 5, perSubject: 100, windowSeconds: 60 });
    const form = exchangeForm(await accessToken(f));
    const nodes = [a, b];
    for (let i = 0; i < 5; i++) {
      const r = await post(nodes[i % 2]!.url, '/token', form, basic('agent-basic', BASIC_SECRET));
      expect(r.status, `request ${i + 1}`).toBe(200);
    }
    const sixth = await post(b.url, '/token', form, basic('agent-basic', BASIC_SECRET));
    expect(sixth.status).toBe(429);
    const retryAfter = Number(sixth.headers.get('retry-after'));
    expect(Number.isInteger(retryAfter)).toBe(true);
    expect(retryAfter).toBeGreaterThanOrEqual(1);
    expect(retryAfter).toBeLessThanOrEqual(60);
    expect(sixth.body?.error).toBe('temporarily_unavailable');
    expectLoggedRefusal('temporarily_unavailable', 'limit.client');
    expect(typeof sixth.body?.error_description).toBe('string');
    expect(sixth.headers.get('cache-control')).toContain('no-store');
    // Still refused at A; another workload has its own budget.
    expect((await post(a.url, '/token', form, basic('agent-basic', BASIC_SECRET))).status).toBe(429);
    const jwt = await post(a.url, '/token', withAssertion(form, await clientAssertionOf(f)));
    expect(jwt.status).toBe(200);
  });

  it('per-(client, subject) rate limit holds across A and B; another subject is unaffected', async () => {
    const { a, b } = await pair({ perClient: 100, perSubject: 3, windowSeconds: 60 });
    const alice = exchangeForm(await accessToken(f, 'alice'));
    for (let i = 0; i < 3; i++) expect((await post([a, b][i % 2]!.url, '/token', alice, basic('agent-basic', BASIC_SECRET))).status).toBe(200);
    const over = await post(b.url, '/token', alice, basic('agent-basic', BASIC_SECRET));
    expect(over.status).toBe(429);
    expect(over.headers.get('retry-after')).toMatch(/^[1-9][0-9]*$/);
    expect(over.body?.error).toBe('temporarily_unavailable');
    expectLoggedRefusal('temporarily_unavailable', 'limit.subject');
    const bob = exchangeForm(await accessToken(f, 'bob'));
    expect((await post(a.url, '/token', bob, basic('agent-basic', BASIC_SECRET))).status).toBe(200);
  });

  it('the per-subject verdict is never decided by an unverified sub: a forged token naming a user over budget gets its validation error', async () => {
    // The TTS starts the per-(client, subject) count with the sub read from the unverified token, to save a round trip;
    // that answer may only be used once the token is valid and its sub is the same.
    const { a, b } = await pair({ perClient: 100, perSubject: 2, windowSeconds: 60 });
    const alice = await accessToken(f, 'alice');
    for (const n of [a, b]) expect((await post(n.url, '/token', exchangeForm(alice), basic('agent-basic', BASIC_SECRET))).status).toBe(200);
    expect((await post(a.url, '/token', exchangeForm(alice), basic('agent-basic', BASIC_SECRET))).status).toBe(429);
    // alice's claims with another token's signature: invalid, whatever alice's budget says
    const bobSig = (await accessToken(f, 'bob')).split('.')[2]!;
    const forged = `${alice.split('.').slice(0, 2).join('.')}.${bobSig}`;
    const r = await post(b.url, '/token', exchangeForm(forged), basic('agent-basic', BASIC_SECRET));
    expect(r.status).toBe(400);
    expect(r.body?.error).toBe('invalid_request');
    expectLoggedRefusal('invalid_request', 'subject.bad_signature');
    expect(r.headers.get('retry-after')).toBeNull();
    // a valid token of another user through the same client is not limited
    expect((await post(a.url, '/token', exchangeForm(await accessToken(f, 'bob')), basic('agent-basic', BASIC_SECRET))).status).toBe(200);
  });

  it('replacements count against the per-(client, subject) budget too, across A and B', async () => {
    const { a, b } = await pair({ perClient: 100, perSubject: 3, windowSeconds: 60 });
    const first = await post(a.url, '/token', exchangeForm(await accessToken(f, 'carol')), basic('agent-basic', BASIC_SECRET));
    expect(first.status).toBe(200);
    const replace = exchangeForm(first.body!.access_token as string, { txnToken: true });
    expect((await post(b.url, '/token', replace, basic('agent-basic', BASIC_SECRET))).status).toBe(200);
    expect((await post(a.url, '/token', replace, basic('agent-basic', BASIC_SECRET))).status).toBe(200);
    const over = await post(b.url, '/token', replace, basic('agent-basic', BASIC_SECRET));
    expect(over.status).toBe(429);
    expectLoggedRefusal('temporarily_unavailable', 'limit.subject');
    expect(over.headers.get('retry-after')).toMatch(/^[1-9][0-9]*$/);
  });

  it('a transaction revoked through A (by token, by txn id) is refused by a cache on another RedisStore and by B', async () => {
    const { a, b, keyPrefix } = await pair();
    const verifierStore = new RedisStore({ url: url!, keyPrefix, logger: () => {} });
    open.push(verifierStore);
    const cache = new RevocationCache(verifierStore);
    open.push(cache);
    // A downstream service: the verifier of src/verify on its own RedisStore (revocation fail-closed by default).
    const verifier = createVerifier({ trustDomain: TRUST_DOMAIN, issuer: TTS_ISSUER, jwks: b.node.service.keys.jwks(), store: verifierStore, service: 'orders' });
    open.push(verifier);
    expect(await eventually(() => verifierStore.revocationFeedLive(), 5000)).toBe(true);

    const subject = exchangeForm(await accessToken(f));
    const issue = async (): Promise<string> => {
      const r = await post(a.url, '/token', subject, basic('agent-basic', BASIC_SECRET));
      expect(r.status).toBe(200);
      return r.body!.access_token as string;
    };
    const t1 = await issue();
    const t2 = await issue();
    const t3 = await issue();
    const [txn1, txn2, txn3] = [(claimsOf(t1).txn as string), (claimsOf(t2).txn as string), (claimsOf(t3).txn as string)];
    expect(cache.isRevokedLocal(txn1)).toBe(false);
    expect(await cache.isRevoked(txn1)).toBe(false);
    for (const t of [t1, t2, t3]) expect(await verdict(verifier, t)).toBe('accepted');
    // Before revocation, B accepts the token for replacement.
    expect((await post(b.url, '/token', exchangeForm(t1, { txnToken: true }), basic('agent-basic', BASIC_SECRET))).status).toBe(200);

    // A workload outside the chain and without revokeById may do neither.
    const byStranger = await post(a.url, '/revoke', new URLSearchParams({ token: t1 }), basic('bystander', BASIC_SECRET));
    expect(byStranger.status).toBe(400);
    expect(byStranger.body?.error).toBe('unauthorized_client');
    expectLoggedRefusal('unauthorized_client', 'revoke.not_in_transaction');
    const byStrangerId = await post(a.url, '/revoke', new URLSearchParams({ txn: txn1 }), basic('bystander', BASIC_SECRET));
    expect(byStrangerId.body?.error).toBe('unauthorized_client');
    expectLoggedRefusal('unauthorized_client', 'revoke.by_id_not_allowed');
    // The requesting workload itself may not revoke by id either (not revokeById).
    expect((await post(a.url, '/revoke', new URLSearchParams({ txn: txn1 }), basic('agent-basic', BASIC_SECRET))).body?.error).toBe('unauthorized_client');
    expectLoggedRefusal('unauthorized_client', 'revoke.by_id_not_allowed');
    expect(await cache.isRevoked(txn1)).toBe(false);

    // By token, by a workload of the chain.
    const r1 = await post(a.url, '/revoke', new URLSearchParams({ token: t1 }), basic('agent-basic', BASIC_SECRET));
    expect(r1.status).toBe(200);
    expect(await verifierStore.isRevoked(txn1)).toBe(true); // in the shared store as soon as /revoke answered
    // Pushed to the cache within 1 s (V-08); until the push lands a live cache may still answer from its local set.
    expect(await eventually(async () => (await cache.isRevoked(txn1)) && cache.isRevokedLocal(txn1) === true, 1000)).toBe(true);
    expect(await eventually(async () => (await verdict(verifier, t1)) === 'revoked', 1000)).toBe(true);

    // Kept until the longest possible exp of the transaction's tokens plus the largest verifier clock tolerance.
    const probe = new Redis(url!, { maxRetriesPerRequest: 1 });
    try {
      const pttl = await probe.pttl(`${keyPrefix}rev:${txn1}`);
      expect(pttl).toBeGreaterThan((a.node.config.maxTokenTtl + 60 - 10) * 1000);
      expect(pttl).toBeLessThanOrEqual((a.node.config.maxTokenTtl + 60 + 1) * 1000);
    } finally {
      probe.disconnect();
    }

    // By txn id, by a revokeById workload (not in the chain).
    const r2 = await post(a.url, '/revoke', new URLSearchParams({ txn: txn2 }), basic('ops-revoker', BASIC_SECRET));
    expect(r2.status).toBe(200);
    expect(await eventually(() => cache.isRevokedLocal(txn2) === true, 1000)).toBe(true);
    expect(await eventually(async () => (await verdict(verifier, t2)) === 'revoked', 1000)).toBe(true);

    // An unrelated transaction stays valid.
    expect(await cache.isRevoked(txn3)).toBe(false);
    expect(await verdict(verifier, t3)).toBe('accepted');

    // Replacement of a revoked transaction is refused at the other instance.
    for (const t of [t1, t2]) {
      const rep = await post(b.url, '/token', exchangeForm(t, { txnToken: true }), basic('agent-basic', BASIC_SECRET));
      expect(rep.status).toBe(400);
      expect(rep.body?.error).toBe('invalid_request');
      expectLoggedRefusal('invalid_request', 'replace.revoked');
      expect(String(rep.body?.error_description)).toContain('revoked');
    }
    expect((await post(b.url, '/token', exchangeForm(t3, { txnToken: true }), basic('agent-basic', BASIC_SECRET))).status).toBe(200);
  });

  it('/revoke is authenticated like /token, and advertised in the metadata', async () => {
    const { a } = await pair();
    const meta = (await (await fetch(`${a.url}/.well-known/oauth-authorization-server`)).json()) as Record<string, unknown>;
    expect(meta.revocation_endpoint).toBe(`${TTS_ISSUER}/revoke`);
    const t = (await post(a.url, '/token', withAssertion(exchangeForm(await accessToken(f)), await clientAssertionOf(f)))).body!.access_token as string;
    const noAuth = await post(a.url, '/revoke', new URLSearchParams({ token: t }));
    expect(noAuth.status).toBe(401);
    expect(noAuth.body?.error).toBe('invalid_client');
    expectLoggedRefusal('invalid_client', 'client.auth_missing');
    const wrong = await post(a.url, '/revoke', new URLSearchParams({ txn: (claimsOf(t).txn as string) }), basic('ops-revoker', 'not-the-secret'));
    expect(wrong.status).toBe(401);
    expectLoggedRefusal('invalid_client', 'client.secret_mismatch');
    // private_key_jwt works for /revoke, and its assertion is single-use there too.
    const assertion = await clientAssertionOf(f);
    const ok = await post(a.url, '/revoke', withAssertion(new URLSearchParams({ token: t }), assertion));
    expect(ok.status).toBe(200);
    const again = await post(a.url, '/revoke', withAssertion(new URLSearchParams({ token: t }), assertion));
    expect(again.body?.error).toBe('invalid_client');
    expectLoggedRefusal('invalid_client', 'client.assertion_replayed');
  });
});

describe('/healthz when the store probe throws', () => {
  it('is 503 with store ok:false, and does not repeat the error message', async () => {
    const f = await makeFixture();
    const inner = new MemoryStore();
    const broken: Store = {
      backend: 'redis',
      useOnce: (n, id, ttl) => inner.useOnce(n, id, ttl),
      revoke: (t, u) => inner.revoke(t, u),
      isRevoked: (t) => inner.isRevoked(t),
      rateLimit: (k, l, w) => inner.rateLimit(k, l, w),
      health: () => Promise.reject(new Error('connect ECONNREFUSED redis://user:hunter2@10.0.0.7:6379')),
      close: () => inner.close(),
    };
    const tts = await startTts({ config: ttsConfig(f, 'memory'), ...{ store: broken } });
    try {
      const res = await fetch(`${tts.url}/healthz`);
      const text = await res.text();
      expect(res.status).toBe(503);
      const body = JSON.parse(text) as { status: string; store: { ok: boolean; backend: string } };
      expect(body.status).toBe('degraded');
      expect(body.store.ok).toBe(false);
      expect(body.store.backend).toBe('redis');
      expect(text).not.toContain('hunter2');
      expect(text).not.toContain('10.0.0.7');
    } finally {
      await tts.close();
      f.cleanup();
    }
  });
});
