/**
 * RevocationCache: verifiers learn revocations by push (no round trip per check) and stay correct when the push is
 * incomplete or the store is down.
 */
import { describe, expect, it } from 'vitest';
import { MemoryStore } from '../../src/store/memory.js';
import { RedisStore } from '../../src/store/redis.js';
import { RevocationCache } from '../../src/store/revocation-cache.js';
import { StoreUnavailableError } from '../../src/store/types.js';
import { freePort } from '../helpers/net.js';
import { REDIS_SKIP_REASON, redisUrl, testPrefix, sharedRedisStores } from '../helpers/redis.js';
import { eventually } from '../helpers/time.js';

const url = redisUrl();
if (url === undefined) console.warn(`[revocation cache] Redis suites skipped: ${REDIS_SKIP_REASON}`);
const nowSec = (): number => Math.floor(Date.now() / 1000);

describe('RevocationCache over MemoryStore (push without a completeness promise)', () => {
  it('answers revoked locally once pushed, and asks the store for everything else', async () => {
    const store = new MemoryStore();
    const cache = new RevocationCache(store);
    expect(cache.subscribed).toBe(true);
    expect(cache.isRevokedLocal('t1')).toBeUndefined();
    expect(await cache.isRevoked('t1')).toBe(false);
    await store.revoke('t1', nowSec() + 60);
    expect(cache.isRevokedLocal('t1')).toBe(true);
    expect(await cache.isRevoked('t1')).toBe(true);
    cache.close();
  });

  it('learns revocations made before it existed through the store round trip', async () => {
    const store = new MemoryStore();
    await store.revoke('early', nowSec() + 60);
    const cache = new RevocationCache(store);
    expect(cache.isRevokedLocal('early')).toBeUndefined();
    expect(await cache.isRevoked('early')).toBe(true);
    cache.close();
  });
});

describe('RevocationCache over an unreachable Redis', () => {
  it('rethrows StoreUnavailableError from the fallback round trip', async () => {
    const port = await freePort();
    const store = new RedisStore({ url: `redis://127.0.0.1:${port}`, keyPrefix: testPrefix('dead'), logger: () => {} });
    const cache = new RevocationCache(store);
    try {
      expect(cache.isRevokedLocal('t')).toBeUndefined();
      await expect(cache.isRevoked('t')).rejects.toBeInstanceOf(StoreUnavailableError);
    } finally {
      cache.close();
      await store.close();
    }
  });
});

describe.skipIf(url === undefined)('RevocationCache over Redis pub/sub', () => {
  const make = sharedRedisStores(url, 'cache');

  it('a revocation through instance A is known locally on instance B within 1 s', async () => {
    const a = make();
    const b = make();
    const cache = new RevocationCache(b);
    expect(await eventually(() => b.revocationFeedLive(), 5000)).toBe(true);
    // With a live, complete feed, "not revoked" is answered without a round trip.
    expect(cache.isRevokedLocal('txn-ab')).toBe(false);
    await a.revoke('txn-ab', nowSec() + 600);
    expect(await eventually(() => cache.isRevokedLocal('txn-ab') === true, 1000, 10)).toBe(true);
    expect(await cache.isRevoked('txn-ab')).toBe(true);
    expect(cache.isRevokedLocal('txn-other')).toBe(false);
    cache.close();
  });

  it('a cache started after a revocation learns it by resync before it answers "not revoked" locally', async () => {
    const a = make();
    await a.revoke('txn-before', nowSec() + 600);
    const c = make();
    const cache = new RevocationCache(c);
    // Until the feed is live nothing local is conclusive except a hit; the round trip is right meanwhile.
    expect(await cache.isRevoked('txn-before')).toBe(true);
    expect(await eventually(() => c.revocationFeedLive(), 5000)).toBe(true);
    expect(cache.isRevokedLocal('txn-before')).toBe(true);
    cache.close();
  });

  it('resync replays every stored revocation, across many SCAN pages', async () => {
    const a = make();
    const until = nowSec() + 600;
    const txns = Array.from({ length: 1500 }, (_, i) => `bulk-${i}`);
    for (let i = 0; i < txns.length; i += 100) await Promise.all(txns.slice(i, i + 100).map((t) => a.revoke(t, until)));
    const c = make();
    const cache = new RevocationCache(c);
    expect(await eventually(() => c.revocationFeedLive(), 10_000)).toBe(true);
    expect(txns.filter((t) => cache.isRevokedLocal(t) !== true)).toEqual([]);
    cache.close();
  });

  it('a second cache on the same store also gets the existing revocations', async () => {
    const a = make();
    const b = make();
    const first = new RevocationCache(b);
    expect(await eventually(() => b.revocationFeedLive(), 5000)).toBe(true);
    await a.revoke('txn-second', nowSec() + 600);
    expect(await eventually(() => first.isRevokedLocal('txn-second') === true, 2000)).toBe(true);
    const second = new RevocationCache(b);
    expect(await eventually(() => b.revocationFeedLive(), 5000)).toBe(true);
    expect(second.isRevokedLocal('txn-second')).toBe(true);
    first.close();
    second.close();
  });

  it('a local revocation ends at its until', async () => {
    const a = make();
    const b = make();
    const cache = new RevocationCache(b);
    expect(await eventually(() => b.revocationFeedLive(), 5000)).toBe(true);
    // until is in whole seconds: now + 2 leaves at least one full second to see it revoked, even on a loaded machine
    await a.revoke('txn-short', nowSec() + 2);
    expect(await eventually(() => cache.isRevokedLocal('txn-short') === true, 2000)).toBe(true);
    expect(await eventually(() => cache.isRevokedLocal('txn-short') === false, 8000)).toBe(true);
    expect(await eventually(async () => !(await b.isRevoked('txn-short')), 2000)).toBe(true);
    cache.close();
  });
});
